"""Integration tests on the real IDRiD hard-exudate data (skipped when absent)."""

import pytest

from hecl_keras.data import find_fov, load_splits, read_pair
from hecl_keras.data.inspect import inspect_dataset

pytestmark = pytest.mark.idrid


@pytest.fixture(scope="module")
def pairs(idrid_root):
    splits = load_splits(idrid_root)
    return [(s, *read_pair(s)) for name in ("train", "test") for s in splits[name]]


def test_all_81_pairs_load_with_sane_lesion_fractions(pairs):
    assert len(pairs) == 81
    ids = {s.id for s, _, _ in pairs}
    assert "IDRiD_81" in ids and "IDRiD_01" in ids
    for sample, image, mask in pairs:
        assert image.shape == (2848, 4288, 3) and mask.shape == (2848, 4288)
        assert 0.0001 <= mask.mean() <= 0.10, sample.id  # IDRiD_81's RGBA mask included


def test_fov_crop_keeps_every_lesion_pixel(pairs):
    for sample, image, mask in pairs:
        top, bottom, left, right = find_fov(image)
        inside = mask[top:bottom, left:right].sum()
        assert inside == mask.sum(), sample.id
        assert right - left < 4288 - 300  # the black side margins are really cut


def test_inspect_report(idrid_root):
    report = inspect_dataset(idrid_root)
    assert report["problems"] == []
    assert (report["splits"]["train"]["images"], report["splits"]["test"]["masks"]) == (54, 27)
    # The value README gives for data.tone_target (docs/RESULTS.md section 26)
    assert report["splits"]["train"]["central_luminance"]["mean"] == pytest.approx(0.385, abs=0.0005)


def test_default_validation_split_rests_on_one_image_and_seed_6_of_12_does_not(pairs):
    """docs/RESULTS.md section 18: what the configs' validation split can tell."""
    from hecl_keras.data.preprocess import validation_split
    from hecl_keras.data.split_balance import effective_images

    lesions = {s.id: mask.mean() for s, _, mask in pairs if s.id <= "IDRiD_54"}
    assert len(lesions) == 54
    default = validation_split(sorted(lesions), 6, 0)[1]
    assert default == ["IDRiD_11", "IDRiD_12", "IDRiD_19", "IDRiD_24", "IDRiD_29", "IDRiD_46"]
    effective, largest = effective_images([lesions[i] for i in default])
    assert effective == pytest.approx(1.41, abs=0.01) and largest == pytest.approx(0.84, abs=0.01)
    effective, largest = effective_images([lesions[i] for i in validation_split(sorted(lesions), 12, 6)[1]])
    assert effective == pytest.approx(5.43, abs=0.01) and largest == pytest.approx(0.27, abs=0.01)
