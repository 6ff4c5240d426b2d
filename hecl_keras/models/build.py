"""From an experiment config to a (compiled) task model."""

from __future__ import annotations

import inspect

import keras

from hecl_keras.config import ConfigError
from hecl_keras.models.encoders import check_encoder
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
    if m.encoder is not None:
        if "encoder" not in accepted:
            with_encoders = sorted(n for n, b in BACKBONES.items() if "encoder" in inspect.signature(b).parameters)
            raise ConfigError(f"model.encoder: backbone {m.backbone!r} has its own encoder; encoders go with "
                              f"{', '.join(with_encoders)}")
        try:
            check_encoder(m.encoder)
        except ValueError as error:
            raise ConfigError(f"model.encoder: {error}") from None
    accepted -= {"encoder", "encoder_weights", "encoder_freeze"}  # set by model.encoder*, not model.options
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(f"model.options: {', '.join(map(repr, unknown))} not an option of {m.backbone!r}; "
                          f"valid: {', '.join(sorted(accepted - {'base_filters'}))} (YAML needs a space after "
                          "the colon: {depth: 3})")
    if m.encoder is not None:
        options.update(encoder=m.encoder, encoder_weights=m.encoder_weights, encoder_freeze=m.encoder_freeze)
    stride = output_stride(m.backbone, **options)
    for side in config.augment.crop_size:
        if side % stride:
            raise ConfigError(f"augment.crop_size {config.augment.crop_size} must be multiples of {stride} "
                             f"for backbone {m.backbone!r}.")
    backbone = get_backbone(m.backbone, **options)
    return hecl_segmenter(backbone, config.hecl) if config.hecl.enabled else Segmenter(backbone)


def hecl_segmenter(backbone, hecl):
    """``backbone`` wrapped by a :class:`~hecl_keras.models.hecl.HECLSegmenter` with the settings of a config's
    ``hecl`` section (:class:`~hecl_keras.config.HECLConfig`)."""
    from hecl_keras.models.hecl import HECLSegmenter

    h = hecl
    return HECLSegmenter(backbone, alpha=h.alpha, temperature=h.temperature, grid=h.grid,
                         threshold=h.threshold, use_density=h.use_density, use_edge=h.use_edge,
                         sampling=h.sampling, k=h.k, form=h.form,
                         gather_across_replicas=h.gather_across_replicas, projection_dim=h.projection_dim,
                         alpha_schedule=bool(h.alpha_off_epochs or h.alpha_ramp_epochs))


def build_compiled_model(config) -> Segmenter:
    """:func:`build_model`, compiled with the config's Adam (learning rate, EMA), loss and ``jit_compile``."""
    t = config.train
    model = build_model(config)
    optimizer = keras.optimizers.Adam(t.learning_rate, use_ema=t.ema, ema_momentum=t.ema_momentum)
    model.compile(optimizer=optimizer, loss=t.loss, jit_compile=resolve_jit_compile(t.jit_compile))
    return model


def resolve_jit_compile(setting):
    """``train.jit_compile`` as ``compile`` takes it: None becomes True under JAX, False otherwise."""
    return keras.backend.backend() == "jax" if setting is None else setting
