import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hecl_keras.cli import main
from hecl_keras.config import load_config
from hecl_keras.data import synthetic_fundus
from hecl_keras.training.trainer import train
from tests.conftest import QUICKSTART
from tests.test_training import TINY

tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("exp_run")
    config = load_config(QUICKSTART, TINY + ["train.epochs=1", "eval.after_training=[]"])
    train(config, run_dir=run_dir, verbose=0)
    return run_dir / "checkpoints" / "best.keras"  # carries the decision threshold chosen on validation


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("serving") / "hecl"
    assert main(["export", "--model", str(trained), "--out", str(out), "--version", "3"]) == 0
    return out


def test_validation_threshold_is_the_default_everywhere(trained, exported):
    from hecl_keras.inference.loading import load_predictor
    from hecl_keras.saving import load_model

    chosen = load_model(trained).decision_threshold
    assert chosen is not None
    assert load_model(trained).min_lesion_pixels is not None  # the image-level answer's size, chosen on val too
    meta = json.loads((exported / "3" / "assets.extra" / "hecl.json").read_text())
    assert meta["threshold"] == pytest.approx(chosen)
    assert load_predictor(trained)[1] == pytest.approx(chosen)
    assert load_predictor(exported)[1] == pytest.approx(chosen)


def test_exported_model_predicts_with_the_runs_tta_unless_told(exported):
    from hecl_keras.inference.loading import load_predictor

    meta_path = exported / "3" / "assets.extra" / "hecl.json"
    meta = json.loads(meta_path.read_text())
    assert load_predictor(exported)[0].tta == "none"
    assert load_predictor(exported)[0].fov_margin == 0.0 == meta["fov_margin"]
    meta_path.write_text(json.dumps({**meta, "tta": "flips", "fov_margin": 0.05}))
    try:
        assert load_predictor(exported)[0].tta == "flips"
        assert load_predictor(exported)[0].fov_margin == 0.05
        assert load_predictor(exported, tta="hflip")[0].tta == "hflip"
    finally:
        meta_path.write_text(json.dumps(meta))


def test_tone_target_set_at_inference_reaches_the_predictor_and_the_export(trained, tmp_path, capsys):
    """data.tone_target for a model trained without it: load_predictor's overrides, a SavedModel (which has no
    config to override: a clear error), and an export from a config that sets it."""
    from hecl_keras.config import save_config
    from hecl_keras.inference.loading import load_predictor

    assert load_predictor(trained)[0].preprocess.tone_target is None
    assert load_predictor(trained, overrides=["data.tone_target=0.4"])[0].preprocess.tone_target == 0.4
    config = load_config(trained.parents[1] / "config.yaml", ["data.tone_target=0.4"])
    save_config(config, tmp_path / "config.yaml")
    out = tmp_path / "serving"
    assert main(["export", "--model", str(trained), "--config", str(tmp_path / "config.yaml"),
                 "--out", str(out)]) == 0
    assert json.loads((out / "1" / "assets.extra" / "hecl.json").read_text())["preprocess"]["tone_target"] == 0.4
    # The bytes signature applies the colour step in its graph, as hecl predict does.
    photograph = synthetic_fundus(96, 112, seed=5, lesion_free_prob=0.0)[0]
    served = tf.saved_model.load(str(out / "1")).signatures["predict_image_bytes"](
        image_bytes=tf.constant([tf.io.encode_png(photograph).numpy()]))["probabilities"].numpy()[0, ..., 0]
    predictor = load_predictor(out)[0]
    np.testing.assert_allclose(served, predictor(photograph), atol=0.005)
    untoned = load_predictor(trained)[0](photograph)
    assert np.abs(served - untoned).max() > 10 * np.abs(served - predictor(photograph)).max()  # it made a difference
    assert load_predictor(out)[0].preprocess.tone_target == 0.4
    from hecl_keras.presets import save_to_preset
    from hecl_keras.saving import load_model

    save_to_preset(load_model(trained), tmp_path / "preset", config)
    assert "luminance of 0.4." in (tmp_path / "preset" / "README.md").read_text()
    save_to_preset(load_model(trained), tmp_path / "preset_at_inference", load_config(
        trained.parents[1] / "config.yaml", ["data.tone_target=0.4", "data.tone_at=inference"]))
    assert "luminance of 0.4 (at inference only" in (tmp_path / "preset_at_inference" / "README.md").read_text()
    assert load_predictor(tmp_path / "preset")[0].preprocess.tone_target == 0.4
    with pytest.raises(ValueError, match="SavedModel: its settings are in hecl.json"):
        load_predictor(out, overrides=["data.tone_target=0.3"])


