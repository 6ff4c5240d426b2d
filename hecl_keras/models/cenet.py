"""CE-Net (Gu et al., 2019): ResNet-34 encoder, dense atrous convolution (DAC) and
residual multi-kernel pooling (RMP) in the bottleneck, light decoder.

Reference: Z. Gu et al., "CE-Net: Context Encoder Network for 2D Medical Image
Segmentation", IEEE TMI 38(10), 2019. The encoder is trained from scratch here
(no ImageNet weights can be fetched in this project's environments).
"""

import keras
from keras import layers

from hecl_keras.models.blocks import (
    conv_bn_relu,
    dense_atrous_block,
    residual_multikernel_pooling,
    residual_unit,
    segmentation_outputs,
    up,
)
from hecl_keras.models.inputs import images_input

RESNET34_BLOCKS = (3, 4, 6, 3)


def _decoder_block(x, filters, name):
    """1x1 reduce, bilinear x2, 3x3, 1x1 expand (CE-Net's decoder, bilinear instead of a deconvolution)."""
    mid = max(x.shape[-1] // 4, 1)
    x = conv_bn_relu(x, mid, f"{name}_reduce", kernel_size=1)
    x = conv_bn_relu(up(x, name), mid, f"{name}_mid")
    return conv_bn_relu(x, filters, f"{name}_expand", kernel_size=1)


def build_cenet(input_shape=(None, None, 3), base_filters=64, name="cenet"):
    """Builds CE-Net.

    Args:
        input_shape: (H, W, 3); multiples of 32, or None.
        base_filters: int. Width of the first ResNet stage (64 in ResNet-34);
            stages have 1x, 2x, 4x, 8x. Features have ``base_filters // 2`` channels.
        name: str.

    Returns:
        keras.Model: ``images`` -> {"logits": (B,H,W,1), "features": (B,H,W,base_filters//2)}.
    """
    inputs = images_input(input_shape, 32, name)
    widths = [base_filters * 2**i for i in range(4)]
    x = conv_bn_relu(inputs, widths[0], "stem", kernel_size=7, strides=2)  # /2
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)  # /4
    skips = []
    for stage, (blocks, width) in enumerate(zip(RESNET34_BLOCKS, widths)):
        for b in range(blocks):
            strides = 2 if (b == 0 and stage > 0) else 1
            x = residual_unit(x, width, f"stage{stage}_block{b}", strides=strides, preactivation=False)
        skips.append(x)  # /4, /8, /16, /32
    x = dense_atrous_block(x, "dac")
    x = residual_multikernel_pooling(x, "rmp")
    for stage in (3, 2, 1):
        x = _decoder_block(x, widths[stage - 1], f"dec{stage}")
        x = layers.Add(name=f"dec{stage}_skip")([x, skips[stage - 1]])
    x = _decoder_block(x, widths[0], "dec0")  # /2
    x = up(x, "final")  # /1
    x = conv_bn_relu(x, max(base_filters // 2, 1), "final_1")
    x = conv_bn_relu(x, max(base_filters // 2, 1), "final_2")
    return keras.Model(inputs, segmentation_outputs(x), name=name)
