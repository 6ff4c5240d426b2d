"""``hecl tune``: a KerasTuner search over any config values (HECL's hyper-parameters by default).

The search space lives in the config (``tune.space``: config path -> range or
choices), the objective is a validation metric (default ``val_pr_auc``), and
the output folder holds KerasTuner's state (a rerun resumes the search: finished
trials are not run again), ``results.csv``/``results.md`` (one row per trial),
``best_config.yaml`` (ready for ``hecl train``) and per-trial TensorBoard logs.

Distributed tuning uses KerasTuner's chief/worker mode unchanged: set
``KERASTUNER_TUNER_ID`` (``chief`` or ``tuner0``, ``tuner1``, ...),
``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` and run the same
``hecl tune`` command in every process. The chief holds the oracle and writes
the results once every trial is done.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import sys
import time
from pathlib import Path

from hecl_keras.config import ConfigError, get_path, save_config, set_path

TUNERS = ("random", "bayesian", "hyperband")


def validate_tune_config(config):
    """Checks ``config.tune`` before any trial starts; raises :class:`ConfigError` naming the problem."""
    t = config.tune
    if t.tuner not in TUNERS:
        raise ConfigError(f"tune.tuner must be one of {TUNERS}. Received: {t.tuner!r}")
    if t.direction not in ("max", "min"):
        raise ConfigError(f"tune.direction must be 'max' or 'min'. Received: {t.direction!r}")
    if not t.objective.startswith("val_"):
        raise ConfigError(f"tune.objective must be a validation metric (val_...), never a training or test one. "
                          f"Received: {t.objective!r}")
    if t.max_trials < 1 or t.epochs < 1:
        raise ConfigError(f"tune.max_trials and tune.epochs must be >= 1. Received: {t.max_trials}, {t.epochs}")
    if not t.space:
        raise ConfigError("tune.space is empty: nothing to search")
    for path, spec in t.space.items():
        try:
            current = get_path(config, path)
        except ConfigError:
            raise ConfigError(f"tune.space: unknown config path {path!r} (e.g. hecl.temperature, "
                              "train.learning_rate)") from None
        if not isinstance(spec, dict):
            raise ConfigError(f"tune.space.{path}: expected {{min, max[, log]}} or {{values: [...]}}, got {spec!r}")
        unknown = set(spec) - {"min", "max", "log", "values", "step"}
        if unknown:
            raise ConfigError(f"tune.space.{path}: unknown key(s) {sorted(unknown)}")
        if "values" in spec:
            if set(spec) - {"values"} or not isinstance(spec["values"], list) or not spec["values"]:
                raise ConfigError(f"tune.space.{path}: 'values' must be a non-empty list and used alone")
            continue
        if "min" not in spec or "max" not in spec:
            raise ConfigError(f"tune.space.{path}: give both min and max, or values")
        lo, hi = spec["min"], spec["max"]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)):
            raise ConfigError(f"tune.space.{path}: min and max must be numbers. Received: {lo!r}, {hi!r}")
        if not lo < hi:
            raise ConfigError(f"tune.space.{path}: min must be < max (an empty range). Received: min={lo}, max={hi}")
        if spec.get("log") and lo <= 0:
            raise ConfigError(f"tune.space.{path}: a log range needs min > 0. Received: min={lo}")
        if isinstance(current, bool) or not isinstance(current, (int, float)):
            raise ConfigError(f"tune.space.{path}: a range needs a numeric setting; use values for {current!r}")
    if config.train.swa_epochs:
        import warnings

        warnings.warn(f"hecl tune: train.swa_epochs={config.train.swa_epochs} is not applied to trials (each trial is "
                      f"scored on {t.objective} of its epochs' own weights); the weight average applies when the "
                      "chosen setting is trained with hecl train.", stacklevel=2)
    if not config.hecl.enabled and any(path.startswith("hecl.") for path in t.space):
        raise ConfigError("tune.space searches hecl.* values but hecl.enabled is false: set hecl.enabled=true "
                          "(or search other values only)")


def _hp_value(hp, path, spec, current):
    if "values" in spec:
        return hp.Choice(path, spec["values"])
    if isinstance(current, int) and isinstance(spec["min"], int) and isinstance(spec["max"], int):
        return hp.Int(path, spec["min"], spec["max"], step=spec.get("step", 1),
                      sampling="log" if spec.get("log") else "linear")
    return hp.Float(path, float(spec["min"]), float(spec["max"]), sampling="log" if spec.get("log") else "linear")


def trial_config(base, hp):
    """The experiment config of one trial: ``base`` with the hyper-parameters of ``hp`` filled in."""
    config = copy.deepcopy(base)
    for path, spec in base.tune.space.items():
        set_path(config, path, _hp_value(hp, path, spec, get_path(base, path)))
    return config


def make_hypermodel(base, train_pairs=None):
    """The KerasTuner hypermodel of ``base``: each trial trains with the trial config's whole recipe
    (:func:`~hecl_keras.training.callbacks.recipe_callbacks`: schedules, EMA, precise BN), as ``hecl train``.

    Every trial starts from the same random state (``train.seed``), so trials share their initial weights
    and, as the data pipeline is keyed by seed and epoch, their crops: they differ in the hyper-parameters
    alone, whichever process runs them and in whatever order."""
    import keras
    import keras_tuner as kt

    from hecl_keras.models.build import build_compiled_model
    from hecl_keras.training.callbacks import recipe_callbacks

    class HECLHyperModel(kt.HyperModel):
        """Builds a HECL model from the base config with this trial's hyper-parameters."""

        def build(self, hp):
            keras.utils.set_random_seed(base.train.seed)
            return build_compiled_model(trial_config(base, hp))

        def fit(self, hp, model, *args, callbacks=None, **kwargs):
            recipe = recipe_callbacks(trial_config(base, hp), train_pairs)
            return model.fit(*args, callbacks=[*(callbacks or []), *recipe], **kwargs)

    return HECLHyperModel()


