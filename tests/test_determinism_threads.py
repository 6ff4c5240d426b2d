"""train.deterministic under TensorFlow: one inter-op thread makes an encoder's gradients repeatable.

With op determinism alone, the gradients of a U-Net on a ``keras.applications`` encoder (whose tapped
feature maps feed both the encoder and the decoder) differed in the last bits between two computations
on the same weights and batch (docs/RESULTS.md section 22). Each check runs in a fresh process: the
inter-op thread pool is fixed once TensorFlow has started.
"""

import os
import subprocess
import sys
import textwrap

import keras
import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's thread pools")

GRADIENTS_TWICE = textwrap.dedent("""
    import numpy as np, keras, tensorflow as tf
    from hecl_keras.config import load_config
    from hecl_keras.models.build import build_model
    from hecl_keras.training.trainer import enable_determinism

    enable_determinism(0, True)
    config = load_config("configs/quickstart.yaml", ["model.backbone=unet", "model.encoder=resnet50",
                                                     "model.base_filters=4"])
    model = build_model(config)
    x = tf.constant(np.random.default_rng(0).uniform(size=(6, 128, 128, 3)).astype("float32"))

    @tf.function
    def gradients():
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            logits = logits["logits"] if isinstance(logits, dict) else logits
            loss = tf.reduce_mean(logits * logits)
        return tape.gradient(loss, model.trainable_variables)

    first = [g.numpy() for g in gradients()]
    differing = set()
    for _ in range(12):
        for variable, a, b in zip(model.trainable_variables, first, gradients()):
            if not np.array_equal(a, b.numpy()):
                differing.add(variable.path)
    print("DIFFERING", len(differing), "INTER", tf.config.threading.get_inter_op_parallelism_threads())
""")


def _differing_gradients(env_update):
    env = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTEROP_THREADS"}
    env.update(env_update)
    done = subprocess.run([sys.executable, "-c", GRADIENTS_TWICE], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("DIFFERING"))
    return int(line.split()[1]), int(line.split()[3])


def test_deterministic_training_repeats_an_encoders_gradients_exactly():
    differing, inter_op = _differing_gradients({})  # what hecl train gets: TensorFlow not started before
    assert inter_op == 1
    assert differing == 0


def test_single_inter_op_thread_warns_once_when_tensorflow_already_started(monkeypatch):
    """``hecl train`` asks twice (before the strategy, then in enable_determinism): one warning, both False."""
    import warnings

    import tensorflow as tf

    from hecl_keras.training import trainer

    def already_started(_):
        raise RuntimeError("Inter op parallelism cannot be modified after initialization.")

    monkeypatch.delenv("TF_NUM_INTEROP_THREADS", raising=False)
    monkeypatch.setattr(tf.config.threading, "get_inter_op_parallelism_threads", lambda: 2)
    monkeypatch.setattr(tf.config.threading, "set_inter_op_parallelism_threads", already_started)
    monkeypatch.setattr(trainer, "_INTER_OP_WARNED", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert trainer.single_inter_op_thread() is False
        assert trainer.single_inter_op_thread() is False
    assert [str(w.message)[:38] for w in caught] == ["train.deterministic: TensorFlow starte"]
