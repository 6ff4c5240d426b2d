"""What an evaluation writes besides pictures: curves and a Markdown table."""

from __future__ import annotations

import json
from pathlib import Path


def plot_curves(curves, out_dir, label="model"):
    """Writes ``roc.png`` and ``pr.png`` from a :class:`PooledCurves`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = curves.curves()
    out_dir = Path(out_dir)
    for name, (x, y, xl, yl, area) in {
        "roc": (c["fpr"], c["tpr"], "false positive rate", "true positive rate", curves.roc_auc()),
        "pr": (c["recall"], c["precision"], "recall", "precision", curves.pr_auc()),
    }.items():
        fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
        ax.plot(x, y, label=f"{label} (area {area:.4f})")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if name == "roc" else "lower left")
        ax.set_title(f"{name.upper()} curve, pooled over all pixels")
        fig.tight_layout()
        fig.savefig(out_dir / f"{name}.png")
        plt.close(fig)


def markdown_table(metrics: dict) -> str:
    lines = []
    if "standard" in metrics:
        p = metrics["standard"]["pooled"]
        lines += [
            "## Standard protocol (pooled over all pixels, original resolution)",
            "",
            f"Thresholded scores at probability {metrics['standard'].get('threshold', 0.5):.4f}; "
            "ROC-AUC and PR-AUC are threshold-free.",
            "",
            "| IoU | F1 | precision | recall | ROC-AUC | PR-AUC |",
            "|---|---|---|---|---|---|",
            f"| {p['iou']:.4f} | {p['f1']:.4f} | {p['precision']:.4f} | {p['recall']:.4f} | "
            f"{p['roc_auc']:.4f} | {p['pr_auc']:.4f} |",
            "",
        ]
        level = p.get("image_level")
        if level:
            def fmt(value):
                return "n/a" if value is None else f"{value:.4f}"

            def fmt2(value):
                return "n/a" if value is None else f"{value:.2f}"

            lines += [
                "Image level (\"does it show exudates?\": a lesion at least the minimum size is left):",
                "",
                "| images with / without exudates | sensitivity | specificity | AUC | false-positive blobs per image "
                "| before the minimum-size removal |",
                "|---|---|---|---|---|---|",
                f"| {level['with_exudates']} / {level['without_exudates']} | {fmt(level['sensitivity'])} | "
                f"{fmt(level['specificity'])} | {fmt(level['auc'])} | "
                f"{level['false_positive_components_per_image']:.2f} | "
                f"{fmt2(level.get('false_positive_components_per_image_before_removal'))} |",
                "",
            ]
        lines += [
            "| image | IoU | F1 | precision | recall | PR-AUC | lesion % | exudates said | FP blobs |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in metrics["standard"]["per_image"]:
            lines.append(f"| {r['id']} | {r['iou']:.4f} | {r['f1']:.4f} | {r['precision']:.4f} | {r['recall']:.4f} | "
                         f"{r['pr_auc']:.4f} | {100 * r['lesion_fraction']:.3f} | "
                         f"{'yes' if r.get('exudates_present') else 'no'} | {r.get('false_positive_components', '')} |")
        lines.append("")
    if "paper" in metrics:
        p = metrics["paper"]
        lines += [
            "## Paper protocol (authors' 512x512 test geometry, per-image means, pooled ROC-AUC)",
            "",
            "| IoU | F1 | recall | ROC-AUC |",
            "|---|---|---|---|",
            f"| {p['iou']:.4f} | {p['f1']:.4f} | {p['recall']:.4f} | {p['roc_auc']:.4f} |",
            "",
        ]
    return "\n".join(lines)


def write_metrics(metrics: dict, out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out_dir / "metrics.md").write_text(markdown_table(metrics))
