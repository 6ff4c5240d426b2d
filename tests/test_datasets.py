import json

import numpy as np
import pytest
from PIL import Image

from hecl_keras.cli import main
from hecl_keras.data import DataError, Sample, inspect_dataset, load_splits, paired_folder, read_pair
from tests.conftest import write_pair


def test_paired_folder_pairs_by_stem_with_suffix(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), bool)
    for stem in ("b", "a"):
        write_pair(tmp_path / "i", tmp_path / "m", stem, img, mask, mask_suffix="_EX", mask_ext=".tif")
    samples = paired_folder(tmp_path / "i", tmp_path / "m", "_EX")
    assert [s.id for s in samples] == ["a", "b"]
    assert samples[0].mask_path.name == "a_EX.tif"


def test_missing_mask_is_an_error_naming_the_image(tmp_path):
    write_pair(tmp_path / "i", tmp_path / "m", "a", np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), bool))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "i" / "lonely.png")
    with pytest.raises(DataError, match="Missing mask for .*lonely.png"):
        paired_folder(tmp_path / "i", tmp_path / "m")
    samples, problems = paired_folder(tmp_path / "i", tmp_path / "m", strict=False)
    assert len(samples) == 1 and len(problems) == 1


def test_mask_without_image_is_reported(tmp_path):
    write_pair(tmp_path / "i", tmp_path / "m", "a", np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), bool))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "m" / "orphan.png")
    _, problems = paired_folder(tmp_path / "i", tmp_path / "m", strict=False)
    assert any("orphan.png" in p for p in problems)


def test_empty_folder_error(tmp_path):
    (tmp_path / "i").mkdir()
    (tmp_path / "m").mkdir()
    with pytest.raises(DataError, match="No images"):
        paired_folder(tmp_path / "i", tmp_path / "m")


def test_size_mismatch_names_both_files(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((8, 9), np.uint8)).save(tmp_path / "a_m.png")
    with pytest.raises(DataError, match="a.png.*a_m.png"):
        read_pair(Sample("a", tmp_path / "a.png", tmp_path / "a_m.png"))


def test_layouts(tmp_path, small_dataset):
    assert list(load_splits(small_dataset)) == ["all"]
    for split in ("train", "test"):
        write_pair(tmp_path / "s" / split / "images", tmp_path / "s" / split / "masks", "x",
                   np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), bool))
    assert sorted(load_splits(tmp_path / "s")) == ["test", "train"]
    with pytest.raises(DataError, match="no dataset found"):
        load_splits(tmp_path / "s" / "train" / "masks")


def test_fake_idrid_layout(tmp_path):
    root = tmp_path / "IDRiD" / "A. Segmentation"
    img = np.zeros((8, 8, 3), np.uint8)
    truth = root / "2. All Segmentation Groundtruths"
    write_pair(root / "1. Original Images/a. Training Set", truth / "a. Training Set/3. Hard Exudates",
               "IDRiD_01", img, np.ones((8, 8), bool), "_EX", ".tif")
    write_pair(root / "1. Original Images/b. Testing Set", truth / "b. Testing Set/3. Hard Exudates",
               "IDRiD_55", img, np.ones((8, 8), bool), "_EX", ".tif")
    splits = load_splits(tmp_path / "IDRiD")
    assert [s.id for s in splits["train"]] == ["IDRiD_01"] and [s.id for s in splits["test"]] == ["IDRiD_55"]


def test_inspect_report_and_cli_exit_codes(tmp_path, small_dataset, capsys):
    report = inspect_dataset(small_dataset)
    s = report["splits"]["all"]
    assert (s["images"], s["masks"], s["pairs"]) == (3, 3, 3)
    assert s["image_sizes"] == {"128x96": 3}
    assert 0 < s["lesion_fraction"]["min"] <= s["lesion_fraction"]["median"] <= s["lesion_fraction"]["max"] < 0.2
    assert report["problems"] == [] and report["warnings"] == []
    assert 0.1 < s["central_luminance"]["min"] <= s["central_luminance"]["mean"] <= s["central_luminance"]["max"] < 0.9
    # A black photograph is a warning (it reads fine, but no lesion can be found in it), not a problem.
    Image.fromarray(np.zeros((96, 128, 3), np.uint8)).save(small_dataset / "images" / "img_2.png")
    assert main(["data", "inspect", str(small_dataset), "--quiet"]) == 0
    assert "WARNING: " in capsys.readouterr().out
    report = inspect_dataset(small_dataset)
    assert len(report["warnings"]) == 1 and "img_2.png: no field of view" in report["warnings"][0]
    assert main(["data", "inspect", str(small_dataset), "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["splits"]["all"]["pairs"] == 3
    # Break one mask: non-binary values -> a problem naming it, exit code 1.
    Image.fromarray(np.arange(96 * 128, dtype=np.uint32).reshape(96, 128).astype(np.uint8)).save(
        small_dataset / "masks" / "img_1.png")
    assert main(["data", "inspect", str(small_dataset), "--json", "--quiet"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["splits"]["all"]["pairs"] == 2
    assert any("img_1.png" in p for p in out["problems"])


def test_inspect_measures_the_luminance_tone_target_sees(small_dataset, capsys):
    """The central luminance is that of the working image (FOV crop + resize), what ``match_tone`` is given."""
    from hecl_keras.data import PreprocessConfig
    from hecl_keras.data.normalize import central_luminance
    from hecl_keras.data.preprocess import preprocess_arrays

    pairs = [read_pair(s) for s in load_splits(small_dataset)["all"]]
    expected = np.mean([central_luminance(preprocess_arrays(i, m, PreprocessConfig(short_side=40))[0])
                        for i, m in pairs])
    assert main(["data", "inspect", str(small_dataset), "--json", "--quiet", "--short-side", "40"]) == 0
    measured = json.loads(capsys.readouterr().out)["splits"]["all"]["central_luminance"]["mean"]
    assert measured == pytest.approx(expected, abs=1e-12)
    assert inspect_dataset(small_dataset)["splits"]["all"]["central_luminance"]["mean"] != measured
