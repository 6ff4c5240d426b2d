"""The image-level answer: blob removal in working-scale pixels, scores, and the choice on validation."""

import numpy as np
import pytest

from hecl_keras.data import PreprocessConfig, synthetic_fundus
from hecl_keras.evaluation.protocols import evaluate_standard
from hecl_keras.inference import Predictor
from hecl_keras.inference.image_level import (
    choose_min_lesion_pixels,
    clean_mask,
    false_positive_components,
    false_positive_counts,
    image_answer,
    image_level_scores,
    roc_auc_of_scores,
    true_pixels_per_component,
)


def _blobs(shape, boxes):
    mask = np.zeros(shape, bool)
    for top, left, h, w in boxes:
        mask[top:top + h, left:left + w] = True
    return mask


def test_clean_mask_counts_areas_at_the_working_scale():
    mask = _blobs((40, 40), [(1, 1, 1, 3), (10, 10, 2, 5)])  # 3 and 10 original pixels
    cleaned, kept, removed = clean_mask(mask, 5)
    assert removed == 1 and kept.tolist() == [10.0] and cleaned.sum() == 10
    # Half the linear size at the working scale: areas x 0.25 -> 0.75 and 2.5 working pixels.
    cleaned, kept, removed = clean_mask(mask, 1.0, scale=0.5)
    assert removed == 1 and kept.tolist() == [2.5]
    assert clean_mask(mask, 0)[2] == 0


def test_image_answer_and_false_positive_components():
    prob = _blobs((40, 40), [(1, 1, 2, 2), (20, 20, 4, 5)]).astype(np.float32) * 0.9
    answer = image_answer(prob, 0.5, min_lesion_pixels=8)
    assert answer["exudate_score"] == 20.0 and answer["exudates_present"]
    assert answer["lesions"] == 1 and answer["removed_blobs"] == 1 and answer["mask"].sum() == 20
    assert not image_answer(prob, 0.5, min_lesion_pixels=21)["exudates_present"]
    assert image_answer(np.zeros((8, 8)), 0.5, 0)["exudate_score"] == 0.0
    truth = _blobs((40, 40), [(22, 22, 1, 1)])
    assert false_positive_components(prob >= 0.5, truth) == 1  # the 2x2 blob touches no true lesion
    assert false_positive_components(np.zeros((4, 4), bool), truth[:4, :4]) == 0


def test_true_pixels_per_component_counts_each_component_the_long_way():
    rng = np.random.default_rng(3)
    prob = (rng.random((32, 32)) < 0.2).astype(np.float32)
    truth = rng.random((32, 32)) < 0.3
    labels = image_answer(prob, 0.5, 0)["labels"]
    count = int(labels.max())
    got = true_pixels_per_component(labels, count, truth)
    assert got.tolist() == [int((truth & (labels == k)).sum()) for k in range(1, count + 1)]
    assert true_pixels_per_component(labels, count, np.zeros_like(truth)).tolist() == [0] * count


@pytest.mark.parametrize("seed", range(4))
def test_one_labelling_gives_what_labelling_again_gives(seed):
    """The FP counts and the size choice from one labelling equal the counts on the cleaned and raw masks
    and the pooled F1 of clean_mask, computed the long way."""
    rng = np.random.default_rng(seed)
    prob = (rng.random((48, 48)) < 0.12).astype(np.float32)  # many small, some merged components
    truth = _blobs((48, 48), [(5, 5, 6, 6), (30, 20, 3, 9)]) | (rng.random((48, 48)) < 0.02)
    for size in (0, 2, 3, 8):
        answer = image_answer(prob, 0.5, size, scale=0.9)
        after, before = false_positive_counts(answer["labels"], answer["keep"], truth)
        assert after == false_positive_components(answer["mask"], truth)
        assert before == false_positive_components(prob >= 0.5, truth)
    items = [(prob, truth, 0.5, 0.9), (np.roll(prob, 7, axis=1), truth, 0.5, 1.3)]
    choice = choose_min_lesion_pixels(items, candidates=(0, 2, 3, 8))
    for size, value, blobs in choice["table"]:
        cleaned = [clean_mask(p >= th, size, s)[0] for p, _, th, s in items]
        assert blobs == np.mean([false_positive_components(c, t) for c, (_, t, _, _) in zip(cleaned, items)])
        tp = sum(int((c & t).sum()) for c, (_, t, _, _) in zip(cleaned, items))
        fp = sum(int((c & ~t).sum()) for c, (_, t, _, _) in zip(cleaned, items))
        fn = sum(int((~c & t).sum()) for c, (_, t, _, _) in zip(cleaned, items))
        assert value == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_roc_auc_of_scores_against_the_pairwise_definition():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 30).astype(float)  # many ties
    labels = rng.random(30) < 0.4
    pairs = [(1.0 if p > n else 0.5 if p == n else 0.0) for p in scores[labels] for n in scores[~labels]]
    assert roc_auc_of_scores(scores, labels) == pytest.approx(np.mean(pairs))
    assert roc_auc_of_scores([1, 2], [True, True]) is None


