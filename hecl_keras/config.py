"""Experiment configuration: nested dataclasses loaded from YAML, with ``key=value`` overrides.

Unknown keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import yaml

# Choices of string settings (the modules that act on them import these).
CROP_SAMPLINGS = ("image", "window")
NORMALIZATIONS = ("none", "fov_standardize", "clahe", "local_mean", "local_mean_fov")
TONE_AT = ("all", "inference")
TTA_MODES = ("none", "hflip", "flips", "d4")  # hecl_keras.inference.tta's modes (tests check they agree)
LR_SCHEDULES = ("halving", "cosine")
SUPERVISED_LOSSES = ("bce", "dice_bce", "focal", "tversky_bce")
STRATEGIES = ("none", "mirrored", "multi_worker")
MIXED_PRECISION = (None, "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass
class SyntheticConfig:
    """The embedded synthetic data set (used when ``data.source`` is ``synthetic``)."""

    count: int = 24
    height: int = 384
    width: int = 448
    seed: int = 0
    test_count: int = 6


@dataclasses.dataclass
class DataConfig:
    """Where the data comes from and how it becomes working images.

    Attributes:
        source: ``"synthetic"`` or a dataset folder (IDRiD release layout or
            images/masks folders).
        mask_suffix: mask stem suffix; None: ``_EX`` for IDRiD, ``""`` otherwise.
        short_side: working-scale short side after the FOV crop (580 = authors' scale).
        fov_crop: crop to the field of view first.
        normalize: colour normalisation of working images, in training and inference alike:
            ``none``, ``fov_standardize``, ``clahe``, ``local_mean`` or ``local_mean_fov``
            (see ``hecl_keras.data.normalize``).
        tone_target: None (the default) or a mean luminance in (0, 1): each working image is first raised to the
            one gamma that brings its central field of view's luminance to it
            (``hecl_keras.data.normalize.match_tone``), where ``tone_at`` says; set at inference only
            (``tone_at: inference``, or ``hecl evaluate --set`` for a model trained without it) it undoes
            other cameras' gamma. ``hecl data inspect`` prints each split's central luminance (IDRiD's training
            photographs: 0.385).
        tone_at: where ``tone_target`` applies: ``all`` (the default: training pairs, the validation crops that
            pick the best epoch, and inference) or ``inference`` (the model trains and picks its epoch on
            photographs as they come; evaluation, ``hecl predict``, presets and the exported SavedModel match
            the tone first). ``inference`` records in the run's config what ``--set data.tone_target`` at
            inference does for a model trained without it.
        val_count: training images held out for validation (model selection).
        split_seed: seed of the validation split.
        cache_dir: preprocessing cache; None: ``$HECL_CACHE_DIR`` or ``~/.cache/hecl_keras``.
    """

    source: str = "synthetic"
    mask_suffix: typing.Optional[str] = None
    short_side: typing.Optional[int] = 580
    fov_crop: bool = True
    normalize: str = "none"
    tone_target: typing.Optional[float] = None
    tone_at: str = "all"
    val_count: int = 6
    split_seed: int = 0
    cache_dir: typing.Optional[str] = None
    synthetic: SyntheticConfig = dataclasses.field(default_factory=SyntheticConfig)


@dataclasses.dataclass
class AugmentSection:
    crop_size: typing.List[int] = dataclasses.field(default_factory=lambda: [512, 512])
    flip: bool = True
    rotation: float = 180.0
    brightness: typing.List[float] = dataclasses.field(default_factory=lambda: [0.5, 1.5])
    contrast: typing.List[float] = dataclasses.field(default_factory=lambda: [0.5, 1.5])
    crop_sampling: str = "image"
    lesion_fraction: float = 0.0
    hue: float = 0.0
    saturation: float = 0.0
    gamma: float = 0.0
    blur: float = 0.0
    zoom: float = 0.0
    jpeg_quality: typing.List[float] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ModelConfig:
    """Backbone choice; ``options`` go to ``get_backbone(name, **options)``.

    Attributes:
        encoder: None (the backbone's own from-scratch encoder) or a ``keras.applications`` family
            for ``unet``, ``attention_unet`` and ``unet_plus_plus`` (``resnet50``, ``densenet121``,
            ``efficientnetb0``..``b4``, ``efficientnetv2s``, ``convnext_tiny``, ...).
        encoder_weights: ``imagenet`` (downloaded on first use into ``$KERAS_HOME``), a
            ``.weights.h5`` path, or None (random).
        encoder_freeze: keep the encoder's weights fixed at the start of training.
        encoder_unfreeze_epoch: with ``encoder_freeze``, train the encoder too from this epoch
            (0-based; 0: never), a warm-up for the new decoder before fine-tuning.
    """

    backbone: str = "unet_plus_plus"
    base_filters: int = 32
    options: typing.Dict[str, typing.Any] = dataclasses.field(default_factory=dict)
    encoder: typing.Optional[str] = None
    encoder_weights: typing.Optional[str] = None
    encoder_freeze: bool = False
    encoder_unfreeze_epoch: int = 0


@dataclasses.dataclass
class HECLConfig:
    """The contrastive terms (METHOD.md sections 3-4). Off by default (supervised only).

    Beyond the paper (issue #13; all off by default, so the paper's settings are the defaults):
        projection_dim: > 0 puts a 1x1-conv projection head between the features and the terms.
        alpha_off_epochs: epochs with the terms' weight at 0 before it starts.
        alpha_ramp_epochs: epochs over which the weight then rises to ``alpha`` (0: at once).
        alpha_ramp: ``linear`` or ``cosine`` ramp shape.
    """

    enabled: bool = False
    alpha: float = 0.01
    temperature: float = 0.05
    grid: int = 5
    threshold: float = 0.3
    use_density: bool = True
    use_edge: bool = True
    sampling: str = "extremes"
    k: int = 3
    form: str = "supcon"
    gather_across_replicas: bool = False
    projection_dim: int = 0
    alpha_off_epochs: int = 0
    alpha_ramp_epochs: int = 0
    alpha_ramp: str = "linear"


@dataclasses.dataclass
class TrainConfig:
    """Optimisation (paper: Adam 3e-4 halved every 100 epochs, batch 6, 300 epochs).

    Attributes:
        epochs: number of epochs; an epoch is ``repeats`` random crops of every training image.
        repeats: crops per training image per epoch.
        batch_size: crops per batch.
        learning_rate: initial Adam learning rate.
        halve_every: with ``lr_schedule="halving"``, halve the learning rate every this many epochs (0: never).
        lr_schedule: ``"halving"`` (the paper's steps) or ``"cosine"`` (linear warm-up, then cosine to 0).
        warmup_epochs: epochs of linear warm-up from ``learning_rate / warmup_epochs`` (cosine schedule).
        ema: keep an exponential moving average of the weights (Keras ``use_ema``); validation,
            the best checkpoint and the final model use the averaged weights.
        ema_momentum: the average's momentum.
        precise_bn: re-estimate the BatchNorm moving statistics over ``precise_bn_tiles`` training tiles
            before each validation and at the end of training (``hecl_keras.training.precise_batch_norm``);
            with few steps the moving averages lag the weights and the model fails at inference.
        precise_bn_tiles: how many tiles of the training images (``augment.crop_size``), chosen once by ``seed``.
        swa_epochs: stochastic weight averaging (0: off): the run's model (``checkpoints/best.keras``) is the
            equal-weight average of the trainable weights at the end of the last ``swa_epochs`` epochs, with
            re-estimated BatchNorm statistics (over ``precise_bn_tiles`` tiles), instead of the epoch
            ``monitor`` chose (kept as ``checkpoints/best_epoch.keras``);
            :mod:`hecl_keras.training.weight_averaging`.
        loss: ``"bce"`` (authors' L_sup), ``"dice_bce"``, ``"focal"`` or ``"tversky_bce"``.
        mixed_precision: None, ``"mixed_float16"`` or ``"mixed_bfloat16"``.
        monitor: validation metric that picks the best checkpoint.
        image_log_every: write validation overlays to TensorBoard every N epochs (0: never).
        seed: global seed (weights, shuffling, augmentation).
        deterministic: same config + seed + machine + backend => identical weights and logs
            (TensorFlow op determinism; the data pipeline is deterministic either way).
        jit_compile: None (default): the backend's better choice -- compiled under JAX (where an
            uncompiled step runs op by op: 4.6x slower for a tiny UNet++ on CPU), not under TensorFlow (XLA was
            1.7-2.6x slower on the CPUs measured); else passed to ``compile`` (``"auto"``, True, False).
        strategy: ``"none"``, ``"mirrored"`` (all local GPUs) or ``"multi_worker"``
            (``tf.distribute.MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``).
    """

    epochs: int = 300
    repeats: int = 1
    batch_size: int = 6
    learning_rate: float = 3e-4
    halve_every: int = 100
    lr_schedule: str = "halving"
    warmup_epochs: int = 0
    ema: bool = False
    ema_momentum: float = 0.99
    precise_bn: bool = False
    precise_bn_tiles: int = 48
    swa_epochs: int = 0
    loss: str = "bce"
    mixed_precision: typing.Optional[str] = None
    monitor: str = "val_pr_auc"
    image_log_every: int = 10
    seed: int = 0
    deterministic: bool = True
    jit_compile: typing.Any = None
    strategy: str = "none"


@dataclasses.dataclass
class EvalConfig:
    """Whole-image prediction settings (sliding window).

    Attributes:
        threshold: probability threshold of masks and thresholded scores. None: the
            model's own (chosen on the validation split after training), else 0.5.
        min_lesion_tolerance: after training, the minimum lesion size is the largest candidate whose
            validation criterion (pooled pixel F1, or Youden's J where the split has lesion-free images)
            is within this of the best (``hecl_keras.inference.image_level.choose_min_lesion_pixels``).
        tta: test-time augmentation of whole-image prediction: ``none``, ``hflip`` (2 views), ``flips`` (4) or
            ``d4`` (8; :mod:`hecl_keras.inference.tta`). Used for the validation-chosen threshold after training
            too. Configs of earlier versions say ``tta_flip: true/false`` (read as ``hflip``/``none``).
        fov_margin: probabilities outside the field of view or within this fraction of its radius from its rim
            are set to 0 (:func:`hecl_keras.data.geometry.fov_margin_keep`); 0 (the default) keeps every pixel.
            Applied wherever the config's predictor is (the threshold chosen after training, evaluation,
            ``hecl predict``, the exported SavedModel's ``hecl predict``).
    """

    overlap: float = 0.25
    tta: str = "none"
    threshold: typing.Optional[float] = None
    min_lesion_tolerance: float = 0.01
    fov_margin: float = 0.0
    after_training: typing.List[str] = dataclasses.field(default_factory=lambda: ["val"])


def default_search_space():
    return {
        "hecl.temperature": {"min": 0.02, "max": 0.5, "log": True},
        "hecl.alpha": {"min": 0.001, "max": 0.1, "log": True},
        "hecl.grid": {"values": [3, 4, 5, 6, 8]},
    }


@dataclasses.dataclass
class TuneConfig:
    """A KerasTuner search over config values (``hecl tune``).

    Attributes:
        tuner: ``"random"``, ``"bayesian"`` or ``"hyperband"``.
        max_trials: trials to run (random/bayesian).
        epochs: epochs per trial (Hyperband's max_epochs).
        objective: a validation metric, e.g. ``val_pr_auc`` (never a test metric).
        direction: ``"max"`` or ``"min"``.
        seed: the tuner's seed.
        space: config path -> ``{"min", "max", "log"}`` (float or int range) or ``{"values": [...]}``.
    """

    tuner: str = "random"
    max_trials: int = 10
    epochs: int = 10
    objective: str = "val_pr_auc"
    direction: str = "max"
    seed: int = 0
    space: typing.Dict[str, typing.Any] = dataclasses.field(default_factory=default_search_space)


@dataclasses.dataclass
class ExperimentConfig:
    """A whole experiment: what ``hecl train CONFIG`` reads."""

    name: str = "experiment"
    run_dir: str = "runs"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    augment: AugmentSection = dataclasses.field(default_factory=AugmentSection)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    hecl: HECLConfig = dataclasses.field(default_factory=HECLConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    tune: TuneConfig = dataclasses.field(default_factory=TuneConfig)


class ConfigError(ValueError):
    """A configuration key or value is wrong; the message names it."""


def _build(cls, values, where):
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(values).__name__}: {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"Unknown key(s) {', '.join((where + '.' if where else '') + u for u in unknown)}; "
            f"valid keys{' of ' + where if where else ''}: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for key, value in values.items():
        hint = hints[key]
        sub = f"{where}.{key}" if where else key
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value or {}, sub)
        else:
            kwargs[key] = _check_type(hint, value, sub)
    return cls(**kwargs)


def _check_type(hint, value, where):
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is typing.Any:
        return value
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        return _check_type(hint, value, where)
    if origin in (list, typing.List):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_check_type(args[0], v, where) for v in value] if args else list(value)
    if origin in (dict, typing.Dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if hint is str and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _value_checks(c):
    """(ok, message) pairs for values that have the right type but make no sense."""
    t, d, e, m = c.train, c.data, c.eval, c.model
    return [
        (m.encoder is not None or (m.encoder_weights is None and not m.encoder_freeze),
         "model.encoder_weights and model.encoder_freeze need model.encoder"),
        (m.encoder_unfreeze_epoch >= 0,
         f"model.encoder_unfreeze_epoch must be >= 0. Received: {m.encoder_unfreeze_epoch}"),
        (m.encoder_unfreeze_epoch == 0 or m.encoder_freeze,
         "model.encoder_unfreeze_epoch needs model.encoder_freeze: true"),
        (t.epochs >= 1, f"train.epochs must be >= 1. Received: {t.epochs}"),
        (t.repeats >= 1, f"train.repeats must be >= 1. Received: {t.repeats}"),
        (t.batch_size >= 1, f"train.batch_size must be >= 1. Received: {t.batch_size}"),
        (t.learning_rate > 0, f"train.learning_rate must be > 0. Received: {t.learning_rate}"),
        (t.halve_every >= 0, f"train.halve_every must be >= 0 (0: never). Received: {t.halve_every}"),
        (0 <= t.warmup_epochs < t.epochs, f"train.warmup_epochs must be in [0, train.epochs). "
                                          f"Received: {t.warmup_epochs} with {t.epochs} epochs"),
        (0 < t.ema_momentum < 1, f"train.ema_momentum must be in (0, 1). Received: {t.ema_momentum}"),
        (t.precise_bn_tiles >= 1, f"train.precise_bn_tiles must be >= 1. Received: {t.precise_bn_tiles}"),
        (0 <= t.swa_epochs <= t.epochs, f"train.swa_epochs must be in [0, train.epochs]. Received: {t.swa_epochs} "
                                        f"with {t.epochs} epochs"),
        (not (t.swa_epochs and t.ema), "train.swa_epochs and train.ema are two weight averages: choose one"),
        (not (t.swa_epochs and t.strategy != "none"),
         "train.swa_epochs is not supported with a distribution strategy (train.strategy) yet"),
        (not (t.precise_bn and t.strategy != "none"),
         "train.precise_bn is not supported with a distribution strategy (train.strategy) yet"),
        (t.lr_schedule in LR_SCHEDULES,
         f"train.lr_schedule must be one of {LR_SCHEDULES}. Received: {t.lr_schedule!r}"),
        (t.loss in SUPERVISED_LOSSES, f"train.loss must be one of {SUPERVISED_LOSSES}. Received: {t.loss!r}"),
        (t.strategy in STRATEGIES, f"train.strategy must be one of {STRATEGIES}. Received: {t.strategy!r}"),
        (t.mixed_precision in MIXED_PRECISION,
         f"train.mixed_precision must be one of {MIXED_PRECISION}. Received: {t.mixed_precision!r}"),
        (d.val_count >= 0, f"data.val_count must be >= 0. Received: {d.val_count}"),
        (c.hecl.projection_dim >= 0, f"hecl.projection_dim must be >= 0. Received: {c.hecl.projection_dim}"),
        (c.hecl.alpha_off_epochs >= 0 and c.hecl.alpha_ramp_epochs >= 0,
         "hecl.alpha_off_epochs and hecl.alpha_ramp_epochs must be >= 0"),
        (c.hecl.alpha_ramp in ("linear", "cosine"),
         f"hecl.alpha_ramp must be linear or cosine. Received: {c.hecl.alpha_ramp!r}"),
        (d.normalize in NORMALIZATIONS, f"data.normalize must be one of {NORMALIZATIONS}. Received: {d.normalize!r}"),
        (d.tone_target is None or 0 < d.tone_target < 1,
         f"data.tone_target must be null or in (0, 1) (a mean luminance). Received: {d.tone_target}"),
        (d.tone_at in TONE_AT, f"data.tone_at must be one of {TONE_AT}. Received: {d.tone_at!r}"),
        (d.short_side is None or d.short_side >= 1, f"data.short_side must be >= 1. Received: {d.short_side}"),
        (e.threshold is None or 0 < e.threshold < 1, f"eval.threshold must be in (0, 1). Received: {e.threshold}"),
        (0 <= e.overlap < 1, f"eval.overlap must be in [0, 1). Received: {e.overlap}"),
        (e.tta in TTA_MODES, f"eval.tta must be one of {TTA_MODES}. Received: {e.tta!r}"),
        (e.min_lesion_tolerance >= 0, f"eval.min_lesion_tolerance must be >= 0. Received: {e.min_lesion_tolerance}"),
        (0 <= e.fov_margin < 1, f"eval.fov_margin must be in [0, 1) (a fraction of the FOV radius). Received: "
                                f"{e.fov_margin}"),
    ]


def augment_problem(a):
    """The first augmentation value that makes no sense, as a message naming the field, or None.

    ``a``: anything with the augment fields: the YAML ``augment`` section or a
    :class:`~hecl_keras.data.augment.AugmentConfig` (which raises it as a ValueError).
    """
    def factor_range(pair):
        return len(pair) == 2 and 0.0 <= pair[0] <= 1.0 <= pair[1] <= 2.0

    checks = [
        (len(a.crop_size) == 2 and min(a.crop_size) >= 1,
         f"crop_size must be [height, width] >= 1. Received: {list(a.crop_size)}"),
        *((factor_range(getattr(a, name)), f"{name} must be [low, high] with 0 <= low <= 1 <= high <= 2. "
                                           f"Received: {list(getattr(a, name))}")
          for name in ("brightness", "contrast")),
        (a.crop_sampling in CROP_SAMPLINGS,
         f"crop_sampling must be one of {CROP_SAMPLINGS}. Received: {a.crop_sampling!r}"),
        (0.0 <= a.lesion_fraction <= 1.0, f"lesion_fraction must be in [0, 1]. Received: {a.lesion_fraction}"),
        (a.lesion_fraction == 0 or a.crop_sampling == "window", "lesion_fraction > 0 needs crop_sampling: window"),
        *((0 <= getattr(a, name) <= 1, f"{name} must be in [0, 1]. Received: {getattr(a, name)}")
          for name in ("hue", "saturation", "gamma")),
        (a.blur >= 0, f"blur must be >= 0. Received: {a.blur}"),
        (0 <= a.zoom < 0.5, f"zoom must be in [0, 0.5). Received: {a.zoom}"),
        (len(a.jpeg_quality) == 0 or (len(a.jpeg_quality) == 2 and 1 <= a.jpeg_quality[0] <= a.jpeg_quality[1] <= 100),
         f"jpeg_quality must be [] (off) or [low, high] with 1 <= low <= high <= 100. "
         f"Received: {list(a.jpeg_quality)}"),
    ]
    return next((message for ok, message in checks if not ok), None)


def validate_config(config) -> None:
    """Raises :class:`ConfigError` for the first value that makes no sense (before any work starts)."""
    problem = augment_problem(config.augment)
    if problem:
        raise ConfigError(f"augment.{problem}")
    for ok, message in _value_checks(config):
        if not ok:
            raise ConfigError(message)


def apply_overrides(values: dict, overrides) -> dict:
    """Applies ``["train.epochs=3", "model.options.deep_supervision=true"]`` (values parsed as YAML)."""
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"Override must look like key.path=value. Received: {item!r}")
        path, raw = item.split("=", 1)
        keys = path.strip().split(".")
        node = values
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"Override {item!r}: {k} is not a section")
        try:
            node[keys[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"Override {item!r}: the value is not valid YAML") from None
    return values


def _read_renamed_keys(values: dict) -> dict:
    """Reads keys of earlier versions' configs (saved in their run folders) as today's keys."""
    section = values.get("eval")
    if isinstance(section, dict) and "tta_flip" in section:
        flip = section.pop("tta_flip")
        if not isinstance(flip, bool):
            raise ConfigError(f"eval.tta_flip must be a bool (an earlier name of eval.tta). Received: {flip!r}")
        if flip and section.get("tta", "none") not in ("none", "hflip"):
            raise ConfigError(f"eval.tta_flip: true (an earlier name of eval.tta: hflip) contradicts "
                              f"eval.tta: {section['tta']!r}; keep eval.tta only")
        if flip:
            section["tta"] = "hflip"
    return values


def load_config(path=None, overrides=None) -> ExperimentConfig:
    """Loads an :class:`ExperimentConfig` from YAML (None: all defaults) plus overrides."""
    values = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Config file not found: {path}")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{path}:{where}: not valid YAML ({problem})") from None
    # Renamed keys are read per source, so an override of today's key wins over a saved run's old one.
    values = _read_renamed_keys(apply_overrides(_read_renamed_keys(values), overrides))
    config = _build(ExperimentConfig, values, "")
    validate_config(config)
    return config


def config_to_dict(config) -> dict:
    return dataclasses.asdict(config)


def dict_differences(old: dict, new: dict, prefix="") -> list:
    """``["train.seed: 0 -> 1", ...]``: the dotted keys where two nested dicts (e.g. two
    :func:`config_to_dict`) differ, sorted, each with both values."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += dict_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def get_path(config, path):
    """``get_path(config, "hecl.alpha")`` -> the value; ConfigError for an unknown path."""
    node = config
    for key in path.split("."):
        if not dataclasses.is_dataclass(node) or key not in {f.name for f in dataclasses.fields(node)}:
            raise ConfigError(f"Unknown config path {path!r}")
        node = getattr(node, key)
    return node


def set_path(config, path, value):
    """Sets a config value by dotted path (the path must exist)."""
    get_path(config, path)
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = getattr(node, key)
    setattr(node, last, value)


def save_config(config, path) -> None:
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
