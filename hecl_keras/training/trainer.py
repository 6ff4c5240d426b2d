"""``hecl train``: from an :class:`~hecl_keras.config.ExperimentConfig` to a run folder.

A run folder holds: ``config.yaml`` (resolved), ``split.json``, ``log.csv``
(one row per epoch), ``tensorboard/``, ``checkpoints/best.keras`` (best on the
validation metric, with the decision threshold chosen on validation; with ``train.swa_epochs`` the
weight average, the monitor's epoch then in ``best_epoch.keras`` and the running average in ``swa/``),
``backup/`` (BackupAndRestore: a killed run resumes from its last finished
epoch when the same command is run again), ``model.keras`` (final weights),
``eval/`` (scores of the best model on the splits in ``eval.after_training``) and
``result.json`` (written last: its presence marks the run complete).

Same config + seed + machine + backend gives identical weights, logs and
metrics (``train.deterministic``), whether or not the run was interrupted.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import shutil
import sys
import time
from pathlib import Path

import keras

from hecl_keras.config import STRATEGIES, ConfigError, config_to_dict, dict_differences, load_config, save_config
from hecl_keras.data.experiment import load_experiment_data, training_inputs
from hecl_keras.data.split_balance import describe_split
from hecl_keras.machine import record_machine
from hecl_keras.models.build import build_compiled_model
from hecl_keras.saving import load_model
from hecl_keras.training.callbacks import (
    BestCheckpoint,
    EpochTimer,
    PredictionImages,
    recipe_callbacks,
    training_seconds,
)


def make_strategy(name):
    """A ``tf.distribute`` strategy by config name (None for ``"none"``)."""
    if name not in STRATEGIES:
        raise ValueError(f"train.strategy must be one of {STRATEGIES}. Received: {name!r}")
    if name == "none":
        return None
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"train.strategy={name!r} needs the TensorFlow backend; under JAX use "
                         "keras.distribution.DataParallel (see README).")
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()


def worker_run_dir(run_dir: Path, strategy) -> Path:
    """Where this process writes: the run folder on the chief, ``run_dir/worker<i>`` on other workers.

    Under ``multi_worker`` every worker runs the same command; with a shared run
    folder their checkpoints and logs would overwrite each other, so only the
    chief (TF_CONFIG task ``chief``, or ``worker`` 0 when there is no chief) writes to it.
    """
    from hecl_keras.training.multi_worker import is_multi_worker

    if not is_multi_worker(strategy):
        return run_dir
    resolver = strategy.cluster_resolver
    if resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                         and "chief" not in resolver.cluster_spec().as_dict()):
        return run_dir
    return run_dir / f"{resolver.task_type}{resolver.task_id}"


def monitor_mode(monitor: str) -> str:
    return "min" if monitor.endswith("loss") else "max"


RUN_OUTPUTS = ("config.yaml", "split.json", "log.csv", "tensorboard", "checkpoints", "backup", "model.keras",
               "eval", "result.json", "epoch_seconds.json", "preset", "swa", "machine.json")


def _comparable(config) -> dict:
    """The config as a dict, with ``data.source`` as an absolute path (the same folder given as
    ``../shared/data/IDRiD`` or ``/work/shared/data/IDRiD`` is the same experiment) and
    ``train.jit_compile`` as this backend resolves it (a run saved with ``false``, the default
    before ``null``, is the same experiment under TensorFlow, not under JAX)."""
    from hecl_keras.models.build import resolve_jit_compile

    values = config_to_dict(config)
    source = values["data"]["source"]
    if source != "synthetic":
        values["data"]["source"] = str(Path(source).expanduser().resolve())
    values["train"]["jit_compile"] = resolve_jit_compile(values["train"]["jit_compile"])
    return values


class RunComplete(Exception):
    """Raised internally when the run folder already holds a finished run."""


def prepare_run_dir(run_dir: Path, config, force=False) -> str:
    """Decides what a run folder means for this command: ``"new"``, ``"resume"`` or ``"complete"``.

    A folder with ``result.json`` is complete (nothing to do). A folder whose run
    finished at least one epoch under a ``config.yaml`` that differs from ``config``
    is an error (it would mix two experiments). ``force`` deletes the run's outputs first (only the files a
    run writes; anything else in the folder stays).
    """
    if force:
        for name in RUN_OUTPUTS:
            path = run_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        return "new"
    saved = run_dir / "config.yaml"
    started = any((run_dir / name).is_file() for name in ("result.json", "backup/training_metadata.json")) or \
        len(read_log(run_dir / "log.csv")) > 0
    if saved.is_file() and started:  # a folder that never finished an epoch just takes the new config
        changed = dict_differences(_comparable(load_config(saved)), _comparable(config))
        if changed:
            raise ConfigError(f"{run_dir} holds a run with a different config ({'; '.join(changed[:5])}). "
                              "Use --force to start it again, or another --run-dir.")
    if (run_dir / "result.json").is_file():
        return "complete"
    return "resume" if (run_dir / "backup" / "training_metadata.json").is_file() else "new"


def resumed_epoch(run_dir: Path) -> int:
    """Epochs already finished according to the BackupAndRestore folder (0: none)."""
    meta = run_dir / "backup" / "training_metadata.json"
    return int(json.loads(meta.read_text())["epoch"]) if meta.is_file() else 0


def read_log(path: Path):
    """``log.csv`` rows as dicts of floats (the ``epoch`` column as int); [] if absent."""
    if not path.is_file():
        return []
    with path.open() as f:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v != ""}
                for row in csv.DictReader(f)]


def truncate_log(path: Path, epochs: int) -> None:
    """Keeps the header and the rows of epochs < ``epochs``: rows of an epoch that will be run again go."""
    if not path.is_file():
        return
    lines = path.read_bytes().splitlines(keepends=True)  # bytes: keep CSVLogger's own line endings (\r\n)
    kept = lines[:1] + [line for line in lines[1:] if line.strip() and int(line.split(b",", 1)[0]) < epochs]
    path.write_bytes(b"".join(kept) if len(kept) > 1 else b"")


def best_logged(rows, monitor, mode):
    """The best ``monitor`` value in the log rows (None if none)."""
    values = [r[monitor] for r in rows if monitor in r and not math.isnan(r[monitor])]
    if not values:
        return None
    return min(values) if mode == "min" else max(values)


_INTER_OP_WARNED = False  # single_inter_op_thread's warning was given in this process


def single_inter_op_thread() -> bool:
    """Runs TensorFlow's independent ops one after another (one inter-op thread); True when that holds.

    Op determinism alone does not make training with a ``keras.applications`` encoder repeatable on CPU:
    the encoder's tapped feature maps feed both the next encoder layer and the decoder, and with
    several inter-op threads the gradients reaching them came out different in the last bits from one
    step to the next (same weights, same batch; a ResNet50 tapped at ``conv1_relu`` alone shows it), and
    a 60-epoch training then ended 0.055 test PR-AUC apart from the same seed (docs/RESULTS.md section 22).
    One inter-op thread removes it; the ops keep their intra-op threads.

    The thread pool can only be set before TensorFlow starts: ``hecl train`` does it first. Where
    TensorFlow already ran (a notebook, a test session) this warns, unless ``TF_NUM_INTEROP_THREADS=1``
    was set in the environment before Python started (once per process: ``hecl train`` reaches this twice).
    """
    global _INTER_OP_WARNED
    import os
    import warnings

    import tensorflow as tf

    if os.environ.get("TF_NUM_INTEROP_THREADS") == "1" or tf.config.threading.get_inter_op_parallelism_threads() == 1:
        return True
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        return True
    except RuntimeError:
        if _INTER_OP_WARNED:
            return False
        _INTER_OP_WARNED = True
        warnings.warn("train.deterministic: TensorFlow started before this training, so it keeps several inter-op "
                      "threads, and the gradients of an encoder's tapped feature maps may differ in the last bits "
                      "between runs. Set TF_NUM_INTEROP_THREADS=1 before starting Python (or train with hecl train) "
                      "for identical runs.", stacklevel=2)
        return False


def enable_determinism(seed: int, deterministic: bool) -> None:
    """Seeds Python, NumPy and the backend; with ``deterministic``, TensorFlow op determinism and one inter-op
    thread (:func:`single_inter_op_thread`) too."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        single_inter_op_thread()
        tf.config.experimental.enable_op_determinism()


