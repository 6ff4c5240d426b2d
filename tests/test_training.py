import json

import pytest

from hecl_keras.cli import main
from hecl_keras.config import ConfigError, load_config
from hecl_keras.training.trainer import train
from tests.conftest import QUICKSTART, fit_with_callbacks

TINY = [
    "data.synthetic.count=6", "data.synthetic.height=96", "data.synthetic.width=112", "data.synthetic.test_count=2",
    "data.short_side=64", "data.val_count=2", "augment.crop_size=[32, 32]", "model.base_filters=4",
    "model.options={depth: 3}", "train.epochs=2", "train.batch_size=2", "train.image_log_every=1",
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    # precise_bn on here (off in the determinism/resume runs below): the trainer wiring runs once
    config = load_config(QUICKSTART, TINY + ["eval.after_training=[val, test]", "train.precise_bn=true",
                                             "train.precise_bn_tiles=5"])
    return train(config, run_dir=run_dir, verbose=0), run_dir


def test_run_folder_contents(tiny_run):
    result, run_dir = tiny_run
    for name in ("config.yaml", "split.json", "log.csv", "model.keras", "checkpoints/best.keras", "machine.json",
                 "eval/test/metrics.json", "eval/test/predictions.png", "eval/test/roc.png", "eval/test/pr.png"):
        assert (run_dir / name).exists(), name
    assert list((run_dir / "tensorboard").rglob("*tfevents*"))
    assert list((run_dir / "tensorboard" / "images").rglob("*tfevents*"))
    split = json.loads((run_dir / "split.json").read_text())
    assert len(split["val"]) == 2 and not set(split["val"]) & set(split["train"])
    assert len(result["history"]["val_pr_auc"]) == 2
    assert result["history"]["learning_rate"] == pytest.approx([0.003, 0.003])
    metrics = json.loads((run_dir / "eval/test/metrics.json").read_text())
    assert set(metrics["standard"]["pooled"]) == {"iou", "f1", "precision", "recall", "roc_auc", "pr_auc",
                                                  "image_level"}
    assert (run_dir / "preset" / "metadata.json").is_file()
    machine = json.loads((run_dir / "machine.json").read_text())["sessions"]
    assert len(machine) == 1 and machine[0]["software"]["backend"] == "tensorflow"
    assert len(metrics["standard"]["per_image"]) == 2


def test_evaluate_cli_both_protocols(tiny_run, tmp_path):
    _, run_dir = tiny_run
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(run_dir / "model.keras"), "--split", "test", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"standard", "paper"}
    assert set(metrics["paper"]) >= {"iou", "f1", "recall", "roc_auc"}
    assert (out / "metrics.md").read_text().count("|") > 10


def _weights(path):
    from hecl_keras.saving import load_model

    return [w.copy() for w in load_model(path).get_weights()]


@pytest.fixture(scope="module")
def uninterrupted_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("straight")
    config = load_config(QUICKSTART, TINY + ["train.epochs=3", "eval.after_training=[]"])
    return train(config, run_dir=run_dir, verbose=0), run_dir


def test_same_config_twice_gives_identical_runs(uninterrupted_run, tmp_path):
    import numpy as np

    _, first = uninterrupted_run
    config = load_config(QUICKSTART, TINY + ["train.epochs=3", "eval.after_training=[]"])
    train(config, run_dir=tmp_path, verbose=0)
    assert (tmp_path / "log.csv").read_bytes() == (first / "log.csv").read_bytes()
    for a, b in zip(_weights(first / "model.keras"), _weights(tmp_path / "model.keras")):
        np.testing.assert_array_equal(a, b)


