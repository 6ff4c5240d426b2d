"""From a :class:`~hecl_keras.data.datasets.Sample` on disk to a working-scale array pair.

``load_pair`` decodes the image and its mask, checks them, crops to the field
of view, resizes to the working scale and caches the result.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hecl_keras.data.cache import ArrayCache
from hecl_keras.data.datasets import Sample
from hecl_keras.data.errors import DataError
from hecl_keras.data.geometry import CropResize, plan_crop_resize
from hecl_keras.data.io import read_image, read_mask
from hecl_keras.data.normalize import normalize_colour


@dataclasses.dataclass(frozen=True)
class PreprocessConfig:
    """How photographs become working images.

    Attributes:
        short_side: int or None. Short side after the FOV crop, in pixels.
            580 is the authors' scale (~0.2 of IDRiD's 2848). None keeps the
            original scale.
        fov_crop: bool. Crop to the field-of-view bounding box first.
        fov_threshold: int. Red-channel level of the FOV detector.
        normalize: str. Colour normalisation of the working image
            (:mod:`hecl_keras.data.normalize`): ``"none"``, ``"fov_standardize"``, ``"clahe"``, ``"local_mean"``,
            ``"local_mean_fov"``.
        tone_target: float in (0, 1) or None. Mean luminance of the central field of view each working image is
            brought to by one gamma before ``normalize`` (:func:`hecl_keras.data.normalize.match_tone`).
    """

    short_side: int | None = 580
    fov_crop: bool = True
    fov_threshold: int = 20
    normalize: str = "none"
    tone_target: float | None = None


def preprocess_config(data_config, stage="inference") -> PreprocessConfig:
    """The :class:`PreprocessConfig` of an experiment's ``data`` section at one stage.

    Args:
        data_config: :class:`~hecl_keras.config.DataConfig`.
        stage: ``"inference"`` (evaluation, prediction, presets, export) or ``"training"`` (the training pairs
            and the validation crops that pick the best epoch). They differ only when ``data.tone_at`` is
            ``inference``: then training sees no tone match.
    """
    if stage not in ("training", "inference"):
        raise ValueError(f"stage must be 'training' or 'inference'. Received: {stage!r}")
    tone_target = data_config.tone_target
    if stage == "training" and data_config.tone_at == "inference":
        tone_target = None
    return PreprocessConfig(short_side=data_config.short_side, fov_crop=data_config.fov_crop,
                            normalize=data_config.normalize, tone_target=tone_target)


@dataclasses.dataclass
class Pair:
    """A preprocessed image and mask.

    Attributes:
        id: str.
        image: (h, w, 3) uint8 RGB.
        mask: (h, w) bool.
        transform: :class:`CropResize` from the original photograph.
    """

    id: str
    image: np.ndarray
    mask: np.ndarray
    transform: CropResize


def read_pair(sample: Sample):
    """Decodes and checks a sample: ``(image (H,W,3) uint8, mask (H,W) bool)``."""
    image = read_image(sample.image_path)
    mask = read_mask(sample.mask_path)
    if image.shape[:2] != mask.shape:
        raise DataError(
            f"Image/mask size mismatch: {sample.image_path} is {image.shape[1]}x{image.shape[0]}, "
            f"{sample.mask_path} is {mask.shape[1]}x{mask.shape[0]} (width x height)."
        )
    return image, mask


def preprocess_arrays(image, mask, config: PreprocessConfig = PreprocessConfig()):
    """Crops, resizes and colour-normalises an in-memory pair. Returns ``(image, mask, CropResize)``."""
    transform = plan_crop_resize(
        image, short_side=config.short_side, fov_crop=config.fov_crop, threshold=config.fov_threshold
    )
    working = normalize_colour(transform.apply_image(image), config.normalize, config.fov_threshold,
                               config.tone_target)
    return working, transform.apply_mask(mask), transform


def load_pair(sample: Sample, config: PreprocessConfig = PreprocessConfig(), cache: ArrayCache | None = None) -> Pair:
    """Loads one preprocessed pair, through the cache when given.

    Args:
        sample: the files.
        config: :class:`PreprocessConfig`.
        cache: :class:`ArrayCache` or None (no caching).

    Returns:
        :class:`Pair`.
    """
    key = None
    if cache is not None:
        key = cache.key([sample.image_path, sample.mask_path], dataclasses.asdict(config))
        entry = cache.get(key)
        if entry is not None:
            t = CropResize.from_dict(entry)
            return Pair(sample.id, entry["image"], entry["mask"], t)
    image, mask = read_pair(sample)
    image, mask, t = preprocess_arrays(image, mask, config)
    if cache is not None:
        cache.put(
            key,
            {
                "image": image,
                "mask": mask,
                "original_size": np.array(t.original_size),
                "box": np.array(t.box),
                "size": np.array(t.size),
            },
        )
    return Pair(sample.id, image, mask, t)


def validation_split(ids, count: int = 6, seed: int = 0):
    """A seeded, deterministic split of training ids.

    The ids are sorted first, so the split does not depend on listing order.

    Args:
        ids: iterable of str.
        count: int. Number of validation ids. Must leave at least one for training.
        seed: int.

    Returns:
        ``(train_ids, val_ids)``, both sorted lists.
    """
    ids = sorted(ids)
    if count < 0 or count >= len(ids):
        raise ValueError(f"Validation count must be in [0, {len(ids) - 1}] for {len(ids)} ids. Received: count={count}")
    order = np.random.default_rng(seed).permutation(len(ids))
    val = sorted(ids[i] for i in order[:count])
    train = sorted(set(ids) - set(val))
    return train, val
