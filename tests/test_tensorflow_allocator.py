"""`import hecl_keras` switches TensorFlow to its BFC CPU allocator (docs/RESULTS.md section 16)."""

import os
import subprocess
import sys

import pytest

CODE = ("import keras, hecl_keras, tensorflow as tf\n"  # keras first, as a notebook might: no tensor yet
        "x = tf.ones((256, 256))\n"
        "try:\n    print('BFC', tf.config.experimental.get_memory_info('CPU:0')['peak'] > 0)\n"
        "except ValueError:\n    print('default')\n")  # TF's default CPU allocator keeps no statistics


def _tensorflow_honours_the_variable():
    """Whether this TensorFlow build reads TF_CPU_ALLOCATOR_USE_BFC (the 2.21.0 wheel installed on
    2026-11-30 pools with BFC whatever it says)."""
    probe = CODE.replace("import keras, hecl_keras, ", "import ")
    env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "false", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, env=env)
    return done.stdout.strip() == "default"


@pytest.mark.parametrize("preset, expected", [(None, "BFC True"), ("false", "default"), ("true", "BFC True")])
def test_import_selects_the_bfc_allocator_unless_the_user_chose(preset, expected):
    if preset == "false" and not _tensorflow_honours_the_variable():
        pytest.skip("this TensorFlow build ignores TF_CPU_ALLOCATOR_USE_BFC=false (BFC always): nothing to choose")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    if preset is not None:
        env["TF_CPU_ALLOCATOR_USE_BFC"] = preset
    env["KERAS_BACKEND"] = "tensorflow"
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300, env=env)
    assert done.stdout.strip() == expected, done.stderr[-2000:]