def test_killed_run_resumes_to_the_uninterrupted_result(uninterrupted_run, tmp_path, capsys):
    """Killed after epoch 2's log row and checkpoint but before its backup: the rerun repeats epoch 2 only,
    log.csv has each epoch once, and weights, log and best checkpoint equal an uninterrupted run's."""
    import keras
    import numpy as np

    straight_result, straight = uninterrupted_run
    config = load_config(QUICKSTART, TINY + ["train.epochs=3", "eval.after_training=[]"])

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    with fit_with_callbacks([Kill()]), pytest.raises(KeyboardInterrupt):
        train(config, run_dir=tmp_path, verbose=0)
    assert [line.split(",")[0] for line in (tmp_path / "log.csv").read_text().splitlines()[1:]] == ["0", "1"]
    # The first session's machine, made to look like another CPU kind (x86 and Arm features: no real one): the
    # resume says so.
    record = json.loads((tmp_path / "machine.json").read_text())
    record["sessions"][0]["cpu"]["features"] = ["avx2", "asimd"]
    (tmp_path / "machine.json").write_text(json.dumps(record))
    result = train(config, run_dir=tmp_path, verbose=0)
    err = capsys.readouterr().err
    assert "started on another kind of machine (cpu.features: ['avx2', 'asimd'] -> " in err
    assert len(json.loads((tmp_path / "machine.json").read_text())["sessions"]) == 2
    assert "resuming from epoch 2 of 3" in err
    assert "validation split: " in err and "effective images" in err  # what model selection rests on
    assert result["status"] == "resumed" and result["resumed_from_epoch"] == 1
    assert (tmp_path / "log.csv").read_bytes() == (straight / "log.csv").read_bytes()
    for name in ("model.keras", "checkpoints/best.keras"):
        for a, b in zip(_weights(straight / name), _weights(tmp_path / name)):
            np.testing.assert_array_equal(a, b)
    assert result["threshold"] == straight_result["threshold"]
    # Training time spans both sessions: every epoch's seconds, the repeated epoch counted once.
    seconds = json.loads((tmp_path / "epoch_seconds.json").read_text())
    assert sorted(seconds) == ["0", "1", "2"]
    assert result["train_seconds"] == pytest.approx(sum(seconds.values()))


def test_the_same_data_folder_written_two_ways_is_the_same_experiment(tmp_path, monkeypatch):
    from hecl_keras.training.trainer import _comparable

    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    relative = load_config(QUICKSTART, ["data.source=data"])
    absolute = load_config(QUICKSTART, [f"data.source={tmp_path / 'data'}"])
    assert _comparable(relative) == _comparable(absolute)
    assert _comparable(load_config(QUICKSTART))["data"]["source"] == "synthetic"


def test_complete_run_is_not_trained_again(uninterrupted_run, capsys):
    _, run_dir = uninterrupted_run
    before = (run_dir / "log.csv").read_text()
    stamp = (run_dir / "checkpoints" / "best.keras").stat().st_mtime_ns
    assert main(["train", QUICKSTART, "--run-dir", str(run_dir)] + [f"--set={o}" for o in TINY]
                + ["--set=train.epochs=3", "--set=eval.after_training=[]"]) == 0
    assert "complete run: nothing to do" in capsys.readouterr().err
    assert (run_dir / "log.csv").read_text() == before
    assert (run_dir / "checkpoints" / "best.keras").stat().st_mtime_ns == stamp


def test_changed_config_in_an_existing_run_folder_is_an_error(uninterrupted_run, capsys):
    _, run_dir = uninterrupted_run
    code = main(["train", QUICKSTART, "--run-dir", str(run_dir)] + [f"--set={o}" for o in TINY]
                + ["--set=train.epochs=4", "--set=eval.after_training=[]"])
    err = capsys.readouterr().err
    assert code == 2 and "train.epochs: 3 -> 4" in err and "--force" in err


