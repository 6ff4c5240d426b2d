"""Bad input, as a new user would give it: exit code != 0, one line that names the file, no traceback."""

import numpy as np
import pytest
from PIL import Image

from hecl_keras.cli import main
from tests.conftest import QUICKSTART


def _files(tmp_path):
    (tmp_path / "random.keras").write_bytes(np.random.default_rng(0).bytes(2048))
    (tmp_path / "config.yaml").write_text(open(QUICKSTART).read())
    (tmp_path / "broken.yaml").write_text("name: x\ntrain:\n  epochs: 3\n   batch_size: 2\n")
    Image.fromarray(np.zeros((80, 80, 3), np.uint8)).save(tmp_path / "photo.jpg")
    return tmp_path


CASES = [
    # (command, text the one-line message must contain)
    (["predict", "--model", "{d}/random.keras", "{d}/photo.jpg", "--out", "{d}/o"], "random.keras"),
    (["predict", "--model", "{d}/config.yaml", "{d}/photo.jpg", "--out", "{d}/o"], "config.yaml: not a Keras model"),
    (["predict", "--model", "{d}/photo.jpg", "{d}/photo.jpg", "--out", "{d}/o"], "photo.jpg: not a Keras model"),
    (["predict", "--model", "{d}/nothing.keras", "{d}/photo.jpg", "--out", "{d}/o"], "No model at"),
    (["train", "{d}/broken.yaml", "--run-dir", "{d}/run"], "broken.yaml: line 4"),
    (["train", QUICKSTART, "--set", "train.epochs=0", "--run-dir", "{d}/run"], "train.epochs must be >= 1"),
    (["train", QUICKSTART, "--set", "train.learning_rate=-1", "--run-dir", "{d}/run"],
     "train.learning_rate must be > 0"),
    (["data", "inspect", "{d}/photo.jpg", "--quiet"], "photo.jpg is a file"),
    (["train", QUICKSTART, "--set", "model.options={{depth:3}}", "--run-dir", "{d}/run"],
     "'depth:3' not an option of 'unet_plus_plus'"),
    (["train", QUICKSTART, "--set", "model.backbone=unet3", "--run-dir", "{d}/run"], "unknown backbone 'unet3'"),
    (["evaluate", "--model", "{d}/random.keras", "--out", "{d}/e"], "random.keras"),
]


@pytest.mark.parametrize("command, message", CASES, ids=[" ".join(c[0][:2]) + f" {i}" for i, c in enumerate(CASES)])
def test_bad_input_gets_one_clear_line(tmp_path, capsys, command, message):
    folder = _files(tmp_path)
    code = main([part.format(d=folder) for part in command])
    captured = capsys.readouterr()
    text = captured.err + captured.out
    assert code != 0
    assert message in text, text
    assert "Traceback" not in text


def test_plain_keras_load_model_works_after_import_hecl_keras(tmp_path):
    """As with keras_hub: `import hecl_keras` registers the library's classes (fresh process)."""
    import subprocess
    import sys

    from hecl_keras.models import Segmenter, get_backbone

    Segmenter(get_backbone("unet", base_filters=4, depth=3, input_shape=(32, 32, 3))).save(tmp_path / "m.keras")
    code = f"import hecl_keras, keras; print(type(keras.saving.load_model({str(tmp_path / 'm.keras')!r})).__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip().splitlines()[-1] == "Segmenter", done.stderr[-2000:]


def test_hecl_help_does_not_load_tensorflow():
    import subprocess
    import sys

    code = ("import sys, hecl_cli\ntry:\n    hecl_cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('LOADED', 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "LOADED False False", done.stderr[-2000:]


def _tensorflow_log_lines(stderr):
    """stderr's lines without the C++ log prefix (time stamp and thread id differ from run to run)."""
    import re

    return [re.sub(r"^[IWEF]\d{4} [\d:.]+\s+\d+ ", "", line) for line in stderr.splitlines() if line.strip()]


def test_no_tensorflow_start_up_noise():
    """`import hecl_keras` silences TensorFlow's C++ log: a parallel tf.data map (as training uses) prints
    nothing beyond what this TensorFlow build prints at TF_CPP_MIN_LOG_LEVEL=3 anyway (the 2.21.0 wheel of
    2026-11-30 writes its oneDNN note before absl::InitializeLog whatever the level)."""
    import os
    import subprocess
    import sys

    code = ("import hecl_keras, tensorflow as tf\n"
            "ds = tf.data.Dataset.range(4).map(lambda x: x + 1, num_parallel_calls=2, deterministic=True)\n"
            "import os; print(sum(ds.as_numpy_iterator()), os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    floor = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True, timeout=300,
                           env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"})
    unavoidable = set(_tensorflow_log_lines(floor.stderr))
    assert done.stdout.strip() == "10 3", done.stderr[-2000:]
    assert [line for line in _tensorflow_log_lines(done.stderr) if line not in unavoidable] == [], done.stderr[-2000:]
