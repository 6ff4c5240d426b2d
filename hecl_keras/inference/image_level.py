"""The image-level answer: "does this photograph show exudates?", from a probability map.

A screening user asks that first. The answer here: threshold the probability
map at the pixel threshold, remove connected components smaller than
``min_lesion_pixels``, and say "yes" when anything is left. The image's
**exudate score** is the area of its largest predicted lesion, so the decision
is ``score >= min_lesion_pixels`` and the score ranks images for an ROC curve.

Areas are counted in **working-scale pixels** (the photograph after the FOV crop
and resize to ``data.short_side``, 580 by default): a lesion of a given size in
the eye then has the same area whatever the camera's resolution. ``scale`` is
the working/original linear factor (:meth:`Predictor.scale_of`).
"""

from __future__ import annotations

import cv2
import numpy as np

# Candidate minimum sizes (working-scale pixels) searched on the validation split.
MIN_LESION_CANDIDATES = (0, 2, 4, 8, 16, 32, 64, 128, 256)


def component_areas(mask):
    """``(labels (H,W) int32, areas (n,) int)`` of the 8-connected components of a boolean mask."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return labels, stats[1:count, cv2.CC_STAT_AREA].astype(np.int64)


def kept_components(areas, min_lesion_pixels, scale=1.0):
    """Which labelled components survive the minimum-size removal.

    Args:
        areas: (n,) int. Component areas in original pixels (from :func:`component_areas`).
        min_lesion_pixels: float. Working-scale pixels (0 keeps everything).
        scale: float. Working/original linear scale (an original pixel is ``scale**2`` working pixels).

    Returns:
        (n,) bool: the component is at least ``min_lesion_pixels`` working-scale pixels.
    """
    return areas * float(scale) ** 2 >= min_lesion_pixels


def _kept_mask(mask, labels, keep):
    """The (H,W) bool mask of the components of ``mask`` that ``keep`` marks (``labels`` from
    :func:`component_areas` of ``mask``); ``mask`` itself when every component is kept."""
    return mask.astype(bool) if keep.all() else np.concatenate([[False], keep])[labels]


def clean_mask(mask, min_lesion_pixels, scale=1.0):
    """Removes components smaller than ``min_lesion_pixels`` working-scale pixels.

    Args:
        mask: (H, W) bool at original resolution.
        min_lesion_pixels: float. Working-scale pixels (0 keeps everything).
        scale: float. Working/original linear scale (an original pixel is ``scale**2`` working pixels).

    Returns:
        ``(cleaned (H,W) bool, working-scale areas of the kept components (k,), number removed)``.
    """
    labels, areas = component_areas(mask)
    keep = kept_components(areas, min_lesion_pixels, scale)
    cleaned = _kept_mask(mask, labels, keep)
    return cleaned, areas[keep] * float(scale) ** 2, int((~keep).sum())


def image_answer(prob, threshold, min_lesion_pixels, scale=1.0):
    """The image-level answer of a probability map.

    The thresholded map is labelled once; everything below derives from that labelling.

    Returns:
        dict: ``exudate_score`` (largest predicted lesion, working-scale pixels, before removal),
        ``exudates_present`` (bool), ``lesions`` (kept components), ``removed_blobs``, ``mask``
        (the cleaned (H,W) bool mask), ``lesion_areas`` ((lesions,) int, the kept components' areas
        in original pixels), ``labels`` ((H,W) int32 components of the map before removal) and
        ``keep`` ((n,) bool, which of them were kept) for :func:`false_positive_counts`.
    """
    raw = prob >= threshold
    labels, areas = component_areas(raw)
    keep = kept_components(areas, min_lesion_pixels, scale)
    cleaned = _kept_mask(raw, labels, keep)
    score = float(areas.max() * scale ** 2) if areas.size else 0.0
    return {"exudate_score": score, "exudates_present": bool(keep.any()), "lesions": int(keep.sum()),
            "removed_blobs": int((~keep).sum()), "mask": cleaned, "lesion_areas": areas[keep],
            "labels": labels, "keep": keep}


def true_pixels_per_component(labels, count, truth):
    """(count,) int: ground-truth pixels inside each component (1..count in ``labels``, (H,W) int; truth (H,W))."""
    return np.bincount(labels[truth.astype(bool)], minlength=count + 1)[1:count + 1]


def _touches_truth(labels, count, truth):
    """(count,) bool: the component (1..count in ``labels``) has a ground-truth pixel."""
    return true_pixels_per_component(labels, count, truth) > 0


def false_positive_components(pred, truth):
    """Predicted components (8-connected) that touch no ground-truth lesion pixel."""
    labels, areas = component_areas(pred)
    return int((~_touches_truth(labels, areas.size, truth)).sum())


def false_positive_counts(labels, keep, truth):
    """False-positive components after and before the minimum-size removal, from one labelling.

    Removal never merges or splits components, so a kept component is a false positive after
    removal exactly when it was one before.

    Args:
        labels: (H,W) int32 components of the thresholded map (``image_answer(...)["labels"]``).
        keep: (n,) bool, the components kept (``image_answer(...)["keep"]``).
        truth: (H,W) bool ground truth.

    Returns:
        ``(after, before)`` ints.
    """
    false = ~_touches_truth(labels, keep.size, truth)
    return int((false & keep).sum()), int(false.sum())


def roc_auc_of_scores(scores, labels):
    """Area under the ROC curve of image scores (ties count half); None unless both classes occur."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    pos, neg = scores[labels], scores[~labels]
    if not pos.size or not neg.size:
        return None
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (pos.size * neg.size))


