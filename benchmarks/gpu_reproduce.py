"""The paper's full setting on one GPU under a time budget: UNet++ 32..512 alone vs HECL.

Runs with ``KERAS_BACKEND=jax`` on a machine without TensorFlow and without the
dataset: the data come from a pack made here with ``hecl data pack``. For each
variant: train from the same seed for ``--train-seconds`` (counted from the end of the first step;
learning rate halved after one and two thirds of the budget, as the paper does
after epochs 100 and 200), keep the weights with the best ``val_pr_auc``, then
score the IDRiD test set once with both protocols (METHOD.md section 6) and
print one table. The standard protocol is exact (working-scale sliding window
mapped back to the original resolution); the pack holds the masks at that resolution.

    KERAS_BACKEND=jax python -m benchmarks.gpu_reproduce --pack .pack/idrid.npz --out runs/gpu_reproduce

See ``benchmarks/gpu_reproduce.sh`` for the device-machine wrapper.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np

from hecl_keras.config import load_config
from hecl_keras.data.experiment import training_inputs
from hecl_keras.data.pack import load_pack
from hecl_keras.data.preprocess import PreprocessConfig
from hecl_keras.evaluation.protocols import evaluate_standard, score_paper
from hecl_keras.inference.predictor import Predictor, keras_predict_fn
from hecl_keras.metrics.pixel_curves import PooledCurves
from hecl_keras.models.build import build_compiled_model
from hecl_keras.training.callbacks import TimeBudget

HERE = Path(__file__).resolve().parents[1]
VARIANTS = {"unetpp": ["hecl.enabled=false"], "hecl": ["hecl.enabled=true"]}
TINY = ["model.base_filters=4", "model.options={depth: 3}", "augment.crop_size=[32,32]", "hecl.grid=4",
        "hecl.threshold=0.05", "train.batch_size=2"]


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def train_variant(config, pack, seconds, repeats, out_dir, work_dir, workers):
    """Trains one variant for ``seconds``; returns (model with the best weights, training facts)."""
    t = config.train
    keras.utils.set_random_seed(t.seed)
    config.train.repeats = repeats
    inputs = training_inputs(config, pack, pipeline="pydataset", workers=workers)
    batches, validation = inputs.train, inputs.validation
    model = build_compiled_model(config)
    best = work_dir / "best.weights.h5"
    # The first step (tracing, compilation, the GPU's autotuning: 40 s more for the first model of a
    # process than for the next, measured on an H200) is left out, so every variant trains equally long.
    budget = TimeBudget(seconds, initial_lr=t.learning_rate, count_compilation=False)
    history = model.fit(
        batches, epochs=t.epochs, validation_data=validation, validation_batch_size=t.batch_size, verbose=2,
        callbacks=[budget, inputs.sync_epoch,
                   keras.callbacks.ModelCheckpoint(str(best), monitor="val_pr_auc", mode="max",
                                                   save_best_only=True, save_weights_only=True),
                   keras.callbacks.CSVLogger(str(out_dir / "log.csv"))])
    pr_auc = history.history.get("val_pr_auc", [float("nan")])
    best_epoch = int(np.nanargmax(pr_auc)) + 1
    model.load_weights(best)
    facts = {"train_seconds": budget.elapsed(), "first_step_seconds": budget.first_step_seconds,
             "steps": budget.steps, "epochs": len(budget.epoch_seconds),
             "steps_per_epoch": len(batches), "first_epoch_seconds": budget.epoch_seconds[0],
             "seconds_per_step": budget.seconds_per_step(),
             "validation_seconds": sum(budget.validation_seconds), "best_epoch": best_epoch,
             "best_val_pr_auc": float(pr_auc[best_epoch - 1]), "stopped_by_budget": budget.stopped_early}
    return model, facts


def evaluate_variant(model, config, pack):
    """Both protocols on the pack's test images. Returns {"standard": pooled scores, "paper": scores}."""
    predict_fn = keras_predict_fn(model)
    e = config.eval
    predictor = Predictor(predict_fn, tuple(config.augment.crop_size), PreprocessConfig(**pack.meta["preprocess"]),
                          e.overlap, e.tta)

    def at_original_resolution(test_image):
        return test_image.transform.invert(predictor.predict_working(test_image.image))

    start = time.perf_counter()
    # The decision threshold is chosen on the validation images (at working scale), as hecl train does;
    # the paper protocol keeps the authors' 0.5.
    val_curves = PooledCurves()
    for pair in pack.val:
        val_curves.update(predictor.predict_working(pair.image), pair.mask)
    threshold = e.threshold if e.threshold is not None else val_curves.best_f1_threshold()[0]
    standard, _ = evaluate_standard(at_original_resolution, [(t.id, t, t.mask) for t in pack.test], threshold)
    paper = score_paper(predict_fn, ((t.id, t.paper_image, t.paper_mask) for t in pack.test), len(pack.test), 0.5)
    return {"standard": {**standard["pooled"], "threshold": threshold}, "paper": paper,
            "eval_seconds": time.perf_counter() - start}


