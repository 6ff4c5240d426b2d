"""Field-of-view crop and resize, with the exact inverse.

A :class:`CropResize` records how a photograph was turned into the network's
working image (crop box in original pixels, then a resize), so that a
probability map predicted on the working image maps back to the original
pixel grid.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np


@dataclasses.dataclass(frozen=True)
class CropResize:
    """Crop box ``[top:bottom, left:right]`` of an ``original_size`` image, then a resize to ``size``.

    Attributes:
        original_size: (H, W) of the photograph.
        box: (top, bottom, left, right) in original pixels, end-exclusive.
        size: (h, w) of the working image.
    """

    original_size: tuple
    box: tuple
    size: tuple

    @property
    def crop_size(self):
        top, bottom, left, right = self.box
        return bottom - top, right - left

    @property
    def scale(self) -> float:
        """Working pixels per original pixel (vertical)."""
        return self.size[0] / self.crop_size[0]

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        """(H, W, C) uint8 -> (h, w, C): crop, then area resize."""
        top, bottom, left, right = self.box
        crop = image[top:bottom, left:right]
        if crop.shape[:2] == tuple(self.size):
            return np.ascontiguousarray(crop)
        return cv2.resize(crop, (self.size[1], self.size[0]), interpolation=cv2.INTER_AREA)

    def apply_mask(self, mask: np.ndarray) -> np.ndarray:
        """(H, W) bool -> (h, w) bool: crop, area-resize as float, re-binarise at 0.5."""
        top, bottom, left, right = self.box
        crop = mask[top:bottom, left:right].astype(np.float32)
        if crop.shape[:2] != tuple(self.size):
            crop = cv2.resize(crop, (self.size[1], self.size[0]), interpolation=cv2.INTER_AREA)
        return crop >= 0.5

    def invert(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Maps a (h, w) or (h, w, C) map of the working image back to the original grid.

        Bilinear resize to the crop box, pasted into an array of the original
        size filled with ``fill`` outside the box.
        """
        values = np.asarray(values)
        top, bottom, left, right = self.box
        ch, cw = self.crop_size
        if values.shape[:2] != (ch, cw):
            resized = cv2.resize(values.astype(np.float32), (cw, ch), interpolation=cv2.INTER_LINEAR)
        else:
            resized = values.astype(np.float32)
        out = np.full(tuple(self.original_size) + values.shape[2:], fill, dtype=np.float32)
        out[top:bottom, left:right] = resized.reshape((ch, cw) + values.shape[2:])
        return out

    def to_dict(self):
        """JSON-ready: plain ints (the fields may hold NumPy integers, e.g. when read from the cache)."""
        return {field: [int(v) for v in getattr(self, field)] for field in ("original_size", "box", "size")}

    @classmethod
    def from_dict(cls, d):
        return cls(tuple(d["original_size"]), tuple(d["box"]), tuple(d["size"]))


# find_fov's padding of the FOV's bounding box, a fraction of the photograph's height and width.
FOV_BOX_MARGIN = 0.01


