"""Segmentation metrics: stateful Keras metrics for training, pooled curves for evaluation."""

from hecl_keras.metrics.keras_metrics import (
    PixelAUC,
    PixelF1,
    PixelIoU,
    PixelPrecision,
    PixelRecall,
    segmentation_metrics,
)
from hecl_keras.metrics.pixel_curves import PooledCurves, binary_scores, confusion_scores

__all__ = [
    "PixelAUC", "PixelF1", "PixelIoU", "PixelPrecision", "PixelRecall", "PooledCurves", "binary_scores",
    "confusion_scores", "segmentation_metrics",
]
