"""Benchmarks run in CI only in their tiny smoke mode: they must keep working, not be fast."""

import importlib
import math
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SMOKE = ["data_pipeline", "loss_overhead", "backbones", "inference", "precision_xla", "train_throughput",
         "contrastive_activity", "gradient_scale", "determinism_cost", "encoders", "domain_shift", "batchnorm_modes",
         "min_lesion_size", "precise_bn_cost", "cpu_allocator", "jpeg_artifacts", "split_noise", "augment_compile",
         "tta", "checkpoint_pairs", "fov_margin", "false_blobs", "serving_parity"]


def table_rows(text):
    """The data rows of every Markdown table in ``text``, as lists of cell strings."""
    rows, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        previous = lines[i - 1] if i else ""
        if line.startswith("|") and not set(line) <= set("|-: ") and not (i + 1 < len(lines) and
                                                                         set(lines[i + 1]) <= set("|-: ")
                                                                         and lines[i + 1].startswith("|")):
            if previous.startswith("|"):
                rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def _number(cell):
    try:
        return float(cell.rstrip("x%").replace(",", ""))
    except ValueError:
        return None


@pytest.mark.parametrize("name", SMOKE)
def test_benchmark_smoke(name, capsys):
    """Each benchmark prints at least one table row whose measured numbers are finite and positive."""
    importlib.import_module(f"benchmarks.{name}").main(["--smoke"])
    rows = table_rows(capsys.readouterr().out)
    assert rows, f"{name} printed no table rows"
    numbers = [_number(c) for row in rows for c in row]
    measured = [n for n in numbers if n is not None]
    assert measured and all(math.isfinite(n) for n in measured) and any(n > 0 for n in measured)


def test_table_rows_reads_markdown():
    text = "intro\n| a | b |\n|---|---|\n| x | 1.5x |\n| y | 2 |\n"
    assert table_rows(text) == [["x", "1.5x"], ["y", "2"]]
    assert table_rows("no table | here") == []


def test_train_throughput_isolated_measurement():
    import importlib.util as util

    module = importlib.import_module("benchmarks.train_throughput")
    assert module.isolated_rate("keras", 4, 64, 2, 1, True) > 0
    if util.find_spec("torch") is not None:
        assert module.isolated_rate("torch", 4, 64, 2, 1, True) > 0


def test_checkpoint_pairs_pairs_by_run_and_mode(tmp_path):
    """Runs scored on one side only are left out; the difference and interval follow the paired t formula."""
    import json

    import numpy as np

    from benchmarks.checkpoint_pairs import compare, merge_rows

    def rows(value):
        return [{"mode": "none", "val_pr_auc": value, "val_f1": value, "test_pr_auc": value, "test_f1": value},
                {"mode": "d4", "val_pr_auc": value + 1, "val_f1": 0, "test_pr_auc": 0, "test_f1": 0}]

    base, var = [0.5, 0.6, 0.7], [0.55, 0.58, 0.75]
    (tmp_path / "a.json").write_text(json.dumps({f"r{i}": rows(v) for i, v in enumerate(base)}))
    (tmp_path / "b0.json").write_text(json.dumps({"r0": rows(var[0]), "r9": rows(0.0)}))  # r9: unpaired
    (tmp_path / "b1.json").write_text(json.dumps({"r1": rows(var[1]), "r2": rows(var[2])}))
    result = compare(merge_rows([tmp_path / "a.json"]), merge_rows([tmp_path / "b0.json", tmp_path / "b1.json"]))
    assert result["runs"] == ["r0", "r1", "r2"] and list(result["modes"]) == ["none", "d4"]
    cell = result["modes"]["none"]["test_pr_auc"]
    diffs = np.array(var) - np.array(base)
    half = 4.303 * diffs.std(ddof=1) / np.sqrt(3)
    assert cell["difference"]["mean"] == pytest.approx(diffs.mean())
    assert cell["difference"]["interval"] == pytest.approx([diffs.mean() - half, diffs.mean() + half])
    assert cell["variant_summary"]["std"] == pytest.approx(np.std(var, ddof=1))
    assert result["modes"]["d4"]["val_pr_auc"]["difference"]["mean"] == pytest.approx(diffs.mean())


