"""UNet++ (Zhou et al., 2018): nested, dense skip pathways.

Reference: Z. Zhou, M. M. Rahman Siddiquee, N. Tajbakhsh, J. Liang, "UNet++:
A Nested U-Net Architecture for Medical Image Segmentation", DLMIA 2018.
"""

import keras

from hecl_keras.models.blocks import concat, double_conv, down, segmentation_outputs, up
from hecl_keras.models.inputs import images_input


def build_unet_plus_plus(input_shape=(None, None, 3), base_filters=32, depth=5, deep_supervision=False,
                         name="unet_plus_plus"):
    """Builds UNet++ in the HECL authors' configuration.

    Node ``x_{i}_{j}`` (level i, column j) is two (conv3x3, BN, ReLU) over the
    concatenation of ``x_{i}_{0..j-1}`` and the bilinear up-sampling of
    ``x_{i+1}_{j-1}``. Features are the last decoder node ``x_0_{depth-1}``
    (base_filters channels after BN+ReLU).

    Args:
        input_shape: (H, W, 3); H and W multiples of 2**(depth-1), or None.
        base_filters: int. 32 gives the authors' 32/64/128/256/512; 16 is ~4x cheaper.
        depth: int. Number of levels (5).
        deep_supervision: bool. Logits are the mean of 1x1-conv heads on every
            ``x_0_j`` (j >= 1) instead of ``x_0_{depth-1}`` alone.
        name: str.

    Returns:
        keras.Model: ``images`` (B,H,W,3) -> {"logits": (B,H,W,1), "features": (B,H,W,base_filters)}.
    """
    if depth < 2:
        raise ValueError(f"depth must be >= 2. Received: depth={depth}")
    inputs = images_input(input_shape, 2 ** (depth - 1), name)
    filters = [base_filters * 2**i for i in range(depth)]
    nodes = {}
    for i in range(depth):
        source = inputs if i == 0 else down(nodes[f"x_{i - 1}_0"], f"x_{i}_0")
        nodes[f"x_{i}_0"] = double_conv(source, filters[i], f"x_{i}_0")
    for j in range(1, depth):
        for i in range(depth - j):
            key = f"x_{i}_{j}"
            parts = [nodes[f"x_{i}_{k}"] for k in range(j)] + [up(nodes[f"x_{i + 1}_{j - 1}"], key)]
            nodes[key] = double_conv(concat(parts, key), filters[i], key)
    features = nodes[f"x_0_{depth - 1}"]
    extra = [nodes[f"x_0_{j}"] for j in range(1, depth - 1)] if deep_supervision else ()
    return keras.Model(inputs, segmentation_outputs(features, extra), name=name)
