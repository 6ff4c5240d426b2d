"""Field-of-view colour normalisation: what each method removes, and that inference applies it as training does."""

import numpy as np
import pytest

from hecl_keras.config import ConfigError, load_config
from hecl_keras.data import PreprocessConfig, synthetic_fundus
from hecl_keras.data.geometry import fov_mask
from hecl_keras.data.normalize import NORMALIZATIONS, central_luminance, match_tone, normalize_colour
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


def _disc_image(h, w, radius, rng=None):
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 <= radius ** 2
    image = np.zeros((h, w, 3), np.uint8)
    image[disc] = (150, 90, 40) if rng is None else rng.integers(60, 220, (int(disc.sum()), 3))
    return image, disc


def test_local_mean_fov_has_no_rim_band_where_local_mean_has_one():
    """A field of view of one colour: nothing to enhance, so local_mean_fov gives 128 at every pixel of it, while
    Graham's local_mean (whose blur takes in the black margin) lifts a band along the rim well above 128."""
    image, disc = _disc_image(90, 120, 40)
    assert (normalize_colour(image, "local_mean_fov")[disc] == 128).all()
    graham = normalize_colour(image, "local_mean")[disc].astype(int)
    assert graham.max() == 255 and np.median(graham) == 128  # the centre is flat, the rim saturates


def test_local_mean_fov_against_a_numpy_normalised_convolution():
    """Independent computation from the formula: 4 (x - G*(x f) / G*f) + 128 inside the FOV f, 0 outside, with a
    Gaussian of sigma = short side / 30 truncated as OpenCV does (8 sigma + 1 taps) and reflected borders."""
    rng = np.random.default_rng(3)
    image, disc = _disc_image(60, 80, 26, rng)
    sigma = 60 / 30.0
    taps = int(round(8 * sigma + 1)) | 1
    offsets = np.arange(taps) - taps // 2
    kernel = np.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel /= kernel.sum()

    def blur(a):  # separable, borders reflected without repeating the edge pixel (OpenCV's default)
        pad = taps // 2
        a = np.pad(a, [(pad, pad), (pad, pad)] + [(0, 0)] * (a.ndim - 2), mode="reflect")
        a = sum(k * a[i:i + a.shape[0] - 2 * pad] for i, k in enumerate(kernel))
        return sum(k * a[:, i:i + a.shape[1] - 2 * pad] for i, k in enumerate(kernel))

    f = disc.astype(np.float64)
    x = image.astype(np.float64)
    expected = 4 * (x - blur(x * f[..., None]) / np.maximum(blur(f), 1e-12)[..., None]) + 128
    expected = np.where(disc[..., None], np.clip(np.round(expected), 0, 255), 0)
    out = normalize_colour(image, "local_mean_fov").astype(int)
    assert np.abs(out - expected).max() <= 1 and (out != expected).mean() < 0.01  # float32 rounding at .5 only


def test_central_luminance_is_the_mean_of_the_pixels_far_enough_from_the_rim():
    """Against a brute-force distance: each pixel of the field of view's Euclidean distance to the nearest pixel
    outside it, over half the field's width, at least 0.4 (a disc inside the frame, so every edge of it is rim)."""
    rng = np.random.default_rng(0)
    h, w = 42, 52
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (yy - 21) ** 2 + (xx - 25) ** 2 <= 18.0 ** 2
    image = np.zeros((h, w, 3), np.uint8)
    image[disc] = rng.integers(40, 250, (disc.sum(), 3))
    fov = fov_mask(image)  # the detector's field (its blur trims the disc's edge); tested in test_geometry
    inside, outside = np.argwhere(fov), np.argwhere(~fov)
    distance = np.sqrt(((inside[:, None, :] - outside[None, :, :]) ** 2).sum(-1)).min(1)
    columns = np.flatnonzero(fov.any(0))
    fraction = distance / ((columns[-1] - columns[0] + 1) / 2)
    assert np.abs(fraction - 0.4).min() > 1e-4  # no pixel on the cut, where float32 and float64 could disagree
    central = inside[fraction >= 0.4]
    expected = image[central[:, 0], central[:, 1]].astype(float).mean() / 255
    assert 0.3 * fov.sum() < len(central) < 0.5 * fov.sum()
    assert central_luminance(image) == pytest.approx(expected, rel=1e-9)
    assert central_luminance(np.zeros_like(image)) is None


def _gamma_inside(image, gamma):
    fov = fov_mask(image)
    other = image.copy()
    other[fov] = np.round(255 * (image[fov] / 255.0) ** gamma).astype(np.uint8)
    return fov, other


