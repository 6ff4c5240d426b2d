"""Full-resolution inference time per image, split by stage, Keras model vs exported SavedModel.

For the small (16..) and full (32..) UNet++ at the authors' working scale (short side 580,
512x512 tiles, overlap 0.25), on IDRiD 4288x2848 photographs: decode, preprocess (FOV crop
+ resize), model (sliding window), postprocess (map back, threshold, lesion summary, overlay)
and write (three PNGs). Weights are random: speed does not depend on them.
Goal: <= 3 s per image end to end with the small UNet++ on 2 cores, decode + pre/post <= 20 %.

    python -m benchmarks.inference --data ../shared/data/IDRiD --images 3
    python -m benchmarks.inference --smoke
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/IDRiD")
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)

    from PIL import Image

    from hecl_keras.data import PreprocessConfig, load_splits, synthetic_fundus
    from hecl_keras.export import SavedModelPredictFn, export_saved_model
    from hecl_keras.inference import Predictor, keras_predict_fn
    from hecl_keras.inference.files import STAGES, predict_files
    from hecl_keras.models import get_backbone
    from hecl_keras.models.segmenter import Segmenter

    work = Path(tempfile.mkdtemp())
    if args.smoke:
        args.tile, args.widths, args.images = 64, [4], 1
        path = work / "syn.jpg"
        Image.fromarray(synthetic_fundus(200, 260, seed=0)[0]).save(path)
        paths, pre = [path], PreprocessConfig(short_side=128)
    else:
        paths = [s.image_path for s in load_splits(args.data)["test"][: args.images]]
        pre = PreprocessConfig(short_side=580)
    tile = (args.tile, args.tile)
    rows = []
    for width in args.widths:
        model = Segmenter(get_backbone("unet_plus_plus", base_filters=width))
        exported = export_saved_model(model, work / f"sm{width}", 1, tile)
        for kind, fn in (("keras", keras_predict_fn(model)), ("savedmodel", SavedModelPredictFn(exported))):
            predictor = Predictor(fn, tile, pre, overlap=0.25)
            predict_files(predictor, paths[:1], work / "warmup")  # trace / load once
            start = time.perf_counter()
            results, failures = predict_files(predictor, paths, work / f"out_{width}_{kind}")
            assert not failures, failures
            wall = (time.perf_counter() - start) / len(paths)
            stage = {k: float(np.mean([r[f"seconds_{k}"] for r in results])) for k in STAGES}
            rows.append((f"UNet++ {width}..", kind, wall, stage))
    size = "x".join(str(s) for s in (results[0]["width"], results[0]["height"]))
    print(f"\n{len(paths)} image(s) of {size}, tiles {args.tile}, mean seconds per image\n")
    print("| model | runtime | total | decode | preprocess | model | postprocess | write | non-model share |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, kind, wall, st in rows:
        other = (wall - st["model"]) / wall
        print(f"| {name} | {kind} | {wall:.2f} | " + " | ".join(f"{st[k]:.2f}" for k in STAGES) + f" | {other:.0%} |")
    small = [r for r in rows if r[0].startswith(f"UNet++ {min(args.widths)}")]
    best = min(r[2] for r in small)
    print(f"\nsmallest UNet++ end to end: {best:.2f} s/image (goal <= 3 s): {'met' if best <= 3 else 'NOT met'}")


if __name__ == "__main__":
    main()
