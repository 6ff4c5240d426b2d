"""Seeded synthetic fundus photographs with exact hard-exudate masks.

The embedded default data set: the quick start, unit tests and notebooks use
it when no real data is given. Each image has a round field of view on black,
an orange-red background with vignetting and low-frequency texture, a vessel
tree, a bright optic disc (a classic false-positive source for exudate
detectors), a darker fovea, and hard exudates drawn as yellow-white dots,
clusters and partial rings with soft, blurred edges, from a couple of pixels
to tens of pixels across. Some images are lesion-free.

The mask is exact: it is the set of pixels where the exudate layer's opacity
is at least 0.5, the same layer that was blended into the image.
"""

from __future__ import annotations

import cv2
import numpy as np


def _soft_disc(yy, xx, cy, cx, radius, softness=0.25):
    d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / max(radius, 1e-6)
    return np.clip((1.0 + softness - d) / (2 * softness), 0.0, 1.0)


def _vessel_tree(shape, origin, radius, rng):
    canvas = np.zeros(shape, np.uint8)
    stack = []
    for _ in range(int(rng.integers(4, 7))):
        stack.append((origin[0], origin[1], rng.uniform(0, 2 * np.pi), max(1.0, radius / 45), 0))
    drawn = 0
    while stack and drawn < 60:
        y, x, angle, thickness, depth = stack.pop()
        points = [(x, y)]
        for _ in range(int(rng.integers(6, 12))):
            angle += rng.normal(0, 0.25)
            step = radius * rng.uniform(0.05, 0.09)
            y, x = y + step * np.sin(angle), x + step * np.cos(angle)
            points.append((x, y))
        pts = np.round(np.array(points)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [pts], False, 255, thickness=max(1, int(round(thickness))), lineType=cv2.LINE_AA)
        drawn += 1
        if depth < 3:
            for sign in (-1, 1):
                if rng.random() < 0.7:
                    stack.append((y, x, angle + sign * rng.uniform(0.3, 0.9), thickness * 0.7, depth + 1))
    return cv2.GaussianBlur(canvas.astype(np.float32) / 255.0, (0, 0), max(0.6, radius / 400))


def _exudate_layer(shape, fov_radius_map, disc, radius, rng, max_clusters):
    """Returns the exudate opacity (H, W) float32 in [0, 1]."""
    canvas = np.zeros(shape, np.uint8)
    h, w = shape
    n_clusters = int(rng.integers(1, max_clusters + 1))
    for _ in range(n_clusters):
        for _attempt in range(20):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            r_here = fov_radius_map[int(cy), int(cx)]
            if r_here < 0.85 and np.hypot(cy - disc[0], cx - disc[1]) > 0.2 * radius:
                break
        spread = radius * rng.uniform(0.03, 0.12)
        for _ in range(int(rng.integers(3, 25))):
            py, px = rng.normal(cy, spread), rng.normal(cx, spread)
            size = float(np.clip(rng.lognormal(np.log(radius / 80), 0.7), 1.0, radius / 12))
            cv2.circle(canvas, (int(round(px)), int(round(py))), int(round(size)), 255, -1, lineType=cv2.LINE_AA)
        if rng.random() < 0.4:  # a circinate (partial ring) pattern
            ring = radius * rng.uniform(0.05, 0.15)
            start = rng.uniform(0, 360)
            cv2.ellipse(
                canvas,
                (int(round(cx)), int(round(cy))),
                (int(round(ring)), int(round(ring * rng.uniform(0.6, 1.0)))),
                rng.uniform(0, 180),
                start,
                start + rng.uniform(90, 270),
                255,
                thickness=max(2, int(round(radius / rng.uniform(60, 150)))),
                lineType=cv2.LINE_AA,
            )
    alpha = canvas.astype(np.float32) / 255.0
    return cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.6, 1.2))


