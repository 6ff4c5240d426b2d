"""Supervised segmentation losses (L_sup)."""

import keras
from keras import ops


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


def get_supervised_loss(name):
    """``"bce"`` (authors' L_sup: BCE from logits, mean over all pixels) or ``"dice_bce"``."""
    if name == "bce":
        return keras.losses.BinaryCrossentropy(from_logits=True, name="bce")
    if name == "dice_bce":
        return DiceBCELoss()
    raise ValueError(f"Unknown supervised loss {name!r}. Available: bce, dice_bce")
