"""Full-resolution prediction of a photograph: FOV crop, working scale, sliding window, back to original size."""

from __future__ import annotations

import numpy as np

from hecl_keras.data.geometry import fov_margin_keep, plan_crop_resize
from hecl_keras.data.normalize import normalize_colour
from hecl_keras.data.preprocess import PreprocessConfig, preprocess_config
from hecl_keras.inference.sliding_window import predict_tiled
from hecl_keras.inference.tta import resolve_tta


def sigmoid(logits):
    """Logits (any shape) -> float32 probabilities in [0, 1] (NumPy; numerically safe for large |x|)."""
    x = np.asarray(logits, np.float32)
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)


def resolve_threshold(model, config, override=None):
    """The mask threshold to use: ``override``, else ``config.eval.threshold``, else the model's
    validation-chosen ``decision_threshold``, else 0.5."""
    for value in (override, config.eval.threshold if config is not None else None,
                  getattr(model, "decision_threshold", None)):
        if value is not None:
            return float(value)
    return 0.5


def keras_predict_fn(model):
    """Wraps a Segmenter (logits) or a backbone (dict outputs) as images -> probabilities."""
    import keras

    def fn(tiles):
        # predict_on_batch runs the compiled predict function (traced once per tile shape);
        # an eager model(tiles) call is several times slower under TensorFlow.
        out = model.predict_on_batch(tiles)
        logits = out["logits"] if isinstance(out, dict) else out
        return sigmoid(keras.ops.convert_to_numpy(logits))

    return fn


class Predictor:
    """Maps any photograph to a probability map of its original size.

    Args:
        predict_fn: float32 (N, th, tw, 3) -> probabilities (N, th, tw, 1); or a Keras model.
        tile_size: (th, tw). The model's training input size.
        preprocess: :class:`PreprocessConfig`; must match training (working scale, FOV crop).
        overlap: float. Sliding-window overlap.
        tta: test-time augmentation mode (``none``, ``hflip``, ``flips``, ``d4``;
            :mod:`hecl_keras.inference.tta`); a bool as the old ``tta_flip``.
        min_lesion_pixels: float. The image-level answer's minimum lesion size, working-scale pixels
            (:mod:`hecl_keras.inference.image_level`); 0 keeps every predicted blob.
        fov_margin: float in [0, 1). Probabilities outside the field of view or within this fraction of its
            radius from its rim are set to 0 (``eval.fov_margin``); 0 keeps every pixel.
    """

    def __init__(self, predict_fn, tile_size=(512, 512), preprocess=PreprocessConfig(), overlap=0.25,
                 tta="none", batch_size=4, min_lesion_pixels=0.0, fov_margin=0.0):
        self.predict_fn = predict_fn if not hasattr(predict_fn, "layers") else keras_predict_fn(predict_fn)
        self.tile_size = tuple(tile_size)
        self.preprocess = preprocess
        self.overlap = overlap
        self.tta = resolve_tta(tta)
        self.batch_size = batch_size
        self.min_lesion_pixels = float(min_lesion_pixels or 0.0)
        self.fov_margin = float(fov_margin or 0.0)
        if not 0 <= self.fov_margin < 1:
            raise ValueError(f"fov_margin must be in [0, 1) (a fraction of the FOV radius). Received: {fov_margin}")

    @classmethod
    def from_config(cls, predict_fn, config, overlap=None, tta=None, min_lesion_pixels=0.0):
        """The predictor a run's config implies: its crop size as tiles, its working scale, its eval settings."""
        return cls(predict_fn, tuple(config.augment.crop_size), preprocess_config(config.data),
                   config.eval.overlap if overlap is None else overlap,
                   config.eval.tta if tta is None else tta, min_lesion_pixels=min_lesion_pixels,
                   fov_margin=config.eval.fov_margin)

    @classmethod
    def for_model(cls, model, config, overlap=None, tta=None):
        """:meth:`from_config` for a Keras model, with the model's own minimum lesion size (chosen on validation
        after training; 0 when it has none), as ``hecl evaluate`` and ``hecl predict`` use it."""
        return cls.from_config(keras_predict_fn(model), config, overlap, tta,
                               getattr(model, "min_lesion_pixels", None) or 0.0)

    def plan(self, image):
        """The :class:`~hecl_keras.data.geometry.CropResize` from a photograph (H,W,3) uint8 to its working image."""
        return plan_crop_resize(image, short_side=self.preprocess.short_side, fov_crop=self.preprocess.fov_crop,
                                threshold=self.preprocess.fov_threshold)

    def working(self, image):
        """``(working image (h,w,3) uint8, CropResize)`` of a photograph (H,W,3) uint8 (colour-normalised as in
        training)."""
        t = self.plan(image)
        pre = self.preprocess
        return normalize_colour(t.apply_image(image), pre.normalize, pre.fov_threshold, pre.tone_target), t

    def scale_of(self, image):
        """Working pixels per original pixel (linear) for a photograph: areas scale by its square."""
        return self.plan(image).scale

    def predict_with_scale(self, image):
        """``(probabilities (H, W) float32, working/original linear scale)`` of a photograph (H,W,3) uint8,
        planning its FOV crop once (``__call__`` plus :meth:`scale_of` would plan it twice)."""
        work, t = self.working(image)
        prob = t.invert(self.predict_working(work))
        if self.fov_margin > 0:
            keep = fov_margin_keep(image, self.fov_margin, self.preprocess.fov_threshold)
            if keep is not None:
                prob = np.where(keep, prob, np.float32(0))
        return prob, t.scale

    def predict_working(self, working_image):
        return predict_tiled(self.predict_fn, working_image, self.tile_size, self.overlap, self.tta,
                             self.batch_size)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 photograph -> (H, W) float32 probabilities (0 outside the FOV box)."""
        return self.predict_with_scale(image)[0]
