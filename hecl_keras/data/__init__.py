"""Fundus data: readers, field-of-view crop, caching, synthetic data, augmentation, batching, packs.

(`augment` is the submodule; its function of that name is `hecl_keras.data.augment.augment`.)

Names are imported on first use (PEP 562), so ``hecl_keras.data.errors`` and the
readers load without Keras/TensorFlow; ``from hecl_keras.data import X`` works as usual.
"""

import importlib

_EXPORTS = {
    "augment": ["AugmentConfig", "RandomBrightnessScale", "augment_config", "augment_seeded",
                "build_augmenter"],
    "cache": ["ArrayCache", "default_cache_dir"],
    "datasets": ["Sample", "load_splits", "paired_folder", "split_folders", "training_split_name"],
    "errors": ["DataError"],
    "experiment": ["ExperimentData", "ExperimentSplit", "TrainingInputs", "experiment_split", "load_experiment_data",
                   "training_inputs"],
    "geometry": ["CropResize", "find_fov", "paper_geometry", "plan_crop_resize"],
    "inspect": ["inspect_dataset"],
    "io": ["read_image", "read_mask", "write_image"],
    "pack": ["PackedData", "PackedTestImage", "load_pack", "pack_experiment"],
    "pipeline": ["AugmentedBatches", "CropPlanner", "SyncEpoch", "tf_training_dataset", "tile_pairs"],
    "preprocess": ["Pair", "PreprocessConfig", "load_pair", "preprocess_arrays", "read_pair", "validation_split"],
    "synthetic": ["synthetic_crops", "synthetic_fundus", "synthetic_pairs"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(f"module 'hecl_keras.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hecl_keras.data.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
