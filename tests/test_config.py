import pytest

from hecl_keras.config import ConfigError, load_config


def test_defaults_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\ntrain: {epochs: 3}\nmodel: {backbone: unet}\n")
    c = load_config(p, ["train.batch_size=2", "model.options.depth=3", "augment.crop_size=[64, 64]"])
    assert (c.name, c.train.epochs, c.train.batch_size) == ("x", 3, 2)
    assert c.model.options == {"depth": 3} and c.augment.crop_size == [64, 64]
    assert c.train.learning_rate == 3e-4 and c.hecl.alpha == 0.01


@pytest.mark.parametrize("override,match", [
    ("train.epoch=3", "Unknown key.*train.epoch"),
    ("train.epochs=0", "train.epochs must be >= 1"),
    ("train.learning_rate=-0.001", "train.learning_rate must be > 0"),
    ("train.loss=dice", "train.loss must be one of"),
    ("train.lr_schedule=step", "train.lr_schedule must be one of"),
    ("train.warmup_epochs=300", r"train.warmup_epochs must be in \[0, train.epochs\)"),
    ("train.precise_bn_tiles=0", r"train.precise_bn_tiles must be >= 1"),
    ("train.precise_bn=true train.strategy=mirrored", r"train.precise_bn is not supported with a distribution"),
    ("augment.lesion_fraction=0.5", "augment.lesion_fraction > 0 needs crop_sampling: window"),
    ("augment.crop_sampling=random", "augment.crop_sampling must be one of"),
    ("eval.threshold=1.5", r"eval.threshold must be in \(0, 1\)"),
    ("eval.tta=rotate", "eval.tta must be one of"),
    ("eval.fov_margin=1", r"eval.fov_margin must be in \[0, 1\)"),
    ("eval.tta_flip=true eval.tta=d4", "eval.tta_flip: true .* contradicts eval.tta: 'd4'"),
    ("train.epochs=[3", "the value is not valid YAML"),
    ("train.epochs=three", "train.epochs: expected an integer"),
    ("data.fov_crop=maybe", "data.fov_crop: expected true or false"),
    ("nonsense", "key.path=value"),
])
def test_bad_config_is_a_clear_error(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, override.split())  # several overrides: space-separated


def test_shipped_configs_load_and_are_consistent():
    from pathlib import Path

    from hecl_keras.models import output_stride

    paths = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.yaml"))
    assert len(paths) >= 5
    for path in paths:
        c = load_config(path)
        assert c.name == path.stem, f"{path.name}: name {c.name!r} (runs would land in another folder)"
        stride = output_stride(c.model.backbone, **c.model.options)
        assert all(side % stride == 0 for side in c.augment.crop_size), path.name
        assert c.eval.threshold is None, f"{path.name}: a fixed threshold overrides the validation-chosen one"


def test_cpu_recipe_config_is_the_measured_study_variant():
    """configs/idrid_effb0_cpu.yaml quotes camera_e60.yaml's localmeanfov_tone runs: it must train what that variant
    trained."""
    from pathlib import Path

    from hecl_keras.config import config_to_dict

    repo = Path(__file__).resolve().parents[1]
    # + the test-time augmentation benchmarks/tta.py chose on validation (RESULTS 21), with which the runs'
    # checkpoints were scored (RESULTS 23, 27, 30); without the average, the runs' best_epoch.keras is the config's
    # model
    measured = study_config("camera_e60", "effb0_det_e60_localmeanfov_tone",
                            extra=["eval.tta=d4", "train.swa_epochs=0"])
    shipped = config_to_dict(load_config(repo / "configs/idrid_effb0_cpu.yaml"))
    measured.pop("name"), shipped.pop("name")
    assert shipped == measured


def test_the_seeds_study_trains_what_val_split12_trained_for_60_epochs():
    """effb0_e60_seeds shares its run folders with val_split12's effb0_val12_e60: the same resolved config."""
    import dataclasses
    from pathlib import Path

    import yaml

    from hecl_keras.config import config_to_dict

    repo = Path(__file__).resolve().parents[1]
    split12 = yaml.safe_load((repo / "benchmarks/studies/val_split12.yaml").read_text())
    seeds = yaml.safe_load((repo / "benchmarks/studies/effb0_e60_seeds.yaml").read_text())
    variant = seeds["baseline"]
    a = load_config(repo / split12["config"], split12["set"] + split12["variants"][variant])
    b = load_config(repo / seeds["config"], seeds["set"] + seeds["variants"][variant])
    assert config_to_dict(a) == config_to_dict(b)
    # the averaging variant trains the same way: only the run's final model differs
    swa = load_config(repo / seeds["config"], seeds["set"] + seeds["variants"]["effb0_val12_e60_swa"])
    assert config_to_dict(dataclasses.replace(swa, train=dataclasses.replace(swa.train, swa_epochs=0))) == \
        config_to_dict(b)


def test_the_12_image_study_keeps_the_recipe_it_measured():
    """val_split12's runs were trained for 30 epochs and thresholded without TTA; the config moved on."""
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parents[1]
    study = yaml.safe_load((repo / "benchmarks/studies/val_split12.yaml").read_text())
    base = load_config(repo / study["config"], study["set"] + study["variants"][study["baseline"]])
    assert (base.train.epochs, base.train.halve_every, base.eval.tta, base.train.swa_epochs) == (30, 20, "none", 0)


