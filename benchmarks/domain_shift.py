"""A shifted test bench you can run here: other cameras, simulated (issue #18, part 3).

The labelled photographs (IDRiD test split by default) are transformed as another
camera or another clinic would make them (colour cast, gamma, blur, JPEG, lower
resolution, down- and up-sampling, vignetting), with the same masks (resized
where the geometry changes). For each model: pooled PR-AUC and F1 (at the
model's own threshold) in-domain and under each shift, the PR-AUC change, the
false-positive blobs per image, and the image-level false alarms on lesion-free
synthetic photographs under the same shift. The test split is only scored here;
nothing is chosen on it.

    python -m benchmarks.domain_shift --model runs/idrid_unetpp_cpu/preset
    python -m benchmarks.domain_shift --model A/preset --model B/preset --images 9 --shifts "colour cast" jpeg
    python -m benchmarks.domain_shift --model RUN/checkpoints/best.keras --tta none d4   # both, same images
    python -m benchmarks.domain_shift --model RUN/checkpoints/best.keras --tta none --set data.tone_target=0.38
    python -m benchmarks.domain_shift --smoke          # tiny, synthetic, untrained (CI)
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np


def _scale_pair(image, mask, factor):
    h, w = image.shape[:2]
    size = (max(1, int(round(w * factor))), max(1, int(round(h * factor))))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5
    return small, small_mask


def _down_up(image, factor):
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, int(w * factor)), max(1, int(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def jpeg_compress(image, quality):
    """(H, W, 3) uint8 RGB -> the same after a JPEG encode + decode (OpenCV/libjpeg) at ``quality``."""
    ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]


def _vignette(image, strength=0.6):
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2
    return np.clip(image * (1 - strength * np.clip(r2, 0, 1))[..., None], 0, 255).astype(np.uint8)


def _gamma(image, g):
    return np.clip(255.0 * (image / 255.0) ** g, 0, 255).astype(np.uint8)


# Each shift maps (image (H,W,3) uint8, mask (H,W) bool) to a pair of the same kind.
SHIFTS = {
    "in-domain": lambda im, m: (im, m),
    "colour cast": lambda im, m: (np.clip(im * np.array([1.12, 0.95, 0.78]), 0, 255).astype(np.uint8), m),
    "gamma 0.6": lambda im, m: (_gamma(im, 0.6), m),
    "gamma 1.6": lambda im, m: (_gamma(im, 1.6), m),
    "blur": lambda im, m: (cv2.GaussianBlur(im, (0, 0), max(im.shape[:2]) / 1500), m),
    "jpeg": lambda im, m: (jpeg_compress(im, 25), m),
    "half resolution": lambda im, m: _scale_pair(im, m, 0.5),
    "down-up x1/3": lambda im, m: (_down_up(im, 1 / 3), m),
    "vignetting": lambda im, m: (_vignette(im), m),
}


def shifted(items, shift):
    for sample_id, image, mask in items:
        yield (sample_id, *SHIFTS[shift](image, mask))


def lesion_free_photographs(count, height, width):
    """Synthetic lesion-free fundus photographs (the negative side of the image-level answer)."""
    from hecl_keras.data import synthetic_fundus

    return [synthetic_fundus(height, width, seed=1000 + i, lesion_free_prob=1.0) for i in range(count)]


def bench(predictor, threshold, items, negatives, shifts, progress=True):
    """Rows ``{"shift", "pr_auc", "f1", "fp_blobs", "fp_blobs_before_removal", "false_alarms", "negatives",
    "neg_blobs", "neg_blobs_before_removal"}`` (blobs: per image, after and before the minimum-size removal)."""
    from hecl_keras.evaluation.protocols import evaluate_standard
    from hecl_keras.inference.image_level import image_answer

    rows = []
    for shift in shifts:
        t0 = time.perf_counter()
        scores = evaluate_standard(predictor, list(shifted(items, shift)), threshold)[0]["pooled"]
        answers = []
        for image, mask in negatives:
            image, _ = SHIFTS[shift](image, mask)
            prob, scale = predictor.predict_with_scale(image)
            answers.append(image_answer(prob, threshold, predictor.min_lesion_pixels, scale))
        level = scores["image_level"]
        rows.append({"shift": shift, "pr_auc": scores["pr_auc"], "f1": scores["f1"],
                     "fp_blobs": level["false_positive_components_per_image"],
                     "fp_blobs_before_removal": level["false_positive_components_per_image_before_removal"],
                     "false_alarms": sum(a["exudates_present"] for a in answers), "negatives": len(answers),
                     "neg_blobs": float(np.mean([a["lesions"] for a in answers])) if answers else 0.0,
                     "neg_blobs_before_removal": float(np.mean([a["lesions"] + a["removed_blobs"] for a in answers]))
                     if answers else 0.0})
        if progress:
            print(f"  {shift}: {time.perf_counter() - t0:.0f} s", flush=True)
    return rows


def print_table(name, rows):
    base = rows[0]["pr_auc"]
    print(f"\n{name}\n")
    print("| shift | PR-AUC | PR-AUC change | F1 | FP blobs / image (before the size removal) | "
          "lesion-free synthetic said yes | their blobs / image (before) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['shift']} | {r['pr_auc']:.4f} | {r['pr_auc'] - base:+.4f} | {r['f1']:.4f} | {r['fp_blobs']:.2f} "
              f"({r['fp_blobs_before_removal']:.2f}) | {r['false_alarms']}/{r['negatives']} | {r['neg_blobs']:.2f} "
              f"({r['neg_blobs_before_removal']:.2f}) |")
    worst = min(r["pr_auc"] - base for r in rows[1:]) if len(rows) > 1 else 0.0
    print(f"\nlargest PR-AUC loss under a shift: {-worst:.4f} (goal < 0.05)")


def _smoke_setup():
    from hecl_keras.data import PreprocessConfig, synthetic_fundus
    from hecl_keras.inference import Predictor
    from hecl_keras.models import Segmenter, get_backbone

    model = Segmenter(get_backbone("unet_plus_plus", base_filters=4, depth=3))
    predictor = Predictor(model, (32, 32), PreprocessConfig(short_side=64), overlap=0.25)
    items = [(f"s{i}", *synthetic_fundus(96, 128, seed=i, lesion_free_prob=0.0)) for i in range(2)]
    return [("untrained (smoke)", predictor, 0.5)], items, lesion_free_photographs(2, 96, 128)


def _chosen_with_tta(model_path, tta, overrides=()):
    """A run's predictor with test-time augmentation ``tta``, at the threshold and minimum lesion size chosen
    with that mode on the run's validation split, as ``hecl train`` would have chosen them."""
    from hecl_keras.config import load_config
    from hecl_keras.data.experiment import experiment_split
    from hecl_keras.inference.loading import run_config_path
    from hecl_keras.inference.predictor import Predictor
    from hecl_keras.saving import load_model
    from hecl_keras.training.trainer import choose_threshold

    model = load_model(model_path)  # once: the validation pass and the bench share it
    config = load_config(run_config_path(model_path), [*overrides, f"eval.tta={tta}"])
    choice = choose_threshold(model, config,
                              list(experiment_split(config.data).originals("val")))
    predictor = Predictor.for_model(model, config)
    predictor.min_lesion_pixels = choice["min_lesion_pixels"]
    print(f"{model_path}, tta {tta}: threshold {choice['threshold']:.3f} and minimum lesion "
          f"{choice['min_lesion_pixels']} px chosen on {choice['images']} validation images", flush=True)
    return predictor, choice["threshold"]


