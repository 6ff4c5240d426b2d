"""Losses: supervised L_sup and, from the HECL method, the contrastive terms."""

from hecl_keras.losses.supervised import DiceBCELoss, dice_loss_from_logits, get_supervised_loss

__all__ = ["DiceBCELoss", "dice_loss_from_logits", "get_supervised_loss"]