def test_layout_and_cli_listing(exported, trained, tmp_path):
    from hecl_keras.export import export_saved_model
    from hecl_keras.saving import load_model

    with pytest.warns(UserWarning, match="no predict_image_bytes signature"):  # CLAHE has no TF version here
        path = export_saved_model(load_model(trained), tmp_path / "clahe", input_size=(32, 32),
                                  preprocess={"short_side": 64, "normalize": "clahe"})
    assert list(tf.saved_model.load(str(path)).signatures) == ["serving_default"]
    assert (exported / "3" / "saved_model.pb").is_file()
    meta = json.loads((exported / "3" / "assets.extra" / "hecl.json").read_text())
    assert meta["input_size"] == [32, 32] and meta["preprocess"]["short_side"] == 64
    assert (meta["overlap"], meta["tta"]) == (0.25, "none")  # the run's eval settings, for hecl predict
    cli = subprocess.run(["saved_model_cli", "show", "--all", "--dir", str(exported / "3")], capture_output=True,
                         text=True)
    assert cli.returncode == 0, cli.stderr[-2000:]
    for text in ("signature_def['serving_default']", "signature_def['predict_image_bytes']", "inputs['image_bytes']",
                 "dtype: DT_STRING", "shape: (-1, 32, 32, 3)", "outputs['mask']", "dtype: DT_UINT8"):
        assert text in cli.stdout, text
    from hecl_keras.export import export_run_model

    with pytest.raises(ValueError, match="input_size is required without a run config"):
        export_run_model(load_model(trained), None, tmp_path / "no_config")


