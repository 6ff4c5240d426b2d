"""Field-of-view colour normalisation: what each method removes, and that inference applies it as training does."""

import numpy as np
import pytest

from hecl_keras.config import ConfigError, load_config
from hecl_keras.data import PreprocessConfig, synthetic_fundus
from hecl_keras.data.geometry import fov_mask
from hecl_keras.data.normalize import NORMALIZATIONS, normalize_colour
from hecl_keras.data.preprocess import preprocess_arrays
from hecl_keras.inference import Predictor
from tests.conftest import QUICKSTART


@pytest.fixture(scope="module")
def photo():
    return synthetic_fundus(192, 256, seed=4, lesion_free_prob=0.0)


@pytest.mark.parametrize("method", NORMALIZATIONS)
def test_every_method_keeps_shape_dtype_and_black_margin(photo, method):
    image, _ = photo
    out = normalize_colour(image, method)
    assert out.shape == image.shape and out.dtype == np.uint8
    if method == "none":
        assert out is image
    else:
        assert (out[~fov_mask(image)] == 0).all() and (out != image).any()


def test_fov_standardize_removes_a_colour_cast_and_gain(photo):
    image, _ = photo
    fov = fov_mask(image)
    cast = np.clip(image * np.array([0.8, 1.1, 0.7]), 0, 255).astype(np.uint8)
    a, b = normalize_colour(image, "fov_standardize"), normalize_colour(cast, "fov_standardize")
    inside = fov & fov_mask(cast)
    before = np.abs(image[inside].astype(int) - cast[inside]).mean()
    after = np.abs(a[inside].astype(int) - b[inside]).mean()
    assert after < 0.15 * before  # a per-channel gain is (nearly) undone; rounding and clipping remain


def test_local_mean_removes_vignetting(photo):
    image, _ = photo
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    shade = 1 - 0.4 * (((yy - h / 2) / h) ** 2 + ((xx - w / 2) / w) ** 2) * 4
    dim = np.clip(image * shade[..., None], 0, 255).astype(np.uint8)
    fov = fov_mask(image) & fov_mask(dim)
    a, b = normalize_colour(image, "local_mean"), normalize_colour(dim, "local_mean")
    assert np.abs(a[fov].astype(int) - b[fov]).mean() < 0.5 * np.abs(image[fov].astype(int) - dim[fov]).mean()


def test_training_pairs_and_inference_use_the_same_normalisation(photo):
    image, mask = photo
    config = PreprocessConfig(short_side=128, normalize="clahe")
    working, _, _ = preprocess_arrays(image, mask, config)
    predictor = Predictor(lambda tiles: tiles[..., :1], (32, 32), config)
    np.testing.assert_array_equal(predictor.working(image)[0], working)


def test_config_checks_the_method():
    assert load_config(QUICKSTART, ["data.normalize=local_mean"]).data.normalize == "local_mean"
    with pytest.raises(ConfigError, match="data.normalize must be one of"):
        load_config(QUICKSTART, ["data.normalize=histogram"])
