"""Supervised segmentation losses (L_sup)."""

import keras
from keras import ops

from hecl_keras.config import SUPERVISED_LOSSES


def dice_loss_from_logits(y_true, logits, smooth=1.0):
    """Soft Dice loss per image: 1 - (2 sum(p y) + s) / (sum p + sum y + s). Returns (B,)."""
    y_true = ops.cast(y_true, logits.dtype)
    p = ops.sigmoid(logits)
    axes = tuple(range(1, len(logits.shape)))
    inter = ops.sum(p * y_true, axis=axes)
    total = ops.sum(p, axis=axes) + ops.sum(y_true, axis=axes)
    return 1.0 - (2.0 * inter + smooth) / (total + smooth)


@keras.saving.register_keras_serializable(package="hecl_keras")
class DiceBCELoss(keras.losses.Loss):
    """Binary cross-entropy from logits (mean over pixels) plus soft Dice, per image.

    Args:
        dice_weight: float. Weight of the Dice term. Defaults to 1.0.
        smooth: float. Dice smoothing. Defaults to 1.0.

    Shapes: ``y_true`` (B,H,W,1) in {0,1}, ``y_pred`` logits (B,H,W,1) -> (B,).
    """

    def __init__(self, dice_weight=1.0, smooth=1.0, name="dice_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dice_weight = dice_weight
        self.smooth = smooth

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        bce = ops.mean(ops.binary_crossentropy(y_true, y_pred, from_logits=True), axis=(1, 2, 3))
        return bce + self.dice_weight * dice_loss_from_logits(y_true, y_pred, self.smooth)

    def get_config(self):
        return {**super().get_config(), "dice_weight": self.dice_weight, "smooth": self.smooth}


@keras.saving.register_keras_serializable(package="hecl_keras")
class TverskyBCELoss(keras.losses.Loss):
    """BCE from logits (mean over pixels) plus the soft Tversky loss, per image.

    Tversky: ``1 - (TP + s) / (TP + a FP + b FN + s)`` on sigmoid probabilities;
    ``b > a`` weighs missed lesion pixels more than false alarms (recall-leaning).

    Args:
        alpha: float. False-positive weight. Defaults to 0.3.
        beta: float. False-negative weight. Defaults to 0.7.
        smooth: float. Defaults to 1.0.

    Shapes: ``y_true`` (B,H,W,1) in {0,1}, ``y_pred`` logits (B,H,W,1) -> (B,).
    """

    def __init__(self, alpha=0.3, beta=0.7, smooth=1.0, name="tversky_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha, self.beta, self.smooth = alpha, beta, smooth

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        axes = (1, 2, 3)
        bce = ops.mean(ops.binary_crossentropy(y_true, y_pred, from_logits=True), axis=axes)
        p = ops.sigmoid(y_pred)
        tp = ops.sum(p * y_true, axis=axes)
        fp = ops.sum(p * (1.0 - y_true), axis=axes)
        fn = ops.sum((1.0 - p) * y_true, axis=axes)
        tversky = (tp + self.smooth) / (tp + self.alpha * fp + self.beta * fn + self.smooth)
        return bce + 1.0 - tversky

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta, "smooth": self.smooth}




def get_supervised_loss(name):
    """A supervised loss on logits by name.

    ``"bce"`` (authors' L_sup: BCE from logits, mean over all pixels), ``"dice_bce"``,
    ``"focal"`` (Keras' binary focal cross-entropy, gamma 2) or ``"tversky_bce"``.
    """
    if name == "bce":
        return keras.losses.BinaryCrossentropy(from_logits=True, name="bce")
    if name == "dice_bce":
        return DiceBCELoss()
    if name == "focal":
        return keras.losses.BinaryFocalCrossentropy(gamma=2.0, from_logits=True, name="focal")
    if name == "tversky_bce":
        return TverskyBCELoss()
    raise ValueError(f"Unknown supervised loss {name!r}. Available: {', '.join(SUPERVISED_LOSSES)}")
