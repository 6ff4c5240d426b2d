"""The U-Net and UNet++ decoders, and the encoders that feed them (their own, or a ``keras.applications`` one).

Both decoders take a list of encoder levels, level ``i`` at stride ``2**i``
(level 0 at input resolution, the deepest last), and return decoder features at
input resolution, so every backbone keeps its ``{"logits", "features"}`` outputs.
"""

from __future__ import annotations

from hecl_keras.models.blocks import attention_gate, concat, double_conv, down, up
from hecl_keras.models.encoders import build_encoder, check_encoder


def plain_encoder(inputs, filters, name_of):
    """The from-scratch encoder: level i = double_conv (after a 2x2 max-pool for i > 0) with ``filters[i]``.

    Args:
        inputs: (B,H,W,3). filters: list, one per level. name_of: callable(i) -> layer name prefix.

    Returns:
        list of (B, H/2**i, W/2**i, filters[i]).
    """
    levels = []
    for i, f in enumerate(filters):
        levels.append(double_conv(inputs if i == 0 else down(levels[-1], name_of(i)), f, name_of(i)))
    return levels


def pretrained_encoder(inputs, encoder, weights, freeze, base_filters, name_of):
    """Levels at strides 1, 2, 4, 8, 16, 32 from a ``keras.applications`` encoder (see ``encoders.ENCODERS``).

    Level 0 (input resolution, which no classification network keeps) is a
    double_conv stem on the images with ``base_filters``; a stride the family
    lacks (ConvNeXt's 2) is made from the level above it by max-pool +
    double_conv with ``2 * base_filters``.

    Returns:
        list of six tensors (B, H/2**i, W/2**i, C_i).
    """
    family = check_encoder(encoder)
    model, preprocessing = build_encoder(encoder, weights, freeze)
    maps = iter(model(preprocessing(inputs)))
    levels = [double_conv(inputs, base_filters, name_of(0))]
    for i, tap in enumerate(family.taps, 1):
        levels.append(next(maps) if tap else double_conv(down(levels[-1], name_of(i)), base_filters * 2**i, name_of(i)))
    levels.append(next(maps))
    return levels


def encoder_levels(inputs, base_filters, depth, encoder, encoder_weights, encoder_freeze, name_of):
    """The levels a decoder starts from: :func:`pretrained_encoder` when ``encoder`` is set, else :func:`plain_encoder`.

    Returns:
        ``(levels, filters)``: the levels and the decoder width per level (``base_filters * 2**i``).
    """
    if encoder:
        levels = pretrained_encoder(inputs, encoder, encoder_weights, encoder_freeze, base_filters, name_of)
        return levels, [base_filters * 2**i for i in range(len(levels))]
    filters = [base_filters * 2**i for i in range(depth)]
    return plain_encoder(inputs, filters, name_of), filters


def unet_decoder(levels, filters, attention=False):
    """U-Net decoder: from the deepest level up, concat(skip, bilinear up) -> double_conv(filters[i]).

    With ``attention`` an additive attention gate weights every skip (Attention U-Net).

    Returns:
        (B,H,W,filters[0]) features at level 0's resolution.
    """
    x = levels[-1]
    for i in reversed(range(len(levels) - 1)):
        skip = levels[i]
        if attention:
            skip = attention_gate(skip, x, max(filters[i] // 2, 1), f"att{i}")
        x = double_conv(concat([skip, up(x, f"dec{i}")], f"dec{i}"), filters[i], f"dec{i}")
    return x


def nested_decoder(levels, filters):
    """UNet++ nested skip pathways on encoder levels ``x_{i}_0``.

    Node ``x_{i}_{j}`` (j >= 1) is double_conv(filters[i]) over the concatenation
    of ``x_{i}_{0..j-1}`` and the bilinear up-sampling of ``x_{i+1}_{j-1}``.

    Returns:
        dict of every node by name; the features are ``x_0_{len(levels)-1}``.
    """
    depth = len(levels)
    nodes = {f"x_{i}_0": t for i, t in enumerate(levels)}
    for j in range(1, depth):
        for i in range(depth - j):
            key = f"x_{i}_{j}"
            parts = [nodes[f"x_{i}_{k}"] for k in range(j)] + [up(nodes[f"x_{i + 1}_{j - 1}"], key)]
            nodes[key] = double_conv(concat(parts, key), filters[i], key)
    return nodes
