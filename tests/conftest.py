import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# train.deterministic runs TensorFlow's independent ops on one inter-op thread; the pool can only be set before
# TensorFlow starts, which in a test session is long before the first training (hecl_keras.training.trainer.
# single_inter_op_thread). The tests that compare two trainings need it.
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
# The portable tests run again under JAX (tests/test_backends.py), where every new shape or model is an XLA
# compile of seconds to minutes on a 2-core CPU: there they check each piece once, not every variant.
ON_JAX = os.environ.get("KERAS_BACKEND") == "jax"
QUICKSTART = str(REPO / "configs" / "quickstart.yaml")
IDRID = Path(os.environ.get("HECL_IDRID", REPO.parent / "shared" / "data" / "IDRiD"))


def fit_with_callbacks(extra):
    """A context that patches ``keras.Model.fit`` to run ``extra`` callbacks just before the last one
    (``hecl train``'s BackupAndRestore): after an epoch's log row, checkpoint and average, before its backup."""
    from unittest import mock

    import keras

    original_fit = keras.Model.fit

    def fit(self, *args, **kwargs):
        callbacks = list(kwargs.get("callbacks", []))
        kwargs["callbacks"] = callbacks[:-1] + list(extra) + callbacks[-1:]
        return original_fit(self, *args, **kwargs)

    return mock.patch.object(keras.Model, "fit", fit)


@pytest.fixture(scope="session")
def idrid_root():
    if not (IDRID / "A. Segmentation").is_dir():
        pytest.skip(f"IDRiD not found at {IDRID} (set HECL_IDRID)")
    return IDRID


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("HECL_CACHE_DIR", str(folder))
    return folder


def write_pair(images_dir, masks_dir, stem, image, mask, mask_suffix="", mask_ext=".png"):
    images_dir.mkdir(parents=True, exist_ok=True)
    masks_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(images_dir / f"{stem}.png")
    Image.fromarray((mask > 0).astype(np.uint8) * 255).save(masks_dir / f"{stem}{mask_suffix}{mask_ext}")


@pytest.fixture
def small_dataset(tmp_path):
    """A generic images/ + masks/ folder of 3 synthetic pairs (96x128)."""
    from hecl_keras.data.synthetic import synthetic_fundus

    root = tmp_path / "ds"
    for i in range(3):
        image, mask = synthetic_fundus(96, 128, seed=i, lesion_free_prob=0.0)
        write_pair(root / "images", root / "masks", f"img_{i}", image, mask)
    return root
