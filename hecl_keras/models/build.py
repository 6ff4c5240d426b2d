"""From an experiment config to a (compiled) task model."""

from __future__ import annotations

import inspect

import keras

from hecl_keras.config import ConfigError
from hecl_keras.models.registry import BACKBONES, get_backbone, output_stride
from hecl_keras.models.segmenter import Segmenter


def build_model(config) -> Segmenter:
    """The task model of a config: backbone (with ``model.options``) wrapped by the segmenter class.

    ``HECLSegmenter`` when ``hecl.enabled``, else :class:`Segmenter`.
    """
    m = config.model
    options = {"base_filters": m.base_filters, **m.options}
    if m.backbone not in BACKBONES:
        raise ConfigError(f"model.backbone: unknown backbone {m.backbone!r}. Available: {', '.join(sorted(BACKBONES))}")
    accepted = set(inspect.signature(BACKBONES[m.backbone]).parameters) - {"input_shape", "name"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(f"model.options: {', '.join(map(repr, unknown))} not an option of {m.backbone!r}; "
                          f"valid: {', '.join(sorted(accepted - {'base_filters'}))} (YAML needs a space after "
                          "the colon: {depth: 3})")
    backbone = get_backbone(m.backbone, **options)
    stride = output_stride(m.backbone, **m.options)
    for side in config.augment.crop_size:
        if side % stride:
            raise ConfigError(f"augment.crop_size {config.augment.crop_size} must be multiples of {stride} "
                             f"for backbone {m.backbone!r}.")
    if config.hecl.enabled:
        from hecl_keras.models.hecl import HECLSegmenter

        h = config.hecl
        return HECLSegmenter(backbone, alpha=h.alpha, temperature=h.temperature, grid=h.grid,
                             threshold=h.threshold, use_density=h.use_density, use_edge=h.use_edge,
                             sampling=h.sampling, k=h.k, form=h.form,
                             gather_across_replicas=h.gather_across_replicas)
    return Segmenter(backbone)


def build_compiled_model(config) -> Segmenter:
    """:func:`build_model`, compiled with the config's Adam (learning rate, EMA), loss and ``jit_compile``."""
    t = config.train
    model = build_model(config)
    optimizer = keras.optimizers.Adam(t.learning_rate, use_ema=t.ema, ema_momentum=t.ema_momentum)
    model.compile(optimizer=optimizer, loss=t.loss, jit_compile=t.jit_compile)
    return model
