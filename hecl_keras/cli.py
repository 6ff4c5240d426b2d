"""The ``hecl`` command line.

``hecl data inspect|preview|pack``, ``train``, ``evaluate``, ``tune``, ``export``, ``predict``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# hecl_keras.inference.tta.TTA_MODES, spelled out: importing the package (Keras) would slow down --help.
CLI_TTA_MODES = ("none", "hflip", "flips", "d4")


def _cmd_data_inspect(args):
    from hecl_keras.data.errors import DataError
    from hecl_keras.data.inspect import inspect_dataset
    from hecl_keras.progress import Progress

    bar = None if args.quiet else Progress(0, "reading pairs")
    try:
        report = inspect_dataset(args.path, mask_suffix=args.mask_suffix, progress=bar, short_side=args.short_side)
    except DataError as exc:
        report = {"path": str(args.path), "splits": {}, "problems": [str(exc)], "warnings": []}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, s in report["splits"].items():
            lf = s.get("lesion_fraction")
            frac = f"lesion fraction min {lf['min']:.4%} median {lf['median']:.4%} max {lf['max']:.4%}" if lf else ""
            lum = s.get("central_luminance")
            tone = (f"; central luminance mean {lum['mean']:.3f} (min {lum['min']:.3f}, max {lum['max']:.3f})"
                    if lum else "")
            print(f"{name}: {s['images']} images, {s['masks']} masks, {s['pairs']} readable pairs, "
                  f"sizes {s['image_sizes']}, {s['lesion_free']} lesion-free; {frac}{tone}")
        for w in report["warnings"]:
            print(f"WARNING: {w}")
        for p in report["problems"]:
            print(f"PROBLEM: {p}")
        if not report["problems"]:
            print("no problems found")
    return 1 if report["problems"] else 0


def _cmd_data_preview(args):
    import numpy as np

    from hecl_keras.config import load_config
    from hecl_keras.data.augment import augment_config
    from hecl_keras.data.experiment import load_experiment_data
    from hecl_keras.data.io import write_image
    from hecl_keras.data.pipeline import AugmentedBatches
    from hecl_keras.visualize import TRUTH_KEY, contact_sheet, tint_batch

    config = load_config(args.config, args.set)
    data = load_experiment_data(config.data)
    batches = AugmentedBatches(data.train, args.count, augment_config(config), seed=config.train.seed)
    x, y = batches[0]
    pictures = list(tint_batch(x, y, np.zeros_like(y)))
    names = [f"crop {i + 1}" for i in range(len(pictures))]
    write_image(args.out, contact_sheet([np.asarray(p) for p in pictures], columns=min(4, len(pictures)),
                                        names=names, key=TRUTH_KEY, title="augmented training crops (epoch 1)"))
    print(f"wrote {args.count} augmented training crops (lesions tinted green) to {args.out}")
    return 0


def _cmd_data_pack(args):
    from hecl_keras.config import load_config
    from hecl_keras.data.pack import pack_experiment
    from hecl_keras.progress import Progress

    config = load_config(args.config, args.set)
    meta = pack_experiment(config, args.out, progress=Progress(0, "packing"))
    size = Path(args.out).stat().st_size
    counts = ", ".join(f"{len(v)} {k}" for k, v in meta["entries"].items())
    print(f"wrote {args.out}: {counts} images, {size / 1e6:.1f} MB (derived from {config.data.source}: "
          "do not commit or publish it)")
    return 0


def _cmd_train(args):
    from hecl_keras.config import load_config
    from hecl_keras.training.trainer import train

    config = load_config(args.config, args.set)
    result = train(config, run_dir=args.run_dir, force=args.force)
    if result["status"] == "complete":
        return 0
    print(f"run folder: {result['run_dir']} ({result['train_seconds']:.0f} s)")
    for split, metrics in result.get("eval", {}).items():
        p = metrics["standard"]["pooled"]
        print(f"{split}: IoU {p['iou']:.4f} F1 {p['f1']:.4f} PR-AUC {p['pr_auc']:.4f} "
              f"(threshold {metrics['standard']['threshold']:.3f}) "
              f"(report: {Path(result['run_dir']) / 'eval' / split})")
    print(f"preset (to share or pass to --model): {result['preset']}")
    return 0


def _cmd_tune(args):
    from hecl_keras.config import load_config
    from hecl_keras.tuning import tune, validate_tune_config

    config = load_config(args.config, args.set)
    validate_tune_config(config)
    rows = tune(config, out_dir=args.out)
    if rows:
        best = rows[0]
        print(f"{len(rows)} trials; best {config.tune.objective} = {best[config.tune.objective]} "
              f"(trial {best['trial']}); results and best_config.yaml in {args.out or config.run_dir}")
    return 0


def _cmd_export(args):
    from hecl_keras.config import load_config
    from hecl_keras.export import export_run_model
    from hecl_keras.inference.loading import find_run_config
    from hecl_keras.saving import load_model

    config_path = args.config or find_run_config(Path(args.model))
    config = load_config(config_path) if config_path else None
    if config is None and not args.input_size:
        print("No config.yaml next to the model: pass --input-size H W.", file=sys.stderr)
        return 2
    model = load_model(args.model)
    path, threshold = export_run_model(model, config, args.out, args.version, args.input_size, args.threshold)
    print(f"mask output at probability threshold {threshold:.4f}", file=sys.stderr)
    print(f"SavedModel written to {path} (serve with --model_base_path={Path(args.out).resolve()})")
    return 0


def _cmd_predict(args):
    from hecl_keras.inference.files import find_inputs, predict_files
    from hecl_keras.inference.loading import load_predictor
    from hecl_keras.progress import Progress

    paths, problems = find_inputs(args.inputs)
    predictor, threshold = load_predictor(args.model, args.config, tta=args.tta)
    if args.threshold is not None:
        threshold = args.threshold
    rows, failures = predict_files(predictor, paths, args.out, threshold, Progress(len(paths), "predicting"),
                                   problems=problems)
    for f in failures:
        print(f"error: {f['error']}", file=sys.stderr)
    print(f"{len(rows)} images predicted, {len(failures)} failed; outputs and summary.csv in {args.out}")
    return 1 if failures else 0


def _cmd_evaluate(args):
    from hecl_keras.config import load_config
    from hecl_keras.data.experiment import default_split, evaluation_items
    from hecl_keras.evaluation.runner import evaluate_model
    from hecl_keras.inference.loading import run_config_path
    from hecl_keras.saving import load_model

    model_path = Path(args.model)
    model = load_model(model_path)  # first: a file that is not a model is the error to report
    config_path = run_config_path(model_path, args.config)
    overrides = list(args.set or [])
    if args.data:
        overrides.append(f"data.source={args.data}")
    config = load_config(config_path, overrides)
    split = args.split or default_split(config.data)
    if split == "test" and config.data.source != "synthetic":
        print("Scoring the test split: use it once, for final numbers, never to choose settings.", file=sys.stderr)
    items, count = evaluation_items(config.data, split)
    print(f"scoring {count} images of split {split!r} of {config.data.source}", file=sys.stderr)
    protocols = ("standard", "paper") if args.protocol == "both" else (args.protocol,)
    evaluate_model(model, config, items, args.out, protocols=protocols, threshold=args.threshold)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="hecl", description="Hard-exudate segmentation with HECL (Keras 3).")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="inspect and preview data").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("inspect", help="check a dataset folder and summarise it")
    p.add_argument("path", help="IDRiD release root, or a folder with images/ and masks/ (or split folders)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--mask-suffix", default=None, help="mask stem suffix (default: _EX for IDRiD, none otherwise)")
    p.add_argument("--short-side", type=int, default=580,
                   help="working scale (data.short_side) at which the central luminance is measured (default 580)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=_cmd_data_inspect)

    p = data.add_parser("preview", help="write a picture of augmented training crops")
    p.add_argument("--config", default=None, help="experiment YAML (default: all defaults, synthetic data)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--count", type=int, default=8)
    p.add_argument("--out", default="augmented.png")
    p.set_defaults(func=_cmd_data_preview)

    p = data.add_parser("pack", help="write a compact pack of a config's data (train/val/test) for other machines")
    p.add_argument("config", help="experiment YAML whose data section is packed")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", required=True, help="destination .npz")
    p.set_defaults(func=_cmd_data_pack)

    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.epochs=5")
    p.add_argument("--run-dir", default=None, help="run folder (default run_dir/name); rerun to resume")
    p.add_argument("--force", action="store_true", help="train again even if the run folder holds a run")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="score a trained model on full-resolution images")
    p.add_argument("--model", required=True, help=".keras model")
    p.add_argument("--data", default=None, help="dataset folder (default: the run config's data.source)")
    p.add_argument("--split", default=None, choices=["train", "val", "test", "all"],
                   help="default: test if the data has one, else all (every pair of a flat images/ + masks/ folder)")
    p.add_argument("--protocol", default="both", choices=["standard", "paper", "both"])
    p.add_argument("--threshold", type=float, default=None,
                   help="mask threshold (default: the one chosen on validation after training, else 0.5)")
    p.add_argument("--config", default=None, help="run config (default: config.yaml next to the model)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("tune", help="KerasTuner search of the HECL hyper-parameters (tune.* in the config)")
    p.add_argument("config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default=None, help="search folder (default run_dir/<name>_tune); rerun to resume")
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("export", help="export a SavedModel for TensorFlow Serving")
    p.add_argument("--model", required=True, help=".keras model")
    p.add_argument("--out", required=True, help="model base path; the SavedModel goes to OUT/<version>/")
    p.add_argument("--version", type=int, default=1)
    p.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="signature input size (default: the run config's augment.crop_size)")
    p.add_argument("--threshold", type=float, default=None,
                   help="threshold of the mask output (default: the one chosen on validation after training)")
    p.add_argument("--config", default=None)
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("predict", help="full-resolution prediction of image files or folders")
    p.add_argument("--model", required=True, help=".keras model or exported SavedModel folder")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True)
    p.add_argument("--tta", nargs="?", const="hflip", default=None, choices=CLI_TTA_MODES,
                   help="test-time augmentation: none, hflip (the default of a bare --tta), flips (4 views) or d4 "
                        "(8); default: the run's eval.tta")
    p.add_argument("--threshold", type=float, default=None,
                   help="mask threshold (default: the model's, chosen on validation after training)")
    p.add_argument("--config", default=None, help="run config (default: config.yaml next to a .keras model)")
    p.set_defaults(func=_cmd_predict)
    return parser


def _one_line_warning(message, category, filename, lineno, line=None):
    return f"warning: {message}\n"


def main(argv=None):
    import warnings

    from hecl_keras.config import ConfigError
    from hecl_keras.data.errors import DataError

    warnings.formatwarning = _one_line_warning  # users see the message, not the library's source line

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataError, FileNotFoundError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
