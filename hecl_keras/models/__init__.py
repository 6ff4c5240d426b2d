"""Backbones (functional Keras models with ``logits`` and ``features`` outputs)."""

from hecl_keras.models.registry import BACKBONES, get_backbone, output_stride

__all__ = ["BACKBONES", "get_backbone", "output_stride"]
