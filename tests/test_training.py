import json

import pytest

from hecl_keras.cli import main
from hecl_keras.config import load_config
from hecl_keras.training.trainer import train

TINY = [
    "data.synthetic.count=6", "data.synthetic.height=96", "data.synthetic.width=112", "data.synthetic.test_count=2",
    "data.short_side=64", "data.val_count=2", "augment.crop_size=[32, 32]", "model.base_filters=4",
    "model.options={depth: 3}", "train.epochs=2", "train.batch_size=2", "train.image_log_every=1",
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    config = load_config("configs/quickstart.yaml", TINY + ["eval.after_training=[val, test]"])
    return train(config, run_dir=run_dir, verbose=0), run_dir


def test_run_folder_contents(tiny_run):
    result, run_dir = tiny_run
    for name in ("config.yaml", "split.json", "log.csv", "model.keras", "checkpoints/best.keras",
                 "eval/test/metrics.json", "eval/test/predictions.png", "eval/test/roc.png", "eval/test/pr.png"):
        assert (run_dir / name).exists(), name
    assert list((run_dir / "tensorboard").rglob("*tfevents*"))
    assert list((run_dir / "tensorboard" / "images").rglob("*tfevents*"))
    split = json.loads((run_dir / "split.json").read_text())
    assert len(split["val"]) == 2 and not set(split["val"]) & set(split["train"])
    assert len(result["history"]["val_pr_auc"]) == 2
    assert result["history"]["learning_rate"] == pytest.approx([0.003, 0.003])
    metrics = json.loads((run_dir / "eval/test/metrics.json").read_text())
    assert set(metrics["standard"]["pooled"]) == {"iou", "f1", "precision", "recall", "roc_auc", "pr_auc"}
    assert len(metrics["standard"]["per_image"]) == 2


def test_evaluate_cli_both_protocols(tiny_run, tmp_path):
    _, run_dir = tiny_run
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(run_dir / "model.keras"), "--split", "test", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"standard", "paper"}
    assert set(metrics["paper"]) >= {"iou", "f1", "recall", "roc_auc"}
    assert (out / "metrics.md").read_text().count("|") > 10


def test_resume_after_interruption(tmp_path):
    """A run killed after epoch 1 resumes at epoch 2 from BackupAndRestore, not from scratch."""
    import keras

    config = load_config("configs/quickstart.yaml", TINY + ["train.epochs=3", "eval.after_training=[]"])

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    from unittest import mock

    original_fit = keras.Model.fit

    def fit_with_kill(self, *args, **kwargs):
        kwargs["callbacks"] = list(kwargs.get("callbacks", [])) + [Kill()]
        return original_fit(self, *args, **kwargs)

    with mock.patch.object(keras.Model, "fit", fit_with_kill), pytest.raises(KeyboardInterrupt):
        train(config, run_dir=tmp_path, verbose=0)
    result = train(config, run_dir=tmp_path, verbose=0)
    assert len(result["history"]["loss"]) == 1  # only the third epoch was left
    lines = (tmp_path / "log.csv").read_text().strip().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1", "2"]


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
