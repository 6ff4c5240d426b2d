"""Runs the backend-agnostic tests (marker ``portable``) again under KERAS_BACKEND=jax, in a subprocess."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX not installed (pip install -e '.[jax]')")
@pytest.mark.skipif(keras.backend.backend() == "jax", reason="already running under JAX")
def test_portable_tests_pass_under_jax():
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "portable", "-p", "no:cacheprovider",
         "tests/test_hecl_losses.py", "tests/test_hecl_model.py", "tests/test_models.py", "tests/test_metrics.py",
         "tests/test_encoders.py", "tests/test_jpeg_artifacts.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    assert " passed" in proc.stdout, tail
