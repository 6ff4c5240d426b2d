"""Whole-image prediction: sliding window with Gaussian-weighted tile centres, optional test-time augmentation."""

from __future__ import annotations

import math

import numpy as np

from hecl_keras.inference.tta import predict_views, resolve_tta


def _bell(n, sigma_scale):
    """(n,) Gaussian of sigma ``sigma_scale * n`` on the tile, shifted and scaled to 1 at the centre, 0 at the ends."""
    r = np.arange(n) - (n - 1) / 2
    g = np.exp(-(r ** 2) / (2 * (sigma_scale * n) ** 2))
    return (g - g.min()) / (1.0 - g.min()) if g.min() < 1.0 else np.ones(n)


def gaussian_weights(height, width, sigma_scale=0.125, floor=1e-9):
    """(h, w) float32 importance map of a tile: 1 at its centre, falling to ``floor`` at its edges.

    The model's outputs near a tile's edge see zero padding and are the least
    reliable, so the weight there goes to (almost) zero: a tile edge inside the
    image then leaves no seam, because the neighbouring tile, whose weight there
    is larger by many orders of magnitude, decides those pixels. ``floor`` > 0
    keeps pixels that only tile edges cover (the image's own border) defined.
    """
    return np.maximum(_bell(height, sigma_scale)[:, None] * _bell(width, sigma_scale)[None, :],
                      floor).astype(np.float32)


def tile_starts(length, tile, overlap):
    """Start offsets of tiles of size ``tile`` covering ``length``, evenly spaced, overlapping by at least ``overlap``.

    Even spacing (as nnU-Net does) rather than a fixed stride with the last tile
    pushed back: two nearly coincident tiles would put one tile's unreliable edge
    where the other is also near its edge, which shows as a seam.
    """
    if length <= tile:
        return [0]
    stride = max(1, int(round(tile * (1.0 - overlap))))
    count = math.ceil((length - tile) / stride) + 1
    return sorted({int(round(s)) for s in np.linspace(0, length - tile, count)})


def predict_tiled(predict_fn, image, tile_size=(512, 512), overlap=0.25, tta="none", batch_size=4):
    """Predicts a probability map of any-size image with a fixed-size model.

    Args:
        predict_fn: callable, float32 (N, th, tw, 3) in [0, 1] -> probabilities (N, th, tw, 1).
        image: (H, W, 3) uint8 or float in [0, 1].
        tile_size: (th, tw). The model's input size.
        overlap: float in [0, 1). Fraction of a tile shared with its neighbour.
        tta: test-time augmentation, a mode of :data:`hecl_keras.inference.tta.TTA_MODES` (``none``, ``hflip``,
            ``flips``, ``d4``); a bool as the old ``tta_flip`` (True: ``hflip``).
        batch_size: int. Tiles per call of ``predict_fn``.

    Returns:
        (H, W) float32 probabilities.
    """
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1). Received: overlap={overlap}")
    tta = resolve_tta(tta)
    x = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
    h, w = x.shape[:2]
    th, tw = tile_size
    ph, pw = max(h, th), max(w, tw)
    if (ph, pw) != (h, w):
        x = np.pad(x, ((0, ph - h), (0, pw - w), (0, 0)))
    weights = gaussian_weights(th, tw)
    acc = np.zeros((ph, pw), np.float32)
    norm = np.zeros((ph, pw), np.float32)
    boxes = [(y0, x0) for y0 in tile_starts(ph, th, overlap) for x0 in tile_starts(pw, tw, overlap)]
    for i in range(0, len(boxes), batch_size):
        chunk = boxes[i:i + batch_size]
        tiles = np.stack([x[y0:y0 + th, x0:x0 + tw] for y0, x0 in chunk])
        probs = predict_views(predict_fn, tiles, tta)
        for (y0, x0), p in zip(chunk, probs):
            acc[y0:y0 + th, x0:x0 + tw] += p * weights
            norm[y0:y0 + th, x0:x0 + tw] += weights
    return (acc / norm)[:h, :w]
