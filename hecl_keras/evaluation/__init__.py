"""Evaluation protocols and reports."""

from hecl_keras.evaluation.protocols import evaluate_paper, evaluate_standard, paper_geometry
from hecl_keras.evaluation.report import markdown_table, overlay, plot_curves, write_metrics

__all__ = [
    "evaluate_paper", "evaluate_standard", "markdown_table", "overlay", "paper_geometry", "plot_curves",
    "write_metrics",
]
