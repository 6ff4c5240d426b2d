"""``hecl data pack``: a lossless, TensorFlow-free copy of an experiment's data."""

import json

import numpy as np
import pytest

from hecl_keras.config import load_config
from hecl_keras.data.errors import DataError
from hecl_keras.data.experiment import load_experiment_data
from hecl_keras.data.geometry import paper_geometry
from hecl_keras.data.pack import load_pack, pack_experiment
from hecl_keras.data.preprocess import preprocess_arrays, preprocess_config
from tests.conftest import QUICKSTART

TINY_DATA = ["data.source=synthetic", "data.synthetic.count=5", "data.synthetic.height=96",
             "data.synthetic.width=112", "data.synthetic.test_count=2", "data.short_side=64", "data.val_count=2"]


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    config = load_config(None, TINY_DATA)
    path = tmp_path_factory.mktemp("pack") / "tiny.npz"
    meta = pack_experiment(config, path)
    return config, path, meta


def test_pack_round_trip_is_exact(packed):
    config, path, _ = packed
    data = load_experiment_data(config.data, show_progress=False)
    pack = load_pack(path)
    assert pack.split == data.split
    assert [len(pack.train), len(pack.val), len(pack.test)] == [3, 2, 2]
    for got, want in zip(pack.train + pack.val, data.train + data.val):
        assert got.id == want.id
        np.testing.assert_array_equal(got.image, want.image)  # lossless WebP
        np.testing.assert_array_equal(got.mask, want.mask)
        assert got.transform == want.transform
    pre = preprocess_config(config.data)
    for got, (sample_id, image, mask) in zip(pack.test, data.originals("test")):
        work, _, t = preprocess_arrays(image, mask, pre)
        paper_image, paper_mask = paper_geometry(image, mask)
        assert got.id == sample_id and got.transform == t
        np.testing.assert_array_equal(got.image, work)
        np.testing.assert_array_equal(got.mask, mask)  # original resolution
        np.testing.assert_array_equal(got.paper_image, paper_image)
        np.testing.assert_array_equal(got.paper_mask, paper_mask)
    assert pack.meta["preprocess"] == {"short_side": 64, "fov_crop": True, "fov_threshold": 20, "normalize": "none",
                                       "tone_target": None}


def test_inverted_working_prediction_has_the_original_size(packed):
    pack = load_pack(packed[1])
    t = pack.test[0]
    assert t.transform.invert(np.ones(t.image.shape[:2], np.float32)).shape == t.mask.shape


def test_not_a_pack_and_unknown_format(tmp_path, packed):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a hecl data pack"):
        load_pack(tmp_path / "other.npz")
    with np.load(packed[1]) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["meta.json"].tobytes().decode())
    meta["format"] = "hecl-pack/99"
    arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(ValueError, match="unsupported pack format"):
        load_pack(tmp_path / "future.npz")


def test_cli_pack(tmp_path, capsys):
    from hecl_keras.cli import main

    out = tmp_path / "p.npz"
    assert main(["data", "pack", QUICKSTART, "--out", str(out)] +
                [a for kv in TINY_DATA for a in ("--set", kv)]) == 0
    assert "3 train, 2 val, 2 test images" in capsys.readouterr().out
    assert out.exists() and not list(tmp_path.glob("*.tmp"))


def test_pack_refuses_a_tone_match_at_inference_only(tmp_path):
    config = load_config(None, [*TINY_DATA, "data.tone_target=0.4", "data.tone_at=inference"])
    with pytest.raises(DataError, match="data.tone_at: inference needs two"):
        pack_experiment(config, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