def synthetic_fundus(height: int = 512, width: int | None = None, seed: int = 0, lesion_free_prob: float = 0.15,
                     max_clusters: int = 6):
    """Draws one synthetic fundus photograph and its exudate mask.

    Args:
        height: int. Image height in pixels (>= 32).
        width: int or None. Image width; None means ``height``.
        seed: int. The same seed always gives the same pair.
        lesion_free_prob: float. Probability that the image has no exudates.
        max_clusters: int. Maximum number of exudate clusters.

    Returns:
        ``(image, mask)``: (H, W, 3) uint8 RGB and (H, W) bool.
    """
    width = height if width is None else width
    if height < 32 or width < 32:
        raise ValueError(f"Synthetic images must be at least 32x32. Received: height={height}, width={width}")
    rng = np.random.default_rng(seed)
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = h / 2 + rng.normal(0, h * 0.01), w / 2 + rng.normal(0, w * 0.01)
    radius = 0.5 * min(h, w) * rng.uniform(0.9, 0.98)
    r = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / radius
    fov = r <= 1.0

    base = np.array([rng.uniform(170, 225), rng.uniform(65, 105), rng.uniform(20, 45)], np.float32)
    texture = cv2.resize(rng.normal(0, 1, (6, 6)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    vignette = np.clip(1.0 - 0.5 * r**2, 0.3, 1.0) * (1.0 + 0.06 * texture)
    img = base[None, None, :] * vignette[..., None]

    side = rng.choice([-1, 1])
    disc = (cy + rng.normal(0, 0.05) * radius, cx + side * 0.38 * radius)
    fovea = (cy + rng.normal(0, 0.03) * radius, cx - side * 0.12 * radius)
    fovea_dark = 0.4 * np.exp(-(((yy - fovea[0]) ** 2 + (xx - fovea[1]) ** 2) / (0.12 * radius) ** 2))
    img *= (1.0 - fovea_dark)[..., None]

    vessels = _vessel_tree((h, w), disc, radius, rng)
    img *= (1.0 - 0.45 * vessels)[..., None]
    img[..., 0] *= 1.0 - 0.15 * vessels  # vessels look darker red

    disc_alpha = _soft_disc(yy, xx, disc[0], disc[1], 0.09 * radius, softness=0.3)
    disc_color = np.array([250, 225, 160], np.float32)
    img = img * (1 - disc_alpha[..., None]) + disc_color * disc_alpha[..., None]

    if rng.random() >= lesion_free_prob:
        alpha = _exudate_layer((h, w), r, disc, radius, rng, max_clusters) * fov
    else:
        alpha = np.zeros((h, w), np.float32)
    exudate_color = np.array([245, 230, 140], np.float32) * np.clip(vignette, 0.7, 1.0)[..., None]
    img = img * (1 - alpha[..., None]) + exudate_color * alpha[..., None]

    img += rng.normal(0, 2.0, img.shape)
    img *= fov[..., None]
    img += rng.uniform(0, 6, (h, w, 1)) * (~fov)[..., None]  # JPEG-like noise in the black margin
    image = np.clip(np.round(img), 0, 255).astype(np.uint8)
    mask = alpha >= 0.5
    return image, mask


def synthetic_pairs(count: int, height: int = 512, width: int | None = None, seed: int = 0, **options):
    """``count`` synthetic pairs; pair ``i`` uses seed ``seed * 100003 + i`` (independent of ``count``).

    Returns:
        list of (image (H,W,3) uint8, mask (H,W) bool).
    """
    return [synthetic_fundus(height, width, seed=seed * 100003 + i, **options) for i in range(count)]


def synthetic_crops(count: int, height: int, width: int | None = None, seed: int = 0):
    """``count`` lesion-bearing synthetic photographs of exactly one crop's size, as a model's batch.

    For benchmarks and tests that need model inputs rather than pairs to preprocess.

    Returns:
        ``(images, masks)``: float32 (count, H, W, 3) in [0, 1] and float32 (count, H, W, 1) in {0, 1}.
    """
    pairs = synthetic_pairs(count, height, width, seed=seed, lesion_free_prob=0.0)
    images = np.stack([image for image, _ in pairs]).astype(np.float32) / 255.0
    masks = np.stack([mask for _, mask in pairs]).astype(np.float32)[..., None]
    return images, masks
