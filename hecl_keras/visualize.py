"""Pictures for people: every overlay, contact sheet and colour the library draws, in one place.

Colours (RGB): true positives green, false positives blue, false negatives
red (evaluation reports); ground truth green tint and prediction red tint
(TensorBoard validation images); predicted lesion outlines cyan (``hecl predict``).
"""

from __future__ import annotations

import cv2
import numpy as np

TP_COLOR = (0, 220, 0)  # green: found lesion
FP_COLOR = (40, 120, 255)  # blue: false alarm
FN_COLOR = (255, 40, 40)  # red: missed lesion
TRUTH_TINT = (0, 255, 0)
PREDICTION_TINT = (255, 0, 0)
OUTLINE_COLOR = (0, 255, 255)


def confusion_overlay(image, truth, prob, threshold=0.5, max_side=1600):
    """Ground truth vs prediction on the fundus: TP green, FP blue, FN red.

    Args:
        image: (H, W, 3) uint8. truth: (H, W) bool. prob: (H, W) probabilities.
        threshold: float. max_side: the picture is area-downscaled to this longest side.

    Returns:
        RGB uint8 (h, w, 3).
    """
    pred = prob >= threshold
    truth = truth.astype(bool)
    out = image.copy()
    for sel, color in ((pred & truth, TP_COLOR), (pred & ~truth, FP_COLOR), (~pred & truth, FN_COLOR)):
        out[sel] = color
    scale = max_side / max(out.shape[:2])
    if scale < 1:
        # Nearest-neighbour would drop lesion pixels; area keeps small ones visible as a tint.
        out = cv2.resize(out, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return out


def tint_batch(images, masks, probs, threshold=0.5):
    """(B,H,W,3) images in [0,1], (B,H,W,1) masks and probabilities -> (B,H,W,3) uint8 pictures.

    Ground truth tinted green, prediction red, both yellow.
    """
    out = (np.clip(images, 0, 1) * 255).astype(np.float32)
    t = masks[..., 0] >= 0.5
    p = probs[..., 0] >= threshold
    out[t] = 0.5 * out[t] + 0.5 * np.array(TRUTH_TINT)
    out[p] = 0.5 * out[p] + 0.5 * np.array(PREDICTION_TINT)
    return out.astype(np.uint8)


def outline_overlay(image, mask, color=OUTLINE_COLOR):
    """Lesion outlines drawn on the fundus (thickness scaled to the image), RGB uint8."""
    out = image.copy()
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    thickness = max(1, int(round(max(image.shape[:2]) / 1000)))
    cv2.drawContours(out, contours, -1, color, thickness, lineType=cv2.LINE_AA)
    return out


def contact_sheet(pictures, columns=3, cell=360):
    """Tiles RGB pictures (each resized to ``cell`` wide) into one image, row by row."""
    cells = []
    for p in pictures:
        s = cell / p.shape[1]
        cells.append(cv2.resize(p, (cell, int(round(p.shape[0] * s))), interpolation=cv2.INTER_AREA))
    h = max(c.shape[0] for c in cells)
    cells = [np.pad(c, ((0, h - c.shape[0]), (0, 0), (0, 0))) for c in cells]
    while len(cells) % columns:
        cells.append(np.zeros_like(cells[0]))
    rows = [np.concatenate(cells[i:i + columns], 1) for i in range(0, len(cells), columns)]
    return np.concatenate(rows, 0)
