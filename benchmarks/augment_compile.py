"""Per-crop augmentation under JAX: compiled runs of layers against the eager layers (one run, side by side).

``AugmentedBatches`` (the training pipeline under JAX) augments each crop with
``CompiledSeededAugment``: the runs of traceable Keras augmentation layers as ``jax.jit``
programs, ``RandomCrop`` eager. This times its batches against the same
batches through the eager layers (``augment_seeded``), in a subprocess under
``KERAS_BACKEND=jax`` (whatever backend this process has), one thread, on synthetic
photographs of IDRiD's working size. On a GPU machine the eager ops run on the GPU, one
dispatch each (docs/RESULTS.md section 19).

    python -m benchmarks.augment_compile                      # 580x794 photographs, 512x512 crops, batch 6
    python -m benchmarks.augment_compile --smoke
"""

import argparse
import sys

from benchmarks.fresh_process import run_in_fresh_process


def measure(height, width, crop, batch, batches):
    """Seconds per batch, compiled and eager, on the same crops' plan. Runs under the current backend."""
    import time

    from hecl_keras.data import AugmentConfig, AugmentedBatches, synthetic_pairs
    from hecl_keras.data.augment import augment_seeded

    pairs = synthetic_pairs(batch, height, width, seed=0)
    batches_of = AugmentedBatches(pairs, batch, AugmentConfig(crop_size=(crop, crop)), repeats=2 * batches + 2, seed=0)
    compiled = batches_of._augment
    names = [batches_of.augmenter.layers[i].__class__.__name__ for i in compiled.compiled_layers]

    def seconds_per_batch(first):
        batches_of[first]  # warm-up (compilation for the compiled path)
        start = time.perf_counter()
        for i in range(first + 1, first + 1 + batches):
            batches_of[i]
        return (time.perf_counter() - start) / batches

    compiled_seconds = seconds_per_batch(0)
    batches_of._augment = lambda image, mask, seed: augment_seeded(batches_of.augmenter, image, mask, seed)
    eager_seconds = seconds_per_batch(batches + 1)
    return {"compiled": compiled_seconds, "eager": eager_seconds, "compiled_layers": names}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--height", type=int, default=580)
    parser.add_argument("--width", type=int, default=794)
    parser.add_argument("--crop", type=int, default=512)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--batches", type=int, default=5, help="batches timed per path")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.height, args.width, args.crop, args.batch, args.batches = 80, 100, 32, 2, 1
    values, output = run_in_fresh_process(
        "from benchmarks.augment_compile import measure",
        [f"measure({args.height}, {args.width}, {args.crop}, {args.batch}, {args.batches})"],
        {"KERAS_BACKEND": "jax"}, timeout=1800)
    if not values:
        raise RuntimeError(f"the JAX measurement failed (is JAX installed?): {output[-2000:]}")
    r = values[-1]
    print(f"\nKERAS_BACKEND=jax, {args.height}x{args.width} photographs, {args.crop}x{args.crop} crops, batch "
          f"{args.batch}, {args.batches} timed batches per path after one warm-up, one thread\n"
          f"compiled layers: {', '.join(r['compiled_layers']) or 'none'}\n")
    print("| per-crop augmentation | s per batch | images/s | speed-up |")
    print("|---|---|---|---|")
    for label, key in (("eager layers (augment_seeded)", "eager"), ("compiled runs (CompiledSeededAugment)",
                                                                   "compiled")):
        print(f"| {label} | {r[key]:.3f} | {args.batch / r[key]:.1f} | {r['eager'] / r[key]:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
