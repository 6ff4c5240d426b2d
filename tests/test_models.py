import keras
import numpy as np
import pytest

from hecl_keras.models import BACKBONES, get_backbone, output_stride
from hecl_keras.models.segmenter import Segmenter
from tests.conftest import ON_JAX

SMALL = {
    "unet_plus_plus": dict(base_filters=4, depth=3),
    "unet": dict(base_filters=4, depth=3),
    "resunet": dict(base_filters=4, depth=3),
    "attention_unet": dict(base_filters=4, depth=3),
    "cenet": dict(base_filters=4),
}


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_outputs_and_reload(name, tmp_path):
    model = get_backbone(name, **SMALL[name])
    x = np.random.default_rng(0).random((2, 64, 96, 3)).astype("float32")
    out = model(x)
    assert set(out) == {"logits", "features"}
    assert out["logits"].shape == (2, 64, 96, 1)
    assert out["features"].shape[:3] == (2, 64, 96) and out["features"].shape[3] >= 2
    assert float(keras.ops.min(out["features"])) >= 0.0  # after BN+ReLU, as the paper's X^{0,4}
    path = tmp_path / f"{name}.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(again(x)["logits"]), np.asarray(out["logits"]), atol=1e-6)


def test_unetpp_authors_configuration():
    model = get_backbone("unet_plus_plus", input_shape=(64, 64, 3))
    assert model.get_layer("x_0_4_2_conv").filters == 32
    assert model.get_layer("x_4_0_2_conv").filters == 512
    assert model.output["features"].shape[-1] == 32
    deep = get_backbone("unet_plus_plus", base_filters=4, depth=3, deep_supervision=True)
    assert deep.get_layer("logits").__class__.__name__ == "Average"


def test_width_option_cuts_parameters():
    full = get_backbone("unet_plus_plus", base_filters=32).count_params()
    small = get_backbone("unet_plus_plus", base_filters=16).count_params()
    assert 3.5 < full / small < 4.5


def test_input_size_errors_say_what_to_use():
    with pytest.raises(ValueError, match="multiples of 16.*pad or crop it to 112"):
        get_backbone("unet", input_shape=(100, 96, 3))
    with pytest.raises(ValueError, match="Unknown backbone 'vit'.*unet_plus_plus"):
        get_backbone("vit")
    assert output_stride("cenet") == 32 and output_stride("unet", depth=3) == 4


def test_segmenter_without_input_shape_says_what_to_pad_to(tmp_path):
    """Built for any size (H, W = None), a wrong size still gets the "pad to" message, also after reloading."""
    import keras

    from hecl_keras.models.segmenter import Segmenter

    model = Segmenter(get_backbone("unet", base_filters=4, depth=3))
    with pytest.raises(ValueError, match="multiples of 4.*height=50; pad or crop it to 52"):
        model.predict(np.zeros((1, 50, 48, 3), "float32"), verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert reloaded.output_stride == 4
    with pytest.raises(ValueError, match="pad or crop it to 52"):
        reloaded.predict(np.zeros((1, 48, 50, 3), "float32"), verbose=0)


def test_segmenter_fit_predict_and_reload(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((4, 32, 32, 3)).astype("float32")
    y = (x[..., :1] > 0.7).astype("float32")
    model = Segmenter(get_backbone("unet", base_filters=4, depth=3))
    model.compile(loss="dice_bce")
    history = model.fit(x, y, epochs=2, batch_size=2, verbose=0)
    assert {"loss", "iou", "f1", "precision", "recall", "pr_auc", "roc_auc"} <= set(history.history)
    logits = model.predict(x, verbose=0)
    assert logits.shape == (4, 32, 32, 1)
    path = tmp_path / "seg.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), logits, atol=1e-5)
    assert again.optimizer is not None  # re-compiled on load


@pytest.mark.portable
@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_predict_on_many_sizes(name):
    """Keras' TF predict function relaxes traced shapes to None after a few sizes; the graph must cope."""
    model = get_backbone(name, **SMALL[name])
    for size in (32,) if ON_JAX else (32, 64, 96, 128, 160):  # the shape relaxation is TensorFlow's
        out = model.predict_on_batch(np.zeros((1, size, size + 32, 3), "float32"))
        assert out["logits"].shape == (1, size, size + 32, 1)


@pytest.mark.portable
def test_jit_compile_default_follows_the_backend():
    """train.jit_compile None compiles under JAX (eager JAX runs op by op) and not under TensorFlow;
    an explicit setting reaches compile unchanged."""
    from hecl_keras.config import load_config
    from hecl_keras.models.build import build_compiled_model, resolve_jit_compile

    assert resolve_jit_compile(None) is (keras.backend.backend() == "jax")
    assert resolve_jit_compile(False) is False and resolve_jit_compile("auto") == "auto"
    config = load_config(None, ["model.base_filters=4", "model.options={depth: 2}"])
    assert config.train.jit_compile is None
    assert build_compiled_model(config).jit_compile is (keras.backend.backend() == "jax")
    explicit = load_config(None, ["model.base_filters=4", "model.options={depth: 2}", "train.jit_compile=false"])
    assert build_compiled_model(explicit).jit_compile is False
