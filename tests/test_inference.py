import numpy as np
import pytest

from hecl_keras.data import PreprocessConfig, synthetic_fundus
from hecl_keras.inference import Predictor, predict_tiled, tile_starts


def red_channel(tiles):
    return tiles[..., :1]


@pytest.mark.parametrize("shape,overlap", [((100, 130), 0.25), ((64, 64), 0.5), ((40, 50), 0.0), ((129, 200), 0.3)])
def test_stitching_reproduces_a_pixelwise_model_exactly(shape, overlap):
    image = np.random.default_rng(0).random(shape + (3,)).astype(np.float32)
    out = predict_tiled(red_channel, image, (64, 64), overlap=overlap, tta_flip=True)
    np.testing.assert_allclose(out, image[..., 0], atol=1e-5)


def test_tile_starts_cover():
    for length in (64, 65, 300, 1000):
        starts = tile_starts(length, 64, 0.25)
        assert starts[0] == 0 and starts[-1] == max(0, length - 64)
        assert all(b - a <= 48 for a, b in zip(starts, starts[1:]))


def test_predictor_maps_back_to_original_size():
    image, _ = synthetic_fundus(150, 200, seed=0)
    pred = Predictor(red_channel, (32, 32), PreprocessConfig(short_side=64))
    out = pred(image)
    assert out.shape == (150, 200)
    inside = image[..., 0] > 60
    assert np.abs(out[inside] - image[..., 0][inside] / 255.0).mean() < 0.05
