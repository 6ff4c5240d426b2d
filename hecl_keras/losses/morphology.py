"""Binary morphology on (B, H, W, 1) float masks as max-pool arithmetic (keras.ops only).

Works under every backend and under XLA (``jit_compile=True``), unlike
``tf.nn.dilation2d``/``erosion2d``, which have no XLA kernel.

Border rules (METHOD.md section 4.1): dilation ignores pixels outside the
image (max-pool "same" padding never wins), erosion treats outside the image as
background, so lesion pixels on the border erode.
"""

from keras import ops

ELEMENTS = ("cross", "square")


def _check(element, iterations):
    if element not in ELEMENTS:
        raise ValueError(f"element must be one of {ELEMENTS}. Received: element={element!r}")
    if int(iterations) != iterations or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer. Received: iterations={iterations}")


def _dilate_once(masks, element, padding):
    if element == "square":
        return ops.max_pool(masks, pool_size=(3, 3), strides=1, padding=padding)
    rows = ops.max_pool(masks, pool_size=(1, 3), strides=1, padding=padding)
    cols = ops.max_pool(masks, pool_size=(3, 1), strides=1, padding=padding)
    if padding == "valid":  # crop the other axis so both are (B, H, W, 1) of the unpadded input
        rows = rows[:, 1:-1, :, :]
        cols = cols[:, :, 1:-1, :]
    return ops.maximum(rows, cols)


def dilate(masks, iterations=1, element="cross"):
    """Dilates binary masks ``iterations`` times by a 3x3 cross (4-connected) or square.

    Args:
        masks: float (B, H, W, 1) in {0, 1}.
        iterations: int >= 0.
        element: ``"cross"`` or ``"square"``.

    Returns:
        (B, H, W, 1), same dtype.
    """
    _check(element, iterations)
    for _ in range(int(iterations)):
        masks = _dilate_once(masks, element, "same")
    return masks


def erode(masks, iterations=1, element="cross"):
    """Erodes binary masks; pixels outside the image count as background.

    Erosion is ``-dilate(-y)`` over a one-pixel zero border (so the border erodes).

    Args:
        masks: float (B, H, W, 1) in {0, 1}.
        iterations: int >= 0.
        element: ``"cross"`` or ``"square"``.

    Returns:
        (B, H, W, 1), same dtype.
    """
    _check(element, iterations)
    for _ in range(int(iterations)):
        padded = ops.pad(masks, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=0)
        masks = -_dilate_once(-padded, element, "valid")
    return masks
