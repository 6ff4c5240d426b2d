"""How many images a split's pooled scores rest on.

Lesion burden is heavy-tailed (IDRiD: 0.02 % to 6.6 % of a photograph), and pooled scores (pooled
F1, PR-AUC: every lesion pixel counts once) are dominated by the images with the most lesion pixels.
A 6-image validation split can hold one image with most of them; model selection and the decision
threshold then follow that image (docs/RESULTS.md section 18).
"""

from __future__ import annotations

import numpy as np

# Below this many effective images the training log warns (a random 6 of IDRiD's 54 training images
# give 2.9 at the median; the test split's 27 give 8.7).
FEW_EFFECTIVE_IMAGES = 2.0


def effective_images(positives):
    """``(effective, largest_share)`` of per-image lesion pixel counts.

    Args:
        positives: (n,) lesion pixels (or fractions of equal-size images) per image.

    Returns:
        ``1 / sum(w^2)`` with ``w`` each image's share of the lesion pixels (n when the shares are
        equal, 1 when one image holds them all), and the largest share; ``(0.0, 0.0)`` without lesions.
    """
    positives = np.asarray(positives, dtype=np.float64)
    total = positives.sum()
    if total <= 0:
        return 0.0, 0.0
    shares = positives / total
    return float(1.0 / np.sum(shares**2)), float(shares.max())


def describe_split(pairs, name="validation"):
    """One line on a split of :class:`~hecl_keras.data.preprocess.Pair` (working-scale masks), with a
    warning when its pooled scores rest on fewer than ``FEW_EFFECTIVE_IMAGES`` images; None if empty."""
    if not pairs:
        return None
    positives = [int(np.count_nonzero(p.mask)) for p in pairs]
    effective, largest = effective_images(positives)
    if effective == 0:
        return f"{name} split: {len(pairs)} images, no lesion pixels (pooled F1 and PR-AUC are undefined)"
    heaviest = pairs[int(np.argmax(positives))].id
    line = (f"{name} split: {len(pairs)} images; its pooled scores rest on {effective:.1f} effective images "
            f"({largest:.0%} of the lesion pixels in {heaviest})")
    if effective < FEW_EFFECTIVE_IMAGES:
        line += (". Warning: model selection and the decision threshold will mostly follow that image; "
                 "a larger data.val_count (or another data.split_seed) spreads them")
    return line
