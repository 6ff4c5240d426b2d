"""Test-time augmentation: average a model's tile predictions over flipped and transposed views.

Training rotates crops by any angle and flips them (``augment.rotation``, ``augment.flip``), so every
view of the dihedral group of the square is one the model has learned; averaging the probabilities of
several views smooths out what one orientation gets wrong.

Modes (``eval.tta``), by the views they average:

=========  =====  ==========================================================
mode       views  what
=========  =====  ==========================================================
``none``   1      the tiles as they are
``hflip``  2      + the horizontally flipped tiles (the old ``eval.tta_flip: true``)
``flips``  4      + vertically flipped, + both (= rotated by 180 degrees)
``d4``     8      ``flips`` of the tiles and of their transposes (square tiles only)
=========  =====  ==========================================================
"""

from __future__ import annotations

import numpy as np

from hecl_keras.config import TTA_MODES

# Each view: (transpose, flip rows, flip columns), applied in that order; undone in the reverse order.
_VIEWS = {
    "none": ((False, False, False),),
    "hflip": ((False, False, False), (False, False, True)),
    "flips": ((False, False, False), (False, False, True), (False, True, False), (False, True, True)),
}
_VIEWS["d4"] = _VIEWS["flips"] + tuple((True, rows, cols) for _, rows, cols in _VIEWS["flips"])
assert tuple(_VIEWS) == TTA_MODES, "hecl_keras.config.TTA_MODES and the views here must name the same modes"


def resolve_tta(tta) -> str:
    """The mode name of ``tta``: a mode, or a bool as the old ``tta_flip`` took it (True: ``hflip``), or None."""
    if tta is None or tta is False:
        return "none"
    if tta is True:
        return "hflip"
    if tta not in _VIEWS:
        raise ValueError(f"tta must be one of {TTA_MODES} (or a bool: True = 'hflip'). Received: {tta!r}")
    return tta


def tta_views(tta):
    """The views of ``tta``: a tuple of ``(transpose, flip rows, flip columns)``, applied in that order."""
    return _VIEWS[resolve_tta(tta)]


def tta_view_count(tta) -> int:
    """How many model calls per tile ``tta`` costs."""
    return len(tta_views(tta))


def _forward(tiles, transpose, rows, cols):
    x = np.swapaxes(tiles, 1, 2) if transpose else tiles
    if rows:
        x = x[:, ::-1]
    if cols:
        x = x[:, :, ::-1]
    return np.ascontiguousarray(x)


def _backward(maps, transpose, rows, cols):
    if cols:
        maps = maps[:, :, ::-1]
    if rows:
        maps = maps[:, ::-1]
    return np.swapaxes(maps, 1, 2) if transpose else maps


def predict_views(predict_fn, tiles, tta="none"):
    """Mean probability of ``tiles`` over the views of ``tta``.

    Args:
        predict_fn: callable, float32 (N, th, tw, 3) in [0, 1] -> probabilities (N, th, tw, 1).
        tiles: (N, th, tw, 3) float32.
        tta: a mode of :data:`TTA_MODES` (or a bool, see :func:`resolve_tta`).

    Returns:
        (N, th, tw) float32 probabilities, each view mapped back to the tiles' orientation.
    """
    views = tta_views(tta)
    if any(transpose for transpose, _, _ in views) and tiles.shape[1] != tiles.shape[2]:
        raise ValueError(f"tta='d4' transposes tiles and needs square ones. Received tiles of "
                         f"{tiles.shape[1]}x{tiles.shape[2]}; use tta='flips'.")
    total = None
    for view in views:
        probs = _backward(np.asarray(predict_fn(_forward(tiles, *view)), np.float32)[..., 0], *view)
        total = probs if total is None else total + probs
    return total / len(views)
