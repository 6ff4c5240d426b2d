import keras
import numpy as np
import pytest

from hecl_keras.config import load_config
from hecl_keras.data import synthetic_pairs, tile_pairs
from hecl_keras.losses import edge_contrast_loss, patch_density_loss
from hecl_keras.models import get_backbone
from hecl_keras.models.hecl import HECLSegmenter
from tests.conftest import QUICKSTART


@pytest.fixture(scope="module")
def batch():
    x, y = tile_pairs(synthetic_pairs(3, 96, 96, seed=1, lesion_free_prob=0.0), (48, 48))
    order = np.argsort(-y.reshape(len(y), -1).mean(1))  # lesion-rich tiles first
    return x[order][:8], y[order][:8]


def make(**kwargs):
    keras.utils.set_random_seed(0)
    options = dict(grid=4, threshold=0.05, alpha=0.5)
    options.update(kwargs)
    return HECLSegmenter(get_backbone("unet", base_filters=4, depth=3), **options)


@pytest.mark.portable
def test_two_step_fit_reports_every_term(batch):
    x, y = batch
    model = make()
    model.compile()
    history = model.fit(x, y, batch_size=4, epochs=1, validation_data=(x[:4], y[:4]), verbose=0).history
    for name in ("loss", "sup_loss", "pd_loss", "de_loss", "pd_active", "de_active", "val_loss", "val_pr_auc"):
        assert name in history and np.isfinite(history[name][0]), name
    assert history["pd_active"][0] == 1.0 and history["de_active"][0] == 1.0
    assert model.predict(x[:2], verbose=0).shape == (2, 48, 48, 1)  # inference: logits only


@pytest.mark.portable
def test_total_loss_is_sup_plus_alpha_terms(batch):
    x, y = batch
    model = make(alpha=0.5)
    model.compile()
    out = model(x[:4], training=True)
    total = float(keras.ops.convert_to_numpy(model.compute_loss(x[:4], y[:4], out)))
    logits = keras.ops.convert_to_numpy(out["logits"]).astype(np.float64)
    t = y[:4].astype(np.float64)
    bce = np.mean(np.maximum(logits, 0) - logits * t + np.log1p(np.exp(-np.abs(logits))))
    feats = out["features"]
    pd = float(keras.ops.convert_to_numpy(patch_density_loss(feats, y[:4], grid=4, threshold=0.05)))
    de = float(keras.ops.convert_to_numpy(edge_contrast_loss(feats, y[:4], grid=4, threshold=0.05)))
    assert pd > 0 and de > 0
    assert total == pytest.approx(bce + 0.5 * (pd + de), rel=1e-4)


# Under JAX one variant (each is an XLA compile of the train step).
@pytest.mark.parametrize("use_density,use_edge",
                         [(False, True), pytest.param(True, False, marks=pytest.mark.portable), (False, False)])
def test_ablations_switch_terms_off(batch, use_density, use_edge):
    x, y = batch
    model = make(use_density=use_density, use_edge=use_edge)
    model.compile()
    h = model.fit(x, y, batch_size=4, epochs=1, verbose=0).history
    assert (h["pd_loss"][0] > 0) == use_density
    assert (h["de_loss"][0] > 0) == use_edge


def test_save_and_reload_keeps_parameters(batch, tmp_path):
    x, _ = batch
    model = make(temperature=0.1, sampling="all", form="ntxent", k=2, use_edge=False)
    model.compile()
    model.save(tmp_path / "hecl.keras")
    again = keras.saving.load_model(tmp_path / "hecl.keras")
    assert isinstance(again, HECLSegmenter)
    for name in ("alpha", "temperature", "grid", "threshold", "use_density", "use_edge", "sampling", "k", "form"):
        assert getattr(again, name) == getattr(model, name), name
    np.testing.assert_allclose(again.predict(x[:2], verbose=0), model.predict(x[:2], verbose=0), atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="jit_compile switch is a TF-backend matter")
