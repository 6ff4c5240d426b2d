"""Memory-light pooled evaluation over many full-resolution images.

:class:`PooledCurves` keeps two histograms (lesion and background pixels) of
probabilities quantised to ``bins`` levels (default 2**16), so 330 million
pixels cost 1 MB. Curves computed from them are exact for the quantised
probabilities (every distinct level is a threshold), i.e. within 1/bins of the
unquantised probabilities.
"""

from __future__ import annotations

import numpy as np


def _safe(num, den):
    return float(num / den) if den > 0 else 1.0


def confusion_scores(tp, fp, fn):
    """IoU, F1, precision, recall from counts. 0/0 counts as 1.0 (nothing to find, nothing wrongly found)."""
    return {
        "iou": _safe(tp, tp + fp + fn),
        "f1": _safe(2 * tp, 2 * tp + fp + fn),
        "precision": _safe(tp, tp + fp),
        "recall": _safe(tp, tp + fn),
    }


def binary_scores(probabilities, truth, threshold=0.5):
    """Scores of one image (or any pixel set): ``{"iou", "f1", "precision", "recall"}`` at ``threshold``."""
    pred = np.asarray(probabilities) >= threshold
    truth = np.asarray(truth).astype(bool)
    tp = int(np.count_nonzero(pred & truth))
    fp = int(np.count_nonzero(pred & ~truth))
    fn = int(np.count_nonzero(~pred & truth))
    return confusion_scores(tp, fp, fn)


class PooledCurves:
    """Accumulates pixels of many images; gives pooled ROC-AUC, PR-AUC and scores at a threshold.

    Args:
        bins: int. Quantisation levels of the probabilities.
    """

    def __init__(self, bins: int = 65536):
        self.bins = bins
        self.pos = np.zeros(bins, np.int64)
        self.neg = np.zeros(bins, np.int64)

    def update(self, probabilities, truth):
        """Adds pixels. ``probabilities`` in [0, 1] and ``truth`` (bool), any equal shapes."""
        p = np.asarray(probabilities, np.float64).ravel()
        t = np.asarray(truth).astype(bool).ravel()
        if p.shape != t.shape:
            raise ValueError(f"Shapes differ: probabilities {np.shape(probabilities)}, truth {np.shape(truth)}")
        idx = np.clip(np.floor(p * self.bins), 0, self.bins - 1).astype(np.int64)
        self.pos += np.bincount(idx[t], minlength=self.bins)
        self.neg += np.bincount(idx[~t], minlength=self.bins)

    def _cumulative(self):
        # Thresholds from high to low: predicted positive = bins at or above the threshold.
        tp = np.cumsum(self.pos[::-1])
        fp = np.cumsum(self.neg[::-1])
        keep = np.r_[np.diff(tp + fp) != 0, True] if tp.size else tp.astype(bool)
        return tp[keep], fp[keep]

    def roc_auc(self) -> float:
        """Area under the ROC curve (trapezoidal over every quantised level); NaN without both classes."""
        P, N = self.pos.sum(), self.neg.sum()
        if P == 0 or N == 0:
            return float("nan")
        tp, fp = self._cumulative()
        tpr = np.r_[0.0, tp / P]
        fpr = np.r_[0.0, fp / N]
        return float(np.trapezoid(tpr, fpr))

    def pr_auc(self) -> float:
        """Average precision (step-wise area under the precision-recall curve, as scikit-learn's)."""
        P = self.pos.sum()
        if P == 0:
            return float("nan")
        tp, fp = self._cumulative()
        precision = tp / np.maximum(tp + fp, 1)
        recall = tp / P
        return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))

    def scores(self, threshold: float = 0.5) -> dict:
        """Pooled IoU/F1/precision/recall at a probability threshold (a multiple of 1/bins is exact)."""
        start = int(np.ceil(threshold * self.bins - 1e-9))
        tp = int(self.pos[start:].sum())
        fp = int(self.neg[start:].sum())
        fn = int(self.pos[:start].sum())
        return confusion_scores(tp, fp, fn)

    def best_f1_threshold(self):
        """``(threshold, f1)``: the probability threshold (a multiple of 1/bins) that maximises pooled F1.

        Every quantised level is tried; ties go to the highest threshold. ``(0.5, nan)``
        when there are no lesion pixels.
        """
        P = int(self.pos.sum())
        if P == 0:
            return 0.5, float("nan")
        tp = np.cumsum(self.pos[::-1])[::-1]  # tp[k]: lesion pixels at or above level k
        fp = np.cumsum(self.neg[::-1])[::-1]
        f1 = 2 * tp / (tp + fp + P)
        k = int(len(f1) - 1 - np.argmax(f1[::-1]))  # the highest level among the maxima
        return k / self.bins, float(f1[k])

    def curves(self, max_points: int = 2000):
        """Downsampled (fpr, tpr) and (recall, precision) arrays for plotting."""
        P, N = max(self.pos.sum(), 1), max(self.neg.sum(), 1)
        tp, fp = self._cumulative()
        step = max(1, len(tp) // max_points)
        keep = np.r_[np.arange(0, len(tp), step), len(tp) - 1] if len(tp) else np.zeros(0, int)
        tp, fp = tp[np.unique(keep)], fp[np.unique(keep)]  # the last point, (1, 1) on the ROC curve, stays
        return {
            "fpr": np.r_[0.0, fp / N], "tpr": np.r_[0.0, tp / P],
            "recall": tp / P, "precision": tp / np.maximum(tp + fp, 1),
        }
