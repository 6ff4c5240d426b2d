"""Benchmarks run in CI only in their tiny smoke mode: they must keep working, not be fast."""

import importlib
import math
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SMOKE = ["data_pipeline", "loss_overhead", "backbones", "inference", "precision_xla", "train_throughput",
         "contrastive_activity", "gradient_scale", "determinism_cost", "encoders", "domain_shift", "batchnorm_modes",
         "min_lesion_size", "precise_bn_cost", "cpu_allocator", "jpeg_artifacts", "split_noise", "augment_compile",
         "tta"]


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
