"""Stateful, pooled pixel metrics for ``model.fit`` (from logits, threshold 0.5 on the sigmoid).

They accumulate true/false positive/negative counts over every pixel seen
since the last reset, so ``val_iou`` etc. are pooled over the validation set,
not averages of per-batch values. ``pr_auc``/``roc_auc`` use Keras' ``AUC``
with 1000 thresholds spaced in logit space.
"""

import keras
import numpy as np
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


def logit_spaced_thresholds(count=1000, limit=14.0):
    """Probability thresholds evenly spaced in logit space, ``sigmoid(linspace(-limit, limit, count))``.

    Keras' default thresholds are evenly spaced in probability; a confident
    segmentation model puts most pixels below 0.001, where those thresholds
    cannot rank them, and the curves (ROC above all) come out far too low.
    """
    return [float(v) for v in 1.0 / (1.0 + np.exp(-np.linspace(-limit, limit, count)))]


def segmentation_metrics(threshold=0.5, num_thresholds=1000):
    """The default in-training metrics: iou, f1, precision, recall, pr_auc, roc_auc (all from logits).

    The AUCs use ``num_thresholds`` thresholds spaced in logit space (:func:`logit_spaced_thresholds`).
    """
    thresholds = logit_spaced_thresholds(num_thresholds)
    return [
        PixelIoU(threshold),
        PixelF1(threshold),
        PixelPrecision(threshold),
        PixelRecall(threshold),
        keras.metrics.AUC(thresholds=thresholds, curve="PR", from_logits=True, name="pr_auc"),
        keras.metrics.AUC(thresholds=thresholds, curve="ROC", from_logits=True, name="roc_auc"),
    ]