def choose_threshold(model, config, items, predictions=None, total=None, tta=None) -> dict:
    """The decision settings chosen on ``items`` (the validation split): the probability threshold that
    maximises pooled full-resolution F1, then the image-level minimum lesion size
    (:func:`~hecl_keras.inference.image_level.choose_min_lesion_pixels`) at that threshold.

    ``predictions``, a dict, receives ``{id: (probabilities (H,W), working/original scale)}`` so the
    validation report need not predict the images again. ``total``: the number of items, for the progress
    line on stderr (default ``len(items)`` where it has one). ``tta``: a test-time augmentation mode in place
    of ``config.eval.tta``.

    Returns:
        ``{"threshold", "val_f1", "val_pr_auc", "images", "min_lesion_pixels", "min_lesion_choice"}``
        (``val_pr_auc``: pooled over ``items``, threshold-free).
    """
    from hecl_keras.inference.predictor import Predictor, keras_predict_fn
    from hecl_keras.progress import Progress

    predictor = Predictor.from_config(keras_predict_fn(model), config, tta=tta)
    kept = []
    bar = Progress(total or (len(items) if hasattr(items, "__len__") else 0),
                   f"choosing the decision threshold on validation (tta {predictor.tta})")
    for sample_id, image, mask in items:
        prob, scale = predictor.predict_with_scale(image)
        bar(len(kept) + 1, item=str(sample_id))
        kept.append((prob, mask.astype(bool), scale))
        if predictions is not None:
            predictions[sample_id] = (prob, scale)
    return choose_decision(kept, config.eval.min_lesion_tolerance)


