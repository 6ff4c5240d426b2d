"""Backbones (functional Keras models with ``logits`` and ``features`` outputs) and the task models."""

from hecl_keras.models.build import build_compiled_model, build_model
from hecl_keras.models.hecl import HECLSegmenter
from hecl_keras.models.registry import BACKBONES, get_backbone, output_stride
from hecl_keras.models.segmenter import Segmenter

__all__ = ["BACKBONES", "HECLSegmenter", "Segmenter", "build_compiled_model", "build_model", "get_backbone",
           "output_stride"]