def image_level_scores(rows):
    """Image-level sensitivity, specificity and AUC from per-image rows (``has_exudates``, ``exudates_present``,
    ``exudate_score``, ``false_positive_components``). Sensitivity/specificity are None without positives/negatives.
    Rows with ``false_positive_components_before_removal`` (blobs below the minimum size kept) also give that mean,
    so a report shows what the blob removal cut."""
    truth = np.array([r["has_exudates"] for r in rows], bool)
    said = np.array([r["exudates_present"] for r in rows], bool)
    out = {"images": len(rows), "with_exudates": int(truth.sum()), "without_exudates": int((~truth).sum()),
           "sensitivity": float((said & truth).sum() / truth.sum()) if truth.any() else None,
           "specificity": float((~said & ~truth).sum() / (~truth).sum()) if (~truth).any() else None,
           "auc": roc_auc_of_scores([r["exudate_score"] for r in rows], truth),
           "false_positive_components_per_image": float(np.mean([r["false_positive_components"] for r in rows]))
           if rows else 0.0}
    if rows and all("false_positive_components_before_removal" in r for r in rows):
        out["false_positive_components_per_image_before_removal"] = float(
            np.mean([r["false_positive_components_before_removal"] for r in rows]))
    return out


def choose_min_lesion_pixels(items, candidates=MIN_LESION_CANDIDATES, tolerance=0.0):
    """The minimum lesion size chosen on the validation split.

    The criterion, per candidate size: with images both with and without exudates, sensitivity +
    specificity - 1 (Youden's J); otherwise (IDRiD's segmentation set has exudates in every image)
    the pooled pixel F1 of the cleaned masks. The choice is the **largest** size whose criterion is
    within ``tolerance`` of the best: removing a blob costs nothing where the criterion is flat (as
    pixel F1 is for small sizes), and every removed blob is a false alarm fewer on lesion-free images.

    Args:
        items: list of ``(prob (H,W), truth (H,W) bool, threshold, scale)`` of the validation images.
        candidates: sizes to try (working-scale pixels).
        tolerance: float >= 0, in the criterion's units (``eval.min_lesion_tolerance``).

    Returns:
        ``{"min_lesion_pixels", "criterion", "value", "best_value", "tolerance",
        "table": [[size, value, false-positive components per image], ...]}``.
    """
    has = [bool(t.any()) for _, t, _, _ in items]
    both = any(has) and not all(has)
    # Each image is labelled once; per candidate only the kept set changes. Per component: its area,
    # its true-pixel count (a removed component's true pixels become false negatives, the rest false positives).
    labelled = []
    for p, t, th, s in items:
        labels, areas = component_areas(p >= th)
        true_in = true_pixels_per_component(labels, areas.size, t)
        labelled.append((areas, true_in, int(t.sum()), s))
    table = []
    for size in candidates:
        keeps = [kept_components(areas, size, s) for areas, _, _, s in labelled]
        false_blobs = float(np.mean([int((k & (true_in == 0)).sum()) for k, (_, true_in, _, _) in
                                     zip(keeps, labelled)])) if labelled else 0.0
        if both:
            said = [bool(k.any()) for k in keeps]
            sens = np.mean([a for a, h in zip(said, has) if h])
            spec = np.mean([not a for a, h in zip(said, has) if not h])
            value = float(sens + spec - 1)
        else:
            tp = fp = fn = 0
            for keep, (areas, true_in, true_total, _) in zip(keeps, labelled):
                tp += int(true_in[keep].sum())
                fp += int((areas - true_in)[keep].sum())
                fn += true_total - int(true_in[keep].sum())
            value = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        table.append([size, value, false_blobs])
    best_value = max(row[1] for row in table)
    chosen = max((row for row in table if row[1] >= best_value - tolerance), key=lambda row: row[0])
    return {"min_lesion_pixels": chosen[0], "criterion": "youden" if both else "pooled_pixel_f1", "value": chosen[1],
            "best_value": best_value, "tolerance": tolerance, "table": table}