def make_tuner(config, out_dir, train_pairs=None):
    """A KerasTuner tuner over ``config.tune`` writing to ``out_dir`` (resumes when it exists).

    ``train_pairs`` (the training split) serve ``train.precise_bn``; the chief, which trains nothing, needs none."""
    import keras_tuner as kt

    t = config.tune
    objective = kt.Objective(t.objective, direction=t.direction)
    base = {"RandomSearch": kt.RandomSearch, "BayesianOptimization": kt.BayesianOptimization,
            "Hyperband": kt.Hyperband}[{"random": "RandomSearch", "bayesian": "BayesianOptimization",
                                        "hyperband": "Hyperband"}[t.tuner]]
    timing_dir = Path(out_dir) / "trial_runs"

    class Timed(base):
        """Records, per trial run, which tuner process ran it and how long it took."""

        def run_trial(self, trial, *args, **kwargs):
            start = time.perf_counter()
            result = super().run_trial(trial, *args, **kwargs)
            timing_dir.mkdir(parents=True, exist_ok=True)
            record = {"trial_id": trial.trial_id, "tuner_id": self.tuner_id,
                      "seconds": time.perf_counter() - start}
            with open(timing_dir / f"{self.tuner_id}.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            return result

    options = dict(objective=objective, seed=t.seed, directory=str(out_dir), project_name="search", overwrite=False)
    if t.tuner == "hyperband":
        options.update(max_epochs=t.epochs, factor=3, hyperband_iterations=1)
    else:
        options.update(max_trials=t.max_trials)
    return Timed(make_hypermodel(config, train_pairs), **options)


def trial_runs(out_dir):
    """Every recorded trial run: list of ``{"trial_id", "tuner_id", "seconds"}``."""
    runs = []
    for f in sorted((Path(out_dir) / "trial_runs").glob("*.jsonl")):
        runs.extend(json.loads(line) for line in f.read_text().splitlines() if line.strip())
    return runs


def write_results(tuner, config, out_dir):
    """``results.csv``, ``results.md`` and ``best_config.yaml``; returns the rows (best first)."""
    out_dir = Path(out_dir)
    seconds = {}
    for run in trial_runs(out_dir):
        seconds[run["trial_id"]] = seconds.get(run["trial_id"], 0.0) + run["seconds"]
    names = list(config.tune.space)
    rows = []
    for trial in tuner.oracle.trials.values():
        score = trial.score
        rows.append({"trial": trial.trial_id, "status": str(trial.status),
                     **{n: trial.hyperparameters.values.get(n) for n in names},
                     config.tune.objective: None if score is None else float(score),
                     "seconds": round(seconds.get(trial.trial_id, float("nan")), 1)})
    sign = -1 if config.tune.direction == "max" else 1
    rows.sort(key=lambda r: (r[config.tune.objective] is None, sign * (r[config.tune.objective] or 0.0)))
    with open(out_dir / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["trial", "status", *names, config.tune.objective, "seconds"])
        writer.writeheader()
        writer.writerows(rows)
    header = ["trial", "status", *names, config.tune.objective, "seconds"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [f"{r[h]:.4g}" if isinstance(r[h], float) and not math.isnan(r[h]) else str(r[h]) for h in header]
        lines.append("| " + " | ".join(cells) + " |")
    (out_dir / "results.md").write_text("\n".join(lines) + "\n")
    best = tuner.oracle.get_best_trials(1)
    if best:
        best_config = trial_config(config, best[0].hyperparameters)
        best_config.name = f"{config.name}_best"
        save_config(best_config, out_dir / "best_config.yaml")
    return rows


def tune(config, out_dir=None, verbose=None):
    """Runs (or resumes) the search of ``config.tune``; returns the results rows (chief/single process)."""
    import keras

    from hecl_keras.data.experiment import load_experiment_data, training_inputs
    from hecl_keras.training.trainer import enable_determinism

    validate_tune_config(config)
    out_dir = Path(out_dir or Path(config.run_dir) / f"{config.name}_tune")
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, out_dir / "config.yaml")
    enable_determinism(config.train.seed, config.train.deterministic)  # as hecl train: repeatable trials
    role = os.environ.get("KERASTUNER_TUNER_ID", "single process")
    is_chief = role == "chief"
    data = None
    if not is_chief:
        data = load_experiment_data(config.data)
        if not data.val:
            raise ConfigError("hecl tune needs a validation split (data.val_count > 0): the objective is val_*")
    tuner = make_tuner(config, out_dir, data.train if data is not None else None)
    if not is_chief:
        t = config.train
        inputs = training_inputs(config, data)
        search_args = dict(x=inputs.train, validation_data=inputs.validation, validation_batch_size=t.batch_size,
                           shuffle=False, callbacks=[inputs.sync_epoch,
                                                     keras.callbacks.TensorBoard(str(out_dir / "tensorboard"))],
                           verbose=(1 if sys.stdout.isatty() else 2) if verbose is None else verbose)
        if config.tune.tuner != "hyperband":
            search_args["epochs"] = config.tune.epochs
    else:
        search_args = {}
    print(f"hecl tune: {role}, {config.tune.tuner} search of {list(config.tune.space)}, "
          f"objective {config.tune.objective} ({config.tune.direction}), state in {out_dir}", file=sys.stderr)
    tuner.search(**search_args)
    if "KERASTUNER_TUNER_ID" in os.environ and not is_chief:
        return []  # workers: the chief writes the results
    return write_results(tuner, config, out_dir)
