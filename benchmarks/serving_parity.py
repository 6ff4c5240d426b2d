"""Does the SavedModel's ``predict_image_bytes`` give ``hecl predict``'s map? Side by side, one run.

A run's checkpoint is exported (``hecl export``'s settings: the run's preprocessing, overlap, TTA, threshold); on
each of the first ``--images`` validation photographs the probability map of the Keras
:class:`~hecl_keras.inference.predictor.Predictor` is compared with the signature's, fed

* ``png``: the photograph's decoded pixels, losslessly: what the graph itself changes
  (:mod:`hecl_keras.photograph_graph`: rounding in resizes and blurs);
* ``file``: the photograph's own file bytes, as a client would send them (TensorFlow's JPEG decoder against
  the one ``hecl predict`` reads with, on top).

Per image: the largest and the mean absolute probability difference, the pixels whose mask (at the model's
threshold) differs as a share of the pixels either mask marks, and seconds per photograph of each path (after
one untimed call each; same process, same cores).

    python -m benchmarks.serving_parity runs/ablation/effb0_det_e60_localmeanfov_tone_s1 --checkpoint best_epoch.keras
    python -m benchmarks.serving_parity --smoke      # a tiny untrained model on synthetic photographs (CI)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def compare(reference, served, threshold):
    """``{max, mean, mask_changed}`` of two (H, W) probability maps: the largest and the mean absolute
    difference, and the pixels on which the masks at ``threshold`` differ over the pixels either marks."""
    difference = np.abs(np.asarray(reference, np.float64) - np.asarray(served, np.float64))
    a, b = reference >= threshold, served >= threshold
    marked = int((a | b).sum())
    return {"max": float(difference.max()), "mean": float(difference.mean()),
            "mask_changed": float((a ^ b).sum() / marked) if marked else 0.0}


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def measure(model, config, photographs, out_dir):
    """Rows for ``photographs``: a list of ``(id, image (H,W,3) uint8, file bytes)``."""
    import tensorflow as tf

    from hecl_keras.export import export_run_model
    from hecl_keras.inference.predictor import Predictor

    path, threshold = export_run_model(model, config, out_dir)
    signature = tf.saved_model.load(str(path)).signatures["predict_image_bytes"]
    predictor = Predictor.for_model(model, config)

    def served(data):
        return signature(image_bytes=tf.constant([data]))["probabilities"].numpy()[0, ..., 0]

    _, first_image, first_file = photographs[0]
    predictor(first_image)  # untimed: tracing and first-call costs
    served(first_file)
    rows = []
    for sample_id, image, data in photographs:
        reference, keras_seconds = _timed(predictor, image)
        lossless, graph_seconds = _timed(served, tf.io.encode_png(image).numpy())
        rows.append({"id": sample_id, "size": list(image.shape[:2]), "threshold": threshold,
                     "png": compare(reference, lossless, threshold),
                     "file": compare(reference, served(data), threshold),
                     "seconds": {"hecl_predict": keras_seconds, "signature": graph_seconds}})
    return rows


def print_table(title, rows):
    print(f"\n{title}\n")
    print("| image | max dp (png) | mean dp (png) | mask changed (png) | max dp (file) | mask changed (file) | "
          "s hecl predict | s signature | signature / hecl predict |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["seconds"]
        print(f"| {r['id']} | {r['png']['max']:.4f} | {r['png']['mean']:.2e} | {r['png']['mask_changed']:.2%} | "
              f"{r['file']['max']:.4f} | {r['file']['mask_changed']:.2%} | {s['hecl_predict']:.2f} | "
              f"{s['signature']:.2f} | {s['signature'] / s['hecl_predict']:.2f}x |")


def _smoke(out_dir):
    import tensorflow as tf

    from hecl_keras.config import load_config
    from hecl_keras.data import synthetic_fundus
    from hecl_keras.models.build import build_model

    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml",
                         ["data.short_side=64", "augment.crop_size=[32, 32]", "model.base_filters=4",
                          "model.options={depth: 3}", "data.tone_target=0.385", "data.normalize=local_mean_fov"])
    model = build_model(config)
    photographs = []
    for i in range(2):
        image = synthetic_fundus(96, 128, seed=i, lesion_free_prob=0.0)[0]
        photographs.append((f"synthetic_{i}", image, tf.io.encode_jpeg(image, quality=95).numpy()))
    return config, measure(model, config, photographs, out_dir)


def main(argv=None):
    from benchmarks.run_inputs import add_run_arguments

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(parser, "; the run's stored threshold is kept")
    parser.add_argument("--images", type=int, default=4, help="validation photographs to compare")
    parser.add_argument("--out", default=None, help="JSON file of the rows")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            config, rows = _smoke(Path(tmp) / "serving")
            print_table("tiny untrained model, synthetic photographs (smoke; file: JPEG quality 95 of the array)", rows)
            return
        if len(args.runs) != 1:
            parser.error("give one run folder (or --smoke)")
        from benchmarks.run_inputs import load_run, run_overrides
        from hecl_keras.data.datasets import load_splits

        run = args.runs[0]
        model, config, data = load_run(run, args.checkpoint, run_overrides(args.tta, args.set))
        files = {s.id: s.image_path for split in load_splits(config.data.source).values() for s in split}
        photographs = []
        for sample_id, image, _ in data.originals("val"):
            photographs.append((sample_id, image, Path(files[sample_id]).read_bytes()))
            if len(photographs) == args.images:
                break
        rows = measure(model, config, photographs, Path(tmp) / "serving")
    print_table(f"{run}/checkpoints/{args.checkpoint}, tta {config.eval.tta}, threshold {rows[0]['threshold']:.3f}",
                rows)
    if args.out:
        Path(args.out).write_text(json.dumps({"run": run, "checkpoint": args.checkpoint, "tta": config.eval.tta,
                                              "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
