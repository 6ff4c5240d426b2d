"""Whole-image inference."""

from hecl_keras.inference.predictor import Predictor, keras_predict_fn
from hecl_keras.inference.sliding_window import gaussian_weights, predict_tiled, tile_starts
from hecl_keras.inference.tta import TTA_MODES, predict_views

__all__ = ["TTA_MODES", "Predictor", "gaussian_weights", "keras_predict_fn", "predict_tiled", "predict_views",
           "tile_starts"]
