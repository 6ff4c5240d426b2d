"""Callbacks that Keras does not ship: learning-rate halving and TensorBoard prediction images."""

from __future__ import annotations

import keras
import numpy as np


def halving_schedule(initial_lr, halve_every):
    """epoch -> lr: ``initial_lr * 0.5 ** (epoch // halve_every)`` (0: constant)."""

    def schedule(epoch, lr=None):
        if not halve_every:
            return float(initial_lr)
        return float(initial_lr * 0.5 ** (epoch // halve_every))

    return schedule


def overlay_batch(images, masks, probs, threshold=0.5):
    """(B,H,W,3) images in [0,1], (B,H,W,1) masks and probabilities -> (B,H,W,3) uint8 overlays.

    Ground truth outlined in green tint, prediction in red tint, both in yellow.
    """
    out = (np.clip(images, 0, 1) * 255).astype(np.float32)
    t = masks[..., 0] >= 0.5
    p = probs[..., 0] >= threshold
    out[t] = 0.5 * out[t] + 0.5 * np.array([0, 255, 0])
    out[p] = 0.5 * out[p] + 0.5 * np.array([255, 0, 0])
    return out.astype(np.uint8)


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
        probs = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float32)))
        pictures = overlay_batch(self.images, self.masks, probs)
        if self.writer is None:
            self.writer = self.tf.summary.create_file_writer(self.log_dir + "/images")
        with self.writer.as_default():
            self.tf.summary.image("validation: truth green, prediction red", pictures, step=epoch + 1,
                                  max_outputs=len(pictures))
        self.writer.flush()
