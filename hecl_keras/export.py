"""Export a trained model as a TensorFlow SavedModel in TF Serving's layout (``DIR/<version>/``).

Signatures:

* ``serving_default``: ``images`` float32 (N, H, W, 3) in [0, 1] at the model's
  input size -> ``probabilities`` float32 (N, H, W, 1).
* ``predict_image_bytes``: ``image_bytes`` string (N,) of JPEG/PNG photographs of
  one size (the ``_bytes`` suffix makes TF Serving's REST API accept
  ``{"b64": ...}``) -> ``probabilities`` float32 (N, H, W, 1) and ``mask`` uint8
  (N, H, W, 1) at the photographs' own size: ``hecl predict``'s pipeline in the
  graph (FOV crop, working scale, ``data.tone_target``, ``data.normalize``, tiles,
  ``eval.tta``, back to the original grid, ``eval.fov_margin``;
  :mod:`hecl_keras.photograph_graph`). Not in the graph: the image-level answer
  (``min_lesion_pixels``), which needs connected components. Left out (with a
  warning) for ``data.normalize: clahe``, which has no TensorFlow version here.

Next to the SavedModel, ``assets.extra/hecl.json`` records the input size,
threshold, working-scale preprocessing, tile overlap and test-time augmentation mode, which
``hecl predict`` uses for full-resolution inference. TF Serving ignores that folder.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path


def export_saved_model(model, out_dir, version=1, input_size=(512, 512), threshold=0.5, preprocess=None,
                       min_lesion_pixels=None, overlap=0.25, tta="none", fov_margin=0.0):
    """Writes ``out_dir/<version>/`` (SavedModel) and returns that path.

    Args:
        model: a Keras segmenter (logits output) or a backbone (dict output).
        out_dir: model base path for TF Serving.
        version: int. Version folder name.
        input_size: (H, W) of the serving signatures.
        threshold: float. Probability threshold of the ``mask`` output.
        preprocess: dict or None (:class:`~hecl_keras.data.preprocess.PreprocessConfig`'s fields; None: its
            defaults). Working-scale settings: recorded for ``hecl predict``, applied by ``predict_image_bytes``.
        min_lesion_pixels: float or None. The image-level answer's minimum lesion size (default: the model's).
        overlap: float. Tile overlap (``hecl predict`` and ``predict_image_bytes``).
        tta: str. Test-time augmentation mode (:mod:`hecl_keras.inference.tta`) of ``hecl predict`` and
            ``predict_image_bytes``; ``serving_default`` predicts one view.
        fov_margin: float. The rim band ``hecl predict`` and ``predict_image_bytes`` drop (``eval.fov_margin``).
    """
    import keras
    import tensorflow as tf

    from hecl_keras.data.preprocess import PreprocessConfig
    from hecl_keras.inference.tta import resolve_tta
    from hecl_keras.photograph_graph import GRAPH_NORMALIZATIONS, photograph_probabilities

    h, w = (int(s) for s in input_size)
    path = Path(out_dir) / str(int(version))
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{path} already exists; choose another --version or folder.")

    def probabilities(images):
        out = model(images, training=False)
        logits = out["logits"] if isinstance(out, dict) else out
        return tf.sigmoid(tf.cast(logits, tf.float32))

    archive = keras.export.ExportArchive()
    archive.track(model)

    @tf.function(input_signature=[tf.TensorSpec((None, h, w, 3), tf.float32, name="images")])
    def serve_images(images):
        return {"probabilities": probabilities(images)}

    pipeline = PreprocessConfig(**(preprocess or {}))

    def photograph(data):
        # JPEG with the accurate integer DCT: the pixels hecl predict reads (TensorFlow's default, the fast DCT,
        # moves half the values by up to 3 levels).
        image = tf.cond(tf.io.is_jpeg(data),
                        lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
                        lambda: tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False))
        return photograph_probabilities(probabilities, image, (h, w), pipeline, overlap, resolve_tta(tta),
                                        fov_margin)[..., None]

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="image_bytes")])
    def serve_bytes(image_bytes):
        probs = tf.map_fn(photograph, image_bytes, fn_output_signature=tf.TensorSpec((None, None, 1), tf.float32))
        return {"probabilities": probs, "mask": tf.cast(probs >= threshold, tf.uint8)}

    archive.add_endpoint("serving_default", serve_images)
    if pipeline.normalize in GRAPH_NORMALIZATIONS:
        archive.add_endpoint("predict_image_bytes", serve_bytes)
    else:
        warnings.warn(f"data.normalize={pipeline.normalize!r} has no TensorFlow version (supported: "
                      f"{', '.join(GRAPH_NORMALIZATIONS)}): the SavedModel has no predict_image_bytes signature; "
                      "use hecl predict, or serving_default on tiles of preprocessed working images", stacklevel=2)
    archive.write_out(str(path), verbose=False)
    extra = path / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / "hecl.json").write_text(json.dumps(
        {"input_size": [h, w], "threshold": threshold, "preprocess": preprocess or {},
         "min_lesion_pixels": float(min_lesion_pixels if min_lesion_pixels is not None
                                    else getattr(model, "min_lesion_pixels", None) or 0.0),
         "overlap": float(overlap), "tta": resolve_tta(tta), "fov_margin": float(fov_margin)}, indent=2))
    return path


def export_run_model(model, config, out_dir, version=1, input_size=None, threshold=None):
    """:func:`export_saved_model` with a run's settings: what ``hecl export`` writes.

    Args:
        model: a trained Keras segmenter.
        config: its run's :class:`~hecl_keras.config.ExperimentConfig` (working scale, ``data.tone_target``,
            ``data.normalize``, ``eval.overlap``/``tta``/``fov_margin``), or None for the defaults.
        out_dir, version: as :func:`export_saved_model`.
        input_size: (H, W) of the signatures; default: the run's ``augment.crop_size`` (required without a config).
        threshold: the mask threshold; default :func:`~hecl_keras.inference.predictor.resolve_threshold`'s
            (``eval.threshold``, else the model's validation-chosen one, else 0.5).

    Returns:
        ``(path of the version folder, threshold used)``.
    """
    import dataclasses

    from hecl_keras.data.preprocess import preprocess_config
    from hecl_keras.inference.predictor import resolve_threshold

    if input_size is None:
        if config is None:
            raise ValueError("input_size is required without a run config (it is the config's augment.crop_size)")
        input_size = config.augment.crop_size
    threshold = resolve_threshold(model, config, threshold)
    settings = {} if config is None else {
        "preprocess": dataclasses.asdict(preprocess_config(config.data)), "overlap": config.eval.overlap,
        "tta": config.eval.tta, "fov_margin": config.eval.fov_margin}
    return export_saved_model(model, out_dir, version, tuple(input_size), threshold, **settings), threshold


class SavedModelPredictFn:
    """Wraps an exported SavedModel's ``serving_default`` as ``tiles -> probabilities`` (no hecl_keras needed)."""

    def __init__(self, path):
        import tensorflow as tf

        self.path = Path(path)
        self.loaded = tf.saved_model.load(str(self.path))
        self.fn = self.loaded.signatures["serving_default"]
        spec = self.fn.structured_input_signature[1]["images"]
        self.input_size = tuple(spec.shape[1:3])
        meta = self.path / "assets.extra" / "hecl.json"
        self.meta = json.loads(meta.read_text()) if meta.is_file() else {}

    def __call__(self, tiles):
        import tensorflow as tf

        return self.fn(images=tf.convert_to_tensor(tiles, tf.float32))["probabilities"].numpy()
