"""Losses: supervised L_sup and HECL's contrastive terms L_pd and L_de, with on-device morphology."""

from hecl_keras.losses.contrastive import (
    contour_masks,
    edge_contrast_loss,
    edge_vectors,
    l2_normalize,
    patch_density_from_vectors,
    patch_density_loss,
    patch_statistics,
    patch_vectors,
    supervised_contrastive_loss,
)
from hecl_keras.losses.morphology import dilate, erode
from hecl_keras.losses.supervised import DiceBCELoss, TverskyBCELoss, dice_loss_from_logits, get_supervised_loss

__all__ = [
    "DiceBCELoss", "TverskyBCELoss", "contour_masks", "dice_loss_from_logits", "dilate", "edge_contrast_loss",
    "edge_vectors", "erode", "get_supervised_loss", "l2_normalize", "patch_density_from_vectors",
    "patch_density_loss", "patch_statistics", "patch_vectors", "supervised_contrastive_loss",
]
