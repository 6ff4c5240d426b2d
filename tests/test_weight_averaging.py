"""Stochastic weight averaging (train.swa_epochs): the average against NumPy, resume, the trainer's wiring."""

import json

import keras
import numpy as np
import pytest

from hecl_keras.config import ConfigError, load_config
from hecl_keras.training.weight_averaging import WeightAveraging, load_average
from tests.conftest import QUICKSTART, fit_with_callbacks


def _tiny_model():
    inputs = keras.Input((3,))
    x = keras.layers.Dense(4, name="dense")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, keras.layers.Dense(1, name="head")(x))


def _set_random_trainables(model, rng):
    values = {}
    for v in model.trainable_variables:
        value = rng.normal(size=v.shape).astype("float32")
        v.assign(value)
        values[v.path] = value
    return values


def _callback(model, folder, first_epoch):
    callback = WeightAveraging(folder, first_epoch)
    callback.set_model(model)
    return callback


def test_the_average_is_the_mean_of_the_window_epochs(tmp_path):
    rng = np.random.default_rng(0)
    model = _tiny_model()
    callback = _callback(model, tmp_path, first_epoch=2)
    seen = []
    for epoch in range(5):
        seen.append(_set_random_trainables(model, rng))
        callback.on_epoch_end(epoch)
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["epoch_0003.npz", "epoch_0004.npz"]  # the last two
    fresh = _tiny_model()
    moving_mean = keras.ops.convert_to_numpy(fresh.get_layer("bn").moving_mean).copy()
    assert load_average(fresh, tmp_path, 4) == {"variables": len(model.trainable_variables), "epochs": 3}
    for v in fresh.trainable_variables:
        expected = np.mean([seen[e][v.path].astype(np.float64) for e in (2, 3, 4)], axis=0)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(v), expected, rtol=1e-6, atol=1e-7)
    # BatchNorm's moving statistics are not averaged (they are re-estimated for the average)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(fresh.get_layer("bn").moving_mean), moving_mean)


def test_an_epoch_trained_again_replaces_its_weights_instead_of_counting_twice(tmp_path):
    """A run killed after an epoch's average but before its backup trains that epoch again."""
    rng = np.random.default_rng(1)
    model = _tiny_model()
    callback = _callback(model, tmp_path, first_epoch=0)
    first = _set_random_trainables(model, rng)
    callback.on_epoch_end(0)
    _set_random_trainables(model, rng)
    callback.on_epoch_end(1)  # the killed run's epoch 1
    again = _set_random_trainables(model, rng)
    _callback(model, tmp_path, first_epoch=0).on_epoch_end(1)  # the resumed process trains epoch 1 again
    fresh = _tiny_model()
    assert load_average(fresh, tmp_path, 1)["epochs"] == 2
    for v in fresh.trainable_variables:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(v), (first[v.path] + again[v.path]) / 2, rtol=1e-6)


def test_a_variable_trainable_from_inside_the_window_is_averaged_over_its_own_epochs(tmp_path):
    rng = np.random.default_rng(2)
    model = _tiny_model()
    callback = _callback(model, tmp_path, first_epoch=0)
    head = model.get_layer("head")
    head.trainable = False
    _set_random_trainables(model, rng)
    callback.on_epoch_end(0)
    head.trainable = True  # an encoder unfrozen at epoch 1
    one = _set_random_trainables(model, rng)
    callback.on_epoch_end(1)
    two = _set_random_trainables(model, rng)
    callback.on_epoch_end(2)
    fresh = _tiny_model()
    load_average(fresh, tmp_path, 2)
    kernel = fresh.get_layer("head").kernel
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kernel), (one[kernel.path] + two[kernel.path]) / 2,
                               rtol=1e-6)


def test_missing_files_are_named(tmp_path):
    model = _tiny_model()
    with pytest.raises(FileNotFoundError, match="epoch 3 needs that of epoch 2"):
        _callback(model, tmp_path, first_epoch=1).on_epoch_end(3)
    with pytest.raises(FileNotFoundError, match="no weight average for epoch 7"):
        load_average(model, tmp_path, 7)


