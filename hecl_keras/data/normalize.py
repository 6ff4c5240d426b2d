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
"""

from __future__ import annotations

import cv2
import numpy as np

from hecl_keras.config import NORMALIZATIONS
from hecl_keras.data.geometry import fov_mask


def normalize_colour(image, method="none", fov_threshold=20):
    """(h, w, 3) uint8 RGB working image -> (h, w, 3) uint8 RGB, normalised by ``method`` (see module doc)."""
    if method == "none":
        return image
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}. Received: {method!r}")
    fov = fov_mask(image, fov_threshold)
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
        sigma = min(image.shape[:2]) / 30.0
        out = 4.0 * (x - cv2.GaussianBlur(x, (0, 0), sigma)) + 128.0
    out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    out[~fov] = 0
    return out
