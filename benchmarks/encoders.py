"""What a keras.applications encoder costs against the from-scratch UNet++ (issue #17, part 3).

Side by side in one run: parameters and seconds per training step (``train_on_batch``,
Dice+BCE, Adam) of the CPU config's UNet++ (16..256 filters) and of each encoder under the
UNet++ and U-Net decoders (decoder width 16), with the ratio to UNet++.

    python -m benchmarks.encoders                              # 256x256, batch 6 (the CPU protocol)
    python -m benchmarks.encoders --encoders resnet50 efficientnetb0 --steps 3
    python -m benchmarks.encoders --smoke                      # tiny and eager (CI): runs, times mean nothing
"""

import argparse
import time

import numpy as np

DEFAULT = ["resnet50", "densenet121", "efficientnetb0", "efficientnetv2s", "convnext_tiny"]


def seconds_per_step(backbone, size, batch, steps, eager=False):
    """Median seconds of ``train_on_batch`` after one warm-up step, on random images and masks.

    ``eager`` (smoke mode only): skip TensorFlow's tracing, which takes 1-2 minutes per encoder model on a
    2-core CPU; the numbers then say that the code runs, not how fast.
    """
    from hecl_keras.models import Segmenter

    model = Segmenter(backbone)
    model.compile(optimizer="auto", loss="dice_bce", metrics=[], run_eagerly=eager)
    rng = np.random.default_rng(0)
    x = rng.random((batch, size, size, 3)).astype("float32")
    y = (rng.random((batch, size, size, 1)) > 0.97).astype("float32")
    model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), model.count_params()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--encoders", nargs="+", default=DEFAULT)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    from hecl_keras.models import get_backbone

    if args.smoke:
        args.size, args.batch, args.steps, args.filters, args.encoders = 64, 2, 1, 4, ["efficientnetb0"]
    rows = [("unet_plus_plus", "(own, from scratch)")]
    decoders = ("unet",) if args.smoke else ("unet_plus_plus", "unet")
    rows += [(decoder, e) for e in args.encoders for decoder in decoders]
    base = None
    print(f"\n| decoder | encoder | parameters | s/step ({args.batch} x {args.size}², train_on_batch) | vs UNet++ |")
    print("|---|---|---|---|---|")
    for decoder, encoder in rows:
        options = {} if encoder.startswith("(") else {"encoder": encoder}
        step, params = seconds_per_step(get_backbone(decoder, base_filters=args.filters, **options), args.size,
                                        args.batch, args.steps, eager=args.smoke)
        base = base or step
        print(f"| {decoder} | {encoder} | {params:,} | {step:.3f} | {step / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
