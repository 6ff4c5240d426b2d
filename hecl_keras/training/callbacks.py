"""Callbacks that Keras does not ship: learning-rate halving, TensorBoard prediction images, a time budget,
unfreezing a pretrained encoder after a warm-up."""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path

import keras
import numpy as np

from hecl_keras.config import LR_SCHEDULES
from hecl_keras.inference.predictor import sigmoid
from hecl_keras.visualize import tint_batch


def halving_schedule(initial_lr, halve_every):
    """epoch -> lr: ``initial_lr * 0.5 ** (epoch // halve_every)`` (0: constant)."""

    def schedule(epoch, lr=None):
        if not halve_every:
            return float(initial_lr)
        return float(initial_lr * 0.5 ** (epoch // halve_every))

    return schedule


def warmup_cosine_schedule(initial_lr, epochs, warmup_epochs=0):
    """epoch -> lr: linear warm-up ``initial_lr * (e + 1) / warmup`` for ``e < warmup``, then a cosine from
    ``initial_lr`` to ``initial_lr / 100`` at the last epoch."""

    def schedule(epoch, lr=None):
        if epoch < warmup_epochs:
            return float(initial_lr * (epoch + 1) / warmup_epochs)
        span = max(1, epochs - warmup_epochs - 1)
        progress = min(1.0, (epoch - warmup_epochs) / span)
        floor = initial_lr / 100
        return float(floor + (initial_lr - floor) * 0.5 * (1 + math.cos(math.pi * progress)))

    return schedule




def learning_rate_schedule(train_config):
    """The per-epoch schedule ``train.lr_schedule`` names (a function of the epoch only, so resumes agree)."""
    t = train_config
    if t.lr_schedule == "halving":
        return halving_schedule(t.learning_rate, t.halve_every)
    if t.lr_schedule == "cosine":
        return warmup_cosine_schedule(t.learning_rate, t.epochs, t.warmup_epochs)
    raise ValueError(f"train.lr_schedule must be one of {LR_SCHEDULES}. Received: {t.lr_schedule!r}")


def recipe_callbacks(config, train_pairs=None):
    """The callbacks a config's training recipe needs, in the order they must run.

    Learning-rate schedule; HECL weight schedule (``hecl.alpha_off_epochs``/``alpha_ramp_epochs``);
    encoder unfreezing (``model.encoder_unfreeze_epoch``); the EMA swap for validation (``train.ema``);
    then re-estimated BatchNorm statistics (``train.precise_bn``, after the swap so they are the
    averaged weights'). ``hecl train`` and every ``hecl tune`` trial use the same list.

    Args:
        config: ExperimentConfig.
        train_pairs: the training (image, mask) pairs; needed with ``train.precise_bn``.
    """
    t, h, m = config.train, config.hecl, config.model
    out = [keras.callbacks.LearningRateScheduler(learning_rate_schedule(t))]
    if h.enabled and (h.alpha_off_epochs or h.alpha_ramp_epochs):
        from hecl_keras.models.hecl import AlphaSchedule

        out.append(AlphaSchedule(h.alpha_off_epochs, h.alpha_ramp_epochs, h.alpha_ramp))  # logged as alpha_scale
    if m.encoder_freeze and m.encoder_unfreeze_epoch:
        out.append(UnfreezeEncoder(m.encoder_unfreeze_epoch))
    if t.ema:
        out.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=False))  # validate the averaged weights
    if t.precise_bn:
        if train_pairs is None:
            raise ValueError("train.precise_bn needs the training pairs (recipe_callbacks(config, train_pairs))")
        from hecl_keras.training.precise_batch_norm import PreciseBatchNorm, training_tiles

        tiles = training_tiles(train_pairs, config.augment.crop_size, t.precise_bn_tiles, t.seed)
        out.append(PreciseBatchNorm(tiles, t.batch_size))
    return out


