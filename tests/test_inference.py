import numpy as np
import pytest

from hecl_keras.data import PreprocessConfig, synthetic_fundus
from hecl_keras.inference import Predictor, predict_tiled, tile_starts


def red_channel(tiles):
    return tiles[..., :1]


@pytest.mark.parametrize("shape,overlap", [((100, 130), 0.25), ((64, 64), 0.5), ((40, 50), 0.0), ((129, 200), 0.3)])
def test_stitching_reproduces_a_pixelwise_model_exactly(shape, overlap):
    image = np.random.default_rng(0).random(shape + (3,)).astype(np.float32)
    out = predict_tiled(red_channel, image, (64, 64), overlap=overlap, tta="d4")
    np.testing.assert_allclose(out, image[..., 0], atol=1e-5)


def orientation_sensitive_model(tiles):
    """A model whose answer depends on where a pixel sits in the tile (a ramp along rows and columns)."""
    n, h, w = tiles.shape[:3]
    ramp = np.add.outer(np.arange(h) / h, 2 * np.arange(w) / w) / 3.0
    return (0.5 * tiles[..., :1] + 0.5 * ramp[None, :, :, None]).astype(np.float32)


@pytest.mark.parametrize("tta,views", [("none", 1), ("hflip", 2), (True, 2), ("flips", 4), ("d4", 8)])
def test_tta_averages_each_view_mapped_back(tta, views):
    from hecl_keras.inference import predict_views
    from hecl_keras.inference.tta import tta_view_count

    tiles = np.random.default_rng(1).random((3, 8, 8, 3)).astype(np.float32)
    # The mean over the views, written out from the definition: predict each rotated/flipped view, undo it.
    ramp = np.add.outer(np.arange(8) / 8, 2 * np.arange(8) / 8) / 3.0
    undone_ramps = [ramp, ramp[:, ::-1], ramp[::-1], ramp[::-1, ::-1]]
    undone_ramps += [r.T for r in undone_ramps]
    expected = 0.5 * tiles[..., 0] + 0.5 * np.mean(undone_ramps[:views], axis=0)[None]
    np.testing.assert_allclose(predict_views(orientation_sensitive_model, tiles, tta), expected, atol=1e-6)
    assert tta_view_count(tta) == views


def test_tta_d4_needs_square_tiles_and_bad_modes_are_named():
    from hecl_keras.inference import predict_views

    with pytest.raises(ValueError, match="needs square ones"):
        predict_views(red_channel, np.zeros((1, 8, 6, 3), np.float32), "d4")
    with pytest.raises(ValueError, match="tta must be one of"):
        predict_views(red_channel, np.zeros((1, 8, 8, 3), np.float32), "rot90")


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


def test_choose_threshold_takes_a_tta_mode_in_place_of_the_configs():
    import dataclasses

    import keras

    from hecl_keras.config import load_config
    from hecl_keras.models.build import build_model
    from hecl_keras.training.trainer import choose_threshold

    keras.utils.set_random_seed(0)
    config = load_config(None, ["data.short_side=64", "augment.crop_size=[32, 32]", "model.base_filters=4",
                                "model.options={depth: 3}", "eval.tta=none"])
    model = build_model(config)
    items = [(f"s{i}", *synthetic_fundus(72, 88, seed=i)) for i in range(2)]
    d4_config = dataclasses.replace(config, eval=dataclasses.replace(config.eval, tta="d4"))
    by_argument = choose_threshold(model, config, items, tta="d4")
    by_config = choose_threshold(model, d4_config, items)
    plain = choose_threshold(model, config, items)
    assert by_argument["val_pr_auc"] == pytest.approx(by_config["val_pr_auc"], abs=1e-12)
    assert by_argument["threshold"] == pytest.approx(by_config["threshold"], abs=1e-12)
    assert abs(by_argument["val_pr_auc"] - plain["val_pr_auc"]) > 1e-6  # the mode changed the predictions


def test_predictor_fov_margin_zeroes_the_rim_band_only():
    from hecl_keras.data.geometry import fov_margin_keep

    image, _ = synthetic_fundus(150, 200, seed=0)
    plain = Predictor(red_channel, (32, 32), PreprocessConfig(short_side=64))(image)
    margined = Predictor(red_channel, (32, 32), PreprocessConfig(short_side=64), fov_margin=0.1)(image)
    keep = fov_margin_keep(image, 0.1)
    np.testing.assert_array_equal(margined[keep], plain[keep])
    assert (margined[~keep] == 0).all() and (plain[~keep] > 0).any()
    with pytest.raises(ValueError, match="fov_margin"):
        Predictor(red_channel, (32, 32), fov_margin=1.0)