def test_force_starts_again(tmp_path):
    from hecl_keras.training.trainer import prepare_run_dir

    config = load_config(QUICKSTART, TINY)
    (tmp_path / "result.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("mine")
    assert prepare_run_dir(tmp_path, config) == "complete"
    assert prepare_run_dir(tmp_path, config, force=True) == "new"
    assert not (tmp_path / "result.json").exists() and (tmp_path / "notes.txt").exists()


def test_run_saved_before_the_jit_compile_default_changed_is_the_same_experiment(tmp_path):
    """A run folder written with train.jit_compile false (the default until null) is complete, not
    "a different config", under TensorFlow where null resolves to false; under JAX it differs."""
    import keras

    from hecl_keras.config import save_config
    from hecl_keras.training.trainer import prepare_run_dir

    config = load_config(QUICKSTART, TINY)
    assert config.train.jit_compile is None
    save_config(load_config(QUICKSTART, TINY + ["train.jit_compile=false"]), tmp_path / "config.yaml")
    (tmp_path / "result.json").write_text("{}")
    if keras.backend.backend() == "jax":
        with pytest.raises(ConfigError, match="jit_compile"):
            prepare_run_dir(tmp_path, config)
    else:
        assert prepare_run_dir(tmp_path, config) == "complete"


def test_decision_threshold_is_chosen_on_validation_and_saved(tiny_run):
    from hecl_keras.saving import load_model

    result, run_dir = tiny_run
    best = load_model(run_dir / "checkpoints" / "best.keras")
    assert best.decision_threshold == pytest.approx(result["threshold"]["threshold"])
    assert 0.0 < best.decision_threshold < 1.0
    metrics = json.loads((run_dir / "eval/test/metrics.json").read_text())
    assert metrics["standard"]["threshold"] == pytest.approx(best.decision_threshold)


def test_time_budget_stops_and_halves_the_learning_rate():
    import keras
    import numpy as np

    from hecl_keras.training.callbacks import TimeBudget

    clock = {"now": 0.0}
    lrs = []

    class Tick(keras.callbacks.Callback):  # each batch "takes" 10 s; records the lr each epoch runs with
        def on_epoch_begin(self, epoch, logs=None):
            lrs.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

        def on_train_batch_end(self, batch, logs=None):
            clock["now"] += 10.0

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    budget = TimeBudget(95.0, initial_lr=0.1, clock=lambda: clock["now"])
    x, y = np.zeros((8, 2), np.float32), np.zeros((8, 1), np.float32)
    model.fit(x, y, batch_size=2, epochs=100, verbose=0, callbacks=[budget, Tick()])
    # 4 steps of 10 s per epoch; epochs start at 0, 40 and 80 s = parts 0, 1 and 2 of a 95 s budget in
    # thirds. The budget sees 100 s at the end of step 11 (it checks before Tick adds that step's 10 s).
    np.testing.assert_allclose(lrs, [0.1, 0.05, 0.025])
    assert budget.steps == 11 and budget.stopped_early
    assert budget.epoch_steps == [4, 4, 3]
    assert budget.seconds_per_step() == pytest.approx(10.0)


@pytest.mark.parametrize("count_compilation, steps", [(True, 6), (False, 11)])
def test_time_budget_can_leave_the_first_step_out(count_compilation, steps):
    """A first step of 50 s (compilation) then 10 s steps, budget 95 s: counted, the budget ends at
    50 + 5 * 10 = 100 s (6 steps); left out, it runs from 50 s to 50 + 10 * 10 = 150 s (11 steps)."""
    import keras
    import numpy as np

    from hecl_keras.training.callbacks import TimeBudget

    clock = {"now": 0.0}

    class Tick(keras.callbacks.Callback):  # runs before the budget's check: the step's time has passed
        def on_train_batch_end(self, batch, logs=None):
            clock["now"] += 50.0 if clock["now"] == 0.0 else 10.0

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    budget = TimeBudget(95.0, clock=lambda: clock["now"], count_compilation=count_compilation)
    x, y = np.zeros((8, 2), np.float32), np.zeros((8, 1), np.float32)
    model.fit(x, y, batch_size=2, epochs=100, verbose=0, callbacks=[Tick(), budget])
    assert budget.steps == steps and budget.stopped_early
    assert budget.first_step_seconds == 50.0
    assert budget.elapsed() == pytest.approx(100.0)  # the budget's own clock, either way


def test_truncate_log_keeps_rows_before_the_resumed_epoch_byte_for_byte(tmp_path):
    from hecl_keras.training.trainer import read_log, truncate_log

    log = tmp_path / "log.csv"
    log.write_bytes(b"epoch,loss\r\n0,0.5\r\n1,0.4\r\n2,0.3\r\n")
    truncate_log(log, 2)
    assert log.read_bytes() == b"epoch,loss\r\n0,0.5\r\n1,0.4\r\n"
    assert [r["epoch"] for r in read_log(log)] == [0, 1]
    truncate_log(log, 0)
    assert log.read_bytes() == b""


def test_evaluate_a_flat_folder_scores_every_pair(tiny_run, small_dataset, tmp_path, capsys):
    """A user's own images/ + masks/ folder: --split defaults to all, no training set is loaded."""
    _, run_dir = tiny_run
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(run_dir / "checkpoints" / "best.keras"), "--data", str(small_dataset),
                 "--protocol", "standard", "--out", str(out)]) == 0
    assert "scoring 3 images of split 'all'" in capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(r["id"] for r in metrics["standard"]["per_image"]) == ["img_0", "img_1", "img_2"]
    assert main(["evaluate", "--model", str(run_dir / "model.keras"), "--data", str(small_dataset), "--split", "test",
                 "--out", str(out)]) == 2
    assert "has no 'test' split" in capsys.readouterr().err