def test_fresh_process_without_hecl_keras_matches_keras(trained, exported, tmp_path):
    from hecl_keras.saving import load_model

    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    model = load_model(trained)
    want = 1 / (1 + np.exp(-np.asarray(model.predict(x, verbose=0), np.float64)))
    script = f"""
import sys, numpy as np, tensorflow as tf
sm = tf.saved_model.load({str(exported / '3')!r})
out = sm.signatures["serving_default"](images=tf.constant(np.load({str(tmp_path / 'x.npy')!r})))
np.save({str(tmp_path / 'y.npy')!r}, out["probabilities"].numpy())
assert not any(m.startswith("hecl_keras") for m in sys.modules), "hecl_keras was imported"
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, atol=1e-5)


def test_image_bytes_signature_and_serving_request(exported):
    from hecl_keras.inference.loading import load_predictor

    image, _ = synthetic_fundus(90, 120, seed=3)
    jpeg = tf.io.encode_jpeg(image).numpy()
    sm = tf.saved_model.load(str(exported / "3"))
    fn = sm.signatures["predict_image_bytes"]
    out = fn(image_bytes=tf.constant([jpeg, jpeg]))
    assert out["probabilities"].shape == (2, 90, 120, 1) and out["mask"].dtype == tf.uint8  # the photograph's size
    # hecl predict's map of the same decoded photograph (PNG: no second JPEG decoder in the comparison)
    decoded = tf.io.decode_jpeg(jpeg, dct_method="INTEGER_ACCURATE").numpy()
    png = fn(image_bytes=tf.constant([tf.io.encode_png(decoded).numpy()]))["probabilities"].numpy()[0, ..., 0]
    np.testing.assert_allclose(png, load_predictor(exported)[0](decoded), atol=0.005)
    np.testing.assert_allclose(png, out["probabilities"].numpy()[0, ..., 0], atol=1e-6)
    threshold = json.loads((exported / "3" / "assets.extra" / "hecl.json").read_text())["threshold"]
    np.testing.assert_array_equal(out["mask"].numpy(), (out["probabilities"].numpy() >= threshold).astype(np.uint8))
    # The same request as TF Serving's gRPC API would receive it.
    predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "hecl"
    request.model_spec.signature_name = "predict_image_bytes"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto([jpeg], dtype=tf.string))
    inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    served = fn(**{k: tf.constant(v) for k, v in inputs.items()})
    np.testing.assert_allclose(served["probabilities"].numpy()[0], out["probabilities"].numpy()[0], atol=1e-6)


@pytest.mark.parametrize("which", ["keras", "savedmodel"])
def test_predict_cli_outputs_and_failures(trained, exported, tmp_path, which):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(2):
        Image.fromarray(synthetic_fundus(96, 112, seed=i, lesion_free_prob=0)[0]).save(inputs / f"ok_{i}.jpg")
    Image.fromarray(np.full((90, 90), 128, np.uint8)).save(inputs / "grey.png")  # converted with a warning
    (inputs / "notes.jpg").write_text("not an image")
    data = (inputs / "ok_0.jpg").read_bytes()
    (inputs / "cut.jpg").write_bytes(data[: len(data) // 2])
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(inputs / "tiny.png")
    Image.fromarray(np.full((80, 80), 30000, np.uint16)).save(inputs / "deep.png")
    Image.fromarray(np.zeros((96, 96, 3), np.uint8)).save(inputs / "black.png")  # predicted, with a warning
    spot = np.zeros((200, 200, 3), np.uint8)
    spot[90:110, 90:110] = 150  # a 1 % field of view
    Image.fromarray(spot).save(inputs / "spot.png")
    model = str(trained if which == "keras" else exported)
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="converted to RGB"):
        code = main(["predict", "--model", model, str(inputs), str(tmp_path / "missing.jpg"), "--out", str(out)])
    assert code == 1  # some inputs failed
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(r["file"].rsplit("/", 1)[1] for r in summary["images"]) == [
        "black.png", "grey.png", "ok_0.jpg", "ok_1.jpg", "spot.png"]
    warned = {Path(r["file"]).name: r["warning"] for r in summary["images"]}
    assert "no field of view" in warned["black.png"] and "tiny field of view: 1." in warned["spot.png"]
    assert warned["ok_0.jpg"] == warned["grey.png"] == ""
    failed = " ".join(f["error"] for f in summary["failures"])
    for name in ("notes.jpg", "cut.jpg", "tiny.png", "deep.png", "missing.jpg"):
        assert name in failed
    mask = np.array(Image.open(out / "ok_0_mask.png"))
    assert mask.shape == (96, 112) and set(np.unique(mask)) <= {0, 255}
    assert np.array(Image.open(out / "ok_0_overlay.jpg")).shape == (96, 112, 3)
    overview = np.array(Image.open(out / "ok_0_overview.jpg"))
    assert overview.shape[1] == 2 * 112 and overview.shape[0] > 96  # outlines | probability map, keys below
    row = summary["images"][0]
    assert {"exudate_fraction_of_fov", "lesions", "largest_lesion_pixels", "seconds", "exudates_present",
            "exudate_score", "removed_blobs"} <= set(row)
    import csv

    with open(out / "summary.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 10  # one row per input: 5 predicted, 5 failed
    status = {Path(r["file"]).name: (r["status"], r["error"]) for r in table}
    assert status["ok_0.jpg"] == ("ok", "") and status["missing.jpg"][0] == "failed"
    assert "no such file" in status["missing.jpg"][1]


def test_predict_writes_a_summary_when_every_input_fails(trained, tmp_path):
    out = tmp_path / "out"
    assert main(["predict", "--model", str(trained), str(tmp_path / "nothing.png"), "--out", str(out)]) == 1
    assert "nothing.png" in (out / "summary.csv").read_text()
    assert json.loads((out / "summary.json").read_text())["failures"][0]["file"].endswith("nothing.png")


def test_lesion_summary_counts():
    from hecl_keras.inference.files import lesion_summary
    from hecl_keras.inference.image_level import image_answer

    prob = np.zeros((20, 20), np.float32)
    prob[1:3, 1:3] = 0.9  # 4 pixels
    prob[10:15, 10:12] = 0.9  # 10 pixels
    prob[18, 18] = 0.9  # 1 pixel: below 2 working pixels at scale 1
    answer = image_answer(prob, 0.5, min_lesion_pixels=2)
    assert sorted(answer["lesion_areas"].tolist()) == [4, 10]
    s = lesion_summary(answer["mask"], np.ones((20, 20), bool), answer["lesion_areas"])
    assert s == {"exudate_fraction_of_fov": 14 / 400, "lesions": 2, "largest_lesion_pixels": 10, "exudate_pixels": 14}


def test_hecl_train_writes_a_preset_that_round_trips_exactly(trained, tmp_path):
    from hecl_keras.presets import from_preset, is_preset, save_to_preset
    from hecl_keras.saving import load_model

    preset = trained.parents[1] / "preset"
    assert is_preset(preset)
    meta = json.loads((preset / "metadata.json").read_text())
    best = load_model(trained)
    assert meta["decision_threshold"] == pytest.approx(best.decision_threshold) and meta["threshold_from_validation"]
    assert meta["training"]["split_sizes"]["val"] >= 1 and "licence" in meta
    assert meta["training"]["machine"] == json.loads((trained.parents[1] / "machine.json").read_text())["sessions"]
    assert meta["training"]["machine"][0]["software"]["keras"] == meta["keras_version"]
    run_config = load_config(trained.parents[1] / "config.yaml")
    settings = json.loads((preset / "preprocessing.json").read_text())
    assert settings["tile_size"] == run_config.augment.crop_size
    assert settings["fov_margin"] == run_config.eval.fov_margin == 0.0
    assert settings["preprocess"]["tone_target"] is None
    assert "Decision threshold" in (preset / "README.md").read_text()
    x = np.random.default_rng(0).random((2, 64, 64, 3)).astype("float32")
    loaded = from_preset(preset)
    assert loaded.decision_threshold == best.decision_threshold
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), best.predict(x, verbose=0))
    # A model that never had a threshold: the preset says so, and still reloads identically.
    fresh = load_model(trained)
    fresh.decision_threshold = None
    save_to_preset(fresh, tmp_path / "p2", load_config(trained.parents[1] / "config.yaml"))
    again = from_preset(tmp_path / "p2", compile=True)
    assert again.decision_threshold is None
    assert not json.loads((tmp_path / "p2" / "metadata.json").read_text())["threshold_from_validation"]
    np.testing.assert_array_equal(again.predict(x, verbose=0), fresh.predict(x, verbose=0))


def test_preset_folder_works_wherever_a_model_does(trained, tmp_path):
    preset = trained.parents[1] / "preset"
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(synthetic_fundus(96, 112, seed=3, lesion_free_prob=0)[0]).save(inputs / "a.png")
    for name, model in (("keras", trained), ("preset", preset)):
        assert main(["predict", "--model", str(model), str(inputs), "--out", str(tmp_path / name)]) == 0
    for output in ("a_mask.png", "a_prob.png"):
        np.testing.assert_array_equal(np.array(Image.open(tmp_path / "keras" / output)),
                                      np.array(Image.open(tmp_path / "preset" / output)))
    assert main(["evaluate", "--model", str(preset), "--split", "val", "--protocol", "standard",
                 "--out", str(tmp_path / "eval")]) == 0
    assert (tmp_path / "eval" / "metrics.json").is_file()
    assert main(["export", "--model", str(preset), "--out", str(tmp_path / "serving")]) == 0
    assert (tmp_path / "serving" / "1" / "saved_model.pb").is_file()


def test_preset_errors_name_the_folder(tmp_path):
    from hecl_keras.data.errors import DataError
    from hecl_keras.presets import from_preset

    with pytest.raises(DataError, match="not a preset folder"):
        from_preset(tmp_path)
    (tmp_path / "metadata.json").write_text(json.dumps({"format": "hecl_keras preset", "format_version": 99}))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(DataError, match="version 99 is not one this hecl-keras"):
        from_preset(tmp_path)


def test_a_presets_rim_margin_reaches_its_predictor(trained, tmp_path):
    """eval.fov_margin in a preset's config.yaml is what load_predictor applies."""
    import dataclasses
    import shutil

    from hecl_keras.config import save_config
    from hecl_keras.inference.loading import load_predictor

    preset = tmp_path / "preset"
    shutil.copytree(trained.parents[1] / "preset", preset)
    config = load_config(preset / "config.yaml")
    save_config(dataclasses.replace(config, eval=dataclasses.replace(config.eval, fov_margin=0.05)),
                preset / "config.yaml")
    assert load_predictor(preset)[0].fov_margin == 0.05
    assert load_predictor(trained)[0].fov_margin == 0.0


