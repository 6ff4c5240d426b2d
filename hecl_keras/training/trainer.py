"""``hecl train``: from an :class:`~hecl_keras.config.ExperimentConfig` to a run folder.

A run folder holds: ``config.yaml`` (resolved), ``split.json``, ``log.csv``,
``tensorboard/``, ``checkpoints/best.keras`` (best on the validation metric),
``backup/`` (BackupAndRestore; a killed run resumes from it when the same
command is run again), ``model.keras`` (final weights) and ``eval/`` (scores of
the best model on the splits listed in ``eval.after_training``).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

import keras

from hecl_keras.config import save_config
from hecl_keras.data.augment import AugmentConfig
from hecl_keras.data.pipeline import AugmentedBatches, tf_training_dataset, tile_pairs
from hecl_keras.models.registry import get_backbone, output_stride
from hecl_keras.models.segmenter import Segmenter
from hecl_keras.saving import load_model
from hecl_keras.training.callbacks import PredictionImages, halving_schedule
from hecl_keras.training.data import load_experiment_data


def augment_config(config) -> AugmentConfig:
    a = config.augment
    return AugmentConfig(tuple(a.crop_size), a.flip, a.rotation, tuple(a.brightness), tuple(a.contrast))


def build_model(config) -> Segmenter:
    """The task model of a config: backbone (with ``model.options``) wrapped by the segmenter class."""
    m = config.model
    options = {"base_filters": m.base_filters, **m.options}
    backbone = get_backbone(m.backbone, **options)
    stride = output_stride(m.backbone, **m.options)
    for side in config.augment.crop_size:
        if side % stride:
            raise ValueError(f"augment.crop_size {config.augment.crop_size} must be multiples of {stride} "
                             f"for backbone {m.backbone!r}.")
    if config.hecl.enabled:
        from hecl_keras.models.hecl import HECLSegmenter

        h = config.hecl
        return HECLSegmenter(backbone, alpha=h.alpha, temperature=h.temperature, grid=h.grid,
                             threshold=h.threshold, use_density=h.use_density, use_edge=h.use_edge,
                             sampling=h.sampling, k=h.k, form=h.form,
                             gather_across_replicas=h.gather_across_replicas)
    return Segmenter(backbone)


def build_compiled_model(config) -> Segmenter:
    """:func:`build_model`, compiled with the config's Adam learning rate, loss and ``jit_compile``."""
    t = config.train
    model = build_model(config)
    model.compile(optimizer=keras.optimizers.Adam(t.learning_rate), loss=t.loss, jit_compile=t.jit_compile)
    return model


STRATEGIES = ("none", "mirrored", "multi_worker")


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


def train(config, run_dir=None, verbose=None) -> dict:
    """Trains the model of ``config`` and writes a run folder.

    Args:
        config: ExperimentConfig.
        run_dir: folder; default ``config.run_dir/config.name``. Re-running with
            the same folder resumes an interrupted run.
        verbose: Keras verbosity; default progress bars on a terminal, one line per epoch otherwise.

    Returns:
        dict with ``run_dir``, ``history``, ``seconds`` and evaluation results.
    """
    t = config.train
    strategy = make_strategy(t.strategy)  # first: MultiWorkerMirroredStrategy must exist before other TF work
    run_dir = worker_run_dir(Path(run_dir or Path(config.run_dir) / config.name), strategy)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    keras.utils.set_random_seed(t.seed)
    if t.mixed_precision:
        keras.mixed_precision.set_global_policy(t.mixed_precision)
    start = time.perf_counter()

    data = load_experiment_data(config.data)
    (run_dir / "split.json").write_text(json.dumps(data.split, indent=2))
    aug = augment_config(config)
    if keras.backend.backend() == "tensorflow":
        train_data = tf_training_dataset(data.train, t.batch_size, aug, repeats=t.repeats, seed=t.seed)
        if strategy is not None:  # every worker sees the same generator: shard by batch, not by file
            import tensorflow as tf

            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
            train_data = train_data.with_options(options)
    else:
        train_data = AugmentedBatches(data.train, t.batch_size, aug, repeats=t.repeats, seed=t.seed)

    validation = None
    monitor = t.monitor
    if data.val:
        validation = tile_pairs(data.val, aug.crop_size)
    elif monitor.startswith("val_"):
        monitor = monitor[4:]

    # Under a strategy, train.batch_size is the global batch; Keras splits it over the replicas.
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_compiled_model(config)
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        from hecl_keras.training.multi_worker import is_multi_worker, patch_for_multi_worker, synchronize_batch_norm

        synchronize_batch_norm(model)  # global-batch statistics: replicas and workers stay identical
        if is_multi_worker(strategy):
            patch_for_multi_worker(model)  # keras-team/keras#20585
    callbacks = [
        keras.callbacks.LearningRateScheduler(halving_schedule(t.learning_rate, t.halve_every)),
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.ModelCheckpoint(str(run_dir / "checkpoints" / "best.keras"), monitor=monitor,
                                        mode=monitor_mode(monitor), save_best_only=True),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=True),
        keras.callbacks.TensorBoard(str(run_dir / "tensorboard")),
    ]
    if validation is not None and t.image_log_every:
        callbacks.append(PredictionImages(run_dir / "tensorboard", *validation, every=t.image_log_every))
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    history = model.fit(train_data, epochs=t.epochs, validation_data=validation,
                        validation_batch_size=t.batch_size, callbacks=callbacks, verbose=verbose,
                        shuffle=False)  # the pipelines shuffle themselves
    model.save(run_dir / "model.keras")
    train_seconds = time.perf_counter() - start
    result = {"run_dir": str(run_dir), "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
              "train_seconds": train_seconds, "monitor": monitor}

    best_path = run_dir / "checkpoints" / "best.keras"
    best = load_model(best_path) if best_path.exists() else model
    from hecl_keras.evaluation.runner import evaluate_model

    result["eval"] = {}
    for split in config.eval.after_training:
        if data.split.get(split):
            result["eval"][split] = evaluate_model(best, config, data.originals(split), run_dir / "eval" / split,
                                                   protocols=("standard",))
    (run_dir / "result.json").write_text(json.dumps({k: v for k, v in result.items() if k != "history"}, indent=2,
                                                    default=float))
    return result
