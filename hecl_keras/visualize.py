"""Pictures for people: every overlay, contact sheet, colour key and colour map the library draws, in one place.

Colours (RGB): true positives green, false positives blue, false negatives
red (evaluation reports); ground truth green tint and prediction red tint
(TensorBoard validation images, ``hecl data preview``); predicted lesion
outlines cyan and probabilities in the "inferno" colour map (``hecl predict``).
Every multi-image picture names its images and carries a colour key.
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

CONFUSION_KEY = ((TP_COLOR, "found lesion (TP)"), (FP_COLOR, "false alarm (FP)"), (FN_COLOR, "missed lesion (FN)"))
TINT_KEY = ((TRUTH_TINT, "ground truth"), (PREDICTION_TINT, "prediction"), ((255, 255, 0), "both"))
TRUTH_KEY = ((TRUTH_TINT, "lesion (ground truth)"),)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _text(picture, text, origin, scale, color=(255, 255, 255)):
    """Writes ``text`` at ``origin`` (bottom-left) on a dark box, so it reads on any background; in place."""
    (w, h), base = cv2.getTextSize(text, FONT, scale, 1)
    x, y = origin
    cv2.rectangle(picture, (max(0, x - 3), max(0, y - h - 3)), (x + w + 3, y + base), (32, 32, 32), -1)
    cv2.putText(picture, text, origin, FONT, scale, color, 1, cv2.LINE_AA)


def label(picture, text, scale=0.5):
    """A copy of RGB ``picture`` with ``text`` written in its top-left corner."""
    out = np.ascontiguousarray(picture).copy()
    height = cv2.getTextSize(text, FONT, scale, 1)[0][1]
    _text(out, text, (6, 6 + height), scale)
    return out


def colour_key(entries, width, scale=0.5, title=None):
    """A dark strip ``width`` wide: an optional title, then a swatch and a name per ``(rgb, name)`` entry.

    Entries that do not fit on a line wrap to the next one.
    """
    line = cv2.getTextSize("Ag", FONT, scale, 1)[0][1] + 12
    size = line - 12
    rows, x = [[]], 8
    for rgb, name in entries:
        step = size + 18 + cv2.getTextSize(name, FONT, scale, 1)[0][0]
        if x + step > width and rows[-1]:
            rows.append([])
            x = 8
        rows[-1].append((x, rgb, name))
        x += step
    lines = [r for r in rows if r]
    strip = np.full((line * (len(lines) + bool(title)) + 4, width, 3), 32, np.uint8)
    y = line - 6
    if title:
        _text(strip, title, (8, y), scale)
        y += line
    for row in lines:
        for x, rgb, name in row:
            cv2.rectangle(strip, (x, y - size), (x + size, y), tuple(int(c) for c in rgb), -1)
            _text(strip, name, (x + size + 6, y), scale)
        y += line
    return strip


def probability_colours(prob, fov=None):
    """(H, W) probabilities in [0, 1] -> RGB uint8 in the perceptually uniform "inferno" map (0 black, 1 yellow).

    Outside ``fov`` ((H, W) bool, optional) the picture is grey, so "no field of
    view" is not mistaken for "probability 0".
    """
    grey = np.round(np.clip(prob, 0, 1) * 255).astype(np.uint8)
    out = cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    if fov is not None:
        out[~fov] = 64
    return out


def colour_bar(width, height=16, scale=0.45):
    """An RGB strip: the probability colour map from 0 to 1 with its end labels."""
    bar = np.linspace(0, 1, width)[None, :].repeat(height, 0)
    text_height = cv2.getTextSize("0", FONT, scale, 1)[0][1]
    labels = np.full((text_height + 10, width, 3), 32, np.uint8)
    _text(labels, "probability 0", (4, text_height + 4), scale)
    end = cv2.getTextSize("1", FONT, scale, 1)[0][0]
    _text(labels, "1", (width - end - 4, text_height + 4), scale)
    return np.concatenate([probability_colours(bar), labels], 0)


def prediction_overview(image, mask, prob, name, max_side=1200, fov=None):
    """A screen-size picture of one prediction: outlines on the fundus | probability map, named, with keys.

    At full resolution (IDRiD: 4288 wide) one-pixel outlines vanish when a
    viewer fits the image to the screen, so the overview is downscaled first
    and the outlines are drawn at the small size.

    Args:
        image: (H, W, 3) uint8. mask: (H, W) bool. prob: (H, W) in [0, 1].
        name: str, written on the picture. max_side: longest side of each half.
        fov: (H, W) bool or None (grey outside it in the probability half).

    Returns:
        RGB uint8 (h + keys, 2 w, 3).
    """
    scale = min(1.0, max_side / max(image.shape[:2]))
    size = (max(1, int(round(image.shape[1] * scale))), max(1, int(round(image.shape[0] * scale))))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    # A lesion smaller than a pixel after downscaling must still show: dilate with max-pooling first.
    factor = max(1, int(round(1 / scale)))
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((factor, factor), np.uint8)) if factor > 1 else mask
    small_mask = cv2.resize(grown.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    left = outline_overlay(small, small_mask, thickness=2)
    small_prob = cv2.resize(prob.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    small_fov = None if fov is None else cv2.resize(fov.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    right = probability_colours(small_prob, small_fov)
    text = max(0.5, size[0] / 1500)  # readable when the picture is fitted to a screen
    top = np.concatenate([label(left, name, text), right], 1)
    key = colour_key(((OUTLINE_COLOR, "predicted lesion outline"),), top.shape[1], text)
    return np.concatenate([top, key, colour_bar(top.shape[1], scale=text)], 0)


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


def outline_overlay(image, mask, color=OUTLINE_COLOR, thickness=None):
    """Lesion outlines drawn on the fundus, RGB uint8 (default thickness: 1 pixel per 1000 of the longest side)."""
    out = image.copy()
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    thickness = thickness or max(1, int(round(max(image.shape[:2]) / 1000)))
    cv2.drawContours(out, contours, -1, color, thickness, lineType=cv2.LINE_AA)
    return out


def contact_sheet(pictures, columns=3, cell=360, names=None, key=None, title=None):
    """Tiles RGB pictures (each resized to ``cell`` wide) into one image, row by row.

    Args:
        pictures: list of (h, w, 3) uint8.
        columns, cell: layout.
        names: list of str or None, written on the cells.
        key: ``((rgb, name), ...)`` or None: a colour key strip under the sheet.
        title: str or None, written above the key (e.g. "9 of 27 images").
    """
    cells = []
    for i, p in enumerate(pictures):
        s = cell / p.shape[1]
        small = cv2.resize(p, (cell, int(round(p.shape[0] * s))), interpolation=cv2.INTER_AREA)
        cells.append(label(small, names[i]) if names else small)
    h = max(c.shape[0] for c in cells)
    cells = [np.pad(c, ((0, h - c.shape[0]), (0, 0), (0, 0))) for c in cells]
    while len(cells) % columns:
        cells.append(np.zeros_like(cells[0]))
    rows = [np.concatenate(cells[i:i + columns], 1) for i in range(0, len(cells), columns)]
    sheet = np.concatenate(rows, 0)
    if key or title:
        sheet = np.concatenate([sheet, colour_key(key or (), sheet.shape[1], title=title)], 0)
    return sheet
