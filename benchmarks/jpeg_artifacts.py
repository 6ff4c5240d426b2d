"""Does `augment.jpeg_quality` look like the JPEG shift of the bench? (one run, side by side)

`benchmarks/domain_shift.py` compresses the *original* photograph (IDRiD: 4288x2848) at quality 25
and then preprocesses it (FOV crop, ~5x downscale); `RandomJPEGQuality` compresses the *working*
image during training. This prints, for the same training photographs, what each leaves in the
working image against the clean one: mean and RMS error in grey levels, the share of the error's
energy finer than ~2 working pixels (a Gaussian of sigma 1.5 removes the rest), and the RMS of its
colour part (error minus its grey mean). Also the layer at 2x and 4x the working scale (upsampled,
compressed, area-downsampled back), as photographs that much larger than the working image would be.

    python -m benchmarks.jpeg_artifacts --images 4
    python -m benchmarks.jpeg_artifacts --smoke     # synthetic photographs (CI)
"""

import argparse
import time

import cv2
import numpy as np

from benchmarks.domain_shift import jpeg_compress


def _layer_jpeg(working, quality, scale):
    import keras

    from hecl_keras.data.jpeg_artifacts import jpeg_roundtrip

    h, w = working.shape[:2]
    big = working if scale == 1 else cv2.resize(working, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    out = keras.ops.convert_to_numpy(jpeg_roundtrip(keras.ops, big[None].astype(np.float32) / 255.0, float(quality)))
    out = out[0] * 255.0
    return out if scale == 1 else cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA)


def error_stats(degraded, clean):
    """(MAE, RMS, fine share, colour RMS) of ``degraded - clean``, float (H, W, 3) arrays in grey levels."""
    e = degraded.astype(np.float64) - clean.astype(np.float64)
    grey = e.mean(-1)
    fine = grey - cv2.GaussianBlur(grey, (0, 0), 1.5)
    colour = e - grey[..., None]
    return (float(np.abs(e).mean()), float(np.sqrt((e ** 2).mean())),
            float((fine ** 2).sum() / max((grey ** 2).sum(), 1e-12)), float(np.sqrt((colour ** 2).mean())))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/IDRiD")
    parser.add_argument("--images", type=int, default=4, help="first N training photographs")
    parser.add_argument("--short-side", type=int, default=580, help="working scale (the CPU configs')")
    parser.add_argument("--qualities", type=int, nargs="+", default=[25, 50, 75])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)

    from hecl_keras.data import PreprocessConfig, synthetic_fundus
    from hecl_keras.data.preprocess import preprocess_arrays

    if args.smoke:
        photographs = [synthetic_fundus(480, 640, seed=i)[0] for i in range(2)]
        args.short_side, args.qualities = 120, [25]
    else:
        from hecl_keras.data import load_splits
        from hecl_keras.data.preprocess import read_pair

        photographs = [read_pair(s)[0] for s in load_splits(args.data)["train"][:args.images]]
    config = PreprocessConfig(short_side=args.short_side)
    t0 = time.perf_counter()
    rows = {}
    for photograph in photographs:
        clean, _, transform = preprocess_arrays(photograph, np.zeros(photograph.shape[:2], bool), config)
        cases = {f"bench: original at q{q}, then preprocessed": transform.apply_image(jpeg_compress(photograph, q))
                 for q in args.qualities}
        for q in args.qualities:
            for scale in (1, 2, 4):
                where = "working image" if scale == 1 else f"{scale}x working scale"
                cases[f"layer: q{q}, {where}"] = _layer_jpeg(clean, q, scale)
        for name, degraded in cases.items():
            rows.setdefault(name, []).append(error_stats(degraded, clean))
    shape = photographs[0].shape
    print(f"\n{len(photographs)} photographs ({shape[1]}x{shape[0]}), working short side {args.short_side}, "
          f"{time.perf_counter() - t0:.0f} s\n")
    print("| JPEG | MAE (grey levels) | RMS | fine share of the error | colour RMS |")
    print("|---|---|---|---|---|")
    for name, stats in rows.items():
        mae, rms, fine, colour = np.mean(stats, axis=0)
        print(f"| {name} | {mae:.2f} | {rms:.2f} | {fine:.2f} | {colour:.2f} |")


if __name__ == "__main__":
    main()
