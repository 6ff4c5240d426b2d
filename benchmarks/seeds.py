"""Variants x seeds: train every pair, score each model on the test split once, compare paired by seed.

A study is a small YAML file::

    name: recipe_ablation                 # -> docs/results/recipe_ablation.{json,md}
    config: configs/idrid_unetpp_cpu.yaml
    set: [train.epochs=24]                # overrides for every run
    seeds: [0, 1, 2]
    baseline: base                        # differences are variant - baseline, per seed
    variants:
      base: []
      lesion_crops: [augment.crop_sampling=window, augment.lesion_fraction=0.5]

Each run is ``hecl train CONFIG --run-dir RUNS/<variant>_s<seed> --set train.seed=<seed> ...`` in a
fresh process, so the study is resumable: rerun the same command and finished runs are skipped
(``hecl train`` says the run is complete), an interrupted one resumes from its last epoch. Model
selection and the decision threshold come from the validation split; the test split is scored once
per model, after training (``eval.after_training`` gets ``test``).

Usage::

    python -m benchmarks.seeds study.yaml --runs runs/recipe_ablation
    python -m benchmarks.seeds study.yaml --runs /tmp/s --set train.epochs=1 --results /tmp/results   # a try-out
    python -m benchmarks.seeds study.yaml --runs runs/recipe_ablation --seeds 0    # seed 0 of every variant now
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

METRICS = ("pr_auc", "f1", "iou", "roc_auc")
# Two-sided 95 % Student t quantiles by degrees of freedom (beyond 30: the normal's 1.96).
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}


def t_quantile(df):
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (table, rounded down in df)."""
    if df > 30:
        return 1.96
    return T975[max(k for k in T975 if k <= df)]


