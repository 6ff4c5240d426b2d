"""How much a split's pooled F1 depends on which images it holds: can validation tell two models apart?

Reads the reports ``hecl train`` / ``hecl evaluate`` write (``RUN/eval/<split>/metrics.json``: per
image precision, recall and lesion fraction at the model's threshold), rebuilds each image's pixel
counts (TP, FP, FN, up to one common scale: IDRiD's photographs all have one size, and pooled F1 does
not depend on the scale), and resamples images (bootstrap) to show:

- how many images the split's pooled score rests on (effective images: 1 / sum of squared shares of
  the lesion pixels; lesion burden is heavy-tailed, so one image can hold most of them);
- each run's pooled F1 on the split with a 95 % interval over images, and the spread (std) the same
  score would have on a split of ``--sizes`` images drawn like these (m-out-of-n bootstrap: 12
  draws from a 6-image split approximates a 12-image split of images like those 6);
- for each pair of runs scored on the same images, the F1 difference with a 95 % interval from
  resampling the images jointly (paired). The bootstrap knows only these images: on a split that
  rests on few effective images its intervals are too narrow (RESULTS section 18: IDRiD's default
  validation split ranked two seeds one way in every draw, the test split the other way).

With ``--data`` instead of runs, the same count for validation splits of a dataset's training images
(masks only, no model): the split ``data.split_seed`` gives against random ones.

Nothing here chooses a model; run it on the validation split (the default) and the training images.

Usage::

    python -m benchmarks.split_noise runs/ablation/unet_effb0_precise_bn_e30_s{0,1,2}
    python -m benchmarks.split_noise RUN_A RUN_B --split val --sizes 6 12 24 --draws 4000
    python -m benchmarks.split_noise --data ../shared/data/IDRiD --val-counts 6 12   # splits, before training
    python -m benchmarks.split_noise --smoke     # two synthetic reports (CI)
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

import numpy as np

from hecl_keras.data.split_balance import effective_images


def image_counts(metrics):
    """Per-image (TP, FP, FN) from a report's ``per_image`` rows, as fractions of the image's pixels.

    Args:
        metrics: the ``standard`` protocol dict of a ``metrics.json`` (``per_image``: dicts with
            ``id``, ``precision``, ``recall``, ``lesion_fraction``).

    Returns:
        (ids, counts): list of n ids, float (n, 3) array. An image with no predicted lesion pixel
        (precision 0 and recall 0) gets FP 0: its false positives, if any, cannot be rebuilt.
    """
    ids, rows = [], []
    for row in metrics["per_image"]:
        positives = float(row["lesion_fraction"])
        tp = float(row["recall"]) * positives
        fp = tp / float(row["precision"]) - tp if row["precision"] > 0 else 0.0
        ids.append(row["id"])
        rows.append((tp, fp, positives - tp))
    return ids, np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def pooled_f1(counts):
    """Pooled F1 of (..., n, 3) counts summed over images: 2 TP / (2 TP + FP + FN); 0 where undefined."""
    tp, fp, fn = np.moveaxis(counts.sum(axis=-2), -1, 0)
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1e-300), 0.0)


def resampled_f1(counts, size, draws, rng):
    """Pooled F1 of ``draws`` resamples of ``size`` images drawn with replacement from (n, 3) counts -> (draws,)."""
    index = rng.integers(0, len(counts), size=(draws, size))
    return pooled_f1(counts[index])


def paired_difference(counts_a, counts_b, draws, rng):
    """F1(a) - F1(b) over the same resampled images; (n, 3) counts each, same image order -> (draws,)."""
    index = rng.integers(0, len(counts_a), size=(draws, len(counts_a)))
    return pooled_f1(counts_a[index]) - pooled_f1(counts_b[index])


def load_report(run, split):
    """``(reported pooled F1, ids, counts)`` of ``RUN/eval/<split>/metrics.json``."""
    path = Path(run) / "eval" / split / "metrics.json"
    if not path.exists():
        raise SystemExit(f"{path}: no report (score the run with `hecl evaluate --split {split}` first)")
    standard = json.loads(path.read_text())["standard"]
    ids, counts = image_counts(standard)
    return standard["pooled"]["f1"], ids, counts


def interval(values):
    low, high = np.percentile(values, [2.5, 97.5])
    return f"[{low:.3f}, {high:.3f}]"


def report(runs, split="val", sizes=(6, 12, 24), draws=4000, seed=0):
    """The two Markdown tables (per run; per pair of runs) as one string."""
    rng = np.random.default_rng(seed)
    loaded = {str(run): load_report(run, split) for run in runs}
    lines = [f"Split `{split}`; {draws} bootstrap draws of images per figure.", "",
             "| run | images | effective images (largest share) | F1 (reported) | F1 (rebuilt) | "
             "95 % interval over images | " + " | ".join(f"std, {k} images" for k in sizes) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(sizes)]
    for run, (reported, ids, counts) in loaded.items():
        spread = [f"{resampled_f1(counts, k, draws, rng).std(ddof=1):.3f}" for k in sizes]
        effective, largest = effective_images(counts[:, 0] + counts[:, 2])  # TP + FN: the lesion pixels
        lines.append(f"| {Path(run).name} | {len(ids)} | {effective:.2f} ({largest:.2f}) | {reported:.4f} | "
                     f"{float(pooled_f1(counts)):.4f} | {interval(resampled_f1(counts, len(ids), draws, rng))} | "
                     + " | ".join(spread) + " |")
    pairs = [(a, b) for a, b in itertools.combinations(loaded, 2) if loaded[a][1] == loaded[b][1]]
    if pairs:
        lines += ["", "| pair (a - b) | F1 difference | 95 % interval, images resampled together "
                      "| share of draws > 0 |", "|---|---|---|---|"]
        for a, b in pairs:
            diffs = paired_difference(loaded[a][2], loaded[b][2], draws, rng)
            observed = float(pooled_f1(loaded[a][2]) - pooled_f1(loaded[b][2]))
            lines.append(f"| {Path(a).name} - {Path(b).name} | {observed:+.3f} | {interval(diffs)} | "
                         f"{np.mean(diffs > 0):.2f} |")
    return "\n".join(lines)


def training_set_lesions(source):
    """``{id: lesion fraction}`` of a dataset's training images (full-resolution masks)."""
    from hecl_keras.data.datasets import load_splits, training_split_name
    from hecl_keras.data.io import read_mask

    splits = load_splits(source)
    return {sample.id: float(read_mask(sample.mask_path).mean()) for sample in splits[training_split_name(splits)]}


