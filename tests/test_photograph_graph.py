"""hecl_keras.photograph_graph: each TensorFlow step against the NumPy/OpenCV pipeline it stands in for."""

import numpy as np
import pytest

from hecl_keras.data import geometry, normalize, synthetic_fundus
from hecl_keras.data.preprocess import PreprocessConfig
from hecl_keras.inference import sliding_window
from hecl_keras.inference.predictor import Predictor

tf = pytest.importorskip("tensorflow")
pg = pytest.importorskip("hecl_keras.photograph_graph")


def _photograph(seed, height=150, width=210):
    return synthetic_fundus(height, width, seed=seed, lesion_free_prob=0.0)[0]


def _working(seed):
    image = _photograph(seed, 330, 470)
    return geometry.plan_crop_resize(image, short_side=300).apply_image(image)


@pytest.mark.parametrize("source,target", [((64, 83), (100, 130)), ((333, 444), (580, 773)), ((100, 130), (101, 129)),
                                           ((300, 400), (150, 200)), ((257, 389), (128, 194))])
def test_area_resize_is_opencvs(source, target):
    """Enlarging (and a mixed resize) bit for bit; shrinking by a non-integer factor a level off now and then."""
    import cv2

    image = np.random.default_rng(0).integers(0, 256, (*source, 3)).astype(np.uint8)
    want = cv2.resize(image, target[::-1], interpolation=cv2.INTER_AREA).astype(int)
    got = pg.round_half_up(pg.area_resize(tf.constant(image), tf.constant(target))).numpy().astype(int)
    difference = np.abs(got - want)
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3
    if any(t > s for s, t in zip(source, target)) or all(s % t == 0 for s, t in zip(source, target)):
        assert difference.max() == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fov_box_and_working_image_match_opencv(seed):
    image = _photograph(seed, 600, 800)  # downscaled by 2 for the FOV mask, as a working-scale photograph is
    assert tuple(pg.fov_box(tf.constant(image), 20).numpy()) == geometry.find_fov(image)
    config = PreprocessConfig(short_side=300)
    transform = geometry.plan_crop_resize(image, short_side=300)
    working, box = pg.working_image(tf.constant(image), config)
    assert tuple(box.numpy()) == transform.box
    want = transform.apply_image(image).astype(int)
    assert working.shape == want.shape
    difference = np.abs(working.numpy().astype(int) - want)
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3  # float sums round differently, rarely


def test_rim_distance_is_opencvs_exact_distance_transform():
    fov = geometry.fov_mask(_working(0))
    fov[:3] = True  # a frame edge that clips the FOV is no rim
    want = geometry.rim_distance_fraction(fov)
    got = pg.rim_distance_fraction(tf.constant(fov)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    photograph = _photograph(0, 600, 800)  # its FOV mask is found at half scale: the coarse distance is off by ~2 px
    coarse = pg.rim_distance_fraction(*pg.fov_mask(tf.constant(photograph), 20)).numpy()
    exact = geometry.rim_distance_fraction(geometry.fov_mask(photograph))
    radius = 0.5 * np.flatnonzero(geometry.fov_mask(photograph).any(0)).size
    assert 0 < np.abs(coarse - exact).max() * radius <= 2.5


@pytest.mark.parametrize("method,tone", [("none", 0.385), ("local_mean_fov", None), ("local_mean_fov", 0.3),
                                         ("local_mean", None), ("fov_standardize", 0.5)])
def test_normalize_colour_matches_numpy(method, tone):
    image = _working(1)
    want = normalize.normalize_colour(image, method, 20, tone).astype(int)
    got = pg.normalize_colour(tf.constant(image), method, 20, tone).numpy().astype(int)
    difference = np.abs(got - want)
    # Float sums in another order: a level now and then (x4 after local_mean); a pixel whose FOV membership the
    # two blurs of the FOV detector decide differently can differ by more (none on these images).
    assert np.percentile(difference, 99.9) <= 4 and difference.mean() < 0.02, (difference.max(), difference.mean())


def test_normalize_colour_leaves_a_black_image_and_refuses_clahe():
    black = np.zeros((64, 80, 3), np.uint8)
    np.testing.assert_array_equal(pg.normalize_colour(tf.constant(black), "local_mean_fov", 20, 0.4).numpy(), black)
    with pytest.raises(ValueError, match="clahe"):
        pg.normalize_colour(tf.constant(black), "clahe")


@pytest.mark.parametrize("length,tile,overlap", [(20, 32, 0.25), (32, 32, 0.25), (33, 32, 0.25), (300, 64, 0.25),
                                                 (1000, 256, 0.5), (581, 256, 0.0)])
def test_tile_starts_match(length, tile, overlap):
    assert list(pg.tile_starts(tf.constant(length), tile, overlap).numpy()) == \
        sliding_window.tile_starts(length, tile, overlap)


def _toy_model(tiles):
    """(n, th, tw, 3) -> (n, th, tw, 1): depends on position in the tile and on the tile's content, so stitching,
    weights and views all show."""
    th, tw = tiles.shape[1:3]
    ramp = np.linspace(0.0, 1.0, th * tw, dtype=np.float32).reshape(1, th, tw, 1)
    content = tiles[..., :1] * 0.5 + (tiles[..., 1:2] if tiles.shape[-1] > 1 else 0) * ramp
    mean = np.mean(tiles, axis=(1, 2, 3), keepdims=True) if isinstance(tiles, np.ndarray) \
        else tf.reduce_mean(tiles, axis=(1, 2, 3), keepdims=True)
    return content + 0.1 * ramp + 0.2 * mean


@pytest.mark.parametrize("tta", ["none", "d4"])
def test_predict_tiled_matches_numpy(tta):
    working = _working(2)
    want = sliding_window.predict_tiled(_toy_model, working, (64, 64), 0.25, tta, batch_size=5)
    got = pg.predict_tiled(_toy_model, tf.constant(working), (64, 64), 0.25, tta).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_photograph_probabilities_match_the_predictor():
    image = _photograph(3, 330, 470)
    config = PreprocessConfig(short_side=300, normalize="local_mean_fov", tone_target=0.385)
    predictor = Predictor(_toy_model, (64, 64), config, overlap=0.25, tta="flips", fov_margin=0.05)
    want = predictor(image)

    @tf.function
    def graph(photograph):
        return pg.photograph_probabilities(_toy_model, photograph, (64, 64), config, 0.25, "flips", 0.05)

    got = graph(tf.constant(image)).numpy()
    assert got.shape == want.shape
    difference = np.abs(got - want)
    # The working images differ by a level in ~0.1 % of pixels (area resize), x4 after local_mean_fov: 0.2 % of
    # the map moves by more than 1e-3 (at most ~0.01 here); the rest agrees to float precision.
    assert np.mean(difference > 1e-3) < 0.005 and difference.mean() < 1e-4, (difference.max(), difference.mean())
