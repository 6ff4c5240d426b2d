"""Loading ``.keras`` files that contain hecl_keras objects."""


def register_all():
    """Imports every module that registers a Keras serializable (models, layers, losses, metrics)."""
    import hecl_keras.data.augment  # noqa: F401
    import hecl_keras.losses  # noqa: F401
    import hecl_keras.metrics  # noqa: F401
    import hecl_keras.models.blocks  # noqa: F401
    import hecl_keras.models.hecl  # noqa: F401
    import hecl_keras.models.segmenter  # noqa: F401


def load_model(path, compile=True):
    """``keras.saving.load_model`` with hecl_keras' classes registered first."""
    import keras

    register_all()
    return keras.saving.load_model(path, compile=compile)
