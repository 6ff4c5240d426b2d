"""The minimum lesion size's tolerance: validation F1 given up vs false blobs removed (issue #18).

For each run (its ``checkpoints/best.keras`` at its stored decision threshold) the validation and
test images are predicted once at full resolution. For each tolerance,
``choose_min_lesion_pixels`` picks the size on the validation split (as ``hecl train`` does with
``eval.min_lesion_tolerance``); the test split is then only scored at that size: pooled pixel F1
of the cleaned masks and false-positive blobs per image (size 0: nothing removed). The test split
chooses nothing here.

    python -m benchmarks.min_lesion_size runs/ablation/base_s0 runs/ablation/robust_s0 --tolerance 0 0.01 0.02
    python -m benchmarks.min_lesion_size --smoke          # synthetic probability maps (CI)
"""

from __future__ import annotations

import argparse

import numpy as np


def tolerance_rows(val, test, tolerances):
    """Rows ``(tolerance, size, val criterion, test pixel F1, test FP blobs per image)``; first row: no removal.

    Args:
        val, test: lists of ``(prob (H,W), truth (H,W) bool, threshold, scale)``.
        tolerances: floats.
    """
    from hecl_keras.inference.image_level import choose_min_lesion_pixels

    def on_test(size):
        row = choose_min_lesion_pixels(test, candidates=(size,))["table"][0]
        return row[1], row[2]

    none = choose_min_lesion_pixels(val, candidates=(0,))["value"]
    rows = [("no removal", 0, none, *on_test(0))]
    for tolerance in tolerances:
        choice = choose_min_lesion_pixels(val, tolerance=tolerance)
        rows.append((tolerance, choice["min_lesion_pixels"], choice["value"], *on_test(choice["min_lesion_pixels"])))
    return rows


def print_table(name, rows):
    print(f"\n{name}\n")
    print("| tolerance | min lesion (working px) | val criterion | test pixel F1 | test FP blobs / image | cut |")
    print("|---|---|---|---|---|---|")
    before = rows[0][4]
    for tolerance, size, val, f1, blobs in rows:
        cut = f"{before / blobs:.1f}x" if blobs else "all"
        print(f"| {tolerance} | {size} | {val:.4f} | {f1:.4f} | {blobs:.2f} | {cut} |")


def _smoke():
    from hecl_keras.data import synthetic_pairs

    rng = np.random.default_rng(0)
    items = []
    for _, mask in synthetic_pairs(6, 96, 96, seed=0, lesion_free_prob=0.0):
        truth = mask.astype(bool) if mask.ndim == 2 else mask[..., 0].astype(bool)
        prob = np.clip(truth * 0.8 + rng.random(truth.shape) ** 8, 0, 1)  # the lesions plus specks
        items.append((prob, truth, 0.5, 1.0))
    return tolerance_rows(items[:3], items[3:], (0.0, 0.01))


def _predictions(run):
    from pathlib import Path

    from benchmarks.run_inputs import load_run, predict_split
    from hecl_keras.inference.predictor import Predictor, keras_predict_fn, resolve_threshold

    model, config, data = load_run(run)
    threshold = resolve_threshold(model, None)
    predictor = Predictor.from_config(keras_predict_fn(model), config)
    return {name: predict_split(predictor, data, name, Path(run).name,
                                lambda image, mask, prob, scale: (prob, mask.astype(bool), threshold, scale))
            for name in ("val", "test")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", help="run folders (config.yaml, checkpoints/best.keras)")
    parser.add_argument("--tolerance", type=float, nargs="+", default=[0.0, 0.01, 0.02])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        print_table("synthetic probability maps (smoke)", _smoke())
        return
    if not args.runs:
        parser.error("give run folders (or --smoke)")
    for run in args.runs:
        predicted = _predictions(run)
        print_table(run, tolerance_rows(predicted["val"], predicted["test"], args.tolerance))


if __name__ == "__main__":
    main()