def choose_decision(items, tolerance) -> dict:
    """:func:`choose_threshold`'s choice on maps already predicted.

    Args:
        items: list of ``(probabilities (H,W), truth (H,W) bool, working/original scale)``.
        tolerance: ``eval.min_lesion_tolerance``.

    Returns:
        ``{"threshold", "val_f1", "val_pr_auc", "images", "min_lesion_pixels", "min_lesion_choice"}``.
    """
    from hecl_keras.inference.image_level import choose_min_lesion_pixels
    from hecl_keras.metrics.pixel_curves import PooledCurves

    curves = PooledCurves()
    for prob, truth, _ in items:
        curves.update(prob, truth)
    threshold, f1 = curves.best_f1_threshold()
    size = choose_min_lesion_pixels([(p, t, threshold, s) for p, t, s in items], tolerance=tolerance)
    return {"threshold": threshold, "val_f1": f1, "val_pr_auc": curves.pr_auc(), "images": len(items),
            "min_lesion_pixels": size["min_lesion_pixels"], "min_lesion_choice": size}


def train(config, run_dir=None, verbose=None, force=False) -> dict:
    """Trains the model of ``config`` and writes a run folder.

    Args:
        config: ExperimentConfig.
        run_dir: folder; default ``config.run_dir/config.name``. Re-running with
            the same folder resumes an interrupted run from its last finished
            epoch, and does nothing for a complete run.
        verbose: Keras verbosity; default progress bars on a terminal, one line per epoch otherwise.
        force: start again: delete the run's outputs in ``run_dir`` first.

    Returns:
        dict with ``run_dir``, ``history`` (per epoch, from ``log.csv``), ``train_seconds``,
        ``threshold`` (chosen on validation), ``eval`` and ``status`` (``"trained"``, ``"resumed"``
        or ``"complete"`` when there was nothing to do).
    """
    t = config.train
    if t.deterministic and keras.backend.backend() == "tensorflow":
        single_inter_op_thread()  # before the strategy: it starts TensorFlow, after which the pool is fixed
    strategy = make_strategy(t.strategy)  # first: MultiWorkerMirroredStrategy must exist before other TF work
    run_dir = worker_run_dir(Path(run_dir or Path(config.run_dir) / config.name), strategy)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = prepare_run_dir(run_dir, config, force)
    if state == "complete":
        result = json.loads((run_dir / "result.json").read_text())
        print(f"{run_dir} holds a complete run: nothing to do (results: {run_dir / 'result.json'}, "
              f"{run_dir / 'eval'}; use --force to train again).", file=sys.stderr)
        return {**result, "history": _history(read_log(run_dir / "log.csv")), "status": "complete"}
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    if moved := record_machine(run_dir, new_run=state != "resume"):
        print(f"warning: {run_dir} started on another kind of machine ({'; '.join(moved[:4])}): the resumed run "
              "will not reproduce an uninterrupted one bit for bit (machine.json keeps each session's machine)",
              file=sys.stderr)
    enable_determinism(t.seed, t.deterministic)
    if t.mixed_precision:
        keras.mixed_precision.set_global_policy(t.mixed_precision)
    start = time.perf_counter()

    data = load_experiment_data(config.data)
    (run_dir / "split.json").write_text(json.dumps(data.split, indent=2))
    if (balance := describe_split(data.val)) is not None:
        print(balance, file=sys.stderr)
    inputs = training_inputs(config, data)
    train_data, validation = inputs.train, inputs.validation
    if strategy is not None and keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # every worker sees the same generator: shard by batch, not by file

        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        train_data = train_data.with_options(options)
    monitor = t.monitor
    if validation is None and monitor.startswith("val_"):
        monitor = monitor[4:]

    done = resumed_epoch(run_dir) if state == "resume" else 0
    m = config.model
    if m.encoder_freeze and 0 < m.encoder_unfreeze_epoch <= done:
        # Resumed after the warm-up: the backup holds an unfrozen model's optimizer state.
        config = dataclasses.replace(config, model=dataclasses.replace(m, encoder_freeze=False))
    # Under a strategy, train.batch_size is the global batch; Keras splits it over the replicas.
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_compiled_model(config)
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        from hecl_keras.training.multi_worker import is_multi_worker, patch_for_multi_worker, synchronize_batch_norm

        synchronize_batch_norm(model)  # global-batch statistics: replicas and workers stay identical
        if is_multi_worker(strategy):
            patch_for_multi_worker(model)  # keras-team/keras#20585

    log_path = run_dir / "log.csv"
    truncate_log(log_path, done)  # rows of a partly finished epoch (killed before its backup) go
    mode = monitor_mode(monitor)
    if done:
        if done >= t.epochs:
            print(f"all {t.epochs} epochs were trained before the interruption: choosing the threshold and "
                  "scoring", file=sys.stderr)
        else:
            print(f"resuming from epoch {done + 1} of {t.epochs} ({run_dir / 'backup'})", file=sys.stderr)
    # Order matters at each epoch end: the log row and the best checkpoint are written before the
    # backup, so a kill in between re-runs that epoch (identically) instead of losing its row/checkpoint.
    callbacks = [
        inputs.sync_epoch,
        *recipe_callbacks(config, data.train),
        EpochTimer(run_dir / "epoch_seconds.json"),
        keras.callbacks.CSVLogger(str(log_path), append=True),
        # With weight averaging the run's model is the average; the epoch the monitor chose is kept beside it.
        BestCheckpoint(str(run_dir / "checkpoints" / ("best_epoch.keras" if t.swa_epochs else "best.keras")),
                       monitor=monitor, mode=mode, best=best_logged(read_log(log_path), monitor, mode)),
        keras.callbacks.TensorBoard(str(run_dir / "tensorboard")),
    ]
    if validation is not None and t.image_log_every:
        callbacks.append(PredictionImages(run_dir / "tensorboard", *validation, every=t.image_log_every))
    if t.swa_epochs:
        from hecl_keras.training.weight_averaging import WeightAveraging

        callbacks.append(WeightAveraging(run_dir / "swa", t.epochs - t.swa_epochs))
    callbacks.append(keras.callbacks.BackupAndRestore(str(run_dir / "backup"), delete_checkpoint=False))
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    model.fit(train_data, epochs=t.epochs, validation_data=validation, validation_batch_size=t.batch_size,
              callbacks=callbacks, verbose=verbose, shuffle=False)  # the pipelines shuffle themselves
    model.save(run_dir / "model.keras")
    history = _history(read_log(log_path))
    # Training time over every session of the run (resumes included); runs from before epoch_seconds.json
    # existed fall back to this session's time.
    session = time.perf_counter() - start
    trained = training_seconds(run_dir / "epoch_seconds.json", t.epochs)
    result = {"run_dir": str(run_dir), "monitor": monitor, "session_seconds": session,
              "train_seconds": session if trained is None else trained,
              "resumed_from_epoch": done, "epochs": t.epochs}

    best_path = run_dir / "checkpoints" / "best.keras"
    if t.swa_epochs:
        result["swa"] = _finish_weight_averaging(model, config, data, validation, run_dir)
        model.save(best_path)
    best = load_model(best_path) if best_path.exists() else model
    val_predictions = {}  # the threshold choice's predictions serve the validation report too
    if data.split.get("val"):
        result["threshold"] = choose_threshold(best, config, data.originals("val"), val_predictions,
                                               total=len(data.split["val"]))
        best.decision_threshold = result["threshold"]["threshold"]
        best.min_lesion_pixels = result["threshold"]["min_lesion_pixels"]
        if best_path.exists():
            best.save(best_path)
        print(f"decision threshold {best.decision_threshold:.4f} (pooled validation F1 "
              f"{result['threshold']['val_f1']:.4f}), minimum lesion {best.min_lesion_pixels:g} working-scale "
              f"pixels ({result['threshold']['min_lesion_choice']['criterion']}), stored in {best_path}",
              file=sys.stderr)
    from hecl_keras.evaluation.runner import evaluate_model

    result["eval"] = {}
    for split in config.eval.after_training:
        if data.split.get(split):
            result["eval"][split] = evaluate_model(best, config, data.originals(split), run_dir / "eval" / split,
                                                   protocols=("standard",),
                                                   predictions=val_predictions if split == "val" else None)
    from hecl_keras.presets import save_to_preset, training_summary

    save_to_preset(best, run_dir / "preset", config, training_summary(result, data))
    result["preset"] = str(run_dir / "preset")
    result["complete"] = True
    (run_dir / "result.json").write_text(json.dumps(result, indent=2, default=float))
    return {**result, "history": history, "status": "resumed" if done else "trained"}


