"""Whole-image inference."""

from hecl_keras.inference.predictor import Predictor, keras_predict_fn
from hecl_keras.inference.sliding_window import gaussian_weights, predict_tiled, tile_starts

__all__ = ["Predictor", "gaussian_weights", "keras_predict_fn", "predict_tiled", "tile_starts"]
