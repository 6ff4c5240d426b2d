"""Deep residual U-Net (Zhang, Liu, Wang, 2018).

Reference: Z. Zhang, Q. Liu, Y. Wang, "Road Extraction by Deep Residual U-Net",
IEEE GRSL 15(5), 2018.
"""

import keras

from hecl_keras.models.blocks import batch_norm, concat, residual_unit, segmentation_outputs, up
from hecl_keras.models.inputs import images_input


def build_resunet(input_shape=(None, None, 3), base_filters=64, depth=4, name="resunet"):
    """Builds a ResUNet: pre-activation residual units, strided-conv down-sampling.

    Args:
        input_shape: (H, W, 3); multiples of 2**(depth-1), or None.
        base_filters: int. 64 in the paper (64/128/256 + bridge 512).
        depth: int. Levels including the bridge (4 in the paper).
        name: str.

    Returns:
        keras.Model: ``images`` -> {"logits": (B,H,W,1), "features": (B,H,W,base_filters)}.
    """
    if depth < 2:
        raise ValueError(f"depth must be >= 2. Received: depth={depth}")
    inputs = images_input(input_shape, 2 ** (depth - 1), name)
    filters = [base_filters * 2**i for i in range(depth)]
    skips = []
    x = residual_unit(inputs, filters[0], "enc0", first=True)
    skips.append(x)
    for i in range(1, depth):
        x = residual_unit(x, filters[i], f"enc{i}", strides=2)
        skips.append(x)
    for i in reversed(range(depth - 1)):
        x = residual_unit(concat([up(x, f"dec{i}"), skips[i]], f"dec{i}"), filters[i], f"dec{i}")
    # Pre-activation units end on a convolution: finish with BN+ReLU so features are >= 0 like the others.
    x = batch_norm("features_bn")(x)
    x = keras.layers.ReLU(name="features_relu")(x)
    return keras.Model(inputs, segmentation_outputs(x), name=name)