def test_run_scoring_benchmarks_read_a_trained_run(trained, capsys):
    """benchmarks.run_inputs (shared by tta, fov_margin, min_lesion_size) on a real run folder: one prediction per
    val/test image at full resolution, and a clear error for a checkpoint the run does not have."""
    from benchmarks import fov_margin, min_lesion_size, tta
    from benchmarks.run_inputs import load_run, predict_split
    from hecl_keras.inference.predictor import Predictor, keras_predict_fn

    run = trained.parent.parent
    model, config, data = load_run(run, overrides=["eval.tta=hflip"])
    predictor = Predictor.from_config(keras_predict_fn(model), config)
    assert predictor.tta == "hflip"
    shapes = predict_split(predictor, data, "val", "run", lambda image, mask, prob, scale: (image.shape, prob.shape))
    assert len(shapes) == len(data.split["val"]) > 0
    assert all(image[:2] == prob for image, prob in shapes)
    with pytest.raises(FileNotFoundError, match="has no nope.keras .*best.keras"):
        load_run(run, "nope.keras")
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        load_run(run / "checkpoints")

    tta.main([str(run), "--modes", "none"])
    min_lesion_size.main([str(run), "--tolerance", "0"])
    fov_margin.main([str(run), "--margins", "0", "0.05", "--negatives", "1"])
    printed = capsys.readouterr().out
    assert printed.count(run.name) >= 3 and "| none |" in printed
    # --set: a setting at inference only (the brightness match for a model trained without it)
    from benchmarks.run_inputs import run_predictor

    assert run_predictor(run, tta="hflip", overrides=["data.tone_target=0.4"])[0].preprocess.tone_target == 0.4
    assert tta._run_inputs(run, "best.keras", ["data.tone_target=0.4"])[1].data.tone_target == 0.4
    with pytest.raises(SystemExit):
        tta.main(["--smoke", "--set", "data.tone_target=0.4"])
    assert "--set applies to run folders" in capsys.readouterr().err
