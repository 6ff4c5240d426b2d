"""UNet++ (Zhou et al., 2018): nested, dense skip pathways.

Reference: Z. Zhou, M. M. Rahman Siddiquee, N. Tajbakhsh, J. Liang, "UNet++:
A Nested U-Net Architecture for Medical Image Segmentation", DLMIA 2018.
"""

import keras

from hecl_keras.models.blocks import segmentation_outputs
from hecl_keras.models.decoders import encoder_levels, nested_decoder
from hecl_keras.models.encoders import ENCODER_STRIDE
from hecl_keras.models.inputs import images_input


def build_unet_plus_plus(input_shape=(None, None, 3), base_filters=32, depth=5, deep_supervision=False,
                         encoder=None, encoder_weights=None, encoder_freeze=False, name="unet_plus_plus"):
    """Builds UNet++ in the HECL authors' configuration, or on a ``keras.applications`` encoder.

    Node ``x_{i}_{j}`` (level i, column j) is two (conv3x3, BN, ReLU) over the
    concatenation of ``x_{i}_{0..j-1}`` and the bilinear up-sampling of
    ``x_{i+1}_{j-1}``. Features are the last decoder node at input resolution
    (base_filters channels after BN+ReLU).

    Args:
        input_shape: (H, W, 3); H and W multiples of the output stride (2**(depth-1), or 32 with an
            encoder), or None.
        base_filters: int. Decoder width of level 0 (level i has base_filters * 2**i). 32 gives the
            authors' 32/64/128/256/512; 16 is ~4x cheaper.
        depth: int. Number of levels of the from-scratch encoder (5); ignored with ``encoder``.
        deep_supervision: bool. Logits are the mean of 1x1-conv heads on every
            ``x_0_j`` (j >= 1) instead of the last one alone.
        encoder: None (the authors' from-scratch encoder) or a key of ``encoders.ENCODERS``
            (``"resnet50"``, ``"efficientnetb0"``, ...): its stride 2..32 maps become levels 1-5,
            a double_conv stem on the images level 0.
        encoder_weights: ``"imagenet"`` (downloaded on first use), a ``.weights.h5`` path, or None.
        encoder_freeze: bool. Keep the encoder's weights fixed.
        name: str.

    Returns:
        keras.Model: ``images`` (B,H,W,3) in [0, 1] -> {"logits": (B,H,W,1), "features": (B,H,W,base_filters)}.
    """
    if depth < 2:
        raise ValueError(f"depth must be >= 2. Received: depth={depth}")
    inputs = images_input(input_shape, ENCODER_STRIDE if encoder else 2 ** (depth - 1), name)
    levels, filters = encoder_levels(inputs, base_filters, depth, encoder, encoder_weights, encoder_freeze,
                                     lambda i: f"x_{i}_0")
    nodes = nested_decoder(levels, filters)
    last = len(levels) - 1
    extra = [nodes[f"x_0_{j}"] for j in range(1, last)] if deep_supervision else ()
    return keras.Model(inputs, segmentation_outputs(nodes[f"x_0_{last}"], extra), name=name)