def _finish_weight_averaging(model, config, data, validation, run_dir):
    """Loads the weight average of the last ``train.swa_epochs`` epochs into ``model``, re-estimates its
    BatchNorm statistics on training tiles and validates it; returns what ``result.json`` keeps of it."""
    from hecl_keras.training.precise_batch_norm import reestimate_batch_norm, training_tiles
    from hecl_keras.training.weight_averaging import load_average

    t = config.train
    loaded = load_average(model, run_dir / "swa", t.epochs - 1)
    tiles = training_tiles(data.train, config.augment.crop_size, t.precise_bn_tiles, t.seed)
    reestimate_batch_norm(model, tiles, t.batch_size)
    out = {"first_epoch": t.epochs - t.swa_epochs + 1, "last_epoch": t.epochs, "epochs_averaged": loaded["epochs"],
           "variables": loaded["variables"]}
    if validation is not None:
        out["val"] = model.evaluate(*validation, batch_size=t.batch_size, verbose=0, return_dict=True)
    scores = ", ".join(f"{k} {float(v):.4f}" for k, v in out.get("val", {}).items() if k in ("pr_auc", "f1"))
    print(f"weight average of epochs {out['first_epoch']}-{out['last_epoch']} ({loaded['variables']} variables, "
          f"BatchNorm re-estimated){': validation ' + scores if scores else ''}; it is the run's model "
          f"({run_dir / 'checkpoints' / 'best.keras'}; the monitor's epoch: best_epoch.keras)", file=sys.stderr)
    return out


def _history(rows):
    """log.csv rows -> ``{metric: [value per epoch]}``."""
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [r.get(k, float("nan")) for r in rows] for k in keys}
