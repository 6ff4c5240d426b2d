"""Parameters and one forward pass time of every backbone at 512x512 (the README table).

    python -m benchmarks.backbones                 # batch 1, 512x512, default widths
    python -m benchmarks.backbones --smoke         # tiny (CI)
"""

import argparse
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    from hecl_keras.models import BACKBONES, get_backbone

    widths = {"unet_plus_plus": (32, 16), "unet": (64, 32), "resunet": (64, 32), "cenet": (64, 32),
              "attention_unet": (64, 32)}
    size = 64 if args.smoke else args.size
    x = np.random.default_rng(0).random((1, size, size, 3)).astype("float32")
    print(f"\n| backbone | base_filters | parameters | forward {size}x{size}, batch 1 (s) |")
    print("|---|---|---|---|")
    for name in sorted(BACKBONES):
        for filters in widths[name][-1:] if args.smoke else widths[name]:
            model = get_backbone(name, base_filters=4 if args.smoke else filters)
            model.predict_on_batch(x)
            times = []
            for _ in range(1 if args.smoke else args.repeats):
                t0 = time.perf_counter()
                model.predict_on_batch(x)
                times.append(time.perf_counter() - t0)
            print(f"| {name} | {filters} | {model.count_params():,} | {np.median(times):.3f} |")


if __name__ == "__main__":
    main()