def test_checkpoint_pairs_pairs_separate_runs_by_seed(tmp_path):
    """--pair-by seed: runs of two variants meet by their _s<N> suffix; the headline differences are the test ones."""
    import json

    import numpy as np

    from benchmarks.checkpoint_pairs import compare, main, merge_rows

    def rows(pr_auc, f1):
        return [{"mode": "d4", "val_pr_auc": 0.0, "val_f1": 0.0, "test_pr_auc": pr_auc, "test_f1": f1}]

    base = {"/r/base_s0": rows(0.70, 0.60), "/r/base_s1": rows(0.72, 0.66), "/r/base_s3": rows(0.75, 0.70)}
    var = {"/r/hecl_s1": rows(0.71, 0.67), "/r/hecl_s0": rows(0.74, 0.61), "/r/hecl_s2": rows(0.9, 0.9)}
    (tmp_path / "a.json").write_text(json.dumps(base))
    (tmp_path / "b.json").write_text(json.dumps(var))
    result = compare(merge_rows([tmp_path / "a.json"]), merge_rows([tmp_path / "b.json"]), pair_by="seed")
    assert result["seeds"] == [0, 1]
    assert result["baseline_runs"] == ["/r/base_s0", "/r/base_s1"]
    assert result["variant_runs"] == ["/r/hecl_s0", "/r/hecl_s1"]
    d = np.array([0.74 - 0.70, 0.71 - 0.72])
    half = 12.706 * d.std(ddof=1) / np.sqrt(2)
    pr = result["modes"]["d4"]["pr_auc_difference"]
    assert pr["mean"] == pytest.approx(d.mean()) and pr["per_seed"] == pytest.approx(list(d))
    assert pr["interval"] == pytest.approx([d.mean() - half, d.mean() + half])
    assert result["modes"]["d4"]["f1_difference"]["mean"] == pytest.approx(np.mean([0.01, 0.01]))
    with pytest.raises(ValueError, match="share|seed 0"):  # two runs of one side with seed 0
        compare(merge_rows([tmp_path / "a.json"]), {**merge_rows([tmp_path / "b.json"]), "/x/other_s0": {}},
                pair_by="seed")
    with pytest.raises(ValueError, match="_s<seed>"):
        compare({"/r/base": {}}, merge_rows([tmp_path / "b.json"]), pair_by="seed")
    with pytest.raises(ValueError, match="no run"):  # by run, the folders differ: nothing pairs
        compare(merge_rows([tmp_path / "a.json"]), merge_rows([tmp_path / "b.json"]))
    main(["--pair-by", "seed", "--baseline", "base", str(tmp_path / "a.json"), "--variant", "hecl",
          str(tmp_path / "b.json"), "--out", str(tmp_path / "p.json")])
    assert json.loads((tmp_path / "p.json").read_text())["seeds"] == [0, 1]


def test_checkpoint_pairs_reads_a_side_back_from_a_stored_comparison(tmp_path):
    """FILE:baseline / FILE:variant give back the rows a comparison was made from, so a new run pairs with them."""
    import json

    from benchmarks.checkpoint_pairs import compare, main, merge_rows

    def rows(value):
        return [{"mode": "d4", "val_pr_auc": value, "val_f1": value / 2, "test_pr_auc": value + 0.1, "test_f1": 0.3}]

    base = {"/r/base_s0": rows(0.70), "/r/base_s1": rows(0.72)}
    var = {"/r/lm_s0": rows(0.78), "/r/lm_s1": rows(0.71)}
    (tmp_path / "a.json").write_text(json.dumps(base))
    (tmp_path / "b.json").write_text(json.dumps(var))
    stored = tmp_path / "pairs.json"
    main(["--pair-by", "seed", "--baseline", "base", str(tmp_path / "a.json"), "--variant", "lm",
          str(tmp_path / "b.json"), "--out", str(stored)])
    assert merge_rows([f"{stored}:baseline"]) == merge_rows([tmp_path / "a.json"])
    assert merge_rows([f"{stored}:variant"]) == merge_rows([tmp_path / "b.json"])
    (tmp_path / "c.json").write_text(json.dumps({"/r/lm_s2": rows(0.80)}))  # a later seed joins the stored ones
    (tmp_path / "d.json").write_text(json.dumps({"/r/base_s2": rows(0.74)}))
    result = compare(merge_rows([f"{stored}:baseline", tmp_path / "d.json"]),
                     merge_rows([f"{stored}:variant", tmp_path / "c.json"]), pair_by="seed")
    assert result["seeds"] == [0, 1, 2]
    assert result["modes"]["d4"]["val_pr_auc"]["difference"]["per_seed"] == pytest.approx([0.08, -0.01, 0.06])
    with pytest.raises(ValueError, match="not a comparison"):
        merge_rows([f"{tmp_path / 'a.json'}:variant"])


