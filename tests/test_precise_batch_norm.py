"""Re-estimated BatchNorm statistics: exact against the formula, frozen layers kept, hooked before validation."""

import keras
import numpy as np
import pytest

from hecl_keras.training.precise_batch_norm import (
    PreciseBatchNorm,
    batch_norm_layers,
    reestimate_batch_norm,
    training_tiles,
)

pytestmark = pytest.mark.portable


def _model(frozen_inner=False):
    """conv -> BN -> relu -> [nested model: conv -> BN] -> conv; the nested BN can be frozen."""
    inner_in = keras.Input((8, 8, 4))
    inner_bn = keras.layers.BatchNormalization(name="inner_bn")
    inner = keras.Model(inner_in, inner_bn(keras.layers.Conv2D(4, 3, padding="same")(inner_in)), name="inner")
    inner_bn.trainable = not frozen_inner
    x_in = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(x_in)
    x = keras.layers.BatchNormalization(name="outer_bn")(x)
    x = keras.layers.ReLU()(x)
    x = inner(x)
    return keras.Model(x_in, keras.layers.Conv2D(1, 1)(x))


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_statistics_are_the_mean_of_the_batch_statistics():
    keras.utils.set_random_seed(0)
    model = _model()
    images = np.random.default_rng(0).normal(1.5, 2.0, (7, 8, 8, 3)).astype("float32")  # batches of 3, 3, 1
    conv = keras.Model(model.input, model.get_layer("conv").output)
    features = _numpy(conv(images))
    # The formula, in NumPy: per batch the channel mean and (biased) variance; then their plain average.
    batches = [features[s:s + 3] for s in range(0, 7, 3)]
    mean = np.mean([b.mean(axis=(0, 1, 2)) for b in batches], axis=0)
    var = np.mean([b.var(axis=(0, 1, 2)) for b in batches], axis=0)
    weights = [_numpy(w).copy() for w in model.trainable_weights]
    assert reestimate_batch_norm(model, images, batch_size=3) == 2
    bn = model.get_layer("outer_bn")
    np.testing.assert_allclose(_numpy(bn.moving_mean), mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_numpy(bn.moving_variance), var, rtol=1e-4, atol=1e-5)
    assert bn.momentum == 0.99  # restored
    for before, after in zip(weights, model.trainable_weights):
        np.testing.assert_array_equal(before, _numpy(after))  # statistics only, no weight moves


def test_frozen_layers_keep_their_statistics_and_nested_ones_are_found():
    model = _model(frozen_inner=True)
    assert [layer.name for layer in batch_norm_layers(model)] == ["outer_bn"]
    assert {layer.name for layer in batch_norm_layers(_model())} == {"outer_bn", "inner_bn"}
    inner_bn = model.get_layer("inner").get_layer("inner_bn")
    reestimate_batch_norm(model, np.ones((4, 8, 8, 3), "float32"))
    np.testing.assert_array_equal(_numpy(inner_bn.moving_mean), np.zeros(4))
    assert reestimate_batch_norm(keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]),
                                 np.ones((2, 3), "float32")) == 0
    with pytest.raises(ValueError, match="at least one image"):
        reestimate_batch_norm(model, np.zeros((0, 8, 8, 3), "float32"))


def test_validation_sees_the_reestimated_statistics():
    """The callback runs before each validation: the last epoch's logged val_loss is what evaluate gives
    after fit (no step came in between, so fit does not re-estimate again); without it, not."""
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, (12, 8, 8, 3)).astype("float32")
    y = (rng.random((12, 8, 8, 1)) < 0.3).astype("float32")
    tiles = rng.normal(3.0, 2.0, (9, 8, 8, 3)).astype("float32")
    logged = {}
    for precise in (True, False):
        keras.utils.set_random_seed(1)
        model = _model()
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss=keras.losses.BinaryCrossentropy(from_logits=True))
        callbacks = [PreciseBatchNorm(tiles, batch_size=3)] if precise else []
        history = model.fit(x, y, epochs=2, batch_size=4, validation_data=(x[:4], y[:4]), callbacks=callbacks,
                            verbose=0, shuffle=False)
        logged[precise] = (history.history["val_loss"][-1], model.evaluate(x[:4], y[:4], verbose=0))
    assert logged[True][0] == pytest.approx(logged[True][1], rel=1e-5)
    # Control: the moving statistics after 6 fast SGD steps are not the re-estimated ones.
    assert logged[False][0] != pytest.approx(logged[True][0], rel=1e-3)


@pytest.mark.parametrize("use_ema, passes", [(False, 2), (True, 3)])
def test_training_end_reestimates_only_when_the_weights_moved(use_ema, passes):
    """One pass per validation; at the end of fit another only when the EMA's final swap changed the
    weights (without EMA the last validation's statistics still hold); a second evaluate, no step in
    between, reuses them."""
    keras.utils.set_random_seed(2)
    rng = np.random.default_rng(2)
    x = rng.normal(1.0, 1.0, (8, 8, 8, 3)).astype("float32")
    y = (rng.random((8, 8, 8, 1)) < 0.3).astype("float32")
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(0.1, use_ema=use_ema),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    precise = PreciseBatchNorm(x[:6], batch_size=3)
    model.fit(x, y, epochs=2, batch_size=4, validation_data=(x[:4], y[:4]), callbacks=[precise], verbose=0)
    assert precise.passes == passes
    model.evaluate(x[:4], y[:4], callbacks=[precise], verbose=0)
    assert precise.passes == passes
    precise.invalidate()  # weights changed outside fit: the next evaluate re-estimates
    model.evaluate(x[:4], y[:4], callbacks=[precise], verbose=0)
    assert precise.passes == passes + 1


def test_training_tiles_are_a_fixed_random_subset():
    pairs = [(np.full((20, 30, 3), 10 * i, np.uint8), np.zeros((20, 30), bool)) for i in range(4)]
    tiles = training_tiles(pairs, (10, 10), 5, seed=0)  # 4 images x 6 tiles
    assert tiles.shape == (5, 10, 10, 3) and tiles.dtype == np.float32
    np.testing.assert_array_equal(tiles, training_tiles(pairs, (10, 10), 5, seed=0))
    assert training_tiles(pairs, (10, 10), 100).shape[0] == 24


def test_a_failed_pass_leaves_the_statistics_as_they_were():
    model = _model()
    bn = model.get_layer("outer_bn")
    before = _numpy(bn.moving_mean).copy()
    calls = []

    def forward(images):  # the first batch runs, the second fails
        if calls:
            raise RuntimeError("out of memory")
        calls.append(1)
        return model(images, training=True)

    with pytest.raises(RuntimeError, match="out of memory"):
        reestimate_batch_norm(model, np.full((4, 8, 8, 3), 5.0, "float32"), batch_size=2, forward=forward)
    np.testing.assert_array_equal(_numpy(bn.moving_mean), before)
    assert bn.momentum == 0.99
