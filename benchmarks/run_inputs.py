"""What the run-scoring benchmarks share: a run folder's model, config and data, and one pass of full-resolution
predictions over a split (``tta.py``, ``fov_margin.py``, ``min_lesion_size.py``).

A run folder is what ``hecl train`` writes: ``config.yaml`` and ``checkpoints/<name>.keras``.
"""

from __future__ import annotations

from pathlib import Path


def load_run(run, checkpoint="best.keras", overrides=()):
    """``(model, config, data)`` of a run folder.

    Args:
        run: the run folder.
        checkpoint: file name in its ``checkpoints/``.
        overrides: dotted ``key=value`` settings applied over its ``config.yaml`` (e.g. ``["eval.tta=d4"]``).

    Returns:
        the Keras model, the run's :class:`~hecl_keras.config.ExperimentConfig` and its
        :class:`~hecl_keras.data.experiment.ExperimentSplit` (the split the run was trained with; no image is
        preprocessed).
    """
    from hecl_keras.config import load_config
    from hecl_keras.data.experiment import experiment_split
    from hecl_keras.saving import load_model

    path = Path(run)
    if not (path / "config.yaml").is_file():
        raise FileNotFoundError(f"{path} is not a run folder: no config.yaml")
    if not (path / "checkpoints" / checkpoint).is_file():
        found = sorted(p.name for p in (path / "checkpoints").glob("*.keras"))
        raise FileNotFoundError(f"{path}/checkpoints has no {checkpoint} (it has: {', '.join(found) or 'nothing'})")
    config = load_config(path / "config.yaml", list(overrides))
    return load_model(path / "checkpoints" / checkpoint), config, experiment_split(config.data)


def add_run_arguments(parser, how_chosen="; the threshold and minimum lesion size are chosen with it"):
    """The arguments of a benchmark that scores run folders: ``runs``, ``--checkpoint``, ``--tta``, ``--set`` (see
    :func:`add_inference_overrides` for ``how_chosen``)."""
    parser.add_argument("runs", nargs="*", help="run folders (config.yaml, checkpoints/)")
    parser.add_argument("--checkpoint", default="best.keras", help="file in each run's checkpoints/")
    parser.add_argument("--tta", default=None, help="test-time augmentation mode (default: the run's eval.tta)")
    add_inference_overrides(parser, how_chosen)


def add_inference_overrides(parser, how_chosen):
    """``--set KEY=VALUE`` (repeatable): settings over the runs' configs at inference only, e.g.
    ``data.tone_target=0.385`` for a model trained without it. ``how_chosen``: the end of the help text, saying
    whether the benchmark chooses its threshold again with them."""
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override the runs' configs at inference (e.g. data.tone_target=0.385 for a model trained "
                             "without it)" + how_chosen)


def run_overrides(tta=None, overrides=()):
    """The ``key=value`` settings :func:`load_run` applies for a ``--tta`` mode (None: the run's) and ``--set``."""
    return [*([f"eval.tta={tta}"] if tta else []), *overrides]


def run_predictor(run, checkpoint="best.keras", tta=None, overrides=()):
    """``(predictor, config, data)`` of a run folder: its checkpoint as a full-resolution
    :class:`~hecl_keras.inference.predictor.Predictor` with the run's eval settings (``tta``: another mode, or None
    for the run's ``eval.tta``; ``overrides``: more ``key=value`` settings), its config and its data (see
    :func:`load_run`)."""
    from hecl_keras.inference.predictor import Predictor, keras_predict_fn

    model, config, data = load_run(run, checkpoint, run_overrides(tta, overrides))
    return Predictor.from_config(keras_predict_fn(model), config), config, data


def predict_split(predictor, data, split, label, keep):
    """Predict every original-resolution image of a split once; what ``keep`` returns, in split order.

    Args:
        predictor: a :class:`~hecl_keras.inference.predictor.Predictor`.
        data: an ``ExperimentSplit`` (its ``originals(split)`` yields ``(id, image (H,W,3) uint8, mask (H,W))``).
        split: ``"val"`` or ``"test"``.
        label: the progress bar's prefix (e.g. the run's name).
        keep: ``keep(image, mask, prob (H,W) float32, scale)`` -> what to store for the image; it sees the image,
            so nothing of it need be kept (39 IDRiD originals are 1.4 GB).
    """
    from hecl_keras.progress import Progress

    bar = Progress(len(data.split[split]), f"{label}: predicting {split} (tta {predictor.tta})")
    out = []
    for n, (sample_id, image, mask) in enumerate(data.originals(split), 1):
        prob, scale = predictor.predict_with_scale(image)
        out.append(keep(image, mask, prob, scale))
        bar(n, item=str(sample_id))
    return out
