"""What HECL adds to a training step (one run, side by side).

Same backbone, batch and data: the supervised-only step vs the HECL step
(L_sup + alpha (L_pd + L_de), contour masks built on the device), plus the time
of the authors' way of building the contour masks (per-patch SciPy morphology on
the CPU, then a copy to the device) and of our on-device contour masks alone.
Goal: HECL adds <= 5 % to the step.

    python -m benchmarks.loss_overhead                    # small UNet++, 256x256, batch 6
    python -m benchmarks.loss_overhead --size 512 --batch 2
    python -m benchmarks.loss_overhead --smoke            # tiny (CI)

A UNet++ step at 512x512 x batch 6 needs more than the 24 GB of RAM of the
project's CPU machines under TensorFlow (killed by the OOM killer), so the
default is 256x256 x 6; run 512 on a machine with more memory.
"""

import argparse
import time

import numpy as np


def authors_contours(masks, grid=5, threshold=0.3):
    """The authors' approach: loop over patches, SciPy morphology per patch on the CPU."""
    from scipy import ndimage

    cross = ndimage.generate_binary_structure(2, 1)
    b, h, w, _ = masks.shape
    ph, pw = h // grid, w // grid
    inner = np.zeros_like(masks)
    outer = np.zeros_like(masks)
    for i in range(b):
        for r in range(grid):
            for c in range(grid):
                ys, xs = slice(r * ph, (r + 1) * ph), slice(c * pw, (c + 1) * pw)
                y = masks[i, ys, xs, 0] > 0.5
                fc = y.mean()
                if fc == 0 or fc == 1:
                    continue
                ke, kd = (2, 2) if fc >= threshold else (1, 5)
                inner[i, ys, xs, 0] = y & ~ndimage.binary_erosion(y, cross, iterations=ke, border_value=0)
                outer[i, ys, xs, 0] = ndimage.binary_dilation(y, cross, iterations=kd) & ~y
    return inner, outer


def timeit(fn, repeats):
    fn()  # warm-up / trace
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.size, args.batch, args.filters, args.repeats = 64, 2, 4, 1

    import keras

    from hecl_keras.data import synthetic_crops
    from hecl_keras.losses import contour_masks
    from hecl_keras.models import get_backbone
    from hecl_keras.models.hecl import HECLSegmenter
    from hecl_keras.models.segmenter import Segmenter

    x, y = synthetic_crops(args.batch, args.size, args.size, seed=2)

    def make(cls, **kw):
        keras.utils.set_random_seed(0)
        model = cls(get_backbone("unet_plus_plus", base_filters=args.filters), **kw)
        model.compile()
        return model

    sup = make(Segmenter)
    hecl = make(HECLSegmenter)
    # Alternate the two so machine noise hits both alike.
    t_sup, t_hecl = [], []
    for _ in range(args.repeats):
        t_sup.append(timeit(lambda: sup.train_on_batch(x, y), 1))
        t_hecl.append(timeit(lambda: hecl.train_on_batch(x, y), 1))
    t_sup, t_hecl = float(np.median(t_sup)), float(np.median(t_hecl))
    masks_device = keras.ops.convert_to_tensor(y)
    t_ours = timeit(lambda: keras.ops.convert_to_numpy(contour_masks(masks_device)), max(3, args.repeats))
    t_ours_compiled = float("nan")
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(contour_masks)
        t_ours_compiled = timeit(lambda: compiled(masks_device)[0].numpy(), max(3, args.repeats))
    t_authors = timeit(lambda: keras.ops.convert_to_tensor(authors_contours(y)[0]), max(3, args.repeats))

    print(f"\nUNet++ {args.filters}.. filters, batch {args.batch} x {args.size}x{args.size}, backend "
          f"{keras.backend.backend()}, median of {args.repeats} steps each\n")
    print("| what | seconds | vs supervised step |")
    print("|---|---|---|")
    print(f"| supervised step (L_sup) | {t_sup:.3f} | 1.000 |")
    print(f"| HECL step (L_sup + alpha (L_pd + L_de)) | {t_hecl:.3f} | {t_hecl / t_sup:.3f} |")
    print(f"| contour masks on the device (ours, eager) | {t_ours:.4f} | {t_ours / t_sup:.4f} |")
    print(f"| contour masks on the device (ours, tf.function) | {t_ours_compiled:.4f} | "
          f"{t_ours_compiled / t_sup:.4f} |")
    print(f"| contour masks, authors' way (per-patch SciPy + copy) | {t_authors:.4f} | {t_authors / t_sup:.4f} |")
    overhead = 100 * (t_hecl / t_sup - 1)
    print(f"\nHECL overhead: {overhead:+.1f} % of the step (goal <= 5 %): {'met' if overhead <= 5 else 'NOT met'}; "
          f"authors' contour masks / ours = {t_authors / t_ours:.1f}x")


if __name__ == "__main__":
    main()
