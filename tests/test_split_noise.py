"""benchmarks.split_noise: per-image pixel counts rebuilt from a report, pooled F1, effective images."""

import json

import numpy as np
import pytest

from benchmarks.split_noise import image_counts, main, paired_difference, pooled_f1
from hecl_keras.data.preprocess import Pair
from hecl_keras.data.split_balance import describe_split, effective_images


def _report(tp, fp, fn, pixels=1000):
    """A report's per-image rows from true counts (integers), as `hecl evaluate` writes them."""
    rows = []
    for i, (t, f, n) in enumerate(zip(tp, fp, fn)):
        rows.append({"id": f"IMG_{i}", "precision": t / (t + f) if t + f else 0.0,
                     "recall": t / (t + n) if t + n else 0.0, "lesion_fraction": (t + n) / pixels})
    return {"per_image": rows}


def test_rebuilt_counts_give_the_pooled_f1_of_the_true_counts():
    tp, fp, fn = np.array([40, 3, 0, 7]), np.array([10, 9, 0, 1]), np.array([25, 2, 5, 0])
    ids, counts = image_counts(_report(tp, fp, fn))
    assert ids == ["IMG_0", "IMG_1", "IMG_2", "IMG_3"]
    np.testing.assert_allclose(counts * 1000, np.stack([tp, fp, fn], axis=1), atol=1e-9)
    expected = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum())  # 2 TP / (2 TP + FP + FN), pooled over images
    assert float(pooled_f1(counts)) == pytest.approx(expected)
    batch = np.stack([counts, counts[[0, 0, 0, 0]]])  # (2, n, 3): one F1 per resample
    np.testing.assert_allclose(pooled_f1(batch), [expected, 2 * 40 / (80 + 10 + 25)])


def test_effective_images():
    assert effective_images([5, 5, 5]) == pytest.approx((3.0, 1 / 3))
    assert effective_images([90, 0, 0]) == pytest.approx((1.0, 1.0))
    assert effective_images([8, 1, 1]) == pytest.approx((1 / (0.64 + 0.01 + 0.01), 0.8))  # shares 0.8, 0.1, 0.1
    assert effective_images([0, 0]) == (0.0, 0.0)


def _pairs(lesion_pixels):
    pairs = []
    for i, n in enumerate(lesion_pixels):
        mask = np.zeros((20, 20), bool)
        mask.flat[:n] = True
        pairs.append(Pair(f"IMG_{i}", np.zeros((20, 20, 3), np.uint8), mask, None))
    return pairs


def test_describe_split_warns_when_one_image_holds_the_lesions():
    line = describe_split(_pairs([200, 10, 5, 5]))  # shares 0.91, 0.05, 0.02, 0.02: 1.2 effective images
    assert line.startswith("validation split: 4 images") and "1.2 effective" in line
    assert "91% of the lesion pixels in IMG_0" in line
    assert "Warning" in line
    assert "Warning" not in describe_split(_pairs([50, 40, 60, 30]))
    assert "no lesion pixels" in describe_split(_pairs([0, 0]))
    assert describe_split([]) is None


def test_a_run_against_itself_differs_by_zero_in_every_draw():
    _, counts = image_counts(_report([4, 9, 1], [2, 0, 3], [1, 1, 6]))
    diffs = paired_difference(counts, counts, 50, np.random.default_rng(0))
    assert diffs.shape == (50,) and not diffs.any()


def test_command_line_table(tmp_path, capsys):
    for name, tp in (("a", [40, 3, 7]), ("b", [20, 3, 7])):
        folder = tmp_path / name / "eval" / "val"
        folder.mkdir(parents=True)
        report = {"pooled": {"f1": 0.5}, **_report(np.array(tp), np.array([5, 5, 5]), np.array([10, 2, 2]))}
        (folder / "metrics.json").write_text(json.dumps({"standard": report}))
    main([str(tmp_path / "a"), str(tmp_path / "b"), "--draws", "100", "--sizes", "3", "6"])
    out = capsys.readouterr().out
    assert "| a | 3 |" in out and "| a - b | +" in out and "std, 6 images" in out
    with pytest.raises(SystemExit, match="no report"):
        main([str(tmp_path / "missing")])


def test_split_table_counts_the_configured_split_against_random_ones():
    from benchmarks.split_noise import split_table
    from hecl_keras.data.preprocess import validation_split

    equal = {f"IMG_{i:02d}": 0.01 for i in range(20)}
    table = split_table(equal, counts=(4,), seeds=10)
    assert "| 4 | 4.00 (0.25) |" in table and "| 4.00 | 4.00-4.00 |" in table
    heavy = validation_split(sorted(equal), 4, 0)[1][0]  # one image of split seed 0 holds 0.97 of its lesions
    skewed = {**equal, heavy: 0.01 * 3 * 0.97 / 0.03}
    assert f"| 4 | 1.06 (0.97) | {heavy} |" in split_table(skewed, counts=(4,), seeds=10)