def test_image_level_scores():
    rows = [{"has_exudates": h, "exudates_present": s, "exudate_score": sc, "false_positive_components": fp}
            for h, s, sc, fp in [(True, True, 50, 0), (True, False, 3, 1), (False, False, 2, 2), (False, True, 9, 1)]]
    out = image_level_scores(rows)
    assert (out["sensitivity"], out["specificity"], out["auc"]) == (0.5, 0.5, 0.75)
    assert out["false_positive_components_per_image"] == 1.0
    assert "false_positive_components_per_image_before_removal" not in out  # the rows do not have it
    before = image_level_scores([{**r, "false_positive_components_before_removal": r["false_positive_components"] + 3}
                                 for r in rows])
    assert before["false_positive_components_per_image_before_removal"] == 4.0
    only_positive = image_level_scores(rows[:2])
    assert only_positive["specificity"] is None and only_positive["auc"] is None


def test_min_lesion_size_chosen_by_youden_when_both_kinds_exist():
    shape = (60, 60)
    positives = [(_blobs(shape, [(5, 5, 8, 8), (40, 40, 1, 2)]).astype(float), _blobs(shape, [(5, 5, 8, 8)]))
                 for _ in range(3)]
    negatives = [(_blobs(shape, [(30, 30, 2, 3)]).astype(float), np.zeros(shape, bool)) for _ in range(3)]
    choice = choose_min_lesion_pixels([(p, t, 0.5, 1.0) for p, t in positives + negatives])
    assert choice["criterion"] == "youden" and choice["value"] == 1.0
    # J = 1 from 8 (above the 6-pixel false alarms) to 64 (the 64-pixel lesions still kept): the largest wins.
    assert choice["min_lesion_pixels"] == 64
    assert [row[0] for row in choice["table"] if row[1] == 1.0] == [8, 16, 32, 64]
    # Every image has exudates: the pooled pixel F1 of the cleaned masks decides (removing the 2-pixel blob).
    choice = choose_min_lesion_pixels([(p, t, 0.5, 1.0) for p, t in positives])
    assert choice["criterion"] == "pooled_pixel_f1" and choice["min_lesion_pixels"] == 64 and choice["value"] == 1.0
    assert [row[2] for row in choice["table"]][:3] == [1.0, 1.0, 0.0]  # the 2-pixel false blob, per image, until 4


def test_min_lesion_tolerance_trades_a_little_f1_for_fewer_false_blobs():
    """A 12-pixel true lesion beside a 64-pixel one and a 6-pixel false blob: size 16 removes the false blob
    and the small lesion (F1 0.962 -> 0.914); within a 0.1 tolerance it is chosen, without one size 0 is."""
    shape = (60, 60)
    truth = _blobs(shape, [(5, 5, 8, 8), (30, 5, 2, 6)])
    prob = (truth | _blobs(shape, [(45, 40, 2, 3)])).astype(float)
    items = [(prob, truth, 0.5, 1.0)]
    exact = choose_min_lesion_pixels(items, candidates=(0, 16))
    assert exact["min_lesion_pixels"] == 0 and exact["value"] == pytest.approx(2 * 76 / (2 * 76 + 6))
    loose = choose_min_lesion_pixels(items, candidates=(0, 16), tolerance=0.1)
    assert loose["min_lesion_pixels"] == 16 and loose["value"] == pytest.approx(2 * 64 / (2 * 64 + 12))
    assert loose["best_value"] == exact["value"] and [row[2] for row in loose["table"]] == [1.0, 0.0]


