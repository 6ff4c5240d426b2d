"""Field-of-view colour normalisation of working images: one camera's colours closer to another's.

Applied to the working image (after the FOV crop and resize) in training data and
in inference alike (``data.normalize``); the result is again an (h, w, 3) uint8
RGB image with black outside the field of view. Methods:

* ``"none"``: the photograph as it is (the default, and the paper's).
* ``"fov_standardize"``: per channel, subtract the FOV mean and divide by the FOV
  standard deviation, then map to ``128 + 32 z`` (removes colour casts, gain and
  offset differences between cameras).
* ``"clahe"``: contrast-limited adaptive histogram equalisation of the CIELAB
  lightness (clip limit 2, 8x8 tiles); colour kept.
* ``"local_mean"``: ``4 (x - G_sigma * x) + 128`` with ``sigma = short side / 30``
  (B. Graham's Kaggle diabetic-retinopathy preprocessing): removes slow
  illumination changes and vignetting, keeps small bright spots such as exudates.
  The blur takes in the black margin, so a band about ``sigma`` wide along the
  rim comes out bright (models trained on it mark false exudates there,
  docs/RESULTS.md section 29); kept as it is so runs trained with it reproduce.
* ``"local_mean_fov"``: the same with the local mean taken over the field of
  view's lit pixels only (red channel above the FOV threshold), ``G * (x f) / G * f``
  (a normalised convolution): no rim band.

Before any of them, ``data.tone_target`` (off by default) can bring each working image's brightness to one
target (:func:`match_tone`): one gamma for all three channels, estimated on the luminance of the central field
of view (:func:`central_luminance` is its mean). It undoes another camera's gamma or exposure; set at inference
only, for a model trained without it, it also moves the training camera's own images (docs/RESULTS.md
section 26).
"""

from __future__ import annotations

import cv2
import numpy as np

from hecl_keras.config import NORMALIZATIONS
from hecl_keras.data.geometry import fov_mask, rim_distance_fraction

# The central field of view: pixels at least this fraction of the FOV's half width from its rim (the inner 60 % of
# its radius), where vignetting and the rim's glare weigh little on the brightness.
CENTRAL_REGION = 0.4


def _central_pixels(image, fov_threshold, fov=None):
    fov = fov_mask(image, fov_threshold) if fov is None else fov
    if not fov.any():
        return fov, None
    central = rim_distance_fraction(fov) >= CENTRAL_REGION
    return fov, image[central if central.any() else fov]


def central_luminance(image, fov_threshold=20):
    """Mean luminance ``(R + G + B) / 3`` in [0, 1] of the central field of view of an (h, w, 3) uint8 RGB image
    (pixels at least :data:`CENTRAL_REGION` of the FOV's half width from its rim); None without a field of view."""
    pixels = _central_pixels(image, fov_threshold)[1]
    return None if pixels is None else float(pixels.astype(np.float64).mean() / 255.0)


def match_tone(image, target, fov_threshold=20, fov=None):
    """(h, w, 3) uint8 RGB -> the same with every field-of-view pixel raised to one gamma; outside the FOV unchanged.

    The gamma ``g`` is the one for which the central field of view's pixels (:data:`CENTRAL_REGION`) have
    ``mean(luminance ** g) == target``, luminance being ``(R + G + B) / 3`` in [0, 1]: a pure gamma change
    ``x -> x ** c`` of a photograph is undone closely (exactly for a grey one), and the estimate rests on
    mid-grey luminances rather than on the dark blue channel, where ``x ** g`` is most sensitive to ``g``
    (an estimate over every channel value cost 0.008-0.024 more validation PR-AUC in-domain, docs/RESULTS.md
    section 26). The result's :func:`central_luminance` is then close to, not exactly, ``target``.

    Args:
        image: (h, w, 3) uint8 RGB (a working image).
        target: float in (0, 1), the mean luminance to reach.
        fov_threshold: red-channel level of the FOV detector.
        fov: (h, w) bool or None. The field of view when already found (None: detected here).

    Returns:
        (h, w, 3) uint8 RGB; the image itself when it has no field of view.
    """
    fov, pixels = _central_pixels(image, fov_threshold, fov)
    if pixels is None:
        return image
    luminance = pixels.reshape(-1, 3).astype(np.float64).mean(1) / 255.0
    values = np.clip(luminance[:: max(1, len(luminance) // 20000)], 1 / 255.0, 1.0)  # up to ~20k pixels
    low, high = -4.0, 4.0  # log2 of the gamma: 1/16 .. 16; mean(values ** gamma) falls as gamma grows
    for _ in range(40):
        middle = (low + high) / 2
        if np.mean(values ** (2.0 ** middle)) > target:
            low = middle
        else:
            high = middle
    gamma = 2.0 ** ((low + high) / 2)
    table = np.round(255.0 * (np.arange(256) / 255.0) ** gamma).astype(np.uint8)
    out = image.copy()
    out[fov] = table[image[fov]]
    return out


def _local_mean(x, mask=None):
    """(h, w, 3) float32 -> its Gaussian local mean, ``sigma = short side / 30``; with ``mask`` ((h, w) bool) the
    mean of those pixels alone, ``G * (x mask) / G * mask`` (far outside them: 0)."""
    sigma = min(x.shape[:2]) / 30.0
    if mask is None:
        return cv2.GaussianBlur(x, (0, 0), sigma)
    inside = mask.astype(np.float32)
    weight = cv2.GaussianBlur(inside, (0, 0), sigma)
    return cv2.GaussianBlur(x * inside[..., None], (0, 0), sigma) / np.maximum(weight, 1e-6)[..., None]


def normalize_colour(image, method="none", fov_threshold=20, tone_target=None):
    """(h, w, 3) uint8 RGB working image -> (h, w, 3) uint8 RGB: brightness matched to ``tone_target``
    (:func:`match_tone`; None: not), then normalised by ``method`` (see module doc). The field of view is found
    once, on the photograph as given."""
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}. Received: {method!r}")
    if tone_target is None and method == "none":
        return image
    fov = fov_mask(image, fov_threshold)
    if tone_target is not None:
        image = match_tone(image, tone_target, fov_threshold, fov)
    if method == "none":
        return image
    if not fov.any():
        return image  # nothing to normalise on (a black image: hecl predict warns about it)
    x = image.astype(np.float32)
    if method == "fov_standardize":
        mean = x[fov].mean(0)
        std = x[fov].std(0) + 1e-3
        out = 128.0 + 32.0 * (x - mean) / std
    elif method == "clahe":
        lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
        lab[..., 0] = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(lab[..., 0])
        out = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB).astype(np.float32)
    else:
        # local_mean_fov: the mean over lit pixels only (red above the FOV threshold: the FOV mask, found at a
        # quarter scale and blurred, takes in a pixel or two of the black margin along the rim).
        lit = fov & (image[..., 0] > fov_threshold) if method == "local_mean_fov" else None
        out = 4.0 * (x - _local_mean(x, lit)) + 128.0
    out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    out[~fov] = 0
    return out
