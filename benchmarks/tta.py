"""Test-time augmentation (``eval.tta``): what each mode buys, chosen on validation (issue #12).

For each run (its ``checkpoints/best.keras``) and each mode, the validation images are predicted at
full resolution with that mode, the decision threshold is chosen on them (pooled F1, as ``hecl train``
does after training), and the test images are scored once per mode at that threshold. The mode to use
is the one validation prefers; the test columns only report what it then gives. Seconds per image
include the model calls of every view (the cost grows with the views: 1, 2, 4, 8); on validation they also
include the minimum lesion size's choice, as after training.

    python -m benchmarks.tta runs/ablation/effb0_val12_s0 runs/ablation/effb0_val12_s1 --modes none hflip flips d4
    python -m benchmarks.tta runs/ablation/effb0_val12_e60_swa_s0 --modes none d4 --checkpoint best_epoch.keras
    python -m benchmarks.tta RUN --modes none d4 --checkpoint best_epoch.keras --set data.tone_target=0.385
    python -m benchmarks.tta --smoke          # an untrained tiny model on synthetic images (CI)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def score_modes(model, config, val_items, test_items, modes):
    """Rows ``{mode, views, seconds_per_image, val_pr_auc, val_f1, threshold, test_pr_auc, test_f1}``.

    The validation pass is :func:`hecl_keras.training.trainer.choose_threshold` with its ``tta`` set
    to the mode (what ``hecl train`` runs after training); the test images are then scored once.

    Args:
        model: a trained Keras segmenter.
        config: its run's ExperimentConfig (tile size, working scale, overlap).
        val_items, test_items: lists of ``(id, image (H,W,3) uint8, mask (H,W))`` at original resolution.
        modes: names of :data:`hecl_keras.inference.TTA_MODES`.
    """
    from hecl_keras.inference.predictor import Predictor, keras_predict_fn
    from hecl_keras.inference.tta import tta_view_count
    from hecl_keras.metrics.pixel_curves import PooledCurves
    from hecl_keras.progress import Progress
    from hecl_keras.training.trainer import choose_threshold

    rows = []
    for mode in modes:
        start = time.perf_counter()
        choice = choose_threshold(model, config, val_items, tta=mode)
        seconds = time.perf_counter() - start
        predictor = Predictor.from_config(keras_predict_fn(model), config, tta=mode)
        curves = PooledCurves()
        bar = Progress(len(test_items), f"tta {mode}: predicting test")
        for done, (sample_id, image, mask) in enumerate(test_items, 1):
            start = time.perf_counter()
            prob = predictor(image)
            seconds += time.perf_counter() - start
            curves.update(prob, mask)
            bar(done, item=str(sample_id))
        rows.append({"mode": mode, "views": tta_view_count(mode),
                     "seconds_per_image": seconds / (len(val_items) + len(test_items)),
                     "val_pr_auc": choice["val_pr_auc"], "val_f1": choice["val_f1"], "threshold": choice["threshold"],
                     "test_pr_auc": curves.pr_auc(), "test_f1": curves.scores(choice["threshold"])["f1"]})
    return rows


def table(name, rows):
    """Markdown table of :func:`score_modes` rows; differences against the first mode (normally ``none``)."""
    base = rows[0]
    lines = [f"\n{name}\n", "| mode | views | s / image | val PR-AUC | val F1 | threshold | test PR-AUC | test F1 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def delta(key, r=r):
            return "" if r is base else f" ({r[key] - base[key]:+.4f})"

        lines.append(f"| {r['mode']} | {r['views']} | {r['seconds_per_image']:.2f} | {r['val_pr_auc']:.4f}"
                     f"{delta('val_pr_auc')} | {r['val_f1']:.4f}{delta('val_f1')} | {r['threshold']:.3f} | "
                     f"{r['test_pr_auc']:.4f}{delta('test_pr_auc')} | {r['test_f1']:.4f}{delta('test_f1')} |")
    return "\n".join(lines)


def summary(results):
    """Mean paired difference against the first mode over runs, per mode and column (Markdown)."""
    modes = [r["mode"] for r in next(iter(results.values()))]
    lines = ["\nmean over runs of the difference against " + modes[0] + "\n",
             "| mode | val PR-AUC | val F1 | test PR-AUC | test F1 |", "|---|---|---|---|---|"]
    for i, mode in enumerate(modes[1:], 1):
        cells = []
        for key in ("val_pr_auc", "val_f1", "test_pr_auc", "test_f1"):
            diffs = np.array([rows[i][key] - rows[0][key] for rows in results.values()])
            cells.append(f"{diffs.mean():+.4f} ({(diffs > 0).sum()}/{len(diffs)} up)")
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _run_inputs(run, checkpoint="best.keras", overrides=()):
    from benchmarks.run_inputs import load_run

    model, config, data = load_run(run, checkpoint, overrides)
    return model, config, list(data.originals("val")), list(data.originals("test"))


def _smoke_inputs():
    import keras

    from hecl_keras.config import load_config
    from hecl_keras.data import synthetic_fundus
    from hecl_keras.models.build import build_model

    keras.utils.set_random_seed(0)
    config = load_config(None, ["data.short_side=64", "augment.crop_size=[32, 32]", "model.base_filters=4",
                                "model.options={depth: 3}"])
    items = [(f"s{i}", *synthetic_fundus(72, 88, seed=i)) for i in range(4)]
    return build_model(config), config, items[:2], items[2:]


def main(argv=None):
    from benchmarks.run_inputs import add_inference_overrides

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", help="run folders (config.yaml, checkpoints/best.keras)")
    parser.add_argument("--modes", nargs="+", default=["none", "hflip", "flips", "d4"])
    parser.add_argument("--checkpoint", default="best.keras",
                        help="which of each run's checkpoints/ (e.g. best_epoch.keras: the epoch the monitor chose "
                             "in a run with train.swa_epochs)")
    add_inference_overrides(parser, "; the threshold is chosen with it")
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if not args.smoke and not args.runs:
        parser.error("give run folders (or --smoke)")
    if args.smoke and args.set:
        parser.error("--set applies to run folders, not to --smoke")
    results = {}
    for run in (["smoke"] if args.smoke else args.runs):
        inputs = _smoke_inputs() if args.smoke else _run_inputs(run, args.checkpoint, args.set)
        results[run] = score_modes(*inputs, args.modes)
        print(table(run, results[run]), flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=2))
    if len(results) > 1 and len(args.modes) > 1:
        print(summary(results))


if __name__ == "__main__":
    main()
