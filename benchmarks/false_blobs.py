"""Where a model's false-positive blobs lie: their distance to the nearest annotated exudate (issue #18).

Every IDRiD segmentation image has exudates, so "false-positive blobs per image" mixes two kinds: satellites of
real exudate clusters that the annotation leaves out (near a lesion) and false alarms on healthy retina (far from
any). Only the second kind is what a lesion-free photograph from a screening camera shows, so the blobs far from
every annotation are this data's stand-in for #18's "false-positive blobs on lesion-free images".

For a run (a checkpoint, one test-time augmentation mode) the validation and test images are predicted once at
full resolution; the decision threshold (pooled F1) and the minimum lesion size (``eval.min_lesion_tolerance``)
are chosen on validation, as ``hecl train`` does; then for each split every predicted component left after the
size removal that touches no annotated pixel is a false blob, and its distance to the nearest annotated pixel
(working-scale pixels, the component's nearest pixel) is recorded. The table gives the share of false blobs within
each distance and the false blobs per image beyond ``--far``. The test split chooses nothing.

    python -m benchmarks.false_blobs runs/ablation/effb0_det_e60_localmean_s1 --checkpoint best_epoch.keras --tta none
    python -m benchmarks.false_blobs --smoke          # synthetic probability maps (CI)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

BANDS = (5, 10, 20, 50, 100)


def false_blob_distances(prob, truth, threshold, min_lesion_pixels, scale=1.0):
    """The false-positive components of one image after the minimum-size removal.

    Args:
        prob: (H, W) float probabilities at original resolution.
        truth: (H, W) bool annotation.
        threshold: float, the pixel threshold.
        min_lesion_pixels: float, working-scale pixels (0 keeps every component).
        scale: float, working/original linear scale.

    Returns:
        ``(distances (k,) float, areas (k,) float)``: per false component (touches no annotated pixel), the
        distance from its nearest pixel to the nearest annotated pixel and its area, both in working-scale units
        (pixels and pixels**2); the distance is ``inf`` when the image has no annotation.
    """
    from hecl_keras.inference.image_level import component_areas, kept_components, true_pixels_per_component

    labels, areas = component_areas(prob >= threshold)
    truth = truth.astype(bool)
    true_in = true_pixels_per_component(labels, areas.size, truth)
    false = kept_components(areas, min_lesion_pixels, scale) & (true_in == 0)
    if not false.any():
        return np.zeros(0), np.zeros(0)
    if truth.any():
        # Distance to the nearest annotated pixel (the zeros of the source), original pixels.
        distance = cv2.distanceTransform((~truth).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        inside = labels > 0
        nearest = np.full(areas.size + 1, np.inf)
        np.minimum.at(nearest, labels[inside], distance[inside])
        nearest = nearest[1:] * float(scale)
    else:
        nearest = np.full(areas.size, np.inf)
    return nearest[false], areas[false] * float(scale) ** 2


def distance_row(items, threshold, min_lesion_pixels, far):
    """One split's summary.

    Args:
        items: list of ``(prob (H,W), truth (H,W) bool, scale)``.
        threshold, min_lesion_pixels: the decision (chosen on validation).
        far: working-scale pixels; a false blob further than this from every annotation counts as "far".

    Returns:
        ``{images, false_blobs, false_blobs_per_image, far_blobs_per_image, share_within: {band: share},
        median_area}`` (shares None without false blobs).
    """
    distances, areas = [], []
    for prob, truth, scale in items:
        d, a = false_blob_distances(prob, truth, threshold, min_lesion_pixels, scale)
        distances.append(d)
        areas.append(a)
    d, a = np.concatenate(distances or [np.zeros(0)]), np.concatenate(areas or [np.zeros(0)])
    images = max(len(items), 1)
    return {"images": len(items), "false_blobs": int(d.size), "false_blobs_per_image": d.size / images,
            "far_blobs_per_image": float((d > far).sum()) / images,
            "share_within": {band: float((d <= band).mean()) if d.size else None for band in BANDS},
            "median_area": float(np.median(a)) if a.size else None}


def choose_decision(val, tolerance):
    """``(threshold, min_lesion_pixels)`` chosen on the validation items ``(prob, truth, scale)`` as ``hecl train``
    chooses them (:func:`hecl_keras.training.trainer.choose_decision`)."""
    from hecl_keras.training.trainer import choose_decision as choose

    decision = choose(val, tolerance)
    return decision["threshold"], decision["min_lesion_pixels"]


def print_table(name, threshold, size, rows, far):
    print(f"\n{name}: threshold {threshold:.3f}, minimum lesion {size:g} working px\n")
    bands = " | ".join(f"<= {b} px" for b in BANDS)
    print(f"| split | false blobs / image | share within {bands} | beyond {far:g} px / image | median area |")
    print("|---|---|" + "---|" * len(BANDS) + "---|---|")
    for split, r in rows.items():
        shares = " | ".join("-" if r["share_within"][b] is None else f"{r['share_within'][b]:.0%}" for b in BANDS)
        area = "-" if r["median_area"] is None else f"{r['median_area']:.1f}"
        print(f"| {split} ({r['images']}) | {r['false_blobs_per_image']:.2f} | {shares} | "
              f"{r['far_blobs_per_image']:.2f} | {area} |")


def _smoke():
    """Synthetic maps: each image's lesions, a speck beside one of them and a speck far from all."""
    from hecl_keras.data import synthetic_fundus

    items = []
    for i in range(4):
        _, mask = synthetic_fundus(96, 128, seed=i, lesion_free_prob=0.0)
        truth = (mask if mask.ndim == 2 else mask[..., 0]).astype(bool)
        prob = truth * np.float32(0.9)
        ys, xs = np.nonzero(truth)
        prob[max(ys[0] - 4, 0), xs[0]] = 0.9  # a one-pixel satellite just above the first lesion
        prob[-2:, -2:] = 0.9  # a 2x2 blob in the corner
        items.append((prob, truth, 1.0))
    threshold, _ = choose_decision(items[:2], 0.0)
    size = 0  # the size chosen on two tiny maps removes the specks this smoke is about
    return threshold, size, {"val": distance_row(items[:2], threshold, size, 20),
                             "test": distance_row(items[2:], threshold, size, 20)}


