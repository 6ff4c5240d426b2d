"""Shareable trained models: preset folders, as keras-hub writes them.

A preset is a folder anyone can copy, load with :func:`from_preset` and pass to
``hecl predict``, ``hecl evaluate`` and ``hecl export`` wherever a model goes::

    my_preset/
      metadata.json       format, versions, decision threshold, training data, split and scores, licence note
      config.json         the model's Keras config (``keras.saving.serialize_keras_object``)
      model.weights.h5    its weights
      config.yaml         the experiment config: working scale, FOV, tile size, overlap, TTA (what inference reads)
      preprocessing.json  the same inference settings, spelled out for readers and other tools
      README.md           a short model card

``hecl train`` writes one to ``RUN/preset`` at the end of each run (from the
best checkpoint, with its validation-chosen threshold and the run's scores).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

import keras

from hecl_keras import __version__
from hecl_keras.config import load_config, save_config
from hecl_keras.data.errors import DataError
from hecl_keras.data.preprocess import preprocess_config

FORMAT = "hecl_keras preset"
FORMAT_VERSION = 1
FILES = ("metadata.json", "config.json", "model.weights.h5", "config.yaml", "preprocessing.json", "README.md")
LICENCE_NOTE = ("The weights are derived from the training data: their use is bound by that data set's licence "
                "(IDRiD: CC BY 4.0, cite Porwal et al. 2018). Research use only; not a medical device.")


def is_preset(path) -> bool:
    """True when ``path`` is a folder holding a preset's ``metadata.json``."""
    return (Path(path) / "metadata.json").is_file() and (Path(path) / "config.json").is_file()


def inference_settings(config) -> dict:
    """The settings that turn a photograph into a prediction (``preprocessing.json``)."""
    return {"preprocess": dataclasses.asdict(preprocess_config(config.data)),
            "tile_size": list(config.augment.crop_size), "overlap": config.eval.overlap,
            "tta": config.eval.tta, "fov_margin": config.eval.fov_margin, "input_range": "RGB float32 in [0, 1]"}


def _model_card(name, model, config, meta):
    m = config.model
    arch = m.backbone + (f" on a {m.encoder} encoder" if m.encoder else "") + f", base_filters {m.base_filters}"
    lines = [f"# {name}", "", "Hard-exudate segmentation of colour fundus photographs (hecl-keras "
             f"{meta['hecl_keras_version']}).", "",
             "## Model", "", f"- Architecture: {arch}; HECL contrastive training: "
             f"{'on' if config.hecl.enabled else 'off'}.",
             f"- Parameters: {model.count_params():,}.",
             f"- Decision threshold: {meta['decision_threshold']:.4f} "
             f"({'chosen on the validation split' if meta['threshold_from_validation'] else 'default'}); "
             f"image-level answer: exudates present when a predicted lesion of at least "
             f"{meta['min_lesion_pixels']:g} working-scale pixels is left.",
             f"- Input: photographs of any size; cropped to the field of view, resized to a short side of "
             f"{config.data.short_side}, predicted in {config.augment.crop_size[0]}x{config.augment.crop_size[1]} "
             f"tiles (overlap {config.eval.overlap})"
             + (f"; probabilities within {config.eval.fov_margin:g} of the field of view's radius from its rim are "
                "set to 0." if config.eval.fov_margin else "."),
             *_colour_lines(config.data), "",
             "## Training data", "", f"- Source: `{meta['training'].get('data_source')}`.",
             f"- Split: {json.dumps(meta['training'].get('split_sizes', {}))}.",
             f"- Epochs: {meta['training'].get('epochs')}; seed {config.train.seed}.", ""]
    scores = meta["training"].get("scores") or {}
    if scores:
        lines += ["## Scores (pooled over the split's pixels, full resolution)", "",
                  "| split | PR-AUC | F1 | IoU |", "|---|---|---|---|"]
        for split, s in scores.items():
            lines.append(f"| {split} | {s.get('pr_auc', float('nan')):.4f} | {s.get('f1', float('nan')):.4f} | "
                         f"{s.get('iou', float('nan')):.4f} |")
        lines.append("")
    lines += ["## Use", "", "```bash", "hecl predict --model THIS_FOLDER photos/ --out predictions/", "```", "",
              "```python", "from hecl_keras.presets import from_preset",
              "model = from_preset('THIS_FOLDER')", "```", "", "## Licence and limits", "", LICENCE_NOTE,
              "Trained on one camera's photographs: check it on yours before trusting it.", ""]
    return "\n".join(lines)


