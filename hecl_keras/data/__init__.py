"""Fundus data: readers, field-of-view crop, caching, synthetic data, augmentation, batching, packs."""

from hecl_keras.data.augment import AugmentConfig, RandomBrightnessScale, augment, build_augmenter
from hecl_keras.data.cache import ArrayCache, default_cache_dir
from hecl_keras.data.datasets import Sample, load_splits, paired_folder, split_folders
from hecl_keras.data.errors import DataError
from hecl_keras.data.geometry import CropResize, find_fov, plan_crop_resize
from hecl_keras.data.inspect import inspect_dataset
from hecl_keras.data.io import read_image, read_mask, write_image
from hecl_keras.data.pack import PackedData, PackedTestImage, load_pack, pack_experiment
from hecl_keras.data.pipeline import AugmentedBatches, tf_training_dataset, tile_pairs
from hecl_keras.data.preprocess import Pair, PreprocessConfig, load_pair, preprocess_arrays, read_pair, validation_split
from hecl_keras.data.synthetic import synthetic_fundus, synthetic_pairs

__all__ = [
    "ArrayCache", "AugmentConfig", "AugmentedBatches", "CropResize", "DataError", "PackedData", "PackedTestImage",
    "Pair", "PreprocessConfig",
    "RandomBrightnessScale", "Sample", "augment", "build_augmenter", "default_cache_dir", "find_fov",
    "inspect_dataset", "load_pack", "load_pair", "load_splits", "pack_experiment", "paired_folder", "plan_crop_resize",
    "preprocess_arrays",
    "read_image", "read_mask", "read_pair", "split_folders", "synthetic_fundus", "synthetic_pairs",
    "tf_training_dataset", "tile_pairs", "validation_split", "write_image",
]
