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


def edge_artefact_model(tiles):
    """A model that is wrong within a few pixels of every tile edge (as zero padding makes real ones)."""
    h, w = tiles.shape[1:3]
    rows, cols = np.minimum(np.arange(h), np.arange(h)[::-1]), np.minimum(np.arange(w), np.arange(w)[::-1])
    to_edge = np.minimum.outer(rows, cols)
    return np.broadcast_to((0.02 + 0.5 * np.exp(-to_edge / 4.0))[None, :, :, None], (len(tiles), h, w, 1))


@pytest.mark.parametrize("shape", [(580, 870), (1200, 1700), (600, 600)])
def test_tile_edges_leave_no_seam(shape):
    # Away from the image's own border the stitched map must be the constant 0.02: a tile edge inside
    # the image may not show through by even one grey level of the 8-bit probability picture.
    prob = predict_tiled(edge_artefact_model, np.zeros(shape + (3,), np.uint8), (512, 512), overlap=0.25)
    inner = np.round(prob[24:-24, 24:-24] * 255)
    assert inner.max() - inner.min() <= 1


def test_predictor_maps_back_to_original_size():
    image, _ = synthetic_fundus(150, 200, seed=0)
    pred = Predictor(red_channel, (32, 32), PreprocessConfig(short_side=64))
    out = pred(image)
    assert out.shape == (150, 200)
    inside = image[..., 0] > 60
    assert np.abs(out[inside] - image[..., 0][inside] / 255.0).mean() < 0.05
