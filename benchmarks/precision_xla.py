"""Does mixed precision or XLA speed up training on this machine? (one run, side by side)

Training-step time of the same UNet++ and batch under: float32; mixed_bfloat16 (fast
on CPUs with AMX/AVX512-BF16); float32 + jit_compile=True (XLA). Also prints the loss
after the same steps from the same weights, to show whether results change.

    python -m benchmarks.precision_xla                    # small UNet++, 256x256, batch 6
    python -m benchmarks.precision_xla --smoke
"""

import argparse
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--depth", type=int, default=5, help="UNet++ depth (levels)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:  # depth 3: a third of the nodes, so XLA's compile (most of the smoke run) is short
        args.size, args.batch, args.filters, args.steps, args.depth = 32, 2, 4, 1, 3

    import keras

    from hecl_keras.data import synthetic_crops
    from hecl_keras.models import get_backbone
    from hecl_keras.models.segmenter import Segmenter

    x, y = synthetic_crops(args.batch, args.size, args.size)
    variants = [("float32", "float32", False), ("mixed_bfloat16", "mixed_bfloat16", False),
                ("float32 + XLA", "float32", True)]
    results = []
    for label, policy, jit in variants:
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(0)
        model = Segmenter(get_backbone("unet_plus_plus", base_filters=args.filters, depth=args.depth))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit)
        model.train_on_batch(x, y)  # trace / compile
        times, losses = [], []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            logs = model.train_on_batch(x, y, return_dict=True)
            times.append(time.perf_counter() - t0)
            losses.append(float(logs["loss"]))
        results.append((label, float(np.median(times)), losses[-1]))
        keras.mixed_precision.set_global_policy("float32")
    base = results[0][1]
    print(f"\nUNet++ {args.filters}.. depth {args.depth}, batch {args.batch} x {args.size}x{args.size}, "
          f"backend {keras.backend.backend()}\n")
    print("| variant | s/step | speed-up vs float32 | loss after the same steps |")
    print("|---|---|---|---|")
    for label, t, loss in results:
        print(f"| {label} | {t:.3f} | {base / t:.2f}x | {loss:.4f} |")


if __name__ == "__main__":
    main()
