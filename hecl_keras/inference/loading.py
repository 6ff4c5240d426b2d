"""Load a ``.keras`` model or an exported SavedModel, with the settings it was trained with."""

from __future__ import annotations

from pathlib import Path

from hecl_keras.data.preprocess import PreprocessConfig


def find_run_config(model_path):
    """The ``config.yaml`` of a preset folder or of the run a model file is in (its folder or a parent), or None."""
    model_path = Path(model_path).resolve()
    if model_path.is_dir() and (model_path / "config.yaml").is_file():
        return model_path / "config.yaml"
    for folder in [model_path.parent, *model_path.parents]:
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    return None


def run_config_path(model_path, config_path=None):
    """``config_path``, else the run's ``config.yaml`` (:func:`find_run_config`); ConfigError when there is none."""
    found = config_path or find_run_config(model_path)
    if found is None:
        from hecl_keras.config import ConfigError

        raise ConfigError(f"No config.yaml next to {model_path} or in its parent folders: pass --config (the run's "
                          "config sets the working scale and tile size)")
    return found


def saved_model_dir(path):
    """``path`` itself if it holds ``saved_model.pb``, else its highest numeric version folder that does."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    if not path.is_dir():
        return None
    versions = sorted((int(p.name), p) for p in path.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file())
    return versions[-1][1] if versions else None


def load_predictor(model_path, config_path=None, overlap=None, tta=None, overrides=()):
    """A :class:`~hecl_keras.inference.Predictor` for a ``.keras`` file, a preset folder or a SavedModel folder.

    Tile size, working scale, overlap, test-time augmentation and the rim margin come from the run's (or preset's)
    ``config.yaml`` or from ``assets.extra/hecl.json`` (SavedModel written by ``hecl export``); ``overlap``
    and ``tta`` override them, and ``overrides`` (``key=value`` strings, e.g. ``["data.tone_target=0.38"]``)
    override the config of a ``.keras`` file or preset (a SavedModel has none: export again with the setting).
    """
    from hecl_keras.config import load_config
    from hecl_keras.inference.predictor import Predictor, resolve_threshold
    from hecl_keras.presets import is_preset

    model_path = Path(model_path)
    sm = saved_model_dir(model_path)
    if sm is not None:
        from hecl_keras.export import SavedModelPredictFn

        if overrides:
            raise ValueError(f"{model_path} is a SavedModel: its settings are in hecl.json, not a config, so "
                             f"{list(overrides)} cannot be applied (export the model again with them)")
        fn = SavedModelPredictFn(sm)
        pre = PreprocessConfig(**fn.meta.get("preprocess", {})) if fn.meta.get("preprocess") else PreprocessConfig()
        return Predictor(fn, fn.input_size, pre, fn.meta.get("overlap", 0.25) if overlap is None else overlap,
                         fn.meta.get("tta", "none") if tta is None else tta,
                         min_lesion_pixels=fn.meta.get("min_lesion_pixels", 0.0),
                         fov_margin=fn.meta.get("fov_margin", 0.0)), fn.meta.get("threshold", 0.5)
    if not model_path.is_file() and not is_preset(model_path):
        raise FileNotFoundError(f"No model at {model_path} (expected a .keras file, a preset folder or a SavedModel "
                                "folder)")
    from hecl_keras.saving import load_model

    model = load_model(model_path)  # first: a file that is not a model is the error to report
    config = load_config(run_config_path(model_path, config_path), list(overrides))
    return Predictor.for_model(model, config, overlap, tta), resolve_threshold(model, config)
