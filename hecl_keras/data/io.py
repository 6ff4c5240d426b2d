"""Reading fundus images and binary lesion masks from disk, and writing result images.

Images come back as ``uint8`` arrays of shape (H, W, 3) in RGB order, masks as
``bool`` arrays of shape (H, W). Every failure raises
:class:`~hecl_keras.data.errors.DataError` naming the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from hecl_keras.data.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
MASK_EXTENSIONS = (".tif", ".tiff", ".png", ".gif", ".bmp", ".jpg", ".jpeg")

# Never decode a truncated file into a partly grey image without telling.
Image.LOAD_TRUNCATED_IMAGES = False
# IDRiD images are 12 megapixels; lift Pillow's bomb check to 200 MP.
Image.MAX_IMAGE_PIXELS = 200_000_000


def _open(path: Path) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"File not found: {path}")
    try:
        img = Image.open(path)
        # Pillow decodes 16-bit-per-channel RGB (PNG "RGB;16B", TIFF "RGB;16N") to 8-bit "RGB", keeping
        # each sample's high byte; remember that it happened (the tile list is gone after load()).
        img.info["hecl_16_bit_rgb"] = img.mode == "RGB" and any(";16" in str(t.args) for t in img.tile)
        img.load()
    except UnidentifiedImageError as exc:
        raise DataError(f"Not an image file (or an unsupported format): {path}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"Unreadable or truncated image file: {path} ({exc})") from exc
    return img


def read_image(path) -> np.ndarray:
    """Reads an 8-bit RGB image.

    Grayscale and RGBA/palette images are converted to RGB with a warning;
    16-bit RGB images are reduced to 8 bits per channel (each sample's high
    byte, i.e. ``value // 256``) with a warning; 16-bit grayscale and float
    images are refused (a fundus photograph is colour; these are more likely
    masks or measurements).

    Args:
        path: str or Path. An image file (JPEG, PNG, TIFF, BMP).

    Returns:
        np.ndarray of shape (H, W, 3), dtype uint8, RGB.
    """
    img = _open(path)
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F") or mode.startswith("I;16"):
        raise DataError(
            f"{path}: {mode} image (16-bit grayscale or float); expected an RGB fundus photograph "
            "(8 or 16 bits per channel). Convert it to RGB first."
        )
    if img.info.get("hecl_16_bit_rgb"):
        warnings.warn(f"{path}: 16-bit RGB image reduced to 8 bits per channel", stacklevel=2)
    if mode != "RGB":
        if mode not in ("L", "LA", "RGBA", "P", "1", "CMYK", "YCbCr"):
            raise DataError(f"{path}: unsupported image mode {mode!r}; expected 8-bit RGB.")
        if mode not in ("YCbCr",):
            warnings.warn(f"{path}: {mode} image converted to RGB", stacklevel=2)
        img = img.convert("RGB")
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise DataError(f"{path}: decoded to shape {arr.shape}, expected (H, W, 3).")
    return arr


def read_mask(path) -> np.ndarray:
    """Reads a binary lesion mask.

    Accepts 1-bit, palette and 8-bit masks whose values are ``{0, 1}`` or
    ``{0, 255}`` (any value > 0 is lesion). For RGB/RGBA masks the lesion is
    read from the red channel only: the IDRiD release has one RGBA mask
    (``IDRiD_81_EX.tif``) whose alpha is 255 everywhere, so "any channel > 0"
    would mark the whole image.

    Args:
        path: str or Path. A mask file (TIFF, PNG, GIF, BMP).

    Returns:
        np.ndarray of shape (H, W), dtype bool.
    """
    img = _open(path)
    arr = np.asarray(img)
    if arr.ndim == 3:
        arr = arr[..., 0]
    if arr.dtype == bool:
        return arr.copy()
    values = np.unique(arr)
    if values.size > 2 or not set(values.tolist()) <= {0, 1, 255}:
        shown = values[:8].tolist()
        raise DataError(
            f"{path}: mask is not binary: found {values.size} distinct values "
            f"(first ones: {shown}); expected 0 for background and 1 or 255 for lesion."
        )
    return arr > 0


def write_image(path, array) -> None:
    """Writes an 8-bit grayscale (H, W) or RGB (H, W, 3) image; the folder is created.

    ``.jpg``: JPEG quality 92 (a 12-megapixel RGB PNG takes ~0.8 s to write, the
    JPEG ~0.03 s, so overlays are JPEG); anything else: PNG with fast compression
    (lossless, for masks and probability maps).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.ascontiguousarray(array)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    jpeg = path.suffix.lower() in (".jpg", ".jpeg")
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if jpeg else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    if not cv2.imwrite(str(path), arr, params):
        raise OSError(f"Could not write {path}")