def test_evaluation_reports_the_negative_side_on_lesion_free_synthetic_photographs():
    items = []
    for seed in range(12):
        image, mask = synthetic_fundus(96, 128, seed=seed, lesion_free_prob=0.5)
        items.append((f"s{seed}", image, mask))
    assert any(m.any() for _, _, m in items) and not all(m.any() for _, _, m in items)
    truth = {id(image): mask for _, image, mask in items}

    class TruthWithSpeck(Predictor):
        """Predicts the true mask plus one 1-pixel false alarm in every image."""

        def predict_with_scale(self, image):
            prob = truth[id(image)].astype(np.float32)
            prob[48, 64] = 1.0
            return prob, self.scale_of(image)

    predictor = TruthWithSpeck(None, (32, 32), PreprocessConfig(short_side=None), min_lesion_pixels=0)
    raw = evaluate_standard(predictor, items, 0.5)[0]["pooled"]["image_level"]
    assert raw["specificity"] == 0.0 and raw["false_positive_components_per_image"] > 0.5
    assert raw["false_positive_components_per_image_before_removal"] == raw["false_positive_components_per_image"]
    predictor.min_lesion_pixels = 2  # the speck goes; real synthetic lesions are larger
    clean = evaluate_standard(predictor, items, 0.5)[0]["pooled"]["image_level"]
    assert clean["specificity"] == 1.0 and clean["sensitivity"] == 1.0 and clean["auc"] == 1.0
    assert clean["false_positive_components_per_image"] == 0.0
    assert clean["false_positive_components_per_image_before_removal"] == raw["false_positive_components_per_image"]


def test_evaluation_reuses_predictions_it_is_given():
    """The validation report after training reuses the threshold choice's maps instead of predicting again."""
    items = [(f"s{seed}", *synthetic_fundus(96, 128, seed=seed, lesion_free_prob=0.0)) for seed in range(3)]

    class Refuses(Predictor):
        def predict_with_scale(self, image):
            raise AssertionError("predicted an image whose map was given")

    predictor = Refuses(None, (32, 32), PreprocessConfig(short_side=None))
    given = {sample_id: (mask.astype(np.float32), 1.0) for sample_id, _, mask in items}
    report = evaluate_standard(predictor, items, 0.5, predictions=given)[0]
    assert report["pooled"]["f1"] == 1.0 and len(report["per_image"]) == 3
    with pytest.raises(AssertionError, match="was given"):
        evaluate_standard(predictor, items, 0.5, predictions={"s0": given["s0"]})


def test_evaluation_of_a_model_uses_its_own_minimum_lesion_size(tmp_path):
    """hecl evaluate and the post-training report remove blobs below the model's stored size (they used 0)."""
    import keras

    from hecl_keras.config import load_config
    from hecl_keras.evaluation.runner import evaluate_model
    from hecl_keras.models import Segmenter, get_backbone
    from tests.conftest import QUICKSTART
    from tests.test_training import TINY

    config = load_config(QUICKSTART, TINY)
    keras.utils.set_random_seed(0)
    # Threshold 1e-6: the whole field of view is one predicted blob; 1e9 working pixels: it is removed.
    model = Segmenter(get_backbone("unet", base_filters=4, depth=3), decision_threshold=1e-6, min_lesion_pixels=1e9)
    items = [(f"s{seed}", *synthetic_fundus(96, 112, seed=seed, lesion_free_prob=0.0)) for seed in range(2)]
    rows = evaluate_model(model, config, items, tmp_path, protocols=("standard",), show_progress=False)[
        "standard"]["per_image"]
    assert all(r["removed_blobs"] >= 1 and not r["exudates_present"] for r in rows)
    assert all(r["false_positive_components"] == 0 for r in rows)
    assert Predictor.for_model(model, config).min_lesion_pixels == 1e9
