import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from hecl_keras.metrics import PixelF1, PixelIoU, PixelPrecision, PixelRecall, PooledCurves, binary_scores


def _counts(p, t):
    pred, t = p >= 0.5, t.astype(bool)
    return (pred & t).sum(), (pred & ~t).sum(), (~pred & t).sum()


def test_keras_metrics_pool_over_batches():
    rng = np.random.default_rng(0)
    t = (rng.random((3, 8, 8, 1)) < 0.2).astype("float32")
    p = np.clip(t * 0.4 + rng.random(t.shape) * 0.6, 1e-4, 1 - 1e-4).astype("float32")
    logits = np.log(p / (1 - p))
    tp, fp, fn = _counts(p, t)
    expect = {"iou": tp / (tp + fp + fn), "f1": 2 * tp / (2 * tp + fp + fn),
              "precision": tp / (tp + fp), "recall": tp / (tp + fn)}
    for cls in (PixelIoU, PixelF1, PixelPrecision, PixelRecall):
        m = cls()
        for i in range(3):  # batch by batch
            m.update_state(t[i:i + 1], logits[i:i + 1])
        assert float(m.result()) == pytest.approx(expect[m.name], abs=1e-6)


def test_keras_metric_empty_truth_and_prediction_is_perfect():
    m = PixelIoU()
    m.update_state(np.zeros((1, 4, 4, 1)), np.full((1, 4, 4, 1), -5.0))
    assert float(m.result()) == 1.0


def test_pooled_curves_match_sklearn_with_ties():
    rng = np.random.default_rng(1)
    t = rng.random(20000) < 0.03
    p = np.round(np.clip(t * 0.35 + rng.random(20000) * 0.65, 0, 1), 2)  # many ties
    c = PooledCurves()
    for chunk in np.array_split(np.arange(20000), 7):
        c.update(p[chunk], t[chunk])
    q = np.floor(p * c.bins) / c.bins
    assert c.roc_auc() == pytest.approx(roc_auc_score(t, q), abs=1e-12)
    assert c.pr_auc() == pytest.approx(average_precision_score(t, q), abs=1e-12)
    tp, fp, fn = _counts(p, t)
    assert c.scores(0.5)["iou"] == pytest.approx(tp / (tp + fp + fn))


def test_pooled_curves_no_positive():
    c = PooledCurves()
    c.update(np.array([0.1, 0.9]), np.array([False, False]))
    assert np.isnan(c.roc_auc()) and np.isnan(c.pr_auc())
    assert c.scores()["precision"] == 0.0


def test_binary_scores_edge_cases():
    z = np.zeros((4, 4))
    assert binary_scores(z, z.astype(bool)) == {"iou": 1.0, "f1": 1.0, "precision": 1.0, "recall": 1.0}
    one = z.copy()
    one[0, 0] = 1
    s = binary_scores(one, z.astype(bool))
    assert s["iou"] == 0.0 and s["precision"] == 0.0 and s["recall"] == 1.0


def test_in_training_auc_resolves_confident_predictions():
    """Most pixels far below p=0.001: logit-spaced thresholds still rank them (linear ones cannot)."""
    from hecl_keras.metrics import segmentation_metrics

    rng = np.random.default_rng(0)
    t = rng.random(50000) < 0.02
    logits = np.where(t, rng.normal(-9, 2, t.size), rng.normal(-13, 2, t.size)).astype("float32")
    roc = [m for m in segmentation_metrics() if m.name == "roc_auc"][0]
    roc.update_state(t.astype("float32"), logits)
    assert float(roc.result()) == pytest.approx(roc_auc_score(t, logits), abs=0.01)


@pytest.mark.portable
@pytest.mark.parametrize("curve", ["PR", "ROC"])
def test_pixel_auc_matches_sklearn_on_bin_edges(curve):
    """Logits placed on the histogram's bins: the curves are exact."""
    from hecl_keras.metrics import PixelAUC

    rng = np.random.default_rng(2)
    t = rng.random(30000) < 0.05
    bins = rng.integers(0, 1000, t.size) + np.where(t, 150, 0)
    bins = np.clip(bins, 0, 999)
    logits = (-14.0 + (bins + 0.5) * 28.0 / 1000).astype("float32")
    m = PixelAUC(curve)
    for chunk in np.array_split(np.arange(t.size), 3):
        m.update_state(t[chunk].astype("float32"), logits[chunk])
    want = average_precision_score(t, logits) if curve == "PR" else roc_auc_score(t, logits)
    assert float(m.result()) == pytest.approx(want, abs=1e-5)
    m.reset_state()
    assert float(m.result()) == 0.0


def test_plotted_curves_end_at_the_last_threshold():
    """The downsampled ROC curve reaches (1, 1) and the PR curve recall 1 (the plot used to stop early)."""
    rng = np.random.default_rng(3)
    truth = rng.random(200000) < 0.02
    curves = PooledCurves()
    curves.update(np.clip(rng.random(200000) * 0.8 + truth * 0.2, 0, 1), truth)
    c = curves.curves(max_points=100)
    assert c["fpr"][-1] == 1.0 and c["tpr"][-1] == 1.0 and c["recall"][-1] == 1.0
    assert len(c["fpr"]) <= 103 and np.all(np.diff(c["fpr"]) >= 0)
