"""Loading ``.keras`` files that contain hecl_keras objects."""


def register_all():
    """Imports every module that registers a Keras serializable (models, layers, losses, metrics)."""
    import hecl_keras.data.augment  # noqa: F401
    import hecl_keras.losses  # noqa: F401
    import hecl_keras.metrics  # noqa: F401
    import hecl_keras.models.blocks  # noqa: F401
    import hecl_keras.models.encoders  # noqa: F401
    import hecl_keras.models.hecl  # noqa: F401
    import hecl_keras.models.segmenter  # noqa: F401


def load_model(path, compile=True):
    """``keras.saving.load_model`` with hecl_keras' classes registered first; a preset folder works too.

    Raises:
        FileNotFoundError: nothing at ``path``.
        DataError: ``path`` is not a ``.keras`` model file, or Keras could not load it
            (the message names the file; the original error is chained).
    """
    import zipfile
    from pathlib import Path

    import keras

    from hecl_keras.data.errors import DataError

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No model at {path}")
    from hecl_keras.presets import from_preset, is_preset

    if is_preset(path):
        return from_preset(path, compile=compile)
    if path.suffix != ".keras" or not path.is_file() or not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a Keras model file (expected a .keras file written by hecl train or "
                        "model.save; hecl predict also takes a SavedModel folder from hecl export)")
    register_all()
    try:
        return keras.saving.load_model(path, compile=compile)
    except Exception as exc:  # a damaged or foreign .keras file: one line that names it, the cause chained
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: could not load the model ({type(exc).__name__}: {reason})") from exc