@pytest.mark.parametrize("name", ["cpu_budget", "hecl_paired", "recipe_ablation", "robustness_options"])
def test_studies_measured_before_the_12_image_split_keep_their_split(name):
    """The CPU configs moved to the 12-image split in session 12; the studies whose figures
    docs/RESULTS.md quotes from before must still train on the 6-image split they were measured on."""
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parents[1]
    study = yaml.safe_load((repo / f"benchmarks/studies/{name}.yaml").read_text())
    for variant, sets in study["variants"].items():
        config = load_config(repo / study["config"], study["set"] + sets)
        assert (config.data.val_count, config.data.split_seed) == (6, 0), f"{name}: {variant}"


@pytest.mark.parametrize("old,new", [("true", "hflip"), ("false", "none")])
def test_run_configs_of_earlier_versions_read_tta_flip_as_tta(tmp_path, old, new):
    path = tmp_path / "config.yaml"
    path.write_text(f"name: old_run\neval:\n  overlap: 0.25\n  tta_flip: {old}\n")
    assert load_config(path).eval.tta == new
    assert load_config(path, ["eval.tta=flips"]).eval.tta == "flips"  # today's key, given later, wins
    assert load_config(None, [f"eval.tta_flip={old}"]).eval.tta == new


def test_tta_modes_agree_between_config_inference_and_cli():
    from hecl_keras.cli import CLI_TTA_MODES
    from hecl_keras.config import TTA_MODES
    from hecl_keras.inference import TTA_MODES as INFERENCE_MODES

    assert CLI_TTA_MODES == TTA_MODES == INFERENCE_MODES


def test_broken_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ntrain:\n  epochs: 3\n   batch_size: 2\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: line 4, column \d+: not valid YAML"):
        load_config(path)


@pytest.mark.parametrize("argv,tta", [([], None), (["--tta"], "hflip"), (["--tta", "d4"], "d4")])
def test_predict_tta_option(argv, tta):
    """A bare --tta keeps its old meaning (one horizontal flip); --tta MODE names the mode."""
    from hecl_keras.cli import build_parser

    args = build_parser().parse_args(["predict", "--model", "m.keras", "photos/", *argv, "--out", "o"])
    assert args.tta == tta and args.inputs == ["photos/"]


def study_config(name, variant=None, extra=()):
    """The resolved config (as a dict) of one variant (default: the baseline) of ``benchmarks/studies/<name>.yaml``,
    with the ``extra`` overrides applied last."""
    from pathlib import Path

    import yaml

    from hecl_keras.config import config_to_dict

    repo = Path(__file__).resolve().parents[1]
    study = yaml.safe_load((repo / f"benchmarks/studies/{name}.yaml").read_text())
    return config_to_dict(load_config(repo / study["config"],
                                      study["set"] + study["variants"][variant or study["baseline"]] + list(extra)))


def test_the_hecl_study_differs_from_the_supervised_study_in_the_hecl_section_alone():
    """hecl_effb0_e60.yaml is paired by seed with effb0_e60_det.yaml's runs: every setting but hecl.* (and the name
    and the search space) must be the same, or the paired difference is not HECL's."""

    def resolved(name, variant=None):
        config = study_config(name, variant)
        return {k: v for k, v in config.items() if k not in ("name", "hecl", "tune")}, config["hecl"]

    supervised, _ = resolved("effb0_e60_det")
    for variant in ("effb0_det_e60_hecl", "effb0_det_e60_pd", "effb0_det_e60_de"):
        with_hecl, hecl = resolved("hecl_effb0_e60", variant)
        assert with_hecl == supervised and hecl["enabled"]
    assert not resolved("hecl_effb0_e60", "effb0_det_e60_pd")[1]["use_edge"]
    assert not resolved("hecl_effb0_e60", "effb0_det_e60_de")[1]["use_density"]


def test_the_camera_study_reuses_the_recipe_runs_and_changes_one_setting_per_variant():
    """camera_e60.yaml's baseline must resolve to effb0_e60_det.yaml's (the runner reuses those runs by name), and
    each variant must differ from it in its named settings alone (one each, two for the combination)."""
    baseline = study_config("camera_e60")
    assert baseline == study_config("effb0_e60_det")
    gamma, local_mean = ("augment", "gamma", 0.75), ("data", "normalize", "local_mean")
    local_mean_fov = ("data", "normalize", "local_mean_fov")
    variants = {"effb0_det_e60_gamma": [gamma],
                "effb0_det_e60_fovstd": [("data", "normalize", "fov_standardize")],
                "effb0_det_e60_tone": [("data", "tone_target", 0.385)],
                "effb0_det_e60_clahe": [("data", "normalize", "clahe")],
                "effb0_det_e60_localmean": [local_mean],
                "effb0_det_e60_localmean_gamma": [local_mean, gamma],
                "effb0_det_e60_localmeanfov": [local_mean_fov],
                "effb0_det_e60_localmeanfov_gamma": [local_mean_fov, gamma],
                "effb0_det_e60_localmeanfov_tone": [local_mean_fov, ("data", "tone_target", 0.385)]}
    for variant, settings in variants.items():
        changed = study_config("camera_e60", variant)
        for section, key, value in settings:
            assert changed[section][key] == value != baseline[section][key]
            changed[section][key] = baseline[section][key]
        assert changed == baseline, variant


@pytest.mark.parametrize("name", ["effb0_e60_det", "effb0_e60_seeds", "val_split12", "camera_e60"])
def test_studies_of_older_recipes_keep_training_what_their_runs_trained(name):
    """configs/idrid_effb0_cpu.yaml took augment.gamma in session 18, then local_mean_fov on tone-matched images in
    session 22; the runs these studies reuse by name were trained without either, so their baselines must still
    resolve to the photograph as it is and gamma 0 (or the runner's pairs mix recipes)."""
    baseline = study_config(name)
    assert baseline["augment"]["gamma"] == 0
    assert baseline["data"]["normalize"] == "none" and baseline["data"]["tone_target"] is None
