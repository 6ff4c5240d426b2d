"""The ``hecl`` command line: ``hecl data inspect``, ``hecl data preview``, ``hecl train``, ``hecl evaluate``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_data_inspect(args):
    from hecl_keras.data.errors import DataError
    from hecl_keras.data.inspect import inspect_dataset
    from hecl_keras.progress import Progress

    bar = None if args.quiet else Progress(0, "reading pairs")
    try:
        report = inspect_dataset(args.path, mask_suffix=args.mask_suffix, progress=bar)
    except DataError as exc:
        report = {"path": str(args.path), "splits": {}, "problems": [str(exc)]}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, s in report["splits"].items():
            lf = s.get("lesion_fraction")
            frac = f"lesion fraction min {lf['min']:.4%} median {lf['median']:.4%} max {lf['max']:.4%}" if lf else ""
            print(f"{name}: {s['images']} images, {s['masks']} masks, {s['pairs']} readable pairs, "
                  f"sizes {s['image_sizes']}, {s['lesion_free']} lesion-free; {frac}")
        for p in report["problems"]:
            print(f"PROBLEM: {p}")
        if not report["problems"]:
            print("no problems found")
    return 1 if report["problems"] else 0


def _cmd_data_preview(args):
    import numpy as np

    from hecl_keras.config import load_config
    from hecl_keras.data.pipeline import AugmentedBatches
    from hecl_keras.evaluation.report import write_png
    from hecl_keras.evaluation.runner import contact_sheet
    from hecl_keras.training.callbacks import overlay_batch
    from hecl_keras.training.data import load_experiment_data
    from hecl_keras.training.trainer import augment_config

    config = load_config(args.config, args.set)
    data = load_experiment_data(config.data)
    batches = AugmentedBatches(data.train, args.count, augment_config(config), seed=config.train.seed)
    x, y = batches[0]
    pictures = list(overlay_batch(x, y, np.zeros_like(y)))
    write_png(args.out, contact_sheet([np.asarray(p) for p in pictures], columns=min(4, len(pictures))))
    print(f"wrote {args.count} augmented training crops (lesions tinted green) to {args.out}")
    return 0


def _cmd_train(args):
    from hecl_keras.config import load_config
    from hecl_keras.training.trainer import train

    config = load_config(args.config, args.set)
    result = train(config, run_dir=args.run_dir)
    print(f"run folder: {result['run_dir']} ({result['train_seconds']:.0f} s)")
    for split, metrics in result.get("eval", {}).items():
        p = metrics["standard"]["pooled"]
        print(f"{split}: IoU {p['iou']:.4f} F1 {p['f1']:.4f} PR-AUC {p['pr_auc']:.4f} "
              f"(report: {Path(result['run_dir']) / 'eval' / split})")
    return 0


def _find_run_config(model_path: Path):
    for folder in [model_path.parent, *model_path.parents]:
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
        if folder == folder.parent:
            break
    return None


def _cmd_evaluate(args):
    import keras

    from hecl_keras.config import load_config
    from hecl_keras.evaluation.runner import evaluate_model
    from hecl_keras.training.data import load_experiment_data

    model_path = Path(args.model)
    config_path = args.config or _find_run_config(model_path)
    if config_path is None:
        print("No config.yaml found next to the model; pass --config (it sets the working scale and tile size).",
              file=sys.stderr)
        return 2
    overrides = list(args.set or [])
    if args.data:
        overrides.append(f"data.source={args.data}")
    config = load_config(config_path, overrides)
    if args.split == "test" and config.data.source != "synthetic":
        print("Scoring the test split: use it once, for final numbers, never to choose settings.", file=sys.stderr)
    model = keras.saving.load_model(model_path)
    data = load_experiment_data(config.data)
    if not data.split.get(args.split):
        print(f"Split {args.split!r} is empty or missing in {config.data.source}.", file=sys.stderr)
        return 2
    protocols = ("standard", "paper") if args.protocol == "both" else (args.protocol,)
    evaluate_model(model, config, data.originals(args.split), args.out, protocols=protocols)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="hecl", description="Hard-exudate segmentation with HECL (Keras 3).")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="inspect and preview data").add_subparsers(dest="data_command", required=True)
    p = data.add_parser("inspect", help="check a dataset folder and summarise it")
    p.add_argument("path", help="IDRiD release root, or a folder with images/ and masks/ (or split folders)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--mask-suffix", default=None, help="mask stem suffix (default: _EX for IDRiD, none otherwise)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=_cmd_data_inspect)

    p = data.add_parser("preview", help="write a picture of augmented training crops")
    p.add_argument("--config", default=None, help="experiment YAML (default: all defaults, synthetic data)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--count", type=int, default=8)
    p.add_argument("--out", default="augmented.png")
    p.set_defaults(func=_cmd_data_preview)

    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.epochs=5")
    p.add_argument("--run-dir", default=None, help="run folder (default run_dir/name); rerun to resume")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="score a trained model on full-resolution images")
    p.add_argument("--model", required=True, help=".keras model")
    p.add_argument("--data", default=None, help="dataset folder (default: the run config's data.source)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--protocol", default="both", choices=["standard", "paper", "both"])
    p.add_argument("--config", default=None, help="run config (default: config.yaml next to the model)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cmd_evaluate)
    return parser


def main(argv=None):
    from hecl_keras.config import ConfigError
    from hecl_keras.data.errors import DataError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
