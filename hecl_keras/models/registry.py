"""``get_backbone(name, **options)``: every backbone by name, with the output stride it needs."""

import inspect

from hecl_keras.models.cenet import build_cenet
from hecl_keras.models.encoders import ENCODER_STRIDE
from hecl_keras.models.resunet import build_resunet
from hecl_keras.models.unet import build_attention_unet, build_unet
from hecl_keras.models.unet_plus_plus import build_unet_plus_plus

BACKBONES = {
    "unet_plus_plus": build_unet_plus_plus,
    "unet": build_unet,
    "resunet": build_resunet,
    "cenet": build_cenet,
    "attention_unet": build_attention_unet,
}

# Backbones whose stride does not follow from a ``depth`` option (CE-Net: a fixed ResNet-34 encoder).
FIXED_STRIDES = {"cenet": 32}


def _check_name(name):
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}. Available: {', '.join(sorted(BACKBONES))}")


def output_stride(name, **options):
    """Input H and W must be multiples of this for backbone ``name`` built with ``options``.

    ``2 ** (depth - 1)`` for the depth-configurable encoders, the depth's default
    read from the builder's own signature (so it cannot drift from it); 32 with a
    ``keras.applications`` ``encoder``.
    """
    _check_name(name)
    if name in FIXED_STRIDES:
        return FIXED_STRIDES[name]
    if options.get("encoder"):
        return ENCODER_STRIDE
    depth = options.get("depth", inspect.signature(BACKBONES[name]).parameters["depth"].default)
    return 2 ** (depth - 1)


def get_backbone(name, **options):
    """Builds a backbone by name.

    Args:
        name: one of ``BACKBONES``.
        **options: passed to the builder (``input_shape``, ``base_filters``, ``depth``, and for
            ``unet``, ``attention_unet`` and ``unet_plus_plus`` ``encoder``, ``encoder_weights``,
            ``encoder_freeze``: see :mod:`hecl_keras.models.encoders`).

    Returns:
        keras.Model with outputs ``{"logits": (B,H,W,1), "features": (B,H,W,C)}``.
    """
    _check_name(name)
    model = BACKBONES[name](**options)
    model.output_stride = output_stride(name, **options)  # the segmenter checks input sizes against it
    return model