def summarize(values):
    """``{"mean", "std" (sample, ddof 1; None for one value), "n"}``."""
    values = [float(v) for v in values]
    return {"mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else None, "n": len(values)}


def paired_difference(variant, baseline):
    """Per-seed differences ``variant - baseline`` with their mean and a 95 % t interval.

    Args:
        variant, baseline: equal-length lists of scores, paired by seed.
    """
    diffs = [a - b for a, b in zip(variant, baseline)]
    s = summarize(diffs)
    if s["std"] is None:
        return {**s, "per_seed": diffs, "interval": None}
    half = t_quantile(len(diffs) - 1) * s["std"] / math.sqrt(len(diffs))
    return {**s, "per_seed": diffs, "interval": [s["mean"] - half, s["mean"] + half]}


def load_study(path, extra_sets=(), seeds=None, variants=None):
    """The study of a YAML file, with ``extra_sets`` appended to its overrides and, given ``seeds``, only
    those of its seeds (a study's first seed now, the rest later: the same runs folder resumes); given
    ``variants``, only those and the baseline (kept so that every variant stays paired)."""
    study = yaml.safe_load(Path(path).read_text())
    for key in ("name", "config", "seeds", "variants"):
        if key not in study:
            raise SystemExit(f"{path}: missing key {key!r}")
    if seeds:
        unknown = sorted(set(seeds) - set(study["seeds"]))
        if unknown:
            raise SystemExit(f"{path}: seeds {unknown} are not among the study's seeds {study['seeds']}")
        study["seeds"] = [s for s in study["seeds"] if s in seeds]
    study.setdefault("set", [])
    study["set"] = list(study["set"]) + list(extra_sets)
    study.setdefault("baseline", next(iter(study["variants"])))
    if study["baseline"] not in study["variants"]:
        raise SystemExit(f"{path}: baseline {study['baseline']!r} is not a variant")
    if variants:
        unknown = sorted(set(variants) - set(study["variants"]))
        if unknown:
            raise SystemExit(f"{path}: variants {unknown} are not among the study's {list(study['variants'])}")
        keep = {study["baseline"], *variants}
        study["variants"] = {name: v for name, v in study["variants"].items() if name in keep}
    return study


def run_one(study, variant, seed, runs, config_dir):
    """Trains (or resumes, or skips) one run; returns its result.json."""
    run_dir = Path(runs) / f"{variant}_s{seed}"
    overrides = [*study["set"], *study["variants"][variant], f"train.seed={seed}",
                 "eval.after_training=[val, test]"]
    config = Path(study["config"])
    if not config.is_absolute():
        config = config_dir / config
    command = [sys.executable, "-m", "hecl_keras.cli", "train", str(config), "--run-dir", str(run_dir)]
    for o in overrides:
        command += ["--set", o]
    print(f"[{time.strftime('%H:%M:%S')}] {variant} seed {seed}: {run_dir}", flush=True)
    done = subprocess.run(command)
    if done.returncode != 0:
        raise SystemExit(f"training {variant} seed {seed} failed (exit {done.returncode}); rerun to resume")
    return json.loads((run_dir / "result.json").read_text())


def collect(study, results):
    """The study's JSON: per variant and seed the test scores, summaries and paired differences."""
    seeds = list(study["seeds"])
    out = {"name": study["name"], "config": study["config"], "set": study["set"], "seeds": seeds,
           "baseline": study["baseline"], "variants": {}}
    for variant in study["variants"]:
        rows = [results[(variant, s)] for s in seeds]
        scores = {m: [r["eval"]["test"]["standard"]["pooled"][m] for r in rows] for m in METRICS}
        out["variants"][variant] = {
            "overrides": study["variants"][variant],
            "per_seed": {m: scores[m] for m in METRICS},
            "threshold": [r.get("threshold", {}).get("threshold") for r in rows],
            "train_seconds": [r["train_seconds"] for r in rows],
            "summary": {m: summarize(scores[m]) for m in METRICS},
        }
    base = out["variants"][study["baseline"]]["per_seed"]
    for variant, v in out["variants"].items():
        if variant != study["baseline"]:
            for m in METRICS:
                v[f"{m}_difference"] = paired_difference(v["per_seed"][m], base[m])
    return out


def format_summary(summary, digits=4, plus_minus="±"):
    """``mean ± std`` of a :func:`summarize` result (the mean alone for one value)."""
    if summary["std"] is None:
        return f"{summary['mean']:.{digits}f}"
    return f"{summary['mean']:.{digits}f} {plus_minus} {summary['std']:.{digits}f}"


def markdown(out):
    lines = [f"## {out['name']}", "", f"`{out['config']}` with `{' '.join(out['set']) or '(no overrides)'}`, "
             f"seeds {out['seeds']}; test split, pooled, at each model's validation-chosen threshold; "
             "mean ± sample std.", "",
             "| variant | PR-AUC | F1 | IoU | ROC-AUC | train minutes (mean) |", "|---|---|---|---|---|---|"]
    for name, v in out["variants"].items():
        s = v["summary"]
        minutes = statistics.fmean(v["train_seconds"]) / 60
        cells = " | ".join(format_summary(s[m]) for m in METRICS)
        lines.append(f"| {name} | {cells} | {minutes:.1f} |")
    others = [n for n in out["variants"] if n != out["baseline"]]
    if others:
        lines += ["", f"Paired by seed, variant - {out['baseline']} (mean, 95 % t interval, per seed):", "",
                  "| variant | PR-AUC difference | F1 difference |", "|---|---|---|"]
        for name in others:
            cells = []
            for m in ("pr_auc", "f1"):
                d = out["variants"][name][f"{m}_difference"]
                interval = "n/a" if d["interval"] is None else f"[{d['interval'][0]:+.4f}, {d['interval'][1]:+.4f}]"
                cells.append(f"{d['mean']:+.4f} {interval} ({', '.join(f'{x:+.3f}' for x in d['per_seed'])})")
            lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("study", help="study YAML (name, config, set, seeds, baseline, variants)")
    parser.add_argument("--runs", required=True, help="folder of the runs (resumable)")
    parser.add_argument("--results", default="docs/results", help="where <name>.json and <name>.md go")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra override, every run")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="only these of the study's seeds (the JSON and table then cover only them)")
    parser.add_argument("--variants", nargs="+", default=None,
                        help="only these variants and the baseline (the JSON and table then cover only them)")
    args = parser.parse_args(argv)
    study = load_study(args.study, args.set, args.seeds, args.variants)
    config_dir = Path.cwd()
    results = {}
    for seed in study["seeds"]:  # seed-major: a cut-short study still holds complete pairs
        for variant in study["variants"]:
            results[(variant, seed)] = run_one(study, variant, seed, args.runs, config_dir)
    out = collect(study, results)
    folder = Path(args.results)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{study['name']}.json").write_text(json.dumps(out, indent=2))
    table = markdown(out)
    (folder / f"{study['name']}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