@pytest.mark.parametrize("gamma", [0.6, 1.6])
def test_match_tone_undoes_another_cameras_gamma(photo, gamma):
    image, _ = photo
    fov, other = _gamma_inside(image, gamma)
    target = central_luminance(image)
    matched = match_tone(other, target)
    assert central_luminance(matched) == pytest.approx(target, abs=0.03)  # one gamma for 3 channels: close
    before = np.abs(image[fov].astype(int) - other[fov]).mean()
    assert np.abs(image[fov].astype(int) - matched[fov]).mean() < 0.25 * before  # 0.14-0.23 of it
    outside = ~fov_mask(other)  # match_tone's own field of view (brightening widens it)
    assert (matched[outside] == other[outside]).all()
    assert match_tone(np.zeros_like(image), target).max() == 0  # no field of view: nothing to match


@pytest.mark.parametrize("gamma", [0.6, 1.6])
def test_match_tone_is_exact_on_a_grey_photograph(photo, gamma):
    """R = G = B: the luminance is each channel, so the gamma found brings the central luminance to the target
    and undoes the other camera's gamma up to the 8-bit rounding."""
    grey = np.repeat(photo[0][..., :1], 3, axis=-1)
    fov, other = _gamma_inside(grey, gamma)
    target = central_luminance(grey)
    matched = match_tone(other, target)
    assert central_luminance(matched) == pytest.approx(target, abs=0.003)
    assert np.abs(grey[fov].astype(int) - matched[fov]).mean() < 0.6


def test_tone_target_comes_before_the_method_in_training_and_inference(photo):
    image, mask = photo
    config = PreprocessConfig(short_side=128, tone_target=0.3)
    working, _, _ = preprocess_arrays(image, mask, config)
    plain = preprocess_arrays(image, mask, PreprocessConfig(short_side=128))[0]
    np.testing.assert_array_equal(working, match_tone(plain, 0.3))
    assert central_luminance(working) == pytest.approx(0.3, abs=0.03) and central_luminance(plain) > 0.33
    predictor = Predictor(lambda tiles: tiles[..., :1], (32, 32), config)
    np.testing.assert_array_equal(predictor.working(image)[0], working)
    both = PreprocessConfig(short_side=128, tone_target=0.3, normalize="clahe")
    assert (preprocess_arrays(image, mask, both)[0] != working).any()
    with pytest.raises(ConfigError, match=r"data.tone_target must be null or in \(0, 1\)"):
        load_config(QUICKSTART, ["data.tone_target=1.2"])
    assert load_config(QUICKSTART, ["data.tone_target=0.38"]).data.tone_target == 0.38


def test_tone_at_inference_leaves_training_pairs_untouched_and_reaches_the_predictor():
    """data.tone_at: inference -- training pairs (and the validation crops that pick the epoch) as without a
    tone_target, bit for bit; the predictor built from the same config matches the tone."""
    from hecl_keras.data.experiment import load_experiment_data
    from hecl_keras.data.preprocess import preprocess_config

    tiny = ["data.synthetic.count=3", "data.synthetic.height=96", "data.synthetic.width=112", "data.short_side=64",
            "data.val_count=1"]
    plain = load_config(QUICKSTART, tiny)
    at_inference = load_config(QUICKSTART, [*tiny, "data.tone_target=0.3", "data.tone_at=inference"])
    everywhere = load_config(QUICKSTART, [*tiny, "data.tone_target=0.3"])
    assert everywhere.data.tone_at == "all"
    assert preprocess_config(at_inference.data, "training") == preprocess_config(plain.data)
    assert preprocess_config(at_inference.data) == preprocess_config(everywhere.data, "training")
    assert preprocess_config(at_inference.data).tone_target == 0.3
    trained_on = load_experiment_data(at_inference.data, show_progress=False)
    untoned = load_experiment_data(plain.data, show_progress=False)
    toned = load_experiment_data(everywhere.data, show_progress=False)
    for a, b, c in zip(trained_on.train + trained_on.val, untoned.train + untoned.val, toned.train + toned.val,
                       strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        assert (a.image != c.image).any()
    def working(config, photograph):
        return Predictor.from_config(lambda tiles: tiles[..., :1], config).working(photograph)[0]

    photograph = next(trained_on.originals("val"))[1]
    np.testing.assert_array_equal(working(at_inference, photograph), working(everywhere, photograph))
    assert (working(at_inference, photograph) != working(plain, photograph)).any()
    with pytest.raises(ConfigError, match=r"data.tone_at must be one of \('all', 'inference'\)"):
        load_config(QUICKSTART, ["data.tone_at=train"])
    with pytest.raises(ValueError, match="stage must be 'training' or 'inference'"):
        preprocess_config(plain.data, "evaluation")


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


def test_tone_and_method_share_the_photographs_field_of_view(photo):
    image, _ = photo
    fov = fov_mask(image)
    darker = match_tone(image, 0.05)  # a strong gamma (> 1): the dim rim falls below the FOV detector's level
    assert (fov_mask(darker) != fov).any()
    out = normalize_colour(image, "local_mean", tone_target=0.05)
    assert (out[~fov] == 0).all() and (out[fov] != 0).mean() > 0.99  # the photograph's FOV, not the darker one's
