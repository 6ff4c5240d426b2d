"""The two evaluation protocols (METHOD.md section 6).

* standard: whole-image prediction at the original resolution; IoU, F1,
  precision, recall, ROC-AUC and PR-AUC pooled over all pixels of all images,
  plus the same scores per image.
* paper: the HECL authors' test geometry and averaging: crop columns
  200..3800 of a 4288-wide photograph (scaled for other widths), zero-pad to a
  square (centred), resize to 512, predict, threshold 0.5; IoU, F1 and recall
  per image then averaged; ROC-AUC pooled over all 512x512 pixels (padding
  included) with 255 thresholds.
"""

from __future__ import annotations

import time

import numpy as np

from hecl_keras.data.geometry import paper_geometry
from hecl_keras.inference.image_level import false_positive_counts, image_answer, image_level_scores
from hecl_keras.metrics.pixel_curves import PooledCurves, binary_scores


def evaluate_standard(predictor, items, threshold=0.5, progress=None, keep=None, predictions=None):
    """Scores a :class:`~hecl_keras.inference.Predictor` on full-resolution images.

    Args:
        predictor: callable (H,W,3) uint8 -> (H,W) probabilities.
        items: iterable of (id, image (H,W,3) uint8, mask (H,W) bool).
        threshold: float.
        progress: callable(done, total, id) or None.
        keep: callable(id, image, mask, probabilities) called per image (e.g. to write overlays).
        predictions: ``{id: (probabilities (H,W), working/original scale)}`` already computed by the same
            predictor (e.g. while choosing the threshold on these images); those images are not predicted again.

    Per image also the image-level answer (``exudates_present``, ``exudate_score``,
    after removing blobs below ``predictor.min_lesion_pixels``) and the false-positive
    components (predicted lesions touching no true one), after and before that removal; ``pooled["image_level"]``
    has the image-level sensitivity, specificity and AUC (None where the split lacks
    images with or without exudates) and the false-positive components per image.

    Returns:
        ``({"pooled": {...}, "per_image": [...]}, PooledCurves)``.
    """
    items = list(items) if not isinstance(items, list) else items
    min_size = getattr(predictor, "min_lesion_pixels", 0.0)
    curves = PooledCurves()
    per_image = []
    for n, (sample_id, image, mask) in enumerate(items, 1):
        start = time.perf_counter()
        if predictions and sample_id in predictions:
            prob, scale = predictions[sample_id]
        elif hasattr(predictor, "predict_with_scale"):
            prob, scale = predictor.predict_with_scale(image)  # scale: areas in working pixels
        else:
            prob, scale = predictor(image), 1.0
        curves.update(prob, mask)
        single = PooledCurves(bins=4096)
        single.update(prob, mask)
        answer = image_answer(prob, threshold, min_size, scale)
        fp_after, fp_before = false_positive_counts(answer["labels"], answer["keep"], mask)
        row = {"id": sample_id, **binary_scores(prob, mask, threshold),
               "roc_auc": single.roc_auc(), "pr_auc": single.pr_auc(),
               "lesion_fraction": float(mask.mean()), "has_exudates": bool(mask.any()),
               "exudates_present": answer["exudates_present"], "exudate_score": answer["exudate_score"],
               "removed_blobs": answer["removed_blobs"],
               "false_positive_components": fp_after, "false_positive_components_before_removal": fp_before,
               "seconds": time.perf_counter() - start}
        per_image.append(row)
        if keep is not None:
            keep(sample_id, image, mask, prob)
        if progress is not None:
            progress(n, len(items), sample_id)
    pooled = {**curves.scores(threshold), "roc_auc": curves.roc_auc(), "pr_auc": curves.pr_auc(),
              "image_level": image_level_scores(per_image)}
    return {"pooled": pooled, "per_image": per_image}, curves


def evaluate_paper(predict_fn, items, size=512, threshold=0.5, progress=None):
    """Scores with the paper protocol.

    Args:
        predict_fn: float32 (N,size,size,3) -> probabilities (N,size,size,1).
        items: iterable of (id, image, mask) at original resolution.

    Returns:
        ``{"iou", "f1", "recall", "roc_auc", "images"}``: per-image means and pooled ROC-AUC.
    """
    items = list(items) if not isinstance(items, list) else items
    prepared = ((sample_id, *paper_geometry(image, mask, size)) for sample_id, image, mask in items)
    return score_paper(predict_fn, prepared, len(items), threshold, progress)


def score_paper(predict_fn, prepared, total=None, threshold=0.5, progress=None):
    """The paper protocol's scores on images already in its geometry (:func:`paper_geometry`).

    Args:
        predict_fn: float32 (1,S,S,3) in [0, 1] -> probabilities (1,S,S,1).
        prepared: iterable of (id, image (S,S,3) uint8, mask (S,S) bool).
        total: number of items, for ``progress``.

    Returns:
        ``{"iou", "f1", "recall", "roc_auc", "images"}``: per-image means and pooled ROC-AUC (255 thresholds).
    """
    curves = PooledCurves(bins=255)
    rows = []
    for n, (sample_id, img, msk) in enumerate(prepared, 1):
        prob = np.asarray(predict_fn(img[None].astype(np.float32) / 255.0))[0, ..., 0]
        curves.update(prob, msk)
        rows.append(binary_scores(prob, msk, threshold))
        if progress is not None:
            progress(n, total, sample_id)
    if not rows:
        raise ValueError("The paper protocol needs at least one image.")
    return {
        "iou": float(np.mean([r["iou"] for r in rows])),
        "f1": float(np.mean([r["f1"] for r in rows])),
        "recall": float(np.mean([r["recall"] for r in rows])),
        "roc_auc": curves.roc_auc(),
        "images": len(rows),
    }
