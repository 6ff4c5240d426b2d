"""Benchmarks run in CI only in their tiny smoke mode: they must keep working, not be fast."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("name", ["data_pipeline", "loss_overhead", "backbones", "inference", "precision_xla", "train_throughput"])
def test_benchmark_smoke(name, capsys):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--smoke"])
    out = capsys.readouterr().out
    assert "|" in out
