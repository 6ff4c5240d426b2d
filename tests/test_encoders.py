"""Encoders from keras.applications under the U-Net and UNet++ decoders (no ImageNet download here)."""

import keras
import numpy as np
import pytest

from hecl_keras.config import ConfigError, load_config
from hecl_keras.models import Segmenter, build_model, get_backbone
from hecl_keras.models.encoders import ENCODERS, EncoderPreprocessing
from hecl_keras.saving import load_model
from tests.conftest import QUICKSTART

SIZE = 64  # the smallest multiple of the encoders' stride 32 with a 2x2 deepest map


def _images(n=2, seed=0):
    return np.random.default_rng(seed).random((n, SIZE, SIZE, 3)).astype("float32")


@pytest.mark.parametrize("decoder", ["unet", "unet_plus_plus"])
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_every_encoder_builds_with_both_decoders(encoder, decoder):
    # Static shapes of the functional graph (building runs every layer on symbolic tensors); the round-trip
    # tests below run real images through two families.
    backbone = get_backbone(decoder, encoder=encoder, base_filters=4, input_shape=(SIZE, SIZE, 3))
    assert tuple(backbone.output["logits"].shape) == (None, SIZE, SIZE, 1)
    assert tuple(backbone.output["features"].shape) == (None, SIZE, SIZE, 4)
    assert backbone.output_stride == 32
    assert backbone.get_layer("encoder").trainable


# Under JAX (tests/test_backends.py) only ConvNeXt, the family with a decoder-made stride-2 level, under the
# lighter U-Net decoder: XLA compiles each of these models for a minute or more on a 2-core CPU.
@pytest.mark.parametrize("encoder,decoder", [("resnet50", "unet_plus_plus"),
                                             pytest.param("convnext_tiny", "unet", marks=pytest.mark.portable)])
def test_encoder_model_round_trips_through_a_keras_file(tmp_path, encoder, decoder):
    model = Segmenter(get_backbone(decoder, encoder=encoder, base_filters=4))
    x = _images()
    before = keras.ops.convert_to_numpy(model.predict(x, verbose=0))
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again.predict(x, verbose=0)), before, atol=1e-5)


@pytest.mark.portable
def test_preprocessing_modes_match_keras_applications():
    x = np.random.default_rng(1).random((1, 4, 4, 3)).astype("float32")
    caffe = keras.applications.resnet50.preprocess_input(x * 255.0)
    torch = keras.applications.densenet.preprocess_input(x * 255.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(EncoderPreprocessing("caffe")(x)), caffe, rtol=1e-5,
                               atol=1e-3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(EncoderPreprocessing("torch")(x)), torch, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(EncoderPreprocessing("x255")(x)), x * 255.0, rtol=1e-6)


def test_encoder_weights_from_a_file(tmp_path):
    source = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(None, None, 3))
    source.set_weights([w + 0.01 * np.random.default_rng(i).standard_normal(w.shape).astype(w.dtype)
                        for i, w in enumerate(source.get_weights())])
    source.save_weights(tmp_path / "b0.weights.h5")
    backbone = get_backbone("unet", encoder="efficientnetb0", encoder_weights=str(tmp_path / "b0.weights.h5"),
                            base_filters=4)
    loaded = backbone.get_layer("encoder").get_weights()
    assert len(loaded) == len(source.get_weights())
    for a, b in zip(loaded, source.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="missing.weights.h5 is not a file"):
        get_backbone("unet", encoder="efficientnetb0", encoder_weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(ValueError, match="does not hold ResNet50 weights"):
        get_backbone("unet", encoder="resnet50", encoder_weights=str(tmp_path / "b0.weights.h5"))


def test_config_builds_a_frozen_encoder_and_checks_its_settings():
    config = load_config(QUICKSTART, ["model.encoder=efficientnetb0", "model.encoder_freeze=true",
                                      "model.base_filters=4", "augment.crop_size=[64, 64]"])
    model = build_model(config)
    encoder = model.backbone.get_layer("encoder")
    assert not encoder.trainable
    trainable = {id(v) for v in model.trainable_variables}
    assert not any(id(v) in trainable for v in encoder.weights)
    bad = [(["model.encoder=resnet5"], "model.encoder: Unknown encoder 'resnet5'"),
           (["model.encoder=resnet50", "model.backbone=cenet"], "has its own encoder"),
           (["model.encoder_freeze=true"], "need model.encoder"),
           (["model.encoder=resnet50", "augment.crop_size=[48, 48]"], "multiples of 32"),
           (["model.encoder=resnet50", "model.encoder_unfreeze_epoch=2"], "needs model.encoder_freeze")]
    for overrides, message in bad:
        with pytest.raises(ConfigError, match=message):
            build_model(load_config(QUICKSTART, overrides))


def test_unfreeze_after_warm_up_trains_the_encoder_from_that_epoch():
    from hecl_keras.training.callbacks import UnfreezeEncoder

    model = Segmenter(get_backbone("unet", encoder="efficientnetb0", encoder_freeze=True, base_filters=4))
    model.compile(optimizer="auto", loss="dice_bce", run_eagerly=True)  # tracing this model takes ~1 min here
    x = _images(4)
    y = (x[..., :1] > 0.9).astype("float32")
    encoder = model.backbone.get_layer("encoder")
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append([np.array(w) for w in encoder.get_weights()])

    start = [np.array(w) for w in encoder.get_weights()]
    model.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[UnfreezeEncoder(1), Snapshot()])
    changed = [not all(np.array_equal(a, b) for a, b in zip(before, after))
               for before, after in zip([start] + snapshots[:-1], snapshots)]
    assert changed == [False, True]  # frozen in epoch 0, trained in epoch 1
