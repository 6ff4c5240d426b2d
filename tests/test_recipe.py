"""Deterministic data, crop sampling, threshold choice, schedules and the extra supervised losses."""

import math

import keras
import numpy as np
import pytest

from hecl_keras.data import AugmentConfig, AugmentedBatches, synthetic_pairs, tf_training_dataset
from hecl_keras.data.pipeline import CropPlanner, window
from hecl_keras.metrics.pixel_curves import PooledCurves


def _epochs(ds, count=2):
    return [[np.asarray(x) for x, _ in ds] for _ in range(count)]


@pytest.mark.parametrize("sampling, fraction", [("image", 0.0), ("window", 0.5)])
def test_training_batches_depend_only_on_seed_and_epoch(sampling, fraction):
    pairs = synthetic_pairs(5, 80, 100, seed=0)
    cfg = AugmentConfig(crop_size=(32, 32), crop_sampling=sampling, lesion_fraction=fraction)
    a = _epochs(tf_training_dataset(pairs, 2, cfg, repeats=2, seed=4))
    b = _epochs(tf_training_dataset(pairs, 2, cfg, repeats=2, seed=4))
    for x, y in zip(a[0] + a[1], b[0] + b[1]):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0][0], a[1][0])  # a new epoch draws new crops
    other = _epochs(tf_training_dataset(pairs, 2, cfg, repeats=2, seed=5), 1)
    assert not np.array_equal(a[0][0], other[0][0])
    # The PyDataset path (any backend) yields the same crops as tf.data.
    py = AugmentedBatches(pairs, 2, cfg, repeats=2, seed=4)
    for i, x in enumerate(a[0]):
        np.testing.assert_allclose(py[i][0], x, atol=1e-6)
    # A pipeline told it is at epoch 1 (as after a resume) gives epoch 1's crops directly.
    planner, padded = CropPlanner.from_pairs(pairs, 2, 4, cfg)
    planner.epoch = 1
    resumed = [np.asarray(x) for x, _ in tf_training_dataset(padded, 2, cfg, repeats=2, seed=4, planner=planner)]
    for x, y in zip(resumed, a[1]):
        np.testing.assert_array_equal(x, y)


def test_lesion_fraction_centres_crops_on_lesions():
    pairs = [(i, m) for i, m in synthetic_pairs(8, 160, 160, seed=1, lesion_free_prob=0.0)]
    masks = [m[..., None].astype(np.uint8) for _, m in pairs]

    def lesion_crops(fraction):
        cfg = AugmentConfig(crop_size=(32, 32), crop_sampling="window", lesion_fraction=fraction)
        order, _, centres = CropPlanner(masks, 20, 0, cfg).plan(0)
        return np.mean([masks[i][y, x, 0] > 0 for i, (y, x) in zip(order, centres)])

    assert lesion_crops(1.0) == 1.0  # every centre is a lesion pixel
    assert lesion_crops(0.0) < 0.2
    cfg = AugmentConfig(crop_size=(32, 32), crop_sampling="window", lesion_fraction=1.0)
    batches = AugmentedBatches(pairs, 4, cfg, repeats=2, seed=0)
    masks_out = np.concatenate([batches[i][1] for i in range(len(batches))])
    assert masks_out.shape == (16, 32, 32, 1)
    assert all(m.sum() > 0 for m in masks_out)  # the lesion stays inside the crop after rotation and jitter


def test_window_pads_outside_the_image():
    a = np.arange(1, 26).reshape(5, 5, 1)
    w = window(a, (0, 0), (3, 3))
    np.testing.assert_array_equal(w[..., 0], [[0, 0, 0], [0, 1, 2], [0, 6, 7]])
    with pytest.raises(ValueError, match="needs crop_sampling: window"):
        AugmentConfig(lesion_fraction=0.5)
    assert AugmentConfig(crop_size=(256, 256)).window_size == (364, 364)


def test_best_f1_threshold_matches_brute_force():
    rng = np.random.default_rng(0)
    truth = rng.random(5000) < 0.05
    prob = np.clip(truth * 0.3 + rng.random(5000) * 0.7, 0, 1)
    curves = PooledCurves(bins=256)
    curves.update(prob, truth)
    threshold, f1 = curves.best_f1_threshold()
    q = np.floor(prob * 256) / 256  # the quantised probabilities the curves see
    best = max(((2 * np.sum((q >= t) & truth) / (np.sum(q >= t) + truth.sum())), t) for t in np.arange(256) / 256)
    assert f1 == pytest.approx(best[0]) and threshold == pytest.approx(best[1])
    assert curves.scores(threshold)["f1"] == pytest.approx(f1)
    assert PooledCurves().best_f1_threshold()[0] == 0.5


def test_warmup_cosine_schedule():
    from hecl_keras.training.callbacks import warmup_cosine_schedule

    s = warmup_cosine_schedule(1e-3, epochs=12, warmup_epochs=2)
    assert [s(0), s(1)] == pytest.approx([5e-4, 1e-3])
    assert s(2) == pytest.approx(1e-3)
    assert s(11) == pytest.approx(1e-5)  # floor: 1 % of the peak at the last epoch
    mid = 2 + 9 / 2
    assert s(mid) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert all(s(e) >= s(e + 1) for e in range(2, 11))


def test_tversky_bce_matches_formula():
    from hecl_keras.losses.supervised import TverskyBCELoss

    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 4, 4, 1)).astype(np.float32)
    truth = (rng.random((2, 4, 4, 1)) < 0.3).astype(np.float32)
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    expected = []
    for b in range(2):
        t, q, z = truth[b].ravel(), p[b].ravel(), logits[b].ravel().astype(np.float64)
        bce = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))
        tp, fp, fn = np.sum(q * t), np.sum(q * (1 - t)), np.sum((1 - q) * t)
        expected.append(bce + 1 - (tp + 1) / (tp + 0.3 * fp + 0.7 * fn + 1))
    loss = TverskyBCELoss(reduction=None)(truth, logits)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss), expected, rtol=1e-5)


def test_decision_threshold_and_auto_optimizer_survive_saving(tmp_path):
    from hecl_keras.models import get_backbone
    from hecl_keras.models.segmenter import Segmenter
    from hecl_keras.saving import load_model

    model = Segmenter(get_backbone("unet", base_filters=4, depth=3, input_shape=(32, 32, 3)), decision_threshold=0.3)
    model.compile()
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(3e-4)
    model.save(tmp_path / "m.keras")
    assert load_model(tmp_path / "m.keras").decision_threshold == pytest.approx(0.3)


def test_best_checkpoint_keeps_its_best_value_and_saves_averaged_weights(tmp_path):
    """With use_ema the checkpoint holds the moving average (what validation saw), not the raw weights;
    a best value passed in (as after a resume) is not overwritten by a worse epoch."""
    from hecl_keras.training.callbacks import BestCheckpoint

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 1)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5), loss="mse")
    path = tmp_path / "best.keras"
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[BestCheckpoint(str(path), "loss", "min")])
    # After fit Keras overwrites the weights with their average: the checkpoint must equal them.
    saved = keras.saving.load_model(path).get_weights()
    for a, b in zip(saved, model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    stamp = path.stat().st_mtime_ns
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[BestCheckpoint(str(path), "loss", "min", best=-1.0)])
    assert path.stat().st_mtime_ns == stamp
