"""Benchmarks run in CI only in their tiny smoke mode: they must keep working, not be fast."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("name", ["data_pipeline", "loss_overhead", "backbones", "inference", "precision_xla", "train_throughput", "contrastive_activity"])
def test_benchmark_smoke(name, capsys):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--smoke"])
    out = capsys.readouterr().out
    assert "|" in out


@pytest.mark.large
def test_reproduce_cpu_script_tiny_and_resume(tmp_path):
    """The whole CPU protocol on tiny synthetic runs; a second call skips every finished step."""
    import os
    import subprocess

    env = {**os.environ, "HECL_REPRO_TINY": "1", "HECL_CACHE_DIR": str(tmp_path / "cache")}
    script = str(BENCHMARKS / "reproduce_cpu.sh")
    first = subprocess.run(["bash", script, str(tmp_path / "r")], env=env, capture_output=True, text=True, timeout=1200)
    assert first.returncode == 0, first.stderr[-3000:]
    table = (tmp_path / "r" / "table.md").read_text()
    for label in ("UNet++ alone | 2", "UNet++ + L_pd | 1", "UNet++ + L_de | 1", "HECL (both) | 2"):
        assert label in table
    second = subprocess.run(["bash", script, str(tmp_path / "r")], env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0 and second.stdout.count("skipping") == 12