def fov_mask_small(image: np.ndarray, threshold: int = 20) -> np.ndarray:
    """Field-of-view mask at 1/f scale (f = min(H, W) // 256): blurred red channel above ``threshold``.

    The red channel is the brightest channel of a fundus, so vignetted rims stay
    above threshold while JPEG noise in the black margin (0-15 on IDRiD) stays below.

    Returns:
        (h, w) bool, about 256 pixels on the short side.
    """
    h, w = image.shape[:2]
    factor = max(1, min(h, w) // 256)
    small = cv2.resize(image[..., 0], (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (5, 5), 0) > threshold


def fov_mask(image: np.ndarray, threshold: int = 20) -> np.ndarray:
    """(H, W) bool field of view of a photograph (:func:`fov_mask_small` scaled back, nearest)."""
    h, w = image.shape[:2]
    small = fov_mask_small(image, threshold)
    return cv2.resize(small.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0


def fov_warning(image: np.ndarray, threshold: int = 20, min_fraction: float = 0.1):
    """Says what is wrong with a photograph's field of view, or ``None`` when it looks like a fundus.

    A fundus photograph's FOV covers most of the frame (about 70 % on IDRiD, 100 %
    on close-up crops). An image with (almost) no pixel above ``threshold`` in the
    red channel is black or not a fundus photograph; one whose FOV covers less than
    ``min_fraction`` is more likely a thumbnail in a frame, a dark exposure or a
    wrong file. Either way "no lesions found" would be a misleading answer.

    Args:
        image: (H, W, 3) uint8 RGB.
        threshold: int. The FOV threshold (``data.fov_threshold``).
        min_fraction: float. The smallest FOV fraction not reported.

    Returns:
        A one-line message, or None.
    """
    fraction = float(fov_mask_small(image, threshold).mean())
    if fraction < 0.001:
        return ("no field of view: the image is black (or nearly) at red-channel threshold "
                f"{threshold}; nothing can be found in it")
    if fraction < min_fraction:
        return (f"tiny field of view: {fraction:.1%} of the image is above red-channel threshold {threshold}; "
                "check that this is an exposed fundus photograph")
    return None


def rim_distance_fraction(fov: np.ndarray) -> np.ndarray:
    """Each field-of-view pixel's distance to the FOV's rim, as a fraction of the FOV radius.

    The rim is the border between the FOV and the dark margin inside the frame: where a frame's edge
    clips the FOV (IDRiD's top and bottom), that edge is not rim. The radius is half the FOV's width.

    Args:
        fov: (H, W) bool field of view (:func:`fov_mask`).

    Returns:
        (H, W) float32: 0 outside the FOV, about 1 at its centre (larger where no rim is in the frame).
    """
    fov = np.asarray(fov, bool)
    columns = np.flatnonzero(fov.any(axis=0))
    if columns.size == 0:
        return np.zeros(fov.shape, np.float32)
    radius = (columns[-1] - columns[0] + 1) / 2.0
    distance = cv2.distanceTransform(fov.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (distance / radius).astype(np.float32)


def fov_margin_keep(image: np.ndarray, margin: float, threshold: int = 20):
    """(H, W) bool: the pixels of a photograph's field of view at least ``margin`` FOV radii from its rim, or
    ``None`` when the photograph has no field of view (then nothing is to be dropped).

    ``eval.fov_margin``: probabilities outside this region are set to 0 (false alarms on the rim's glare
    and on the dark margin). ``image``: (H, W, 3) uint8 RGB; ``threshold``: ``data.fov_threshold``.
    """
    fov = fov_mask(image, threshold)
    if not fov.any():
        return None
    return fov & (rim_distance_fraction(fov) >= margin)


def find_fov(image: np.ndarray, threshold: int = 20, margin: float = FOV_BOX_MARGIN):
    """Finds the bounding box of a fundus photograph's field of view.

    Works on :func:`fov_mask_small` (downscaled, blurred red channel), keeps the
    largest connected region and pads it by ``margin`` of the image size.

    Args:
        image: (H, W, 3) uint8 RGB.
        threshold: int. Red-channel level separating the FOV from the margin.
        margin: float. Padding added on each side, as a fraction of H and W.

    Returns:
        (top, bottom, left, right), end-exclusive, in pixels. The whole image
        when no field of view is found.
    """
    h, w = image.shape[:2]
    small = fov_mask_small(image, threshold)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(small.astype(np.uint8), connectivity=8)
    if count <= 1:
        return (0, h, 0, w)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, bw, bh = stats[largest, :4]
    sy, sx = h / small.shape[0], w / small.shape[1]
    pad_y, pad_x = int(round(margin * h)), int(round(margin * w))
    top = max(0, int(np.floor(y * sy)) - pad_y)
    bottom = min(h, int(np.ceil((y + bh) * sy)) + pad_y)
    left = max(0, int(np.floor(x * sx)) - pad_x)
    right = min(w, int(np.ceil((x + bw) * sx)) + pad_x)
    return (top, bottom, left, right)


def plan_crop_resize(image: np.ndarray, short_side: int | None = 580, fov_crop: bool = True, **fov_options):
    """Plans the crop (FOV bounding box or whole image) and the resize to ``short_side``.

    Args:
        image: (H, W, 3) uint8.
        short_side: int or None. Short side of the working image; None keeps the crop's scale.
        fov_crop: bool. Crop to the field of view first.

    Returns:
        :class:`CropResize`.
    """
    h, w = image.shape[:2]
    box = find_fov(image, **fov_options) if fov_crop else (0, h, 0, w)
    ch, cw = box[1] - box[0], box[3] - box[2]
    if short_side is None:
        size = (ch, cw)
    else:
        s = short_side / min(ch, cw)
        size = (max(1, int(round(ch * s))), max(1, int(round(cw * s))))
    return CropResize((h, w), box, size)


def paper_geometry(image, mask, size=512, columns=(200, 3800), reference_width=4288):
    """The authors' test geometry: column crop, centred zero-pad to a square, resize to ``size``.

    Returns:
        ``(image (size,size,3) uint8, mask (size,size) bool)``.
    """
    h, w = image.shape[:2]
    left = int(round(columns[0] * w / reference_width))
    right = int(round(columns[1] * w / reference_width))
    image, mask = image[:, left:right], mask[:, left:right]
    side = max(image.shape[:2])
    top = (side - image.shape[0]) // 2
    lft = (side - image.shape[1]) // 2
    sq_img = np.zeros((side, side, 3), np.uint8)
    sq_mask = np.zeros((side, side), np.float32)
    sq_img[top:top + image.shape[0], lft:lft + image.shape[1]] = image
    sq_mask[top:top + image.shape[0], lft:lft + image.shape[1]] = mask
    img = cv2.resize(sq_img, (size, size), interpolation=cv2.INTER_AREA)
    msk = cv2.resize(sq_mask, (size, size), interpolation=cv2.INTER_AREA) >= 0.5
    return img, msk