class BestCheckpoint(keras.callbacks.ModelCheckpoint):
    """``ModelCheckpoint(save_best_only=True)`` that survives a resume and saves averaged weights.

    Keras' callback forgets the best value when the process restarts, so after
    a resume it would overwrite a better checkpoint; here the best value so far
    is passed in (``hecl train`` reads it from ``log.csv``). With an optimizer
    that keeps an exponential moving average (``use_ema``), the checkpoint holds
    the averaged weights, as validation saw them.

    Args:
        filepath: ``.keras`` path. monitor: metric name. mode: ``"min"`` or ``"max"``.
        best: float or None. The best value seen before this process started.
    """

    def __init__(self, filepath, monitor, mode, best=None, **kwargs):
        super().__init__(filepath, monitor=monitor, mode=mode, save_best_only=True, **kwargs)
        if best is not None:
            self.best = best

    def _save_model(self, epoch, batch, logs):
        swap = None
        if getattr(self.model.optimizer, "use_ema", False):
            swap = keras.callbacks.SwapEMAWeights()
            swap.set_model(self.model)
            swap._swap_variables()  # noqa: SLF001 - Keras' own swap, also used by its SwapEMAWeights callback
        try:
            super()._save_model(epoch, batch, logs)
        finally:
            if swap is not None:
                swap._swap_variables()  # noqa: SLF001


