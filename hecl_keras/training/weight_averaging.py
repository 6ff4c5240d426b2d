"""Stochastic weight averaging (SWA; Izmailov et al., *Averaging Weights Leads to Wider Optima*, 2018).

The trainable weights at the end of each of a run's last ``train.swa_epochs`` epochs are averaged
with equal weight; after training, the average is loaded, its BatchNorm statistics re-estimated
(:func:`~hecl_keras.training.precise_batch_norm.reestimate_batch_norm`: an average of weights has no
statistics of its own) and the result becomes the run's model. Selecting one epoch by a small
validation split picks up that split's noise; an average of the late epochs needs no choice.

The running average is kept on disk, one file per epoch (``<folder>/epoch_<n>.npz``, the last two kept),
so that an interrupted run resumes it exactly: epoch ``n``'s average is computed from epoch ``n - 1``'s
file, and an epoch trained again after a kill (before its backup) overwrites its own file instead
of being counted twice.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np


def _file(folder, epoch):
    return Path(folder) / f"epoch_{epoch:04d}.npz"


def _read(path):
    with np.load(path, allow_pickle=False) as f:
        paths = [str(p) for p in f["paths"]]
        return {p: (f[f"value_{i}"], int(f["counts"][i])) for i, p in enumerate(paths)}


def _write(path, average):
    paths = sorted(average)
    arrays = {f"value_{i}": average[p][0] for i, p in enumerate(paths)}
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, paths=np.array(paths), counts=np.array([average[p][1] for p in paths], np.int64), **arrays)
    os.replace(tmp, path)  # a kill mid-write leaves the previous file, never half of one


class WeightAveraging(keras.callbacks.Callback):
    """Keeps the running mean of the trainable weights over epochs ``first_epoch`` (0-based) onwards.

    Variables are matched by their path (``variable.path``); each has its own count, so variables that
    become trainable inside the window (an unfrozen encoder) are averaged over the epochs they trained.

    Args:
        folder: where the per-epoch files go (created).
        first_epoch: the first epoch (0-based) whose weights enter the average.
    """

    def __init__(self, folder, first_epoch):
        super().__init__()
        self.folder = Path(folder)
        self.first_epoch = int(first_epoch)

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.first_epoch:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        average = {}
        if epoch > self.first_epoch:
            previous = _file(self.folder, epoch - 1)
            if not previous.is_file():
                raise FileNotFoundError(f"{previous} is missing: the weight average of epoch {epoch} needs that of "
                                        f"epoch {epoch - 1} (was train.swa_epochs changed during the run?)")
            average = _read(previous)
        for variable in self.model.trainable_variables:
            value = keras.ops.convert_to_numpy(variable).astype(np.float64)
            mean, count = average.get(variable.path, (np.zeros_like(value), 0))
            average[variable.path] = (mean + (value - mean) / (count + 1), count + 1)
        _write(_file(self.folder, epoch), average)
        for old in self.folder.glob("epoch_*.npz"):
            if int(old.stem.split("_")[1]) < epoch - 1:
                old.unlink()


def load_average(model, folder, last_epoch):
    """Sets ``model``'s averaged variables to the average written at the end of epoch ``last_epoch`` (0-based).

    Returns:
        dict: ``{"variables": how many were set, "epochs": the largest count (epochs averaged)}``.
    """
    path = _file(folder, last_epoch)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: no weight average for epoch {last_epoch}")
    average = _read(path)
    variables = {v.path: v for v in model.variables}
    missing = sorted(set(average) - set(variables))
    if missing:
        raise ValueError(f"the weight average in {path} has variables this model lacks: {missing[:3]}")
    for name, (mean, _) in average.items():
        variables[name].assign(mean.astype(keras.backend.standardize_dtype(variables[name].dtype)))
    return {"variables": len(average), "epochs": max(count for _, count in average.values())}
