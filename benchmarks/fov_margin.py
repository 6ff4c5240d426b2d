"""Dropping a band along the field of view's rim (``eval.fov_margin``): false blobs removed vs lesion pixels lost
(issue #18).

For each run (a checkpoint, one test-time augmentation mode) the validation and test images and a few
lesion-free synthetic photographs are predicted once at full resolution. For each margin (a fraction
of the FOV radius) the probabilities outside the FOV or within the margin of its rim are set to 0
(:func:`hecl_keras.data.geometry.fov_margin_keep`, what the predictor does with ``eval.fov_margin``); the
decision threshold (pooled F1) and the minimum lesion size (``eval.min_lesion_tolerance``) are chosen
again on validation, as ``hecl train`` would with that margin; the test split and the lesion-free
photographs are only scored: test PR-AUC, F1, false-positive blobs per test image and per lesion-free
photograph after the size removal, and how many lesion-free photographs get a "yes". Margin 0 is the
model as it is.

    python -m benchmarks.fov_margin runs/ablation/effb0_det_e60_swa_s0 --checkpoint best_epoch.keras --tta d4
    python -m benchmarks.fov_margin --smoke          # synthetic probability maps (CI)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def margin_rows(val, test, negatives, margins, tolerance):
    """One row per margin: ``{margin, threshold, min_lesion_pixels, val_pr_auc, val_f1, test_pr_auc, test_f1,
    test_fp_blobs, negative_blobs, negatives_said_yes, negatives, test_lesion_pixels_dropped}``.

    Args:
        val, test: lists of ``(prob (H,W), truth (H,W) bool, scale, rim (H,W) float)`` where ``rim`` is
            :func:`~hecl_keras.data.geometry.rim_distance_fraction` of the image's FOV (None: no FOV).
        negatives: the same without truth: ``(prob, scale, rim)``.
        margins: fractions of the FOV radius (0: nothing dropped).
        tolerance: ``eval.min_lesion_tolerance``.
    """
    from hecl_keras.inference.image_level import choose_min_lesion_pixels, image_answer
    from hecl_keras.metrics.pixel_curves import PooledCurves
    from hecl_keras.training.trainer import choose_decision

    def dropped(prob, rim, margin):
        return prob if margin <= 0 or rim is None else np.where(rim >= margin, prob, np.float32(0))

    rows = []
    for margin in margins:
        val_maps = [(dropped(p, r, margin), t, s) for p, t, s, r in val]
        decision = choose_decision(val_maps, tolerance)
        threshold, size = decision["threshold"], decision["min_lesion_pixels"]
        curves_test = PooledCurves()
        test_maps = [(dropped(p, r, margin), t, s) for p, t, s, r in test]
        for p, t, _ in test_maps:
            curves_test.update(p, t)
        _, cleaned_f1, fp_blobs = choose_min_lesion_pixels([(p, t, threshold, s) for p, t, s in test_maps],
                                                           candidates=(size,))["table"][0]
        lost = sum(int((t & (p == 0) & (q > 0)).sum()) for (p, t, _), (q, _, _, _) in zip(test_maps, test))
        answers = [image_answer(dropped(p, r, margin), threshold, size, s) for p, s, r in negatives]
        rows.append({"margin": margin, "threshold": threshold, "min_lesion_pixels": size,
                     "val_pr_auc": decision["val_pr_auc"], "val_f1": decision["val_f1"],
                     "test_pr_auc": curves_test.pr_auc(), "test_f1": curves_test.scores(threshold)["f1"],
                     "test_cleaned_f1": cleaned_f1, "test_fp_blobs": fp_blobs,
                     "test_lesion_pixels_dropped": lost,
                     "negative_blobs": float(np.mean([a["lesions"] for a in answers])) if answers else 0.0,
                     "negatives_said_yes": sum(a["exudates_present"] for a in answers), "negatives": len(answers)})
    return rows


def print_table(name, rows):
    base = rows[0]
    print(f"\n{name}\n")
    print("| margin (FOV radius) | threshold / min lesion | val PR-AUC | val F1 | test PR-AUC (change) | test F1 | "
          "test lesion px dropped | FP blobs / test image (cut) | lesion-free: blobs / image (cut), said yes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        def cut(key, r=r):
            if not base[key]:
                return "-"
            return f"{base[key] / r[key]:.1f}x" if r[key] else "all"

        print(f"| {r['margin']:g} | {r['threshold']:.3f} / {r['min_lesion_pixels']:g} px | {r['val_pr_auc']:.4f} | "
              f"{r['val_f1']:.4f} | {r['test_pr_auc']:.4f} ({r['test_pr_auc'] - base['test_pr_auc']:+.4f}) | "
              f"{r['test_f1']:.4f} | {r['test_lesion_pixels_dropped']} | {r['test_fp_blobs']:.2f} "
              f"({cut('test_fp_blobs')}) | {r['negative_blobs']:.2f} ({cut('negative_blobs')}), "
              f"{r['negatives_said_yes']}/{r['negatives']} |")


def _rim(image, fov_threshold):
    from hecl_keras.data.geometry import fov_mask, rim_distance_fraction

    fov = fov_mask(image, fov_threshold)
    return rim_distance_fraction(fov).astype(np.float16) if fov.any() else None


def _smoke():
    from hecl_keras.data import synthetic_fundus

    rng = np.random.default_rng(0)
    items = []
    for i in range(5):
        image, mask = synthetic_fundus(96, 128, seed=i, lesion_free_prob=0.0 if i < 4 else 1.0)
        truth = (mask if mask.ndim == 2 else mask[..., 0]).astype(bool)
        rim = _rim(image, 20)
        specks = (rng.random(truth.shape) ** 8) * (rim is not None) * (rim < 0.1)  # false alarms on the rim
        prob = np.clip(truth * 0.8 + specks, 0, 1).astype(np.float32)
        items.append((prob, truth, 1.0, rim))
    negatives = [(p, s, r) for p, _, s, r in items[4:]]
    return margin_rows(items[:2], items[2:4], negatives, (0.0, 0.05, 0.1), 0.01)


def _predictions(run, checkpoint, tta, count, overrides=()):
    from benchmarks.domain_shift import lesion_free_photographs
    from benchmarks.run_inputs import predict_split, run_predictor

    predictor, config, data = run_predictor(run, checkpoint, tta, overrides)
    fov_threshold = predictor.preprocess.fov_threshold
    out = {name: predict_split(predictor, data, name, Path(run).name,
                               lambda image, mask, prob, scale: (prob, mask.astype(bool), scale,
                                                                 _rim(image, fov_threshold)))
           for name in ("val", "test")}
    out["negatives"] = []
    for image, _ in lesion_free_photographs(count, 1424, 2144):  # IDRiD's aspect at half its size
        prob, scale = predictor.predict_with_scale(image)
        out["negatives"].append((prob, scale, _rim(image, fov_threshold)))
    return out, config.eval.min_lesion_tolerance, predictor.tta


def main(argv=None):
    from benchmarks.run_inputs import add_run_arguments

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    parser.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.01, 0.02, 0.04])
    parser.add_argument("--negatives", type=int, default=4, help="lesion-free synthetic photographs")
    parser.add_argument("--out", default=None, help="JSON file of every run's rows")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        print_table("synthetic probability maps, specks on the rim (smoke)", _smoke())
        return
    if not args.runs:
        parser.error("give run folders (or --smoke)")
    results = {}
    for run in args.runs:
        predicted, tolerance, tta = _predictions(run, args.checkpoint, args.tta, args.negatives, args.set)
        rows = margin_rows(predicted["val"], predicted["test"], predicted["negatives"], args.margins, tolerance)
        print_table(f"{run}/checkpoints/{args.checkpoint}, tta {tta}", rows)
        results[run] = {"checkpoint": args.checkpoint, "tta": tta, "rows": rows}
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
