"""Re-estimated BatchNorm statistics ("precise BN"; Wu & Johnson, *Rethinking "Batch" in BatchNorm*, 2021).

A BatchNorm layer normalises with the batch's statistics in training and with
its moving averages (momentum 0.99 in Keras) at inference. After a short
training the weights have moved faster than those averages follow: they
describe the features of earlier weights, and a model that scores well in
training mode can fail at inference (docs/RESULTS.md section 13: a from-scratch
EfficientNetB0 U-Net, tile PR-AUC 0.03 in inference mode vs 0.28 in training
mode, 0.43 after re-estimation).

:func:`reestimate_batch_norm` replaces every trainable BatchNorm layer's moving
mean and variance with the plain average of its batch statistics over given
images (training-mode forward passes).
No weight changes. :class:`PreciseBatchNorm` does it before every validation of
``model.fit`` (so model selection sees the statistics used at inference) and
at the end of training. ``train.precise_bn`` switches it on.
"""

from __future__ import annotations

import keras
import numpy as np


def batch_norm_layers(model):
    """The trainable ``BatchNormalization`` layers of ``model``, nested models included.

    Frozen ones (``trainable=False``, e.g. a frozen pretrained encoder) run in inference mode even
    in training and keep their statistics, so they are left out.
    """
    found, stack = [], [model]
    while stack:
        layer = stack.pop()
        if isinstance(layer, keras.layers.BatchNormalization):
            if layer.trainable:
                found.append(layer)
        else:
            stack.extend(reversed(getattr(layer, "layers", [])))
    return found


def training_forward(model):
    """``images -> outputs`` in training mode; compiled under TensorFlow (eager calls were 1.4x slower for
    an EfficientNetB0 U-Net on the 2-core CPU), eager elsewhere. Traced on its first call, so build it
    for :func:`reestimate_batch_norm`, which sets the momentum it needs first."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda images: model(images, training=True), reduce_retracing=True)
    return lambda images: model(images, training=True)


def reestimate_batch_norm(model, images, batch_size=6, forward=None):
    """Sets every trainable BatchNorm layer's moving statistics to their average over ``images``.

    Each batch runs in training mode with the layers' momentum at 0, so after it a layer's moving
    mean and variance are that batch's statistics; their plain average over the batches is what
    the layers keep. The momentum is restored afterwards (and the old statistics, if a pass fails);
    no weight changes.

    Args:
        model: a Keras model.
        images: float32 (N, H, W, C), the model's input (e.g. training tiles in [0, 1], mixed across
            images: :func:`training_tiles`).
        batch_size: images per forward pass; the statistics are averaged over ``ceil(N / batch_size)``
            batches (the last may be smaller), so keep it near the training batch size.
        forward: ``images -> outputs`` in training mode, to reuse across calls (what :class:`PreciseBatchNorm`
            does: tracing it costs seconds); default a new one for ``model``.

    Returns:
        int: the number of BatchNorm layers re-estimated (0: the model has none, nothing ran).
    """
    if len(images) == 0:
        raise ValueError("reestimate_batch_norm needs at least one image")
    layers = batch_norm_layers(model)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    means = [np.zeros(layer.moving_mean.shape, np.float64) for layer in layers]
    variances = [np.zeros(layer.moving_variance.shape, np.float64) for layer in layers]
    forward = forward or training_forward(model)
    saved = [(keras.ops.convert_to_numpy(layer.moving_mean), keras.ops.convert_to_numpy(layer.moving_variance))
             for layer in layers]
    batches = 0
    try:
        for layer in layers:
            layer.momentum = 0.0  # moving statistics := this batch's (read before tracing under TensorFlow)
        for start in range(0, len(images), batch_size):
            forward(keras.ops.convert_to_tensor(images[start:start + batch_size]))
            batches += 1
            for layer, mean, variance in zip(layers, means, variances):
                mean += keras.ops.convert_to_numpy(layer.moving_mean)
                variance += keras.ops.convert_to_numpy(layer.moving_variance)
    except BaseException:  # a pass failed (or was interrupted): the statistics the model had, not a batch's
        for layer, (mean, variance) in zip(layers, saved):
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)
        raise
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    for layer, mean, variance in zip(layers, means, variances):
        layer.moving_mean.assign((mean / batches).astype(np.float32))
        layer.moving_variance.assign((variance / batches).astype(np.float32))
    return len(layers)


def training_tiles(pairs, tile_size, count, seed=0):
    """``count`` tiles of the training images, chosen at random once (the distribution seen at inference).

    In random order, so that each batch mixes tiles of several images as training batches do: with
    the tiles of one image per batch the batch variances, hence their average, leave out the
    variance between images (docs/RESULTS.md section 14).

    Args:
        pairs: list of (image (H,W,3) uint8, mask) training pairs.
        tile_size: (th, tw).
        count: tiles wanted; all of them when there are fewer.
        seed: int, which tiles.

    Returns:
        float32 (min(count, tiles), th, tw, 3) in [0, 1].
    """
    from hecl_keras.data.pipeline import tile_pairs

    tiles, _ = tile_pairs(pairs, tuple(tile_size))
    return tiles[np.random.default_rng(seed).permutation(len(tiles))[:count]]


class PreciseBatchNorm(keras.callbacks.Callback):
    """Re-estimates the BatchNorm statistics before each validation and at the end of training.

    Place it after ``SwapEMAWeights`` so that, with an exponential moving average, the statistics
    are those of the averaged weights that validation and the checkpoints use.

    A validation with no training step since the last re-estimation reuses its statistics (the
    weights have not moved). Only training steps clear that mark: after changing the weights by
    other means (``set_weights``, ``load_weights``) outside ``fit``, call :meth:`invalidate` before
    passing the callback to ``evaluate``.

    Args:
        images: float32 (N, H, W, C) training tiles (:func:`training_tiles`).
        batch_size: forward-pass batch size.
    """

    def __init__(self, images, batch_size=6):
        super().__init__()
        self.images = images
        self.batch_size = batch_size
        self._forward = None
        self._current = False  # True while the statistics match the weights (no step since)
        self.passes = 0  # re-estimations done, for logs and tests

    def _reestimate(self):
        if self._forward is None:
            self._forward = training_forward(self.model)  # traced once, reused at every validation
        reestimate_batch_norm(self.model, self.images, self.batch_size, self._forward)
        self._current = True
        self.passes += 1

    def invalidate(self):
        """Marks the statistics stale: the next validation (or the end of training) re-estimates them."""
        self._current = False

    def on_train_batch_end(self, batch, logs=None):
        self.invalidate()

    def on_test_begin(self, logs=None):
        if not self._current:
            self._reestimate()

    def on_train_end(self, logs=None):
        # After fit's last validation the weights only change through the EMA's final swap, if any:
        # without one, the statistics estimated for that validation still hold.
        if not self._current or getattr(self.model.optimizer, "use_ema", False):
            self._reestimate()