@pytest.mark.parametrize("overrides,message", [
    (["train.epochs=3", "train.swa_epochs=4"], "swa_epochs must be in"),
    (["train.swa_epochs=2", "train.ema=true"], "two weight averages"),
    (["train.swa_epochs=2", "train.strategy=mirrored"], "not supported with a distribution strategy"),
])
def test_bad_settings_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(QUICKSTART, overrides)


TINY_SWA = [
    "data.synthetic.count=6", "data.synthetic.height=96", "data.synthetic.width=112", "data.synthetic.test_count=2",
    "data.short_side=64", "data.val_count=2", "augment.crop_size=[32, 32]", "model.base_filters=4",
    "model.options={depth: 3}", "train.epochs=3", "train.batch_size=2", "train.image_log_every=0",
    "train.swa_epochs=2", "train.precise_bn_tiles=4", "eval.after_training=[]",
]


class _Recorder(keras.callbacks.Callback):
    """The trainable weights at each epoch end, by variable path."""

    def __init__(self):
        super().__init__()
        self.weights = {}

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch] = {v.path: keras.ops.convert_to_numpy(v).copy() for v in self.model.trainable_variables}


@pytest.fixture(scope="module")
def swa_run(tmp_path_factory):
    from hecl_keras.training.trainer import train

    run_dir = tmp_path_factory.mktemp("swa")
    recorder = _Recorder()
    with fit_with_callbacks([recorder]):
        result = train(load_config(QUICKSTART, TINY_SWA), run_dir=run_dir, verbose=0)
    return result, run_dir, recorder.weights


def test_the_run_model_is_the_average_of_the_last_epochs(swa_run):
    from hecl_keras.saving import load_model

    result, run_dir, seen = swa_run
    assert result["swa"]["first_epoch"] == 2 and result["swa"]["last_epoch"] == 3
    assert result["swa"]["epochs_averaged"] == 2 and set(result["swa"]["val"]) >= {"pr_auc", "f1"}
    assert (run_dir / "checkpoints" / "best_epoch.keras").is_file()
    model = load_model(run_dir / "checkpoints" / "best.keras")
    for v in model.trainable_variables:
        expected = (seen[1][v.path].astype(np.float64) + seen[2][v.path]) / 2  # epochs 2 and 3 (0-based 1, 2)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(v), expected, rtol=1e-5, atol=1e-7)
    # the average's BatchNorm statistics were re-estimated: not those of the last epoch's model
    last = load_model(run_dir / "model.keras")
    stats = [v.path for v in model.non_trainable_variables if "moving_mean" in v.path]
    assert stats and any(not np.allclose(_by_path(model, p), _by_path(last, p)) for p in stats)
    assert json.loads((run_dir / "result.json").read_text())["swa"]["epochs_averaged"] == 2


def _by_path(model, path):
    return next(keras.ops.convert_to_numpy(v) for v in model.variables if v.path == path)


def test_a_killed_swa_run_resumes_to_the_same_average(swa_run, tmp_path, capsys):
    from hecl_keras.saving import load_model
    from hecl_keras.training.trainer import train

    _, straight, _ = swa_run

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:  # after the last epoch's average, before its backup
                raise KeyboardInterrupt

    config = load_config(QUICKSTART, TINY_SWA)
    with fit_with_callbacks([Kill()]), pytest.raises(KeyboardInterrupt):
        train(config, run_dir=tmp_path, verbose=0)
    result = train(config, run_dir=tmp_path, verbose=0)
    assert "resuming from epoch 3 of 3" in capsys.readouterr().err
    assert result["swa"]["epochs_averaged"] == 2
    for name in ("best.keras", "best_epoch.keras"):
        a, b = load_model(straight / "checkpoints" / name), load_model(tmp_path / "checkpoints" / name)
        for x, y in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(x, y)
