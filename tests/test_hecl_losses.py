import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from hecl_keras.losses import (
    contour_masks,
    dilate,
    edge_contrast_loss,
    erode,
    patch_density_loss,
    supervised_contrastive_loss,
)
from tests import hecl_reference as ref
from tests.conftest import ON_JAX

pytestmark = pytest.mark.portable


def clustered_masks(rng, b, h, w, level=0.6):
    """Blobby lesions: thresholded smoothed noise, so dense, sparse and empty patches all occur."""
    noise = ndimage.gaussian_filter(rng.standard_normal((b, h, w)), sigma=(0, 3, 3))
    noise /= noise.std()
    return (noise > level * 1.5).astype("float32")[..., None]


def features_for(rng, b, h, w, c=6):
    return np.maximum(rng.standard_normal((b, h, w, c)), 0).astype("float32")  # >= 0, like post-ReLU maps


def value(x):
    return float(keras.ops.convert_to_numpy(x))


@pytest.mark.parametrize("element,structure", [("cross", ref.CROSS), ("square", np.ones((3, 3), bool))])
@pytest.mark.parametrize("iterations", [0, 1, 2, 5])
def test_morphology_matches_scipy(element, structure, iterations):
    y = (np.random.default_rng(iterations).random((2, 13, 17, 1)) < 0.5).astype("float32")
    d = keras.ops.convert_to_numpy(dilate(y, iterations, element))
    e = keras.ops.convert_to_numpy(erode(y, iterations, element))
    for b in range(2):
        if iterations == 0:
            np.testing.assert_array_equal(d[b], y[b])
            continue
        dr = ndimage.binary_dilation(y[b, ..., 0] > 0, structure, iterations=iterations)
        er = ndimage.binary_erosion(y[b, ..., 0] > 0, structure, iterations=iterations, border_value=0)
        np.testing.assert_array_equal(d[b, ..., 0] > 0.5, dr)
        np.testing.assert_array_equal(e[b, ..., 0] > 0.5, er)


@pytest.mark.parametrize("grid,shape", [(5, (3, 50, 50)), (4, (2, 53, 61)), (3, (2, 31, 40)), (6, (1, 64, 66))])
def test_contour_masks_match_reference(grid, shape):
    masks = clustered_masks(np.random.default_rng(grid), *shape)
    inner, outer = contour_masks(masks, grid=grid)
    ri, ro = ref.contours(masks, grid)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(inner), ri)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(outer), ro)


