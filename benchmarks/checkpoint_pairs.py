"""Two checkpoints of the same runs, paired by run: e.g. the weight average against the monitor's epoch (issue #12).

A run with ``train.swa_epochs`` holds both models (``checkpoints/best.keras``: the average,
``best_epoch.keras``: the epoch the monitor chose), so each run is a pair that differs in the model alone.
Score each checkpoint with :mod:`benchmarks.tta` (``--out`` writes ``{run: rows}``), then::

    python -m benchmarks.tta RUN... --modes none d4 --checkpoint best_epoch.keras --out epoch.json
    python -m benchmarks.tta RUN... --modes none d4 --out swa.json
    python -m benchmarks.checkpoint_pairs --baseline best_epoch epoch.json --variant swa swa.json --out pairs.json

Several ``--out`` files per side are merged (one file per run is fine). Prints, per TTA mode and score, each
side's mean +- sample std over runs and the paired difference (variant - baseline) with its 95 % t interval
(:func:`benchmarks.seeds.paired_difference`).

Two variants trained in separate runs pair by seed instead (``--pair-by seed``: the run folders' ``_s<N>``
suffix, as :mod:`benchmarks.seeds` names them), e.g. HECL against the supervised model of the same seed::

    python -m benchmarks.checkpoint_pairs --pair-by seed --baseline supervised base_s*.json \
        --variant hecl hecl_s*.json --out hecl_paired.json

The JSON then also holds ``seeds`` and, per mode, ``pr_auc_difference`` and ``f1_difference`` (test split).

A side can also come from a comparison this module wrote before (``FILE:baseline`` or ``FILE:variant``), e.g. when
the runs and their ``benchmarks.tta`` files are gone but ``docs/results/*_paired.json`` holds their scores::

    python -m benchmarks.checkpoint_pairs --pair-by seed \
        --baseline gamma docs/results/camera_gamma_paired.json:variant \
        --variant localmean docs/results/camera_localmean_paired.json:variant localmean_s1.json localmean_s2.json
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from benchmarks.seeds import format_summary, paired_difference, summarize

SCORES = ("val_pr_auc", "val_f1", "test_pr_auc", "test_f1")
SIDES = ("baseline", "variant")


def rows_from_comparison(comparison, side):
    """One side of a stored comparison (:func:`compare`'s JSON) as :mod:`benchmarks.tta` rows, ``{run: [row, ...]}``.

    The runs are the side's own folders when the comparison paired by seed (``baseline_runs``/``variant_runs``),
    else the shared ``runs``; every mode and score the comparison holds comes back.
    """
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}. Received: {side!r}")
    if "modes" not in comparison or "runs" not in comparison:
        raise ValueError("not a comparison written by benchmarks.checkpoint_pairs (no 'runs'/'modes')")
    runs = comparison.get(f"{side}_runs", comparison["runs"])
    return {run: [{"mode": mode, **{score: scores[score][side][i] for score in SCORES}}
                  for mode, scores in comparison["modes"].items()]
            for i, run in enumerate(runs)}


def read_side(file):
    """``{run: [row, ...]}`` from a :mod:`benchmarks.tta` ``--out`` file, or ``FILE:baseline``/``FILE:variant``
    (:func:`rows_from_comparison`) from a comparison written by this module."""
    path, _, side = str(file).rpartition(":")
    if path and side in SIDES:
        return rows_from_comparison(json.loads(Path(path).read_text()), side)
    return json.loads(Path(file).read_text())


def merge_rows(files):
    """``{run: {mode: row}}`` from :mod:`benchmarks.tta` ``--out`` files (``{run: [row, ...]}`` each) or stored
    comparisons' sides (:func:`read_side`); a run in several files keeps every mode, the last file's row winning."""
    merged = {}
    for file in files:
        for run, rows in read_side(file).items():
            merged.setdefault(run, {}).update({row["mode"]: row for row in rows})
    return merged


def seed_of(run):
    """The seed in a run folder's name (``.../hecl_s2`` -> 2); ValueError when the name has no ``_s<N>`` suffix."""
    match = re.search(r"_s(\d+)$", Path(str(run)).name)
    if match is None:
        raise ValueError(f"cannot pair by seed: run {run!r} does not end in _s<seed>")
    return int(match.group(1))


def by_seed(rows):
    """``{run: value}`` re-keyed: ``({seed: run}, {seed: value})``; ValueError when two runs share a seed."""
    runs, values = {}, {}
    for run, value in rows.items():
        seed = seed_of(run)
        if seed in runs:
            raise ValueError(f"two runs of one side have seed {seed}: pass one run per seed")
        runs[seed], values[seed] = run, value
    return runs, values


def compare(baseline, variant, pair_by="run"):
    """Per mode and score: both sides' values in run order, their summaries, and the paired difference.

    Args:
        baseline, variant: ``{run: {mode: row}}`` (:func:`merge_rows`); runs and modes present in both are used.
        pair_by: ``run`` (two checkpoints of the same runs) or ``seed`` (separate runs, paired by the seed
            suffix of their folder names).

    Returns:
        ``{"runs": [...], "modes": {mode: {score: {"baseline": [...], "variant": [...], "baseline_summary",
        "variant_summary", "difference"}}}}``; by seed also ``"seeds"``, ``"baseline_runs"``, ``"variant_runs"``
        and, per mode, ``"pr_auc_difference"``/``"f1_difference"`` (the test split's).
    """
    if pair_by not in ("run", "seed"):
        raise ValueError(f"pair_by must be 'run' or 'seed'. Received: {pair_by!r}")
    if pair_by == "seed":
        (baseline_runs, baseline), (variant_runs, variant) = by_seed(baseline), by_seed(variant)
    runs = sorted(set(baseline) & set(variant))
    if not runs:
        raise ValueError(f"no {pair_by} is scored on both sides: baseline {sorted(baseline)}, "
                         f"variant {sorted(variant)}")
    modes = [m for m in baseline[runs[0]] if all(m in baseline[r] and m in variant[r] for r in runs)]
    out = {"runs": runs, "modes": {}}
    for mode in modes:
        out["modes"][mode] = {}
        for score in SCORES:
            a = [baseline[r][mode][score] for r in runs]
            b = [variant[r][mode][score] for r in runs]
            out["modes"][mode][score] = {"baseline": a, "variant": b, "baseline_summary": summarize(a),
                                         "variant_summary": summarize(b), "difference": paired_difference(b, a)}
        if pair_by == "seed":
            out["modes"][mode]["pr_auc_difference"] = out["modes"][mode]["test_pr_auc"]["difference"]
            out["modes"][mode]["f1_difference"] = out["modes"][mode]["test_f1"]["difference"]
    if pair_by == "seed":
        out.update(seeds=runs, baseline_runs=[baseline_runs[seed] for seed in runs],
                   variant_runs=[variant_runs[seed] for seed in runs])
    return out


def table(result, baseline_name, variant_name):
    """Markdown: one row per mode and score."""
    def spread(summary):
        return format_summary(summary, digits=3, plus_minus="+-")

    paired = "seeds" if "seeds" in result else "runs"
    lines = [f"\n{len(result['runs'])} pairs ({paired}): {variant_name} - {baseline_name}\n",
             f"| mode | score | {baseline_name} | {variant_name} | difference | 95 % t interval | per run |",
             "|---|---|---|---|---|---|---|"]
    for mode, scores in result["modes"].items():
        for score in SCORES:
            cell = scores[score]
            d = cell["difference"]
            interval = "" if d["interval"] is None else f"[{d['interval'][0]:+.3f}, {d['interval'][1]:+.3f}]"
            lines.append(f"| {mode} | {score} | {spread(cell['baseline_summary'])} | {spread(cell['variant_summary'])} "
                         f"| {d['mean']:+.3f} | {interval} | {', '.join(f'{x:+.3f}' for x in d['per_seed'])} |")
    return "\n".join(lines)


def _smoke_files(folder):
    """Two tiny --out files of benchmarks.tta (smoke mode) with a shifted copy as the variant."""
    from benchmarks import tta

    rows = tta.score_modes(*tta._smoke_inputs(), ["none", "hflip"])
    shifted = [{**r, **{k: r[k] + 0.01 for k in SCORES}} for r in rows]
    (folder / "a.json").write_text(json.dumps({"r0": rows, "r1": rows}))
    (folder / "b.json").write_text(json.dumps({"r0": shifted, "r1": shifted}))
    return [folder / "a.json"], [folder / "b.json"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for side in SIDES:
        parser.add_argument(f"--{side}", nargs="+", metavar=("NAME", "FILE"),
                            help="a name, then tta --out files (or FILE:baseline / FILE:variant of a stored "
                                 "comparison)")
    parser.add_argument("--pair-by", choices=("run", "seed"), default="run",
                        help="run: two checkpoints of the same runs (default); seed: separate runs, by _s<N>")
    parser.add_argument("--out", default=None, help="write the comparison as JSON here")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        import tempfile

        folder = Path(tempfile.mkdtemp())
        files_a, files_b = _smoke_files(folder)
        args.baseline, args.variant = ["a", *files_a], ["b", *files_b]
    for side in SIDES:
        if not getattr(args, side) or len(getattr(args, side)) < 2:
            parser.error(f"--{side} needs a name and at least one file")
    result = compare(merge_rows(args.baseline[1:]), merge_rows(args.variant[1:]), args.pair_by)
    result.update(baseline=args.baseline[0], variant=args.variant[0])
    print(table(result, args.baseline[0], args.variant[0]))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
