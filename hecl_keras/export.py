"""Export a trained model as a TensorFlow SavedModel in TF Serving's layout (``DIR/<version>/``).

Signatures:

* ``serving_default``: ``images`` float32 (N, H, W, 3) in [0, 1] at the model's
  input size -> ``probabilities`` float32 (N, H, W, 1).
* ``predict_image_bytes``: ``image_bytes`` string (N,) of JPEG/PNG files (the
  ``_bytes`` suffix makes TF Serving's REST API accept ``{"b64": ...}``) ->
  ``probabilities`` (N, H, W, 1) and ``mask`` uint8 (N, H, W, 1) at the model's
  input size (each image is decoded and resized to it).

Next to the SavedModel, ``assets.extra/hecl.json`` records the input size,
threshold, working-scale preprocessing, tile overlap and test-time augmentation mode, which
``hecl predict`` uses for full-resolution inference. TF Serving ignores that folder.
"""

from __future__ import annotations

import json
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
        preprocess: dict or None. Working-scale settings recorded for ``hecl predict``.
        min_lesion_pixels: float or None. The image-level answer's minimum lesion size (default: the model's).
        overlap: float. Tile overlap recorded for ``hecl predict``.
        tta: str. Test-time augmentation mode recorded for ``hecl predict`` (:mod:`hecl_keras.inference.tta`;
            the signatures themselves predict one view).
        fov_margin: float. The rim band ``hecl predict`` drops (``eval.fov_margin``; the signatures see tiles).
    """
    import keras
    import tensorflow as tf

    from hecl_keras.inference.tta import resolve_tta

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

    def decode(data):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        image = tf.image.convert_image_dtype(image, tf.float32)  # uint8 -> [0, 1]
        return tf.image.resize(image, (h, w), method="area", antialias=True)

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="image_bytes")])
    def serve_bytes(image_bytes):
        images = tf.map_fn(decode, image_bytes, fn_output_signature=tf.TensorSpec((h, w, 3), tf.float32))
        probs = probabilities(images)
        return {"probabilities": probs, "mask": tf.cast(probs >= threshold, tf.uint8)}

    archive.add_endpoint("serving_default", serve_images)
    archive.add_endpoint("predict_image_bytes", serve_bytes)
    archive.write_out(str(path), verbose=False)
    extra = path / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / "hecl.json").write_text(json.dumps(
        {"input_size": [h, w], "threshold": threshold, "preprocess": preprocess or {},
         "min_lesion_pixels": float(min_lesion_pixels if min_lesion_pixels is not None
                                    else getattr(model, "min_lesion_pixels", None) or 0.0),
         "overlap": float(overlap), "tta": resolve_tta(tta), "fov_margin": float(fov_margin)}, indent=2))
    return path


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
