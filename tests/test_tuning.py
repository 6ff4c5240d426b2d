import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hecl_keras.config import ConfigError, load_config
from tests.conftest import QUICKSTART
from tests.test_distributed import free_ports
from tests.test_training import TINY

pytest.importorskip("keras_tuner")
REPO = Path(__file__).resolve().parents[1]
TUNE = TINY + ["hecl.enabled=true", "train.epochs=1", "tune.epochs=1", "tune.max_trials=2", "hecl.threshold=0.05",
               "hecl.grid=4",
               "tune.space={hecl.temperature: {min: 0.02, max: 0.5, log: true}, hecl.alpha: {min: 0.001, max: 0.1, "
               "log: true}, hecl.grid: {values: [2, 4]}}"]


@pytest.mark.parametrize("override,match", [
    ("tune.space={hecl.tau: {min: 0.1, max: 0.2}}", "unknown config path 'hecl.tau'"),
    ("tune.space={hecl.alpha: {min: 0.1, max: 0.1}}", "min must be < max"),
    ("tune.space={hecl.alpha: {min: 0.5, max: 0.1}}", "min must be < max"),
    ("tune.space={hecl.grid: {values: []}}", "non-empty list"),
    ("tune.space={hecl.alpha: {min: 0.0, max: 0.1, log: true}}", "log range needs min > 0"),
    ("tune.objective=pr_auc", "validation metric"),
    ("tune.tuner=grid", "tune.tuner must be one of"),
    ("tune.spaces={}", "Unknown key"),
])
def test_bad_search_config_fails_before_any_trial(override, match, tmp_path):
    from hecl_keras.cli import main

    code = main(["tune", QUICKSTART, "--set", override, "--out", str(tmp_path / "t")])
    assert code == 2
    assert not (tmp_path / "t" / "trial_runs").exists()
    with pytest.raises(ConfigError, match=match):
        from hecl_keras.tuning import validate_tune_config

        validate_tune_config(load_config(QUICKSTART, [override]))


def test_a_config_with_weight_averaging_says_trials_do_not_average():
    from hecl_keras.tuning import validate_tune_config

    config = load_config(QUICKSTART, ["train.swa_epochs=3", "tune.space={train.learning_rate: {values: [0.001]}}"])
    with pytest.warns(UserWarning, match="swa_epochs=3 is not applied to trials"):
        validate_tune_config(config)


def _rows(folder):
    with open(folder / "results.csv") as f:
        return list(csv.DictReader(f))


def test_search_writes_results_and_resumes_without_rerunning(tmp_path):
    from hecl_keras.tuning import trial_runs, tune

    out = tmp_path / "search"
    rows = tune(load_config(QUICKSTART, TUNE), out_dir=out, verbose=0)
    assert len(rows) == 2 and all("COMPLETED" in r["status"] for r in rows)
    table = _rows(out)
    assert set(table[0]) >= {"trial", "hecl.temperature", "hecl.alpha", "hecl.grid", "val_pr_auc", "seconds"}
    assert float(table[0]["val_pr_auc"]) >= float(table[1]["val_pr_auc"])  # best first
    assert (out / "results.md").read_text().count("\n") == 4
    best = load_config(out / "best_config.yaml")
    assert best.hecl.enabled and best.hecl.temperature == pytest.approx(float(table[0]["hecl.temperature"]))
    assert list((out / "tensorboard").rglob("*tfevents*"))
    # Resume with a larger budget: only the new trial runs.
    tune(load_config(QUICKSTART, TUNE + ["tune.max_trials=3"]), out_dir=out, verbose=0)
    ids = [r["trial_id"] for r in trial_runs(out)]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert len(_rows(out)) == 3


