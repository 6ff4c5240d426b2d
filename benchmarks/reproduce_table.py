"""Table of a reproduce_cpu.sh folder: mean (spread) per variant, next to the paper's Table 2.

    python -m benchmarks.reproduce_table runs/reproduce_cpu
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

PAPER = {  # METHOD.md section 7 (paper protocol numbers, mean of 5 runs; best epoch chosen on the test set)
    "unetpp": (53.30, 67.78, 97.13, 63.35),
    "unetpp_pd": (54.24, 68.38, 97.00, 63.93),
    "unetpp_de": (54.91, 68.85, 96.32, 63.74),
    "hecl": (55.38, 69.34, 96.50, 64.86),
}
LABELS = {"unetpp": "UNet++ alone", "unetpp_pd": "UNet++ + L_pd", "unetpp_de": "UNet++ + L_de", "hecl": "HECL (both)"}


def fmt(values):
    v = 100 * np.asarray(values, float)
    return f"{v.mean():.2f}" + (f" ({v.std(ddof=1):.2f})" if len(v) > 1 else "")


def main(folder):
    runs = defaultdict(list)
    for metrics_file in sorted(Path(folder).glob("*_s*/test/metrics.json")):
        name = metrics_file.parent.parent.name.rsplit("_s", 1)[0]
        runs[name].append(json.loads(metrics_file.read_text()))
    lines = [
        "| variant | runs | paper-protocol IoU | F1 | ROC-AUC | recall | standard pooled IoU | F1 | PR-AUC | "
        "paper's IoU / F1 / AUC / recall |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("unetpp", "unetpp_pd", "unetpp_de", "hecl"):
        ms = runs.get(name)
        if not ms:
            continue
        p = [m["paper"] for m in ms]
        s = [m["standard"]["pooled"] for m in ms]
        lines.append(
            f"| {LABELS[name]} | {len(ms)} | {fmt([x['iou'] for x in p])} | {fmt([x['f1'] for x in p])} | "
            f"{fmt([x['roc_auc'] for x in p])} | {fmt([x['recall'] for x in p])} | {fmt([x['iou'] for x in s])} | "
            f"{fmt([x['f1'] for x in s])} | {fmt([x['pr_auc'] for x in s])} | "
            + " / ".join(f"{v:.2f}" for v in PAPER[name]) + " |")
    lines.append("")
    lines.append("Values in %, mean (sample std) over seeds. Ours: model chosen on the validation split, test scored "
                 "once. The paper picked its best epoch on the test set.")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/reproduce_cpu")