def main(argv=None):
    from benchmarks.run_inputs import add_inference_overrides

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], help=".keras, preset or SavedModel (repeatable)")
    parser.add_argument("--data", default=None, help="labelled data (default: the model's config data.source)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--images", type=int, default=None, help="use only the first N images of the split")
    parser.add_argument("--negatives", type=int, default=6, help="lesion-free synthetic photographs")
    parser.add_argument("--shifts", nargs="+", default=list(SHIFTS), choices=list(SHIFTS))
    parser.add_argument("--tta", nargs="+", default=[None], metavar="MODE",
                        help="test-time augmentation modes to bench each model with, each at the threshold and minimum "
                             "lesion size chosen with it on the run's validation split (default: the run's eval.tta)")
    add_inference_overrides(parser, "; with --tta the threshold is chosen again with it")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    shifts = ["in-domain"] + [s for s in args.shifts if s != "in-domain"]
    if args.smoke:
        models, items, negatives = _smoke_setup()
        shifts = ["in-domain", "colour cast", "half resolution"]
    else:
        if not args.model:
            parser.error("give --model (or --smoke)")
        from hecl_keras.config import load_config
        from hecl_keras.data.experiment import evaluation_items
        from hecl_keras.inference.loading import load_predictor, run_config_path

        models = []
        for path in args.model:
            for tta in args.tta:
                predictor, threshold = (load_predictor(path, tta=tta, overrides=args.set) if tta is None
                                        else _chosen_with_tta(path, tta, args.set))
                label = ", ".join([path, *([f"tta {tta}"] if tta else []), *args.set])
                models.append((label, predictor, threshold))
        config = load_config(run_config_path(args.model[0]), [f"data.source={args.data}"] if args.data else [])
        items = list(evaluation_items(config.data, args.split)[0])[: args.images]
        negatives = lesion_free_photographs(args.negatives, 1424, 2144)  # IDRiD's aspect at half its size
        print(f"{len(items)} images of split {args.split!r}, {len(negatives)} lesion-free synthetic photographs, "
              f"{len(shifts)} conditions")
    for name, predictor, threshold in models:
        rows = bench(predictor, threshold, items, negatives, shifts, progress=not args.smoke)
        print_table(f"{name} (threshold {threshold:.3f}, minimum lesion {predictor.min_lesion_pixels:g} px)", rows)


if __name__ == "__main__":
    main()
