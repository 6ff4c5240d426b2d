"""Evaluation protocols and reports (pictures: :mod:`hecl_keras.visualize`)."""

from hecl_keras.data.geometry import paper_geometry
from hecl_keras.evaluation.protocols import evaluate_paper, evaluate_standard
from hecl_keras.evaluation.report import markdown_table, plot_curves, write_metrics

__all__ = ["evaluate_paper", "evaluate_standard", "markdown_table", "paper_geometry", "plot_curves", "write_metrics"]
