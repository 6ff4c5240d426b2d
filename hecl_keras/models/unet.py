"""U-Net (Ronneberger et al., 2015) with BatchNorm, max-pool down and bilinear up-sampling.

Reference: O. Ronneberger, P. Fischer, T. Brox, "U-Net: Convolutional Networks
for Biomedical Image Segmentation", MICCAI 2015.
"""

import keras

from hecl_keras.models.blocks import attention_gate, concat, double_conv, down, segmentation_outputs, up
from hecl_keras.models.inputs import images_input


def build_unet(input_shape=(None, None, 3), base_filters=64, depth=5, attention=False, name="unet"):
    """Builds a U-Net.

    Args:
        input_shape: (H, W, 3); H and W multiples of 2**(depth-1), or None.
        base_filters: int. Filters of the first level; level i has base*2**i.
        depth: int. Number of resolution levels (5 in the paper).
        attention: bool. Put attention gates on the skips (Attention U-Net).
        name: str.

    Returns:
        keras.Model: ``images`` (B,H,W,3) -> {"logits": (B,H,W,1), "features": (B,H,W,base_filters)}.

    Example:
        >>> model = build_unet((64, 64, 3), base_filters=8, depth=3)
        >>> model(np.zeros((2, 64, 64, 3)))["features"].shape
        (2, 64, 64, 8)
    """
    if depth < 2:
        raise ValueError(f"depth must be >= 2. Received: depth={depth}")
    inputs = images_input(input_shape, 2 ** (depth - 1), name)
    filters = [base_filters * 2**i for i in range(depth)]
    skips, x = [], inputs
    for i, f in enumerate(filters):
        x = double_conv(x if i == 0 else down(x, f"enc{i}"), f, f"enc{i}")
        skips.append(x)
    for i in reversed(range(depth - 1)):
        skip = skips[i]
        if attention:
            skip = attention_gate(skip, x, max(filters[i] // 2, 1), f"att{i}")
        x = double_conv(concat([skip, up(x, f"dec{i}")], f"dec{i}"), filters[i], f"dec{i}")
    return keras.Model(inputs, segmentation_outputs(x), name=name)


def build_attention_unet(input_shape=(None, None, 3), base_filters=64, depth=5, name="attention_unet"):
    """Attention U-Net (Oktay et al., 2018): a U-Net with additive attention gates on every skip.

    Reference: O. Oktay et al., "Attention U-Net: Learning Where to Look for
    the Pancreas", MIDL 2018. Same arguments and outputs as :func:`build_unet`.
    """
    return build_unet(input_shape, base_filters, depth, attention=True, name=name)
