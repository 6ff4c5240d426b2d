"""Evaluate a trained model on full-resolution images and write the report folder."""

from __future__ import annotations

import sys
from pathlib import Path

from hecl_keras.data.io import write_image
from hecl_keras.evaluation.protocols import evaluate_paper, evaluate_standard
from hecl_keras.evaluation.report import plot_curves, write_metrics
from hecl_keras.inference.predictor import Predictor, resolve_threshold
from hecl_keras.progress import Progress
from hecl_keras.visualize import CONFUSION_KEY, confusion_overlay, contact_sheet

SHEET_IMAGES = 12


def evaluate_model(model, config, items, out_dir, protocols=("standard", "paper"), show_progress=True,
                   threshold=None, predictions=None):
    """Scores ``model`` on ``items`` ((id, image, mask) at original resolution) and writes a report.

    Thresholded scores use :func:`resolve_threshold` (``threshold`` overrides);
    the paper protocol keeps the authors' 0.5 unless ``threshold`` is given.
    ``predictions`` (``{id: (probabilities, scale)}`` of this model) spares the standard
    protocol predicting those images again.

    Writes ``metrics.json``, ``metrics.md``, ``roc.png``, ``pr.png``,
    ``overlays/<id>.png`` (TP green, FP blue, FN red) and ``predictions.png``
    (a contact sheet of the first 12 overlays, named, with the colour key).

    Returns:
        The metrics dict ``{"standard": {"pooled", "per_image"}, "paper": {...}}``.
    """
    out_dir = Path(out_dir)
    items = list(items)
    predictor = Predictor.for_model(model, config)  # the model's minimum lesion size: FP blobs after removal
    predict_fn = predictor.predict_fn
    chosen = resolve_threshold(model, config, threshold)
    metrics = {}
    if "standard" in protocols:
        pictures, names = [], []

        def keep(sample_id, image, mask, prob):
            picture = confusion_overlay(image, mask, prob, chosen)
            write_image(out_dir / "overlays" / f"{sample_id}.png", picture)
            if len(pictures) < SHEET_IMAGES:
                pictures.append(picture)
                names.append(str(sample_id))

        bar = Progress(len(items), "evaluating (standard protocol)") if show_progress else None
        metrics["standard"], curves = evaluate_standard(predictor, items, chosen, bar, keep, predictions)
        metrics["standard"]["threshold"] = chosen
        plot_curves(curves, out_dir)
        title = f"threshold {chosen:.3f}"
        if len(items) > len(pictures):
            title += f"; {len(pictures)} of {len(items)} images (all in overlays/)"
        write_image(out_dir / "predictions.png", contact_sheet(pictures, names=names, key=CONFUSION_KEY, title=title))
    if "paper" in protocols:
        bar = Progress(len(items), "evaluating (paper protocol)") if show_progress else None
        metrics["paper"] = evaluate_paper(predict_fn, items, threshold=0.5 if threshold is None else threshold,
                                           progress=bar)
    write_metrics(metrics, out_dir)
    if show_progress:
        if "standard" in metrics:
            p = metrics["standard"]["pooled"]
            print(f"standard (threshold {chosen:.3f}): IoU {p['iou']:.4f}  F1 {p['f1']:.4f}  "
                  f"precision {p['precision']:.4f}  recall {p['recall']:.4f}  ROC-AUC {p['roc_auc']:.4f}  "
                  f"PR-AUC {p['pr_auc']:.4f}", file=sys.stderr)
        if "paper" in metrics:
            p = metrics["paper"]
            print(f"paper:    IoU {p['iou']:.4f}  F1 {p['f1']:.4f}  recall {p['recall']:.4f}  "
                  f"ROC-AUC {p['roc_auc']:.4f}", file=sys.stderr)
        print(f"report written to {out_dir}", file=sys.stderr)
    return metrics
