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

from hecl_keras.data.augment import AugmentConfig, CompiledSeededAugment, augment_seeded, build_augmenter


def _pad_to(array, height, width):
    """Zero-pads (H, W, C) to (height, width, C), centred (fundus margins are black anyway)."""
    h, w = array.shape[:2]
    if (h, w) == (height, width):
        return array  # already padded (no copy)
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


class CropPlanner:
    """Which crops an epoch holds, as a pure function of (seed, epoch): the source of all data randomness.

    For epoch ``e`` the planner shuffles ``repeats`` copies of every image index
    and gives each crop its own augmentation seed and (for window sampling) its
    centre, all drawn from ``numpy.random.default_rng([seed, e])``. Nothing
    depends on thread order or on how many epochs ran before in this process,
    so a resumed run sees the same crops as an uninterrupted one.

    ``epoch`` is set by :class:`SyncEpoch` (``hecl train`` adds it) at each epoch
    start; without it the planner advances by itself after each complete pass.

    Args:
        masks: list of (H, W, 1) uint8 masks (padded to one size).
        repeats: int. Crops per image per epoch.
        seed: int.
        augment_config: :class:`AugmentConfig` (crop sampling, lesion fraction, crop size).
    """

    def __init__(self, masks, repeats, seed, augment_config: AugmentConfig):
        self.n, self.repeats, self.seed, self.config = len(masks), repeats, seed, augment_config
        self.height, self.width = masks[0].shape[:2]
        # Flat indices of lesion pixels per image (lesions are rare: small arrays).
        self.lesion_pixels = [np.flatnonzero(m[..., 0]) for m in masks]
        self.epoch = 0

    @classmethod
    def from_pairs(cls, pairs, repeats, seed, augment_config: AugmentConfig):
        """``(planner, padded pairs)``: the planner :func:`tf_training_dataset` makes for these pairs, and the
        pairs padded to its common size; pass both there (the pairs are then not padded again) and the
        planner to :class:`SyncEpoch`."""
        images, masks = _common_size(pairs, augment_config.crop_size)
        return cls(masks, repeats, seed, augment_config), list(zip(images, masks))

    def __len__(self):
        return self.n * self.repeats

    def plan(self, epoch):
        """``(indices (N,), seeds (N, 2) int64, centres (N, 2) int (y, x))`` of one epoch's crops, in order."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(np.tile(np.arange(self.n), self.repeats))
        seeds = rng.integers(0, 2 ** 31 - 1, size=(len(order), 2), dtype=np.int64)
        ch, cw = self.config.crop_size
        centres = np.stack([rng.integers(ch // 2, max(ch // 2, self.height - ch // 2) + 1, len(order)),
                            rng.integers(cw // 2, max(cw // 2, self.width - cw // 2) + 1, len(order))], 1)
        on_lesion = rng.random(len(order)) < self.config.lesion_fraction
        picks = rng.random(len(order))
        for j, i in enumerate(order):
            pixels = self.lesion_pixels[i]
            if on_lesion[j] and len(pixels):
                centres[j] = divmod(int(pixels[int(picks[j] * len(pixels))]), self.width)
        return order, seeds, centres

    def pass_done(self):
        self.epoch += 1  # overridden by SyncEpoch when it is used


class SyncEpoch(keras.callbacks.Callback):
    """Tells training pipelines (a :class:`CropPlanner` or :class:`AugmentedBatches`) the epoch ``fit`` is in.

    A copy tells the same pipelines: KerasTuner deep-copies a search's callbacks for every trial, and a copy
    that told copied pipelines would leave the real one at epoch 0 (every epoch the same crops)."""

    def __init__(self, *targets):
        super().__init__()
        self.targets = targets

    def __deepcopy__(self, memo):
        return SyncEpoch(*self.targets)

    def on_epoch_begin(self, epoch, logs=None):
        for t in self.targets:
            t.epoch = epoch


def window(array, centre, size):
    """The ``size`` square of (H, W, C) ``array`` centred on ``centre`` (y, x), zero outside the array."""
    (y, x), (h, w) = centre, size
    top, left = y - h // 2, x - w // 2
    out = np.zeros((h, w) + array.shape[2:], array.dtype)
    ys, xs = max(top, 0), max(left, 0)
    ye, xe = min(top + h, array.shape[0]), min(left + w, array.shape[1])
    if ye > ys and xe > xs:
        out[ys - top:ye - top, xs - left:xe - left] = array[ys:ye, xs:xe]
    return out


def _jittered(centres, config, seeds):
    """Moves window centres by up to a quarter crop (seeded), so lesions do not always sit in the middle."""
    jitter = (seeds % 1009) / 1008.0 - 0.5  # two numbers in [-0.5, 0.5] per crop, from its seed
    return centres + np.round(jitter * np.array(config.crop_size) / 2).astype(int)


def _epoch_plan(planner, config, epoch):
    """``planner.plan(epoch)`` with window centres jittered (the plan both pipelines crop from)."""
    order, seeds, centres = planner.plan(epoch)
    if config.crop_sampling == "window":
        centres = _jittered(centres, config, seeds)
    return order, seeds, centres


def _crop_source(image, mask, centre, config):
    """What augmentation starts from: the whole (padded) image, or the window around ``centre``."""
    if config.crop_sampling == "window":
        return window(image, centre, config.window_size), window(mask, centre, config.window_size)
    return image, mask


def _plan_sources(images, masks, planner, config):
    """One epoch's (image, mask, seed) sources, for the ``tf.data`` generator."""
    for i, seed, centre in zip(*_epoch_plan(planner, config, planner.epoch)):
        yield (*_crop_source(images[i], masks[i], centre, config), seed)
    planner.pass_done()


