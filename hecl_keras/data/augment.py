"""Training augmentation with Keras preprocessing layers.

Image and mask go through the same geometric transform: Keras 3 image
preprocessing layers take ``{"images": x, "segmentation_masks": m}`` and
apply one random draw to both. Masks are re-binarised at 0.5 afterwards
(rotation interpolates them). The layers run inside ``tf.data`` under any
backend, or eagerly on arrays (used by the JAX-friendly ``PyDataset``).
"""

from __future__ import annotations

import dataclasses

import keras


@keras.saving.register_keras_serializable(package="hecl_keras")
class RandomBrightnessScale(keras.layers.RandomBrightness):
    """Multiplies each image by a random factor in ``[1 - f, 1 + f]`` (torchvision-style brightness).

    Keras' ``RandomBrightness`` adds a random offset; the HECL recipe scales
    intensities by a factor in [0.5, 1.5]. Masks pass through unchanged.

    Args:
        factor: float or (low, high), offsets of the scale from 1, in [-1, 1].
            ``0.5`` draws scales from [0.5, 1.5].
        value_range: (min, max) the output is clipped to. Defaults to (0, 1).
        seed: int or None.
    """

    def __init__(self, factor, value_range=(0.0, 1.0), seed=None, **kwargs):
        super().__init__(factor=factor, value_range=value_range, seed=seed, **kwargs)

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        # The parent draws rgb_delta = u * (max - min), u ~ U(factor); undo the range scaling.
        span = self.value_range[1] - self.value_range[0]
        scale = 1.0 + self.backend.cast(transformation["rgb_delta"], images.dtype) / span
        return self.backend.numpy.clip(images * scale, self.value_range[0], self.value_range[1])


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Random augmentation of training crops (the authors' recipe by default).

    Attributes:
        crop_size: (h, w) of the random crop fed to the network.
        flip: bool. Random horizontal flip, p = 0.5.
        rotation: float. Maximum rotation in degrees (180 = any angle).
        brightness: (low, high) multiplicative brightness factor range.
        contrast: (low, high) contrast factor range (around each image's mean).
    """

    crop_size: tuple = (512, 512)
    flip: bool = True
    rotation: float = 180.0
    brightness: tuple = (0.5, 1.5)
    contrast: tuple = (0.5, 1.5)

    def __post_init__(self):
        object.__setattr__(self, "crop_size", tuple(int(s) for s in self.crop_size))
        object.__setattr__(self, "brightness", tuple(float(b) for b in self.brightness))
        object.__setattr__(self, "contrast", tuple(float(c) for c in self.contrast))
        for name in ("brightness", "contrast"):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo <= 1.0 <= hi <= 2.0:
                raise ValueError(
                    f"{name} must be (low, high) with 0 <= low <= 1 <= high <= 2. Received: {name}={(lo, hi)}"
                )
        if len(self.crop_size) != 2 or min(self.crop_size) < 1:
            raise ValueError(f"crop_size must be (height, width). Received: crop_size={self.crop_size}")


def build_augmenter(config: AugmentConfig = AugmentConfig(), seed: int | None = None) -> keras.layers.Pipeline:
    """A ``keras.layers.Pipeline`` that takes and returns ``{"images", "segmentation_masks"}``.

    Order: flip, rotation (about the centre, black fill), random crop,
    brightness, contrast. Images are float in [0, 1], (H, W, 3) or
    (B, H, W, 3); masks float (…, 1).
    """

    def sub_seed(i):
        return None if seed is None else seed * 7919 + i

    layers = []
    if config.flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=sub_seed(1)))
    if config.rotation > 0:
        layers.append(
            keras.layers.RandomRotation(
                config.rotation / 360.0, fill_mode="constant", fill_value=0.0, seed=sub_seed(2)
            )
        )
    layers.append(keras.layers.RandomCrop(config.crop_size[0], config.crop_size[1], seed=sub_seed(3)))
    lo, hi = config.brightness
    if (lo, hi) != (1.0, 1.0):
        layers.append(RandomBrightnessScale((lo - 1.0, hi - 1.0), value_range=(0.0, 1.0), seed=sub_seed(4)))
    lo, hi = config.contrast
    if (lo, hi) != (1.0, 1.0):
        layers.append(keras.layers.RandomContrast((1.0 - lo, hi - 1.0), value_range=(0.0, 1.0), seed=sub_seed(5)))
    return keras.layers.Pipeline(layers, name="augment")


def augment(augmenter, images, masks):
    """Applies ``augmenter`` and re-binarises the masks at 0.5.

    Args:
        augmenter: from :func:`build_augmenter`.
        images: float32 (..., H, W, 3) in [0, 1].
        masks: float32 (..., H, W, 1) in {0, 1}.

    Returns:
        ``(images, masks)`` of the crop size, masks in {0, 1}.
    """
    out = augmenter({"images": images, "segmentation_masks": masks}, training=True)
    m = keras.ops.cast(out["segmentation_masks"] >= 0.5, "float32")
    return out["images"], m