def test_fit_under_xla(batch):
    x, y = batch
    model = make()
    model.compile(jit_compile=True)
    h = model.fit(x, y, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(h["loss"][0]) and h["de_loss"][0] > 0


def test_bad_arguments():
    backbone = get_backbone("unet", base_filters=4, depth=3)
    with pytest.raises(ValueError, match="form"):
        HECLSegmenter(backbone, form="triplet")
    with pytest.raises(ValueError, match="temperature"):
        HECLSegmenter(backbone, temperature=0.0)


def test_config_builds_hecl_model():
    from hecl_keras.models import build_model

    config = load_config(QUICKSTART, ["hecl.enabled=true", "hecl.grid=4", "hecl.form=ntxent"])
    model = build_model(config)
    assert isinstance(model, HECLSegmenter) and model.grid == 4 and model.form == "ntxent"


@pytest.mark.portable
def test_val_loss_is_the_same_total_as_the_training_loss(batch):
    """As the docstring says: val_loss = val_sup_loss + alpha * (val_pd_loss + val_de_loss), not L_sup alone."""
    x, y = batch
    model = make(alpha=0.5)
    model.compile()
    logs = model.evaluate(x[:4], y[:4], batch_size=4, verbose=0, return_dict=True)
    assert logs["pd_loss"] > 0 and logs["de_loss"] > 0
    assert logs["loss"] == pytest.approx(logs["sup_loss"] + 0.5 * (logs["pd_loss"] + logs["de_loss"]), rel=1e-5)


@pytest.mark.portable
def test_projection_head_feeds_the_terms_and_alpha_scale_weights_them(batch):
    from tests import hecl_reference as ref

    x, y = batch
    model = make(alpha=0.5, projection_dim=6, alpha_schedule=True)
    model.compile()
    out = model(x[:4], training=True)
    logits = keras.ops.convert_to_numpy(out["logits"]).astype(np.float64)
    t = y[:4].astype(np.float64)
    bce = np.mean(np.maximum(logits, 0) - logits * t + np.log1p(np.exp(-np.abs(logits))))
    # The head, in NumPy: relu(f W1 + b1) W2 + b2 per pixel (1x1 convolutions).
    (w1, b1), (w2, b2) = ([keras.ops.convert_to_numpy(v).astype(np.float64) for v in layer.weights]
                          for layer in model.projection.layers)
    f = keras.ops.convert_to_numpy(out["features"]).astype(np.float64)
    z = np.maximum(f @ w1[0, 0] + b1, 0) @ w2[0, 0] + b2
    pd = ref.patch_density(z, t, grid=4, threshold=0.05, tau=0.05)
    de = ref.edge(z, t, grid=4, threshold=0.05, tau=0.05)
    assert pd > 0 and de > 0
    total = float(keras.ops.convert_to_numpy(model.compute_loss(x[:4], y[:4], out)))
    assert total == pytest.approx(bce + 0.5 * (pd + de), rel=1e-4)
    model.alpha_scale.assign(0.25)
    total = float(keras.ops.convert_to_numpy(model.compute_loss(x[:4], y[:4], out)))
    assert total == pytest.approx(bce + 0.125 * (pd + de), rel=1e-4)
    assert model.predict(x[:2], verbose=0).shape == (2, 48, 48, 1)  # inference never runs the head


def test_alpha_schedule_values_and_logging(batch):
    from hecl_keras.models.hecl import AlphaSchedule

    assert [AlphaSchedule(2, 4).scale(e) for e in range(7)] == [0, 0, 0.25, 0.5, 0.75, 1, 1]
    cosine = [AlphaSchedule(0, 2, "cosine").scale(e) for e in range(3)]
    assert cosine == pytest.approx([0.5, 1.0, 1.0])
    x, y = batch
    model = make(alpha_schedule=True)
    model.compile()
    h = model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[AlphaSchedule(1, 0)]).history
    assert h["alpha_scale"] == [0.0, 1.0]
    plain = make()
    plain.compile()
    with pytest.raises(ValueError, match="alpha_schedule=True"):
        plain.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[AlphaSchedule(1, 0)])