def test_supervised_contrastive_matches_reference():
    rng = np.random.default_rng(0)
    e = rng.standard_normal((9, 5)).astype("float32")
    labels = np.array([0, 1, 1, 0, 2, 1, 0, 2, 1])
    valid = np.array([1, 1, 0, 1, 1, 1, 1, 0, 1], "float32")
    members = [i for i in range(9) if valid[i]]
    for form in ("supcon", "ntxent"):
        for tau in (0.05, 0.5):
            got = value(supervised_contrastive_loss(e, labels, tau, form, valid))
            assert got == pytest.approx(ref.contrastive(list(e), list(labels), members, tau, form), rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("form", ["supcon", "ntxent"])
@pytest.mark.parametrize("sampling", ["extremes", "all"])
@pytest.mark.parametrize("grid,shape", [(5, (3, 50, 55)), (4, (2, 53, 61)), (3, (4, 33, 30))])
def test_patch_density_matches_reference(form, sampling, grid, shape):
    rng = np.random.default_rng(grid * 7 + len(form))
    masks = clustered_masks(rng, *shape)
    feats = features_for(rng, *shape)
    got = value(patch_density_loss(feats, masks, grid=grid, sampling=sampling, form=form))
    want = ref.patch_density(feats, masks, grid=grid, sampling=sampling, form=form)
    assert want > 0  # the fixture really has both classes
    assert got == pytest.approx(want, rel=1e-5, abs=1e-5)


def test_extremes_ties_break_by_position():
    """Equal densities: the first patches in (image, row, column) order are chosen."""
    feats = features_for(np.random.default_rng(3), 2, 20, 20, 4)
    masks = np.zeros((2, 20, 20, 1), "float32")
    masks[:, :4, :8] = 1.0  # patches (0,0) and (0,1) of each image: density 1.0 (ties)
    masks[:, 4:8, :4] = 1.0  # patch (1,0) of each image: dense too
    for form in ("supcon", "ntxent"):
        got = value(patch_density_loss(feats, masks, grid=5, k=3, form=form))
        assert got == pytest.approx(ref.patch_density(feats, masks, grid=5, k=3, form=form), rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("form", ["supcon", "ntxent"])
@pytest.mark.parametrize("grid,shape", [(5, (3, 50, 55)), (4, (3, 53, 61)), (6, (3, 48, 49))])
def test_edge_contrast_matches_reference(form, grid, shape):
    rng = np.random.default_rng(grid + 11)
    masks = clustered_masks(rng, *shape)
    masks[-1] = 0.0  # a lesion-free image among others contributes nothing
    feats = features_for(rng, *shape)
    got = value(edge_contrast_loss(feats, masks, grid=grid, form=form))
    want = ref.edge(feats, masks, grid=grid, form=form)
    assert want > 0
    assert got == pytest.approx(want, rel=1e-5, abs=1e-5)


def _grads(fn, feats):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.Variable(feats)
        with tf.GradientTape() as tape:
            loss = fn(x)
        return loss, tape.gradient(loss, x).numpy()
    if backend == "jax":
        import jax

        loss, g = jax.value_and_grad(fn)(feats)
        return loss, np.asarray(g)
    pytest.skip(f"no gradient helper for {backend}")


def _degenerate_masks():
    b, h, w = 3, 40, 40
    masks = {}
    masks["all background"] = np.zeros((b, h, w, 1), "float32")
    masks["all lesion"] = np.ones((b, h, w, 1), "float32")
    sparse = np.zeros((b, h, w, 1), "float32")
    sparse[:, 10, 10] = 1.0
    masks["no dense patch"] = sparse
    border = np.zeros((b, h, w, 1), "float32")
    border[:, 5:11, 6:10] = 1.0  # straddles the 8-pixel patch border
    masks["lesion on patch border"] = border
    single = np.zeros((1, h, w, 1), "float32")
    single[0, 2:20, 2:20] = 1.0
    masks["single image"] = single
    return masks


@pytest.mark.parametrize("case", list(_degenerate_masks()))
@pytest.mark.parametrize("form", ["supcon", "ntxent"])
def test_degenerate_batches_are_finite(case, form):
    masks = _degenerate_masks()[case]
    feats = features_for(np.random.default_rng(0), masks.shape[0], 40, 40, 4)
    feats[0, :8, :8] = 0.0  # an all-zero patch vector is harmless
    for name, fn in {
        "pd": lambda f: patch_density_loss(f, masks, grid=5, form=form),
        "pd_all": lambda f: patch_density_loss(f, masks, grid=5, form=form, sampling="all"),
        "de": lambda f: edge_contrast_loss(f, masks, grid=5, form=form),
    }.items():
        loss, grad = _grads(fn, feats)
        loss = value(loss)
        assert np.isfinite(loss) and loss >= 0, (case, name)
        assert np.isfinite(grad).all(), (case, name)
        if case in ("all background", "all lesion", "no dense patch") and name.startswith("pd"):
            assert loss == 0.0, (case, name)
        if case in ("all background", "all lesion"):
            assert loss == 0.0, (case, name)
        want = ref.patch_density(feats, masks, form=form, sampling="all") if name == "pd_all" else (
            ref.patch_density(feats, masks, form=form) if name == "pd" else ref.edge(feats, masks, form=form))
        assert loss == pytest.approx(want, rel=1e-5, abs=1e-5), (case, name)


def test_bad_arguments():
    f, m = np.zeros((1, 10, 10, 2), "float32"), np.zeros((1, 10, 10, 1), "float32")
    with pytest.raises(ValueError, match="form"):
        patch_density_loss(f, m, form="infonce")
    with pytest.raises(ValueError, match="sampling"):
        patch_density_loss(f, m, sampling="some")
    with pytest.raises(ValueError, match="temperature"):
        edge_contrast_loss(f, m, temperature=0)
    with pytest.raises(ValueError, match="smaller than"):
        patch_density_loss(np.zeros((1, 3, 3, 2), "float32"), np.zeros((1, 3, 3, 1), "float32"), grid=5)


@settings(max_examples=5 if ON_JAX else 25, deadline=None)
@given(seed=st.integers(0, 10**6), level=st.floats(0.0, 1.5), grid=st.sampled_from([3, 4, 5]),
       form=st.sampled_from(["supcon", "ntxent"]))
def test_properties_random_masks(seed, level, grid, form):
    rng = np.random.default_rng(seed)
    masks = clustered_masks(rng, 3, 30, 34, level)
    feats = features_for(rng, 3, 30, 34, 4)
    order = rng.permutation(3)
    for fn in (lambda f, m: patch_density_loss(f, m, grid=grid, form=form, sampling="all"),
               lambda f, m: edge_contrast_loss(f, m, grid=grid, form=form)):
        a = value(fn(feats, masks))
        assert np.isfinite(a) and a >= 0
        assert value(fn(feats[order], masks[order])) == pytest.approx(a, rel=1e-4, abs=1e-5)
    e = value(patch_density_loss(feats, masks, grid=grid, form=form))
    assert np.isfinite(e) and e >= 0
