"""Training augmentation with Keras preprocessing layers.

Image and mask go through the same geometric transform: Keras 3 image
preprocessing layers take ``{"images": x, "segmentation_masks": m}`` and
apply one random draw to both. Masks are re-binarised at 0.5 afterwards
(rotation interpolates them). The layers run inside ``tf.data`` under any
backend, or eagerly on arrays (used by the JAX-friendly ``PyDataset``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import keras

from hecl_keras.config import augment_problem
from hecl_keras.data.jpeg_artifacts import RandomJPEGQuality


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


@keras.saving.register_keras_serializable(package="hecl_keras")
class RandomGamma(keras.layers.RandomBrightness):
    """Raises [0, 1] images to a random power ``2 ** u``, ``u`` uniform in ``[-f, f]`` (another camera's tone curve).

    Reuses ``RandomBrightness``' per-image random draw (and so its seeding); masks pass through.

    Args:
        factor: float ``f`` in (0, 1]: gammas from ``2 ** -f`` to ``2 ** f`` (0.5: 0.71 to 1.41).
        seed: int or None.
    """

    def __init__(self, factor, seed=None, **kwargs):
        kwargs.pop("value_range", None)
        super().__init__(factor=factor, value_range=(0.0, 1.0), seed=seed, **kwargs)

    def transform_images(self, images, transformation, training=True):
        if not training:
            return images
        gamma = 2.0 ** self.backend.cast(transformation["rgb_delta"], images.dtype)  # value_range span is 1
        return self.backend.numpy.power(self.backend.numpy.clip(images, 1e-6, 1.0), gamma)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Random augmentation of training crops (the authors' recipe by default).

    Attributes:
        crop_size: (h, w) of the random crop fed to the network.
        flip: bool. Random horizontal flip, p = 0.5.
        rotation: float. Maximum rotation in degrees (180 = any angle).
        brightness: (low, high) multiplicative brightness factor range.
        contrast: (low, high) contrast factor range (around each image's mean).
        crop_sampling: ``"image"`` (the authors': rotate the whole image, then a
            random crop) or ``"window"``: cut a ``window_size`` square around a
            chosen centre, rotate it, keep its central crop (no black corners
            from the rotation; lets crops be centred on lesions).
        lesion_fraction: with ``"window"``, the fraction of crops centred on a
            random lesion pixel (nnU-Net-style foreground oversampling); the others
            are centred uniformly in the image.

    Other cameras (off by default; issue #18's robustness options):
        hue: float in [0, 1]. ``RandomHue`` factor (0.05: a slight colour cast).
        saturation: float in [0, 1]. Saturation scaled by up to this much either way (``RandomSaturation``).
        gamma: float in [0, 1]. Tone curve ``x ** 2**u``, u in [-gamma, gamma] (:class:`RandomGamma`).
        blur: float >= 0. Largest Gaussian blur sigma in working pixels (``RandomGaussianBlur``).
        zoom: float in [0, 0.5). Scale change up to this fraction either way, image and mask
            together (``RandomZoom``): other resolutions and FOV diameters.
        jpeg_quality: () (off) or (low, high) in [1, 100]: JPEG compression at a random quality
            (:class:`~hecl_keras.data.jpeg_artifacts.RandomJPEGQuality`), other clinics' files.
    """

    crop_size: tuple = (512, 512)
    flip: bool = True
    rotation: float = 180.0
    brightness: tuple = (0.5, 1.5)
    contrast: tuple = (0.5, 1.5)
    crop_sampling: str = "image"
    lesion_fraction: float = 0.0
    hue: float = 0.0
    saturation: float = 0.0
    gamma: float = 0.0
    blur: float = 0.0
    zoom: float = 0.0
    jpeg_quality: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "crop_size", tuple(int(s) for s in self.crop_size))
        object.__setattr__(self, "brightness", tuple(float(b) for b in self.brightness))
        object.__setattr__(self, "contrast", tuple(float(c) for c in self.contrast))
        object.__setattr__(self, "jpeg_quality", tuple(float(q) for q in self.jpeg_quality))
        problem = augment_problem(self)  # the same checks as the YAML config's
        if problem:
            raise ValueError(problem)

    @property
    def window_size(self):
        """(h, w) of the window cut around a crop centre: the crop's diagonal, so any rotation keeps it covered."""
        return tuple(int(math.ceil(s * math.sqrt(2) / 2) * 2) for s in self.crop_size)