class PredictionImages(keras.callbacks.Callback):
    """Writes validation predictions overlaid on the fundus to TensorBoard every ``every`` epochs.

    Needs TensorFlow for ``tf.summary`` (skipped with a warning under other backends without it).

    Args:
        log_dir: TensorBoard folder (images go to ``log_dir/images``).
        images: (N,H,W,3) float32 validation tiles in [0,1]; masks: (N,H,W,1).
        every: int. Epoch interval.
    """

    def __init__(self, log_dir, images, masks, every=10, max_images=4):
        super().__init__()
        self.log_dir, self.every = str(log_dir), every
        order = np.argsort(-masks.reshape(len(masks), -1).mean(1))[:max_images]  # most lesion first
        self.images, self.masks = images[order], masks[order]
        self.writer = None
        try:
            import tensorflow as tf

            self.tf = tf
        except ImportError:  # pragma: no cover - JAX-only machines
            self.tf = None

    def on_epoch_end(self, epoch, logs=None):
        if self.tf is None or not self.every or (epoch + 1) % self.every:
            return
        logits = self.model.predict(self.images, verbose=0)
        pictures = tint_batch(self.images, self.masks, sigmoid(logits))
        if self.writer is None:
            self.writer = self.tf.summary.create_file_writer(self.log_dir + "/images")
        with self.writer.as_default():
            self.tf.summary.image("validation: truth green, prediction red", pictures, step=epoch + 1,
                                  max_outputs=len(pictures))
        self.writer.flush()


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall time (validation included) in a JSON file ``{epoch: seconds}``.

    Kept out of ``log.csv`` so that log stays identical between identical runs; an
    epoch run again after a resume overwrites its entry, so a resumed run's total
    training time is the sum over its epochs (:func:`training_seconds`).
    """

    def __init__(self, path, clock=time.perf_counter):
        super().__init__()
        self.path, self.clock = Path(path), clock
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self.clock()

    def on_epoch_end(self, epoch, logs=None):
        times = json.loads(self.path.read_text()) if self.path.is_file() else {}
        times[str(epoch)] = self.clock() - self._start
        self.path.write_text(json.dumps(times, indent=1))


def training_seconds(path, epochs):
    """Sum of the recorded seconds of epochs ``0..epochs-1``, or None when some are missing."""
    times = json.loads(Path(path).read_text()) if Path(path).is_file() else {}
    if any(str(e) not in times for e in range(epochs)):
        return None
    return sum(times[str(e)] for e in range(epochs))


class UnfreezeEncoder(keras.callbacks.Callback):
    """Makes the backbone's ``encoder`` trainable at the start of epoch ``epoch`` (0-based).

    Training the new decoder first on a frozen pretrained encoder, then both, is
    the usual fine-tuning recipe. Keras optimizers know their variables from their
    first step, so the optimizer is rebuilt for the larger set (same class and
    settings; Adam's moments start at zero, the step count carries on) and the
    train function is traced again.
    """

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        encoder = self.model.backbone.get_layer("encoder")
        if epoch < self.epoch or encoder.trainable:
            return
        encoder.trainable = True
        old = self.model.optimizer
        new = old.__class__.from_config(old.get_config())
        new.build(self.model.trainable_variables)
        new.iterations.assign(old.iterations)
        self.model.optimizer = new
        self.model.make_train_function(force=True)
        print(f"epoch {epoch + 1}: encoder unfrozen ({len(self.model.trainable_variables)} trainable variables)")


class TimeBudget(keras.callbacks.Callback):
    """Trains for a wall-clock budget instead of an epoch count, with the paper's step schedule.

    Stops at the first batch end past ``seconds`` (counted from the start of
    ``fit``, compilation included; or, with ``count_compilation=False``, from the end of
    the first training step, so that models with different one-time costs -- a GPU's first
    compilation and autotuning took 40 s more than the next model's -- train equally long)
    and sets the learning rate at each epoch start to
    ``initial_lr * 0.5 ** floor(halvings * elapsed / seconds)``: with
    ``halvings=3`` that halves it after one and two thirds of the budget, as the
    paper does after epochs 100 and 200 of 300. Records ``steps`` (batches run),
    ``epoch_seconds``, ``epoch_steps``, ``validation_seconds`` (per epoch, part of ``epoch_seconds``) and
    ``stopped_early`` (budget reached before the last epoch) and ``first_step_seconds``
    (from the start of ``fit`` to the end of the first step: tracing, compilation, one step).

    Args:
        seconds: float. The budget.
        initial_lr: float, or None to leave the learning rate alone.
        halvings: int. Number of equal parts the budget is split into (lr halved between them).
        clock: callable returning seconds (tests replace it).
        count_compilation: bool. Whether the budget includes the first step.
    """

    def __init__(self, seconds, initial_lr=None, halvings=3, clock=time.perf_counter, count_compilation=True):
        super().__init__()
        self.clock = clock
        self.seconds, self.initial_lr, self.halvings = float(seconds), initial_lr, halvings
        self.count_compilation = count_compilation
        self.start = self._fit_start = None
        self.first_step_seconds = None
        self.steps = 0
        self.epoch_seconds = []
        self.validation_seconds = []
        self.epoch_steps = []
        self.stopped_early = False
        self._epoch_start = self._test_start = None

    def elapsed(self):
        """Seconds of the budget used so far (0 before the clock starts)."""
        return 0.0 if self.start is None else self.clock() - self.start

    def on_train_begin(self, logs=None):
        self._fit_start = self.clock()
        self.start = self._fit_start if self.count_compilation else None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self.clock()
        if self.initial_lr is not None:
            part = min(self.halvings - 1, int(self.halvings * self.elapsed() / self.seconds))
            self.model.optimizer.learning_rate.assign(self.initial_lr * 0.5 ** part)

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.first_step_seconds is None:
            now = self.clock()
            self.first_step_seconds = now - self._fit_start
            self.start = self.start if self.start is not None else now
        if self.elapsed() >= self.seconds:
            self.model.stop_training = True
            self.stopped_early = True

    def on_test_begin(self, logs=None):
        self._test_start = self.clock()

    def on_test_end(self, logs=None):
        self.validation_seconds.append(self.clock() - self._test_start)

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(self.clock() - self._epoch_start)
        self.epoch_steps.append(self.steps - sum(self.epoch_steps))
        if len(self.validation_seconds) < len(self.epoch_seconds):
            self.validation_seconds.append(0.0)

    def seconds_per_step(self):
        """Median training seconds per step over the epochs after the first (compilation) one.

        Validation time is excluded; a partial last epoch counts with its own step count.
        Uses the first epoch too when it is the only one.
        """
        train = [(e - v) / n for e, v, n in zip(self.epoch_seconds, self.validation_seconds, self.epoch_steps) if n]
        return statistics.median(train[1:] or train)