def test_distributed_chief_and_two_workers(tmp_path):
    port = free_ports(1)[0]
    out = tmp_path / "dist"
    overrides = [a for o in TUNE + ["tune.max_trials=3"] for a in ("--set", o)]
    procs = {}
    for role in ("chief", "tuner0", "tuner1"):
        env = {**os.environ, "KERASTUNER_TUNER_ID": role, "KERASTUNER_ORACLE_IP": "127.0.0.1",
               "KERASTUNER_ORACLE_PORT": str(port), "HECL_CACHE_DIR": str(tmp_path / "cache")}
        procs[role] = subprocess.Popen(
            [sys.executable, "-m", "hecl_keras.cli", "tune", QUICKSTART, *overrides, "--out", str(out)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if role == "chief":
            time.sleep(3)  # let the oracle server start first
    deadline = time.time() + 420
    results = {}
    try:
        for role, p in procs.items():
            out_text, err = p.communicate(timeout=max(1, deadline - time.time()))
            results[role] = (p.returncode, err)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    for role, (code, err) in results.items():
        assert code == 0, f"{role}: {err[-3000:]}"
    from hecl_keras.tuning import trial_runs

    runs = trial_runs(out)
    ids = [r["trial_id"] for r in runs]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 3  # every trial exactly once
    assert {r["tuner_id"] for r in runs} <= {"tuner0", "tuner1"}
    table = _rows(out)  # written by the chief
    assert len(table) == 3 and all("COMPLETED" in r["status"] for r in table)


def test_every_trial_trains_with_the_configs_whole_recipe():
    """A trial's fit gets the tuner's callbacks plus the trial config's recipe (as hecl train): the HECL
    weight schedule with the trial's ramp, the EMA swap, then precise BN."""
    import keras
    import keras_tuner as kt

    from hecl_keras.data import synthetic_pairs
    from hecl_keras.models.hecl import AlphaSchedule
    from hecl_keras.training.callbacks import recipe_callbacks
    from hecl_keras.training.precise_batch_norm import PreciseBatchNorm
    from hecl_keras.tuning import make_hypermodel

    config = load_config(QUICKSTART, TUNE + ["train.ema=true", "train.precise_bn=true", "train.precise_bn_tiles=3",
                                             "tune.space={hecl.alpha_ramp_epochs: {values: [4]}}"])

    class Recorder:
        def fit(self, *args, callbacks=None, **kwargs):
            return callbacks

    tuner_own = keras.callbacks.Callback()
    got = make_hypermodel(config, synthetic_pairs(2, 64, 64, seed=0)).fit(kt.HyperParameters(), Recorder(),
                                                                          callbacks=[tuner_own])
    assert got[0] is tuner_own
    assert [type(c) for c in got[1:]] == [keras.callbacks.LearningRateScheduler, AlphaSchedule,
                                          keras.callbacks.SwapEMAWeights, PreciseBatchNorm]
    assert got[2].ramp_epochs == 4 and len(got[4].images) == 3
    with pytest.raises(ValueError, match="needs the training pairs"):
        recipe_callbacks(config)


def test_every_trial_starts_from_the_same_weights():
    """Trials differ in their hyper-parameters alone: a later trial is not initialised from where the global random
    state was left by the trials before it (the old behaviour gave each trial other initial weights)."""
    import keras
    import keras_tuner as kt
    import numpy as np

    from hecl_keras.tuning import make_hypermodel

    config = load_config(QUICKSTART, TUNE)
    hypermodel = make_hypermodel(config)
    first_hp, second_hp = kt.HyperParameters(), kt.HyperParameters()
    first = hypermodel.build(first_hp)
    keras.random.uniform((3,), seed=None)  # the random state moves on between trials
    second_hp.values = {"hecl.alpha": 0.05, "hecl.temperature": 0.3, "hecl.grid": 2}
    second = hypermodel.build(second_hp)
    assert second.alpha != first.alpha or second.temperature != first.temperature
    w1, w2 = first.get_weights(), second.get_weights()
    assert len(w1) == len(w2) and all(np.array_equal(a, b) for a, b in zip(w1, w2))


def test_trials_see_a_new_epoch_of_crops_every_epoch(tmp_path, monkeypatch):
    """KerasTuner deep-copies the search's callbacks for each trial; the copy of SyncEpoch must still move the real
    pipeline on (before the fix every trial trained on epoch 0's crops over and over)."""
    import copy

    import hecl_keras.data.experiment as experiment
    from hecl_keras.data.pipeline import SyncEpoch
    from hecl_keras.tuning import tune

    class Target:
        epoch = 0

    target = Target()
    copy.deepcopy([SyncEpoch(target)])[0].on_epoch_begin(5)
    assert target.epoch == 5
    real, planners = experiment.training_inputs, []

    def recording(*args, **kwargs):
        inputs = real(*args, **kwargs)
        planners.extend(inputs.sync_epoch.targets)
        return inputs

    monkeypatch.setattr(experiment, "training_inputs", recording)
    tune(load_config(QUICKSTART, TUNE + ["tune.max_trials=1", "tune.epochs=3"]), out_dir=tmp_path / "s", verbose=0)
    assert len(planners) == 1 and planners[0].epoch == 2  # the real pipeline reached the trial's last epoch