def _predictions(run, checkpoint, tta, overrides=()):
    from benchmarks.run_inputs import predict_split, run_predictor

    predictor, config, data = run_predictor(run, checkpoint, tta, overrides)
    out = {name: predict_split(predictor, data, name, Path(run).name,
                               lambda image, mask, prob, scale: (prob, mask.astype(bool), scale))
           for name in ("val", "test")}
    return out, config.eval.min_lesion_tolerance, predictor.tta


def main(argv=None):
    from benchmarks.run_inputs import add_run_arguments

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser)
    parser.add_argument("--far", type=float, default=100.0,
                        help="working-scale pixels: false blobs further than this from every annotation are 'far'")
    parser.add_argument("--out", default=None, help="JSON file of every run's rows")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        print_table("synthetic probability maps (smoke)", *_smoke(), far=20)
        return
    if not args.runs:
        parser.error("give run folders (or --smoke)")
    results = {}
    for run in args.runs:
        predicted, tolerance, tta = _predictions(run, args.checkpoint, args.tta, args.set)
        threshold, size = choose_decision(predicted["val"], tolerance)
        rows = {split: distance_row(items, threshold, size, args.far) for split, items in predicted.items()}
        print_table(f"{run}/checkpoints/{args.checkpoint}, tta {tta}, decision chosen on validation", threshold, size,
                    rows, args.far)
        results[run] = {"checkpoint": args.checkpoint, "tta": tta, "threshold": threshold,
                        "min_lesion_pixels": size, "far": args.far, "rows": rows}
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
