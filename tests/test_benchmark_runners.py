"""The multi-run scripts on tiny synthetic runs: the CPU protocol, the device script, the seed-study runner.

Apart from tests/test_benchmarks.py (the smoke runs) so that parallel test workers share the load.
"""

from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.large
def test_reproduce_cpu_script_tiny_and_resume(tmp_path):
    """The CPU protocol's seed-0 pair on tiny synthetic runs; a second call skips every finished step."""
    import os
    import subprocess

    env = {**os.environ, "HECL_REPRO_TINY": "1", "HECL_CACHE_DIR": str(tmp_path / "cache")}
    script = str(BENCHMARKS / "reproduce_cpu.sh")
    first = subprocess.run(["bash", script, str(tmp_path / "r")], env=env, capture_output=True, text=True, timeout=1200)
    assert first.returncode == 0, first.stderr[-3000:]
    table = (tmp_path / "r" / "table.md").read_text()
    for label in ("UNet++ alone | 1", "HECL (both) | 1"):
        assert label in table
    second = subprocess.run(["bash", script, str(tmp_path / "r")], env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0 and second.stdout.count("skipping") == 4


def test_gpu_session_runs_without_tensorflow(tmp_path):
    """The device script's one-call session on CPU: JAX backend, TensorFlow made unimportable, data
    from a tiny pack; the speed race (float32 only) first, then both trainings inside the deadline."""
    import json
    import os
    import subprocess

    from hecl_keras.config import load_config
    from hecl_keras.data.pack import pack_experiment

    pytest.importorskip("jax")
    config = load_config(None, ["data.source=synthetic", "data.synthetic.count=5", "data.synthetic.height=96",
                                "data.synthetic.width=112", "data.synthetic.test_count=2", "data.short_side=64",
                                "data.val_count=2"])
    pack_experiment(config, tmp_path / "tiny.npz")
    blocker = Path(__file__).resolve().parent / "no_tensorflow"
    env = {**os.environ, "PYTHONPATH": str(blocker), "HECL_PACK": str(tmp_path / "tiny.npz"),
           "OUT": str(tmp_path / "out"), "HECL_GPU_WORK": str(tmp_path / "work"), "HECL_RACE_DEVICE": "cpu",
           "HECL_RACE_ARGS": "--widths 4 --sizes 32 --batch 2 --steps 1 --precisions float32",
           # A budget, not a wait: ~1 min on an idle 2-core machine, but over 240 s with two trainings alongside
           # (session 20's CI); the race then measures nothing and this test cannot tell a hang from load.
           "HECL_RACE_SECONDS": "600", "HECL_SESSION_SECONDS": "1100"}
    done = subprocess.run(["bash", str(BENCHMARKS / "gpu_reproduce.sh"), "session", "--tiny", "--train-seconds", "1",
                           "--repeats", "2"], env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "backend jax" in done.stdout
    out = tmp_path / "out" / "gpu_reproduce"
    results = json.loads((out / "results.json").read_text())
    assert set(results["variants"]) == {"unetpp", "hecl"} and results["not_run"] == []
    assert results["device"] and results["backend"] == "jax"
    for r in results["variants"].values():
        assert r["training"]["steps"] >= 1 and r["paper"]["images"] == 2
        assert 0.0 <= r["standard"]["roc_auc"] <= 1.0
    race = results["race"]
    keras_rows = {row["step"]: row for row in race["rows"] if row["framework"] == "Keras/JAX"}
    assert set(keras_rows) == {"HECL", "supervised"}, (race["not_measured"], race["errors"])
    assert all(r["seconds_per_step"] > 0 for r in keras_rows.values())
    assert all(row["precision"] == "float32" for row in race["rows"])
    torch_rows = [row for row in race["rows"] if row["framework"] == "PyTorch eager"]
    # PyTorch is optional here (and its import trips over the TensorFlow blocker): measured or listed as missing
    assert len(torch_rows) == 2 or {"torch/float32/HECL", "torch/float32/supervised"} <= set(race["not_measured"])
    assert json.loads((out / "race.json").read_text())["rows"] == race["rows"]
    assert (tmp_path / "work" / "hecl" / "best.weights.h5").exists()
    assert not list((tmp_path / "out").rglob("*.h5"))  # checkpoints stay out of the results folder
    assert "| hecl |" in (out / "table.md").read_text()
    assert len([f for f in (tmp_path / "out").rglob("*") if f.is_file()]) <= 8  # what the device tool brings back


def test_gpu_reproduce_deadline_skips_variants_that_cannot_fit(tmp_path):
    """With less time than a variant needs beyond training, nothing is trained and the run says so."""
    import json

    from benchmarks import gpu_reproduce
    from hecl_keras.config import load_config
    from hecl_keras.data.pack import pack_experiment

    config = load_config(None, ["data.source=synthetic", "data.synthetic.count=4", "data.synthetic.height=64",
                                "data.synthetic.width=64", "data.synthetic.test_count=1", "data.short_side=48",
                                "data.val_count=1"])
    pack_experiment(config, tmp_path / "tiny.npz")
    code = gpu_reproduce.main(["--pack", str(tmp_path / "tiny.npz"), "--out", str(tmp_path / "out"), "--tiny",
                               "--deadline-seconds", "100", "--eval-reserve", "80"])
    assert code == 1
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["variants"] == {} and results["not_run"] == ["unetpp", "hecl"]


def test_paired_difference_matches_formula():
    from benchmarks.seeds import paired_difference, summarize

    a, b = [0.70, 0.64, 0.69, 0.72], [0.66, 0.65, 0.61, 0.70]
    d = np.subtract(a, b)
    half = 3.182 * d.std(ddof=1) / np.sqrt(4)  # t(0.975, df=3)
    out = paired_difference(a, b)
    assert out["mean"] == pytest.approx(d.mean()) and out["std"] == pytest.approx(d.std(ddof=1))
    assert out["interval"] == pytest.approx([d.mean() - half, d.mean() + half])
    assert summarize([0.5])["std"] is None and paired_difference([1.0], [0.5])["interval"] is None


def test_seed_study_tiny_and_resumable(tmp_path):
    """Two variants x one seed of tiny quick-start runs; the JSON holds paired differences; a rerun trains nothing."""
    import json
    import subprocess
    import sys

    import yaml

    from tests.conftest import QUICKSTART
    from tests.test_training import TINY

    study = {"name": "tiny", "config": QUICKSTART, "set": TINY + ["train.epochs=1", "train.image_log_every=0"],
             "seeds": [3, 4], "baseline": "base",
             "variants": {"base": [], "lesion": ["augment.crop_sampling=window", "augment.lesion_fraction=0.5"]}}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    command = [sys.executable, "-m", "benchmarks.seeds", str(tmp_path / "study.yaml"), "--runs", str(tmp_path / "r"),
               "--results", str(tmp_path / "results"), "--seeds", "3"]  # seed 4: later
    repo = Path(__file__).resolve().parents[1]
    first = subprocess.run(command, capture_output=True, text=True, cwd=repo, timeout=900)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    out = json.loads((tmp_path / "results" / "tiny.json").read_text())
    assert out["seeds"] == [3] and set(out["variants"]) == {"base", "lesion"}
    lesion = out["variants"]["lesion"]
    assert len(lesion["per_seed"]["pr_auc"]) == 1 and len(lesion["pr_auc_difference"]["per_seed"]) == 1
    assert lesion["pr_auc_difference"]["mean"] == pytest.approx(
        np.mean(np.subtract(lesion["per_seed"]["pr_auc"], out["variants"]["base"]["per_seed"]["pr_auc"])))
    assert "| lesion |" in (tmp_path / "results" / "tiny.md").read_text()
    second = subprocess.run(command, capture_output=True, text=True, cwd=repo, timeout=900)
    assert second.returncode == 0 and second.stderr.count("complete run: nothing to do") == 2


@pytest.mark.parametrize("study", sorted((BENCHMARKS / "studies").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_studies_are_valid(study):
    import yaml

    from benchmarks.seeds import load_study
    from hecl_keras.config import load_config

    s = load_study(study)
    assert s["name"] == study.stem and len(s["seeds"]) >= 3
    assert load_study(study, seeds=[s["seeds"][0]])["seeds"] == [s["seeds"][0]]
    with pytest.raises(SystemExit, match="not among the study's seeds"):
        load_study(study, seeds=[12345])
    last = list(s["variants"])[-1]
    assert set(load_study(study, variants=[last])["variants"]) == {s["baseline"], last}
    with pytest.raises(SystemExit, match="not among the study's"):
        load_study(study, variants=["no_such_variant"])
    repo = Path(__file__).resolve().parents[1]
    for overrides in yaml.safe_load(study.read_text())["variants"].values():
        load_config(repo / s["config"], s["set"] + overrides)
