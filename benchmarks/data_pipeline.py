"""Data pipeline throughput vs the training step it feeds (one run, side by side).

Measures, on this machine:
  * cold: batches/s of augmented 512x512 batches of 6 with an empty preprocessing cache
    (every JPEG decoded, FOV-cropped and resized);
  * warm: the same with the cache filled (the arrays load from disk);
  * pipeline: batches/s of the tf.data pipeline once the pairs are in memory (what fit() sees);
  * train step: steps/s of a UNet-like model (U-Net, 16.. filters) on the same batch.
    (A UNet++ step at 512x512 x 6 does not fit in 24 GB of RAM under TensorFlow on CPU.)
Goal: warm pipeline >= 5x the training step rate.

    python -m benchmarks.data_pipeline --data ../shared/data/IDRiD
    python -m benchmarks.data_pipeline --smoke          # tiny synthetic run (CI)
"""

import argparse
import os
import tempfile
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/IDRiD")
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--images", type=int, default=18, help="training images to load")
    parser.add_argument("--batches", type=int, default=20, help="batches timed per pipeline measurement")
    parser.add_argument("--filters", type=int, default=16, help="base filters of the step comparator")
    parser.add_argument("--backbone", default="unet", help="backbone of the step comparator")
    parser.add_argument("--smoke", action="store_true", help="tiny synthetic run")
    args = parser.parse_args(argv)

    import keras

    from hecl_keras.data import (
        ArrayCache,
        AugmentConfig,
        PreprocessConfig,
        load_pair,
        load_splits,
        synthetic_pairs,
        tf_training_dataset,
    )
    from hecl_keras.models import get_backbone
    from hecl_keras.models.segmenter import Segmenter

    if args.smoke:
        args.crop, args.batch, args.images, args.batches, args.filters = 64, 2, 4, 3, 4
    aug = AugmentConfig(crop_size=(args.crop, args.crop))
    rows = []

    with tempfile.TemporaryDirectory() as cache_dir:
        cache = ArrayCache(cache_dir)
        if args.smoke:
            pairs_fn = lambda: synthetic_pairs(args.images, 128, 160)  # noqa: E731
            source = "synthetic"
        else:
            samples = load_splits(args.data)["train"][: args.images]
            pairs_fn = lambda: [load_pair(s, PreprocessConfig(), cache) for s in samples]  # noqa: E731
            source = f"IDRiD ({len(samples)} training images)"

        def timed_epoch(label):
            start = time.perf_counter()
            pairs = pairs_fn()
            load = time.perf_counter() - start
            repeats = max(1, args.batches * args.batch // len(pairs) + 1)
            ds = tf_training_dataset(pairs, args.batch, aug, repeats=repeats)
            it = iter(ds)
            next(it)  # build the graph
            t0 = time.perf_counter()
            for _ in range(args.batches):
                next(it)
            per_batch = (time.perf_counter() - t0) / args.batches
            # Loading happens once per process; spread it over one pass of the data.
            batches_per_pass = max(1, len(pairs) // args.batch)
            rate = 1.0 / (per_batch + load / batches_per_pass)
            rows.append((label, rate,
                         f"load {load:.1f}s for {len(pairs)} images, augment {per_batch * 1e3:.0f} ms/batch"))
            return pairs, per_batch

        timed_epoch("cold cache (decode + FOV + resize + augment)")
        pairs, per_batch = timed_epoch("warm cache (cached arrays + augment)")
        rows.append(("in-memory tf.data pipeline (what fit sees)", 1.0 / per_batch, "augment only"))

    model = Segmenter(get_backbone(args.backbone, base_filters=args.filters))
    model.compile()
    x = np.random.default_rng(0).random((args.batch, args.crop, args.crop, 3)).astype("float32")
    y = (x[..., :1] > 0.9).astype("float32")
    model.train_on_batch(x, y)
    steps = 2 if args.smoke else 5
    t0 = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    step = (time.perf_counter() - t0) / steps
    rows.append((f"training step, {args.backbone} {args.filters}.. filters", 1.0 / step, f"{step:.2f} s/step"))

    print(f"\nsource: {source}; batch {args.batch} x {args.crop}x{args.crop}; backend {keras.backend.backend()}; "
          f"{os.cpu_count()} CPUs\n")
    print(f"| {'what':50s} | batches/s | x train step | note |")
    print(f"|{'-' * 52}|-----------|--------------|------|")
    for label, rate, note in rows:
        print(f"| {label:50s} | {rate:9.2f} | {rate * step:12.1f} | {note} |")
    warm_ratio = rows[1][1] * step
    verdict = "met" if warm_ratio >= 5 else "NOT met"
    print(f"\nwarm pipeline / training step = {warm_ratio:.1f}x (goal >= 5x): {verdict}")


if __name__ == "__main__":
    main()