def augment_config(config) -> AugmentConfig:
    """The :class:`AugmentConfig` of an experiment config's ``augment`` section."""
    a = config.augment
    return AugmentConfig(crop_size=tuple(a.crop_size), flip=a.flip, rotation=a.rotation,
                         brightness=tuple(a.brightness), contrast=tuple(a.contrast),
                         crop_sampling=a.crop_sampling, lesion_fraction=a.lesion_fraction, hue=a.hue,
                         saturation=a.saturation, gamma=a.gamma, blur=a.blur, zoom=a.zoom,
                         jpeg_quality=tuple(a.jpeg_quality))


def build_augmenter(config: AugmentConfig = AugmentConfig(), seed: int | None = None) -> keras.layers.Pipeline:
    """A ``keras.layers.Pipeline`` that takes and returns ``{"images", "segmentation_masks"}``.

    Order: flip, rotation (about the centre, black fill), zoom, random crop
    (central crop for ``crop_sampling="window"``), brightness, contrast, then the
    optional camera changes: hue, saturation, gamma, blur, JPEG (last, as a camera writes its file).
    Images are float in [0, 1], (H, W, 3) or (B, H, W, 3); masks float (…, 1).
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
    if config.zoom:
        layers.append(keras.layers.RandomZoom((-config.zoom, config.zoom), fill_mode="constant", fill_value=0.0,
                                              seed=sub_seed(6)))
    if config.crop_sampling == "window":
        layers.append(keras.layers.CenterCrop(config.crop_size[0], config.crop_size[1]))
    else:
        layers.append(keras.layers.RandomCrop(config.crop_size[0], config.crop_size[1], seed=sub_seed(3)))
    lo, hi = config.brightness
    if (lo, hi) != (1.0, 1.0):
        layers.append(RandomBrightnessScale((lo - 1.0, hi - 1.0), value_range=(0.0, 1.0), seed=sub_seed(4)))
    lo, hi = config.contrast
    if (lo, hi) != (1.0, 1.0):
        layers.append(keras.layers.RandomContrast((1.0 - lo, hi - 1.0), value_range=(0.0, 1.0), seed=sub_seed(5)))
    if config.hue:
        layers.append(keras.layers.RandomHue(config.hue, value_range=(0.0, 1.0), seed=sub_seed(7)))
    if config.saturation:
        s = config.saturation / 2
        layers.append(keras.layers.RandomSaturation((0.5 - s, 0.5 + s), value_range=(0.0, 1.0), seed=sub_seed(8)))
    if config.gamma:
        layers.append(RandomGamma(config.gamma, seed=sub_seed(9)))
    if config.blur:
        kernel = 2 * int(math.ceil(2 * config.blur)) + 1
        layers.append(keras.layers.RandomGaussianBlur(1.0, kernel_size=kernel, sigma=(0.0, config.blur),
                                                      value_range=(0.0, 1.0), seed=sub_seed(10)))
    if config.jpeg_quality:
        layers.append(RandomJPEGQuality(config.jpeg_quality, seed=sub_seed(11)))
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


class _ElementSeed(keras.random.SeedGenerator):
    """A seed "generator" whose draws are a pure function of one given seed: no state, thread-safe.

    Keras' random layers draw from a stateful ``SeedGenerator``; inside a
    parallel ``tf.data`` map its state advances in thread order, so the same
    seed gives different augmentations from run to run. Passing this object as
    ``seed`` to ``get_random_transformation`` makes every draw depend only on
    ``base`` (and the draw's position), i.e. on (run seed, epoch, sample).
    """

    def __init__(self, base, backend, offset):  # no super().__init__: no state variable
        self.backend = backend
        self._base = backend.cast(backend.convert_to_tensor(base), backend.random_seed_dtype())
        self._offset = offset
        self._draws = 0

    def next(self, ordered=True):
        self._draws += 1
        step = self.backend.convert_to_tensor([0, self._offset + self._draws], dtype=self.backend.random_seed_dtype())
        return self.backend.numpy.add(self._base, step)


def _seeded_layer(augmenter, i, data, seed):
    """Layer ``i`` of ``augmenter`` on one crop's ``data`` dict, its draws from ``seed`` (see augment_seeded)."""
    layer = augmenter.layers[i]
    backend = layer.backend
    transformation = layer.get_random_transformation(
        data, training=True, seed=_ElementSeed(seed, backend, offset=1000 * (i + 1)))
    return {
        "images": layer.transform_single_image(backend.convert_to_tensor(data["images"]), transformation),
        "segmentation_masks": layer.transform_single_segmentation_mask(
            backend.convert_to_tensor(data["segmentation_masks"]), transformation),
    }


def _binary_mask(augmenter, data):
    backend = augmenter.layers[-1].backend
    return data["images"], backend.cast(backend.numpy.greater_equal(data["segmentation_masks"], 0.5), "float32")


def augment_seeded(augmenter, image, mask, seed):
    """:func:`augment` for one crop whose random draws depend only on ``seed`` (deterministic, stateless).

    Args:
        augmenter: from :func:`build_augmenter`.
        image: float32 (H, W, 3) in [0, 1]. mask: float32 (H, W, 1).
        seed: int (2,) tensor or array, e.g. drawn from (run seed, epoch, sample).

    Returns:
        ``(image, mask)`` of the crop size, mask in {0, 1}.
    """
    data = {"images": image, "segmentation_masks": mask}
    for i in range(len(augmenter.layers)):
        data = _seeded_layer(augmenter, i, data, seed)
    return _binary_mask(augmenter, data)


# Layers that cannot be traced by jax.jit: RandomCrop slices with Python slices of drawn offsets.
_EAGER_LAYERS = (keras.layers.RandomCrop,)


class CompiledSeededAugment:
    """:func:`augment_seeded` for one ``augmenter``, with each run of traceable layers compiled.

    Under JAX, the eager layers dispatch every op separately (~150 per 512x512 crop with the
    default rotation), on the default device: on an H200 the eager pipeline held training at
    0.35 s per step against 0.08 s for the step itself (docs/RESULTS.md section 19; how much of
    that was dispatch is not yet measured). Here each run of layers between the untraceable ones
    (:data:`_EAGER_LAYERS`) is one ``jax.jit`` program, compiled once per crop shape; a run that
    fails to trace falls back to eager for good. Same draws as :func:`augment_seeded` (outputs equal
    to float rounding). Other backends: :func:`augment_seeded` as is. Thread-safe.

    Call as ``(image (H, W, 3), mask (H, W, 1), seed (2,)) -> (image, mask)``.
    """

    def __init__(self, augmenter):
        self.augmenter = augmenter
        self.segments = []  # [traceable, [layer indices], compiled function or None]
        for i, layer in enumerate(augmenter.layers):
            traceable = keras.backend.backend() == "jax" and not isinstance(layer, _EAGER_LAYERS)
            if self.segments and traceable and self.segments[-1][0]:
                self.segments[-1][1].append(i)
            else:
                self.segments.append([traceable, [i], None])
        for segment in self.segments:
            if segment[0]:
                import jax

                segment[2] = jax.jit(lambda data, seed, indices=tuple(segment[1]): self._run(indices, data, seed))

    def _run(self, indices, data, seed):
        for i in indices:
            data = _seeded_layer(self.augmenter, i, data, seed)
        return data

    @property
    def compiled_layers(self):
        """Indices of the layers that run compiled (empty outside JAX)."""
        return [i for traceable, indices, _ in self.segments if traceable for i in indices]

    def __call__(self, image, mask, seed):
        data = {"images": image, "segmentation_masks": mask}
        for segment in self.segments:
            traceable, indices, compiled = segment
            if traceable:
                try:
                    data = compiled(data, seed)
                    continue
                except Exception as error:  # not traceable after all: eager from now on (a real error raises again)
                    segment[0] = False
                    names = ", ".join(self.augmenter.layers[i].__class__.__name__ for i in indices)
                    warnings.warn(f"Augmentation layers {names} could not be compiled ({type(error).__name__}: "
                                  f"{str(error)[:200]}); they run eagerly (slower under JAX).", stacklevel=2)
            data = self._run(indices, data, seed)
        return _binary_mask(self.augmenter, data)
