"""``get_backbone(name, **options)``: every backbone by name."""

from hecl_keras.models.cenet import build_cenet
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


def output_stride(name, **options):
    """Input H and W must be multiples of this for backbone ``name``."""
    if name == "cenet":
        return 32
    default_depth = 4 if name == "resunet" else 5
    return 2 ** (options.get("depth", default_depth) - 1)


def get_backbone(name, **options):
    """Builds a backbone by name.

    Args:
        name: one of ``BACKBONES``.
        **options: passed to the builder (``input_shape``, ``base_filters``, ``depth``, ...).

    Returns:
        keras.Model with outputs ``{"logits": (B,H,W,1), "features": (B,H,W,C)}``.
    """
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone {name!r}. Available: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name](**options)
