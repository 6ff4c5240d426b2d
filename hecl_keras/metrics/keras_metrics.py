"""Stateful, pooled pixel metrics for ``model.fit`` (from logits, threshold 0.5 on the sigmoid).

They accumulate true/false positive/negative counts over every pixel seen
since the last reset, so ``val_iou`` etc. are pooled over the validation set,
not averages of per-batch values. ``pr_auc``/``roc_auc`` are :class:`PixelAUC`:
histograms of logits with 1000 bins.
"""

import keras
from keras import ops


class _ConfusionMetric(keras.metrics.Metric):
    """Pooled confusion counts of binary pixel predictions.

    Args:
        threshold: float. Probability threshold (applied as ``logit >= logit(threshold)``).
        from_logits: bool. ``y_pred`` are logits (True) or probabilities.
        name: str.
    """

    def __init__(self, threshold=0.5, from_logits=True, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1). Received: threshold={threshold}")
        self.threshold = float(threshold)
        self.from_logits = from_logits
        self.tp = self.add_variable((), initializer="zeros", name="tp", dtype="float32")
        self.fp = self.add_variable((), initializer="zeros", name="fp", dtype="float32")
        self.fn = self.add_variable((), initializer="zeros", name="fn", dtype="float32")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(y_pred, "float32")
        if self.from_logits:
            y_pred = ops.sigmoid(y_pred)
        pred = ops.cast(y_pred >= self.threshold, "float32")
        true = ops.cast(ops.cast(y_true, "float32") >= 0.5, "float32")
        self.tp.assign_add(ops.sum(pred * true))
        self.fp.assign_add(ops.sum(pred * (1.0 - true)))
        self.fn.assign_add(ops.sum((1.0 - pred) * true))

    def reset_state(self):
        for v in (self.tp, self.fp, self.fn):
            v.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold, "from_logits": self.from_logits}

    @staticmethod
    def _ratio(num, den):
        # 0/0 means nothing to find and nothing wrongly found: a perfect score.
        return ops.where(den > 0, num / ops.maximum(den, 1.0), 1.0)


@keras.saving.register_keras_serializable(package="hecl_keras")
class PixelIoU(_ConfusionMetric):
    """Pooled IoU (Jaccard) of the lesion class: TP / (TP + FP + FN)."""

    def __init__(self, threshold=0.5, from_logits=True, name="iou", **kwargs):
        super().__init__(threshold, from_logits, name=name, **kwargs)

    def result(self):
        return self._ratio(self.tp, self.tp + self.fp + self.fn)


@keras.saving.register_keras_serializable(package="hecl_keras")
class PixelF1(_ConfusionMetric):
    """Pooled F1 (Dice) of the lesion class: 2TP / (2TP + FP + FN)."""

    def __init__(self, threshold=0.5, from_logits=True, name="f1", **kwargs):
        super().__init__(threshold, from_logits, name=name, **kwargs)

    def result(self):
        return self._ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)


@keras.saving.register_keras_serializable(package="hecl_keras")
class PixelPrecision(_ConfusionMetric):
    """Pooled precision: TP / (TP + FP)."""

    def __init__(self, threshold=0.5, from_logits=True, name="precision", **kwargs):
        super().__init__(threshold, from_logits, name=name, **kwargs)

    def result(self):
        return self._ratio(self.tp, self.tp + self.fp)


@keras.saving.register_keras_serializable(package="hecl_keras")
class PixelRecall(_ConfusionMetric):
    """Pooled recall (sensitivity): TP / (TP + FN)."""

    def __init__(self, threshold=0.5, from_logits=True, name="recall", **kwargs):
        super().__init__(threshold, from_logits, name=name, **kwargs)

    def result(self):
        return self._ratio(self.tp, self.tp + self.fn)


