"""Batches for ``model.fit``: ``tf.data`` (TensorFlow backend) and ``PyDataset`` (any backend).

Both yield ``(images, masks)``: images float32 (B, H, W, 3) in [0, 1], masks
float32 (B, H, W, 1) in {0, 1}. Training batches are augmented random crops
(:mod:`hecl_keras.data.augment`); validation batches are the deterministic
tiles of :func:`tile_pairs`, which cover every pixel of every image.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from hecl_keras.data.augment import AugmentConfig, augment, build_augmenter


def _pad_to(array, height, width):
    """Zero-pads (H, W, C) to (height, width, C), centred (fundus margins are black anyway)."""
    h, w = array.shape[:2]
    top, left = (height - h) // 2, (width - w) // 2
    out = np.zeros((height, width) + array.shape[2:], array.dtype)
    out[top:top + h, left:left + w] = array
    return out


def _common_size(pairs, min_size=(0, 0)):
    """Pads every pair to one (H, W): the largest in the list and at least ``min_size``.

    Keras' ``RandomCrop`` needs a static input shape inside ``tf.data``; the
    FOV-cropped working images differ by a few pixels in width.
    """
    images, masks = _as_arrays(pairs)
    height = max(min_size[0], *(i.shape[0] for i in images))
    width = max(min_size[1], *(i.shape[1] for i in images))
    return [_pad_to(i, height, width) for i in images], [_pad_to(m, height, width) for m in masks]


def _as_arrays(pairs):
    """Accepts Pair objects or (image, mask) tuples; returns lists of uint8 images and (H,W,1) uint8 masks."""
    images, masks = [], []
    for p in pairs:
        image, mask = (p.image, p.mask) if hasattr(p, "image") else p
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"Images must be (H, W, 3) uint8. Received: shape={image.shape}, dtype={image.dtype}")
        if mask.shape[:2] != image.shape[:2]:
            raise ValueError(f"Mask shape {mask.shape} does not match image shape {image.shape}")
        images.append(image)
        masks.append(mask.reshape(mask.shape[:2] + (1,)).astype(np.uint8))
    if not images:
        raise ValueError("No training pairs given.")
    return images, masks


def tf_training_dataset(pairs, batch_size: int = 6, augment_config: AugmentConfig = AugmentConfig(),
                        repeats: int = 1, seed: int = 0, shuffle: bool = True):
    """A ``tf.data.Dataset`` of augmented training batches (one pass = ``repeats`` crops per image).

    Each pass is reshuffled; the last incomplete batch is dropped, so every
    batch has exactly ``batch_size`` crops.

    Args:
        pairs: list of Pair or (image (H,W,3) uint8, mask (H,W) bool). Sizes may differ.
        batch_size: int.
        augment_config: :class:`AugmentConfig`.
        repeats: int. Random crops per image per pass (epoch).
        seed: int. Seeds shuffling and augmentation.
        shuffle: bool.

    Returns:
        ``tf.data.Dataset`` of (float32 (B,h,w,3), float32 (B,h,w,1)).
    """
    import tensorflow as tf

    images, masks = _common_size(pairs, augment_config.crop_size)
    height, width = images[0].shape[:2]
    n = len(images)
    if n * repeats < batch_size:
        raise ValueError(f"{n} images x {repeats} repeats cannot fill one batch of {batch_size}.")
    augmenter = build_augmenter(augment_config, seed=seed)

    def generate():
        for i in range(n):
            yield images[i], masks[i]

    ds = tf.data.Dataset.from_generator(
        generate,
        output_signature=(
            tf.TensorSpec((height, width, 3), tf.uint8),
            tf.TensorSpec((height, width, 1), tf.uint8),
        ),
    )
    ds = ds.apply(tf.data.experimental.assert_cardinality(n))  # lets Keras know the epoch length
    ds = ds.cache()  # the arrays are already in memory; skip the Python generator after the first pass
    ds = ds.repeat(repeats)
    if shuffle:
        ds = ds.shuffle(n * repeats, seed=seed, reshuffle_each_iteration=True)

    def transform(image, mask):
        return augment(augmenter, tf.cast(image, tf.float32) / 255.0, tf.cast(mask, tf.float32))

    ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def tile_pairs(pairs, tile_size=(512, 512)):
    """Cuts every image into non-overlapping tiles (zero-padded at the bottom/right edges).

    Returns:
        ``(images, masks)``: float32 (N, th, tw, 3) in [0, 1] and float32 (N, th, tw, 1).
    """
    images, masks = _as_arrays(pairs)
    th, tw = tile_size
    out_x, out_y = [], []
    for image, mask in zip(images, masks):
        h, w = image.shape[:2]
        ph, pw = math.ceil(h / th) * th, math.ceil(w / tw) * tw
        xi = np.zeros((ph, pw, 3), np.uint8)
        xm = np.zeros((ph, pw, 1), np.uint8)
        xi[:h, :w], xm[:h, :w] = image, mask
        for y0 in range(0, ph, th):
            for x0 in range(0, pw, tw):
                out_x.append(xi[y0:y0 + th, x0:x0 + tw])
                out_y.append(xm[y0:y0 + th, x0:x0 + tw])
    return np.stack(out_x).astype(np.float32) / 255.0, np.stack(out_y).astype(np.float32)


class AugmentedBatches(keras.utils.PyDataset):
    """Augmented training batches as a ``keras.utils.PyDataset`` (works with every Keras backend).

    Same contract as :func:`tf_training_dataset`; the augmentation layers run
    eagerly on each crop. Use this under JAX (no TensorFlow needed).

    Args:
        pairs: list of Pair or (image, mask).
        batch_size: int.
        augment_config: :class:`AugmentConfig`.
        repeats: int. Random crops per image per epoch.
        seed: int.
    """

    def __init__(self, pairs, batch_size=6, augment_config: AugmentConfig = AugmentConfig(), repeats=1, seed=0,
                 **kwargs):
        super().__init__(**kwargs)
        self.images, self.masks = _common_size(pairs, augment_config.crop_size)
        self.batch_size = batch_size
        self.repeats = repeats
        self.augmenter = build_augmenter(augment_config, seed=seed)
        self.rng = np.random.default_rng(seed)
        if len(self.images) * repeats < batch_size:
            raise ValueError(f"{len(self.images)} images x {repeats} repeats cannot fill one batch of {batch_size}.")
        self.order = None
        self.on_epoch_end()

    def __len__(self):
        return len(self.images) * self.repeats // self.batch_size

    def on_epoch_end(self):
        self.order = self.rng.permutation(np.tile(np.arange(len(self.images)), self.repeats))

    def __getitem__(self, index):
        xs, ys = [], []
        for i in self.order[index * self.batch_size:(index + 1) * self.batch_size]:
            x, y = augment(
                self.augmenter, self.images[i].astype(np.float32) / 255.0, self.masks[i].astype(np.float32)
            )
            xs.append(keras.ops.convert_to_numpy(x))
            ys.append(keras.ops.convert_to_numpy(y))
        return np.stack(xs), np.stack(ys)
