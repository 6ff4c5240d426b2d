import numpy as np
import pytest

from hecl_keras.data import CropResize, find_fov, plan_crop_resize, preprocess_arrays, synthetic_fundus
from hecl_keras.data.preprocess import PreprocessConfig


def test_fov_box_contains_the_circle_and_drops_margins():
    image, mask = synthetic_fundus(300, 420, seed=3)
    top, bottom, left, right = find_fov(image)
    fov_cols = np.where(image[..., 0].max(0) > 40)[0]
    assert left <= fov_cols.min() and right > fov_cols.max()
    assert right - left < 420 - 60  # the black side margins are gone
    assert mask[:, :left].sum() == 0 and mask[:, right:].sum() == 0


def test_crop_round_trip_is_exact_without_resize():
    image, mask = synthetic_fundus(200, 260, seed=1, lesion_free_prob=0)
    t = plan_crop_resize(image, short_side=None)
    back = t.invert(t.apply_mask(mask).astype(np.float32))
    np.testing.assert_array_equal(back > 0.5, mask)


def test_resize_round_trip_keeps_positions():
    t = CropResize((100, 200), (10, 90, 40, 160), (40, 60))
    values = np.zeros((100, 200), np.float32)
    values[30:50, 80:120] = 1.0
    back = t.invert(t.apply_mask(values > 0).astype(np.float32))
    assert back.shape == (100, 200)
    np.testing.assert_array_equal(back[30:50, 80:120] > 0.5, True)
    assert (back > 0.5).sum() == pytest.approx(20 * 40, rel=0.15)


def test_mask_rebinarised_at_half_not_any():
    """A 1-pixel lesion in a 4x4 area block covers 1/16 < 0.5: it disappears (the authors' >0 kept it)."""
    mask = np.zeros((8, 8), bool)
    mask[0, 0] = True
    mask[4:8, 4:8] = True  # a full block survives
    t = CropResize((8, 8), (0, 8, 0, 8), (2, 2))
    np.testing.assert_array_equal(t.apply_mask(mask), [[False, False], [False, True]])


def test_preprocess_short_side():
    image, mask = synthetic_fundus(300, 420, seed=0)
    img, m, t = preprocess_arrays(image, mask, PreprocessConfig(short_side=128))
    assert min(img.shape[:2]) == 128 and img.shape[:2] == m.shape and m.dtype == bool
    assert t.size == img.shape[:2]


def _brute_rim_fraction(fov, radius):
    """Each FOV pixel's Euclidean distance to the nearest non-FOV pixel of the frame, over ``radius`` (NumPy)."""
    ys, xs = np.nonzero(~fov)
    out = np.zeros(fov.shape)
    for y, x in zip(*np.nonzero(fov)):
        out[y, x] = np.sqrt(((ys - y) ** 2 + (xs - x) ** 2).min()) / radius
    return out


@pytest.mark.parametrize("height", [44, 30])  # the whole disc; a disc the frame clips at top and bottom
def test_rim_distance_fraction_is_the_distance_to_the_rim_inside_the_frame(height):
    from hecl_keras.data.geometry import rim_distance_fraction

    yy, xx = np.mgrid[0:height, 0:50]
    fov = (yy - height / 2 + 0.5) ** 2 + (xx - 24.5) ** 2 <= 20.5 ** 2
    assert fov.any(axis=0).sum() == 40  # the FOV is 40 columns wide: radius 20
    got = rim_distance_fraction(fov)
    np.testing.assert_allclose(got, _brute_rim_fraction(fov, 20.0), atol=1e-5)
    assert got[~fov].max() == 0 and got.max() == pytest.approx(1.0, abs=0.03)
    if height == 30:  # where the frame clips the disc, its edge is not rim: the top row's middle is deep inside
        assert got[0, 25] > 0.5


def test_fov_margin_keep_drops_the_rim_band_and_nothing_without_a_fov():
    from hecl_keras.data.geometry import fov_margin_keep, fov_mask

    image, _ = synthetic_fundus(200, 260, seed=1)
    fov = fov_mask(image)
    keep = fov_margin_keep(image, 0.1)
    assert not (keep & ~fov).any() and (fov & ~keep).any() and keep[100, 130]
    assert fov_margin_keep(image, 0.0).sum() == fov.sum()
    assert fov_margin_keep(np.zeros_like(image), 0.1) is None