def table(results):
    lines = [("| variant | steps | s/step | best epoch | val PR-AUC | standard IoU | F1 | precision | recall | "
              "PR-AUC | paper IoU | paper F1 | paper recall | paper AUC |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        tr, s, p = r["training"], r["standard"], r["paper"]
        lines.append(f"| {name} | {tr['steps']} | {tr['seconds_per_step']:.3f} | {tr['best_epoch']}/{tr['epochs']} | "
                     f"{tr['best_val_pr_auc']:.4f} | {s['iou']:.4f} | {s['f1']:.4f} | {s['precision']:.4f} | "
                     f"{s['recall']:.4f} | {s['pr_auc']:.4f} | {p['iou']:.4f} | {p['f1']:.4f} | {p['recall']:.4f} | "
                     f"{p['roc_auc']:.4f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pack", required=True, help="file from `hecl data pack`")
    parser.add_argument("--config", default=str(HERE / "configs" / "idrid_unetpp.yaml"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--variants", default="unetpp,hecl")
    parser.add_argument("--train-seconds", type=float, default=150.0, help="wall-clock budget per training")
    parser.add_argument("--repeats", type=int, default=5, help="crops per training image per epoch")
    parser.add_argument("--workers", type=int, default=4, help="threads preparing augmented batches")
    parser.add_argument("--out", default="runs/gpu_reproduce", help="results: table.md, results.json, per-variant logs")
    parser.add_argument("--work", default=None, help="checkpoints (default: --out); IDRiD-trained, never publish")
    parser.add_argument("--tiny", action="store_true", help="tiny model and crops (CPU smoke test)")
    parser.add_argument("--deadline-seconds", type=float, default=None,
                        help="finish everything within this many seconds of the start: each variant's training "
                             "budget becomes min(--train-seconds, its share of the time left after the evaluation "
                             "and set-up time it is expected to need); a variant left with under 30 s (or under "
                             "--train-seconds if less) is not run")
    parser.add_argument("--eval-reserve", type=float, default=90.0,
                        help="seconds expected per variant beyond training (set-up, compilation of inference, both "
                             "protocols), until the first variant has measured it")
    parser.add_argument("--race", default=None, help="JSON from train_throughput --race, embedded in results.json")
    args = parser.parse_args(argv)
    start = time.monotonic()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log(f"backend {keras.backend.backend()}, keras {keras.__version__}, devices: {_devices()}")
    pack = load_pack(args.pack)
    log(f"pack {args.pack}: {len(pack.train)} train, {len(pack.val)} val, {len(pack.test)} test images")
    names = args.variants.split(",")
    for name in names:
        if name not in VARIANTS:
            parser.error(f"unknown variant {name!r}; choose from {sorted(VARIANTS)}")
    summary = {"device": _device_name(), "backend": keras.backend.backend(), "keras": keras.__version__,
               "config": str(args.config), "overrides": args.set, "variants": {}, "not_run": []}
    if args.race and Path(args.race).exists():
        summary["race"] = json.loads(Path(args.race).read_text())

    def save():
        (out / "results.json").write_text(json.dumps(summary, indent=2))

    reserve, cap = args.eval_reserve, args.train_seconds
    for k, name in enumerate(names):
        seconds = cap
        if args.deadline_seconds is not None:
            left, n_left = args.deadline_seconds - (time.monotonic() - start), len(names) - k
            seconds = min(cap, left / n_left - reserve)
            if seconds < min(30.0, cap):  # less than 30 s of training (or than asked for) is not worth a row
                log(f"{name}: not run ({left:.0f} s left for {n_left} variant(s), {reserve:.0f} s each beyond "
                    "training)")
                summary["not_run"].append(name)
                save()
                continue
        began = time.monotonic()
        config = load_config(args.config, (TINY if args.tiny else []) + args.set + VARIANTS[name])
        run, work = out / name, Path(args.work or out) / name
        run.mkdir(exist_ok=True)
        work.mkdir(parents=True, exist_ok=True)
        cap = seconds  # a later variant never trains longer than an earlier one (a fair comparison)
        log(f"training {name} for {seconds:.0f} s")
        model, facts = train_variant(config, pack, seconds, args.repeats, run, work, args.workers)
        log(f"{name}: {facts['steps']} steps in {facts['train_seconds']:.0f} s; evaluating on the test set")
        summary["variants"][name] = {"training": {"budget_seconds": seconds, **facts},
                                     **evaluate_variant(model, config, pack)}
        reserve = 1.1 * (time.monotonic() - began - facts["train_seconds"])  # measured, with a margin
        save()
        keras.backend.clear_session()
    text = table(summary["variants"])
    (out / "table.md").write_text(text + "\n")
    save()
    print(text)
    return 0 if summary["variants"] else 1


def _device_name():
    """The accelerator's name as JAX reports it (e.g. "NVIDIA H200"), else the backend's device."""
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        return getattr(device, "device_kind", str(device))
    return "see backend"


def _devices():
    if keras.backend.backend() == "jax":
        import jax

        return ", ".join(str(d) for d in jax.devices())
    return "see backend"


if __name__ == "__main__":
    sys.exit(main())