def split_table(lesions, counts=(6, 12), split_seed=0, seeds=200):
    """Effective images of validation splits of ``lesions`` (``{id: fraction}``): the split of
    ``split_seed`` (as ``data.val_count``/``data.split_seed`` make it) against ``seeds`` random ones."""
    from hecl_keras.data.preprocess import validation_split

    ids = sorted(lesions)

    def effective(chosen):
        return effective_images([lesions[i] for i in chosen])

    whole, whole_largest = effective(ids)
    lines = [f"Training set: {len(ids)} images, {whole:.1f} effective images (largest share {whole_largest:.2f}).", "",
             f"| val_count | split seed {split_seed}: effective (largest share) | heaviest image | "
             f"{seeds} split seeds: median effective | 10-90 % |", "|---|---|---|---|---|"]
    for count in counts:
        chosen = validation_split(ids, count, split_seed)[1]
        own, largest = effective(chosen)
        others = [effective(validation_split(ids, count, seed)[1])[0] for seed in range(seeds)]
        low, median, high = np.percentile(others, [10, 50, 90])
        heaviest = max(chosen, key=lambda i: lesions[i])
        lines.append(f"| {count} | {own:.2f} ({largest:.2f}) | {heaviest} | {median:.2f} | {low:.2f}-{high:.2f} |")
    return "\n".join(lines)


def _synthetic_runs(folder, images=6, seed=0):
    """Two run folders with made-up validation reports (the smoke test's input)."""
    rng = np.random.default_rng(seed)
    runs = []
    for name in ("a", "b"):
        rows = [{"id": f"IMG_{i}", "precision": float(rng.uniform(0.3, 0.9)), "recall": float(rng.uniform(0.2, 0.8)),
                 "lesion_fraction": float(rng.uniform(1e-4, 0.05))} for i in range(images)]
        ids, counts = image_counts({"per_image": rows})
        path = Path(folder) / name / "eval" / "val"
        path.mkdir(parents=True)
        metrics = {"standard": {"pooled": {"f1": float(pooled_f1(counts))}, "per_image": rows}}
        (path / "metrics.json").write_text(json.dumps(metrics))
        runs.append(path.parents[1])
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="*", help="run folders holding eval/<split>/metrics.json")
    parser.add_argument("--split", default="val")
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 12, 24])
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", help="instead of runs: how validation splits of this dataset's training "
                        "images spread their lesion pixels (effective images per --val-counts)")
    parser.add_argument("--val-counts", type=int, nargs="+", default=[6, 12])
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="two synthetic reports, 200 draws")
    args = parser.parse_args(argv)
    if args.smoke:
        with tempfile.TemporaryDirectory() as folder:
            print(report(_synthetic_runs(folder), "val", sizes=(6, 12), draws=200))
        rng = np.random.default_rng(0)
        print(split_table({f"IMG_{i:02d}": float(f) for i, f in enumerate(rng.pareto(1.5, 30))}, (6,), seeds=20))
        return
    if args.data:
        print(split_table(training_set_lesions(args.data), args.val_counts, args.split_seed))
        return
    if not args.runs:
        parser.error("give at least one run folder, --data or --smoke")
    print(report(args.runs, args.split, args.sizes, args.draws, args.seed))


if __name__ == "__main__":
    main()
