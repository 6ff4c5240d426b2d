"""U-Net (Ronneberger et al., 2015) with BatchNorm, max-pool down and bilinear up-sampling.

Reference: O. Ronneberger, P. Fischer, T. Brox, "U-Net: Convolutional Networks
for Biomedical Image Segmentation", MICCAI 2015.
"""

import keras

from hecl_keras.models.blocks import segmentation_outputs
from hecl_keras.models.decoders import encoder_levels, unet_decoder
from hecl_keras.models.encoders import ENCODER_STRIDE
from hecl_keras.models.inputs import images_input


def build_unet(input_shape=(None, None, 3), base_filters=64, depth=5, attention=False, encoder=None,
               encoder_weights=None, encoder_freeze=False, name="unet"):
    """Builds a U-Net (from scratch, or on a ``keras.applications`` encoder).

    Args:
        input_shape: (H, W, 3); H and W multiples of the output stride (2**(depth-1), or 32 with an
            encoder), or None.
        base_filters: int. Filters of the first level; level i has base*2**i.
        depth: int. Number of resolution levels of the from-scratch encoder (5 in the paper); ignored
            with ``encoder``.
        attention: bool. Put attention gates on the skips (Attention U-Net).
        encoder, encoder_weights, encoder_freeze: as in
            :func:`~hecl_keras.models.unet_plus_plus.build_unet_plus_plus`.
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
    inputs = images_input(input_shape, ENCODER_STRIDE if encoder else 2 ** (depth - 1), name)
    levels, filters = encoder_levels(inputs, base_filters, depth, encoder, encoder_weights, encoder_freeze,
                                     lambda i: f"enc{i}")
    return keras.Model(inputs, segmentation_outputs(unet_decoder(levels, filters, attention)), name=name)


def build_attention_unet(input_shape=(None, None, 3), base_filters=64, depth=5, encoder=None, encoder_weights=None,
                         encoder_freeze=False, name="attention_unet"):
    """Attention U-Net (Oktay et al., 2018): a U-Net with additive attention gates on every skip.

    Reference: O. Oktay et al., "Attention U-Net: Learning Where to Look for
    the Pancreas", MIDL 2018. Same arguments and outputs as :func:`build_unet`.
    """
    return build_unet(input_shape, base_filters, depth, attention=True, encoder=encoder,
                      encoder_weights=encoder_weights, encoder_freeze=encoder_freeze, name=name)