def test_gradient_scale_measures_a_configs_model_with_its_own_terms(capsys):
    """--config: the model (with its projection head) and alpha/tau come from the config, not the CLI defaults."""
    from benchmarks import gradient_scale

    gradient_scale.main(["--config", "configs/quickstart.yaml", "--set", "hecl.enabled=true", "hecl.projection_dim=8",
                         "hecl.alpha=0.02", "hecl.temperature=0.1", "--batches", "1", "--crop", "64", "--batch", "2"])
    out = capsys.readouterr().out
    assert "fresh model of configs/quickstart.yaml" in out and "alpha=0.02, tau=0.1" in out
    assert any(row[0] == "L_sup" for row in table_rows(out))
    with pytest.raises(SystemExit):
        gradient_scale.main(["--config", "configs/quickstart.yaml", "--batches", "1"])  # hecl.enabled is false


def test_fov_margin_rows_drop_a_rim_blob_and_keep_the_centre_lesion():
    """One image, a lesion at the centre and a false blob on the FOV rim: the margin removes the blob (1 -> 0 false
    blobs), drops no lesion pixel, and the threshold is chosen again on validation at each margin."""
    import numpy as np

    from benchmarks.fov_margin import margin_rows
    from hecl_keras.data.geometry import rim_distance_fraction

    yy, xx = np.mgrid[0:101, 0:101]
    fov = (yy - 50) ** 2 + (xx - 50) ** 2 <= 45 ** 2
    rim = rim_distance_fraction(fov)
    truth = (yy - 50) ** 2 + (xx - 50) ** 2 <= 3 ** 2  # 29 px
    prob = np.where(truth, 0.9, 0.05).astype(np.float32)
    prob[6:9, 35:66] = 0.95  # a larger, surer blob along the top of the rim (rows 5-95 are the FOV's height)
    assert (rim[6:9, 35:66] < 0.1).all()
    item = (prob, truth, 1.0, rim)
    rows = margin_rows([item], [item], [(prob, 1.0, rim)], (0.0, 0.1), tolerance=0.0)
    assert [r["test_fp_blobs"] for r in rows] == [1.0, 0.0]
    assert [r["test_lesion_pixels_dropped"] for r in rows] == [0, 0]
    assert rows[0]["test_pr_auc"] < rows[1]["test_pr_auc"] == pytest.approx(1.0, abs=1e-3)
    assert [r["negative_blobs"] for r in rows] == [2.0, 1.0] and rows[1]["negatives_said_yes"] == 1


def test_false_blob_distances_measure_from_the_nearest_annotated_pixel():
    """One annotated pixel, four predicted components: one on the lesion (not false), a 2-px blob 10 px right of it
    (false, 10 px), a 1-px speck (removed by the size) and a 3-px blob 30 px below (false, 30 px); in working pixels
    at scale 0.5 the distances halve and the areas quarter. Without annotation every false blob is infinitely far."""
    import numpy as np

    from benchmarks.false_blobs import distance_row, false_blob_distances

    truth = np.zeros((60, 60), bool)
    truth[10, 10] = True
    prob = np.zeros((60, 60), np.float32)
    prob[9:12, 9:12] = 0.9  # covers the lesion
    prob[10, 20:22] = 0.8
    prob[50, 50] = 0.7
    prob[40, 9:12] = 0.95
    distances, areas = false_blob_distances(prob, truth, 0.5, min_lesion_pixels=2, scale=1.0)
    assert sorted(zip(distances.tolist(), areas.tolist())) == [(10.0, 2.0), (30.0, 3.0)]
    distances, areas = false_blob_distances(prob, truth, 0.5, min_lesion_pixels=0.5, scale=0.5)
    assert sorted(zip(distances.tolist(), areas.tolist())) == [(5.0, 0.5), (15.0, 0.75)]
    distances, _ = false_blob_distances(prob, np.zeros_like(truth), 0.5, min_lesion_pixels=2)
    assert distances.size == 3 and np.isinf(distances).all()  # the 3x3 blob is now false too
    row = distance_row([(prob, truth, 1.0), (prob, np.zeros_like(truth), 1.0)], 0.5, 2, far=20)
    assert row["false_blobs"] == 5 and row["false_blobs_per_image"] == 2.5
    assert row["far_blobs_per_image"] == 2.0  # the 30-px blob and the lesion-free image's three
    assert row["share_within"][10] == pytest.approx(1 / 5) and row["share_within"][50] == pytest.approx(2 / 5)