@keras.saving.register_keras_serializable(package="hecl_keras")
class PixelAUC(keras.metrics.Metric):
    """Pooled ROC-AUC or PR-AUC (average precision) from histograms of logits.

    Pixels are counted into ``num_bins`` bins evenly spaced in logit space over
    [-logit_range, logit_range] (probabilities 8e-7 .. 1 - 8e-7), separately for
    lesion and background; the curves use every bin edge as a threshold. The
    update is O(pixels) - Keras' ``AUC`` with non-uniform thresholds is
    O(pixels x thresholds), which made a 256x256x6 training step 2.5x slower -
    and thresholds spaced in logit space still rank a confident model's pixels,
    which probability-spaced thresholds lump together below p = 0.001.

    Args:
        curve: ``"PR"`` (average precision, step-wise like scikit-learn) or ``"ROC"`` (trapezoidal).
        num_bins: int. Defaults to 1000.
        logit_range: float. Defaults to 14.
        from_logits: bool. ``y_pred`` are logits (True) or probabilities.
    """

    def __init__(self, curve="PR", num_bins=1000, logit_range=14.0, from_logits=True, name=None, **kwargs):
        if curve not in ("PR", "ROC"):
            raise ValueError(f"curve must be 'PR' or 'ROC'. Received: curve={curve!r}")
        super().__init__(name=name or f"{curve.lower()}_auc", **kwargs)
        self.curve, self.num_bins = curve, int(num_bins)
        self.logit_range, self.from_logits = float(logit_range), from_logits
        self.pos = self.add_variable((self.num_bins,), initializer="zeros", name="pos", dtype="float32")
        self.neg = self.add_variable((self.num_bins,), initializer="zeros", name="neg", dtype="float32")

    def update_state(self, y_true, y_pred, sample_weight=None):
        z = ops.reshape(ops.cast(y_pred, "float32"), (-1,))
        if not self.from_logits:
            p = ops.clip(z, 1e-7, 1 - 1e-7)
            z = ops.log(p) - ops.log(1 - p)
        t = ops.cast(ops.reshape(ops.cast(y_true, "float32"), (-1,)) >= 0.5, "float32")
        scaled = (z + self.logit_range) / (2 * self.logit_range) * self.num_bins
        idx = ops.cast(ops.clip(ops.floor(scaled), 0, self.num_bins - 1), "int32")
        # segment_sum with a static num_segments compiles under jax.jit (bincount does not).
        self.pos.assign_add(ops.segment_sum(t, idx, num_segments=self.num_bins))
        self.neg.assign_add(ops.segment_sum(1.0 - t, idx, num_segments=self.num_bins))

    def result(self):
        tp = ops.cumsum(ops.flip(self.pos, 0))
        fp = ops.cumsum(ops.flip(self.neg, 0))
        positives, negatives = tp[-1], fp[-1]
        zero = ops.zeros((1,), "float32")
        if self.curve == "ROC":
            tpr = ops.concatenate([zero, tp / ops.maximum(positives, 1.0)])
            fpr = ops.concatenate([zero, fp / ops.maximum(negatives, 1.0)])
            area = ops.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2.0)
            return ops.where((positives > 0) & (negatives > 0), area, 0.0)
        precision = tp / ops.maximum(tp + fp, 1.0)
        recall = ops.concatenate([zero, tp / ops.maximum(positives, 1.0)])
        area = ops.sum((recall[1:] - recall[:-1]) * precision)
        return ops.where(positives > 0, area, 0.0)

    def reset_state(self):
        self.pos.assign(ops.zeros((self.num_bins,), "float32"))
        self.neg.assign(ops.zeros((self.num_bins,), "float32"))

    def get_config(self):
        return {**super().get_config(), "curve": self.curve, "num_bins": self.num_bins,
                "logit_range": self.logit_range, "from_logits": self.from_logits}


def segmentation_metrics(threshold=0.5, num_thresholds=1000):
    """The default in-training metrics: iou, f1, precision, recall, pr_auc, roc_auc (all from logits).

    The AUCs are :class:`PixelAUC` with ``num_thresholds`` bins spaced in logit space.
    """
    return [
        PixelIoU(threshold),
        PixelF1(threshold),
        PixelPrecision(threshold),
        PixelRecall(threshold),
        PixelAUC("PR", num_thresholds, name="pr_auc"),
        PixelAUC("ROC", num_thresholds, name="roc_auc"),
    ]