def save_to_preset(model, preset_dir, config, training=None, name=None):
    """Writes ``model`` and what it needs to be used elsewhere into ``preset_dir``.

    Args:
        model: a :class:`~hecl_keras.models.Segmenter` (its ``decision_threshold`` is kept).
        preset_dir: folder (created; existing preset files are replaced).
        config: the experiment config the model was trained with.
        training: dict or None: ``data_source``, ``split_sizes``, ``epochs``, ``scores``
            (``{split: {"pr_auc", "f1", "iou", ...}}``), anything else worth keeping.
        name: str; default ``config.name``.

    Returns:
        Path of the folder.
    """
    preset_dir = Path(preset_dir)
    preset_dir.mkdir(parents=True, exist_ok=True)
    threshold = getattr(model, "decision_threshold", None)
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": name or config.name,
        "hecl_keras_version": __version__, "keras_version": keras.__version__, "backend": keras.backend.backend(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "decision_threshold": float(threshold if threshold is not None else 0.5),
        "threshold_from_validation": threshold is not None,
        "min_lesion_pixels": float(getattr(model, "min_lesion_pixels", None) or 0.0),
        "training": {"data_source": str(config.data.source), "epochs": config.train.epochs, **(training or {})},
        "licence": LICENCE_NOTE,
    }
    (preset_dir / "config.json").write_text(json.dumps(keras.saving.serialize_keras_object(model), indent=1))
    model.save_weights(preset_dir / "model.weights.h5")
    save_config(config, preset_dir / "config.yaml")
    (preset_dir / "preprocessing.json").write_text(json.dumps(inference_settings(config), indent=2))
    (preset_dir / "README.md").write_text(_model_card(meta["name"], model, config, meta))
    (preset_dir / "metadata.json").write_text(json.dumps(meta, indent=2, default=float))
    return preset_dir


def from_preset(preset_dir, compile=False):
    """Loads the model of a preset folder (with its decision threshold).

    Args:
        preset_dir: a folder written by :func:`save_to_preset`.
        compile: bool. Compile with the library's defaults (Adam 3e-4, BCE, pooled metrics) for
            ``evaluate``/``fit``; not needed to predict.

    Raises:
        DataError: not a preset, a newer format, or files that do not load (the message names the folder).
    """
    from hecl_keras.saving import register_all

    preset_dir = Path(preset_dir)
    if not is_preset(preset_dir):
        raise DataError(f"{preset_dir}: not a preset folder (no metadata.json + config.json)")
    meta = json.loads((preset_dir / "metadata.json").read_text())
    if meta.get("format") != FORMAT or meta.get("format_version", 0) > FORMAT_VERSION:
        raise DataError(f"{preset_dir}: preset format {meta.get('format')!r} version {meta.get('format_version')} "
                        f"is not one this hecl-keras ({__version__}) reads; upgrade hecl-keras")
    register_all()
    try:
        model = keras.saving.deserialize_keras_object(json.loads((preset_dir / "config.json").read_text()))
        model.load_weights(preset_dir / "model.weights.h5")
    except Exception as exc:  # a damaged preset: one line that names it, the cause chained
        raise DataError(f"{preset_dir}: could not load the preset ({type(exc).__name__}: "
                        f"{str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''})") from exc
    if compile:
        model.compile()
    return model


def preset_config(preset_dir, overrides=None):
    """The experiment config stored with a preset (what ``hecl predict/evaluate/export`` read)."""
    return load_config(Path(preset_dir) / "config.yaml", overrides)


def training_summary(result, data) -> dict:
    """The ``training`` entry of a preset from a finished ``hecl train`` result and its data split, with the run
    folder's ``machine.json`` sessions (:mod:`hecl_keras.machine`: what the weights were trained on)."""
    scores = {split: {k: v for k, v in e["standard"]["pooled"].items() if isinstance(v, (int, float))}
              for split, e in result.get("eval", {}).items()}
    machine = Path(result.get("run_dir", "")) / "machine.json"
    return {"split_sizes": {k: len(v) for k, v in data.split.items()}, "split": data.split,
            "train_seconds": result.get("train_seconds"), "scores": scores,
            "machine": json.loads(machine.read_text())["sessions"] if machine.is_file() else None}


def _colour_lines(data):
    """The model card's line on colour preprocessing, when the working images are not the photographs' own."""
    steps = []
    if data.tone_target is not None:
        when = " (at inference only: the model trained on the photographs' own brightness)" \
            if data.tone_at == "inference" else ""
        steps.append(f"brightness matched by one gamma to a central field-of-view luminance of "
                     f"{data.tone_target:g}{when}")
    if data.normalize != "none":
        steps.append(f"colour normalisation `{data.normalize}`")
    return [f"- Colour: each working image gets {'; then '.join(steps)}."] if steps else []