def tf_training_dataset(pairs, batch_size: int = 6, augment_config: AugmentConfig = AugmentConfig(),
                        repeats: int = 1, seed: int = 0, planner=None):
    """A ``tf.data.Dataset`` of augmented training batches (one pass = ``repeats`` crops per image).

    Deterministic: the crops of epoch ``e`` depend only on ``(seed, e)``
    (:class:`CropPlanner`); the augmentation runs in a parallel map with
    stateless, per-crop seeds. The last incomplete batch is dropped, so every
    batch has exactly ``batch_size`` crops.

    Args:
        pairs: list of Pair or (image (H,W,3) uint8, mask (H,W) bool). Sizes may differ.
        batch_size: int.
        augment_config: :class:`AugmentConfig`.
        repeats: int. Random crops per image per pass (epoch).
        seed: int. Seeds shuffling and augmentation.
        planner: a :class:`CropPlanner` to use (pass it to :class:`SyncEpoch` too); default a new one.

    Returns:
        ``tf.data.Dataset`` of (float32 (B,h,w,3), float32 (B,h,w,1)).
    """
    import tensorflow as tf

    images, masks = _common_size(pairs, augment_config.crop_size)
    n = len(images)
    if n * repeats < batch_size:
        raise ValueError(f"{n} images x {repeats} repeats cannot fill one batch of {batch_size}.")
    planner = planner or CropPlanner(masks, repeats, seed, augment_config)
    augmenter = build_augmenter(augment_config, seed=seed)
    h, w = augment_config.window_size if augment_config.crop_sampling == "window" else images[0].shape[:2]

    ds = tf.data.Dataset.from_generator(
        lambda: _plan_sources(images, masks, planner, augment_config),
        output_signature=(
            tf.TensorSpec((h, w, 3), tf.uint8),
            tf.TensorSpec((h, w, 1), tf.uint8),
            tf.TensorSpec((2,), tf.int64),
        ),
    )
    ds = ds.apply(tf.data.experimental.assert_cardinality(n * repeats))  # lets Keras know the epoch length

    def transform(image, mask, crop_seed):
        return augment_seeded(augmenter, tf.cast(image, tf.float32) / 255.0, tf.cast(mask, tf.float32), crop_seed)

    ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
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

    Same contract and same determinism as :func:`tf_training_dataset` (crops of
    epoch ``e`` depend only on ``(seed, e)``); the augmentation layers run
    eagerly on each crop. Use this under JAX (no TensorFlow needed). ``epoch``
    is set by :class:`SyncEpoch`; without it the dataset advances by itself at
    each epoch end.

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
        self.config = augment_config
        self.augmenter = build_augmenter(augment_config, seed=seed)
        self._augment = CompiledSeededAugment(self.augmenter)  # compiled under JAX, eager elsewhere
        if len(self.images) * repeats < batch_size:
            raise ValueError(f"{len(self.images)} images x {repeats} repeats cannot fill one batch of {batch_size}.")
        self.planner = CropPlanner(self.masks, repeats, seed, augment_config)
        self._planned = None

    @property
    def epoch(self):
        return self.planner.epoch

    @epoch.setter
    def epoch(self, value):
        self.planner.epoch = value

    def __len__(self):
        return len(self.planner) // self.batch_size

    def on_epoch_end(self):
        self.planner.pass_done()

    def _plan(self):
        if self._planned is None or self._planned[0] != self.epoch:
            self._planned = (self.epoch, *_epoch_plan(self.planner, self.config, self.epoch))
        return self._planned[1:]

    def __getitem__(self, index):
        order, seeds, centres = self._plan()
        xs, ys = [], []
        for j in range(index * self.batch_size, (index + 1) * self.batch_size):
            image, mask = _crop_source(self.images[order[j]], self.masks[order[j]], centres[j], self.config)
            x, y = self._augment(image.astype(np.float32) / 255.0, mask.astype(np.float32), seeds[j])
            xs.append(keras.ops.convert_to_numpy(x))
            ys.append(keras.ops.convert_to_numpy(y))
        return np.stack(xs), np.stack(ys)
