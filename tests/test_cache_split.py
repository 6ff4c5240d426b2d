import os

import numpy as np
import pytest

from hecl_keras.data import ArrayCache, PreprocessConfig, load_pair, load_splits, validation_split


def test_cache_hit_and_invalidation(tmp_path, small_dataset):
    cache = ArrayCache(tmp_path / "c")
    sample = load_splits(small_dataset)["all"][0]
    cfg = PreprocessConfig(short_side=64)
    first = load_pair(sample, cfg, cache)
    assert (cache.hits, cache.misses) == (0, 1)
    second = load_pair(sample, cfg, cache)
    assert (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(first.image, second.image)
    np.testing.assert_array_equal(first.mask, second.mask)
    assert first.transform == second.transform
    load_pair(sample, PreprocessConfig(short_side=48), cache)  # other parameters: miss
    assert cache.misses == 2
    st = os.stat(sample.image_path)
    os.utime(sample.image_path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # source changed: miss
    load_pair(sample, cfg, cache)
    assert cache.misses == 3


def test_corrupt_entry_is_a_miss(tmp_path, small_dataset):
    cache = ArrayCache(tmp_path / "c")
    sample = load_splits(small_dataset)["all"][0]
    load_pair(sample, PreprocessConfig(short_side=64), cache)
    for f in (tmp_path / "c").glob("*.npz"):
        f.write_bytes(b"garbage")
    pair = load_pair(sample, PreprocessConfig(short_side=64), cache)
    assert cache.misses == 2 and pair.image.shape[0] == 64


def test_default_cache_dir_from_env(cache_dir):
    assert ArrayCache().folder == cache_dir


def test_validation_split_deterministic_and_disjoint():
    ids = [f"IDRiD_{i:02d}" for i in range(1, 55)]
    train, val = validation_split(ids, 6, seed=0)
    assert len(val) == 6 and len(train) == 48 and not set(train) & set(val)
    assert validation_split(list(reversed(ids)), 6, seed=0) == (train, val)
    assert validation_split(ids, 6, seed=1)[1] != val
    with pytest.raises(ValueError, match="count"):
        validation_split(ids, 54)


@pytest.mark.parametrize("source", ["synthetic", "folder"])
def test_experiment_split_is_the_trainers_split_without_preprocessing(tmp_path, small_dataset, source, monkeypatch):
    """experiment_split (evaluation, run-scoring benchmarks) gives the ids and originals load_experiment_data gives
    the trainer, and preprocesses nothing."""
    from hecl_keras.config import load_config
    from hecl_keras.data import experiment
    from hecl_keras.data.experiment import experiment_split, load_experiment_data

    data_settings = (["data.source=synthetic", "data.synthetic.count=4", "data.synthetic.height=64",
                      "data.synthetic.width=80", "data.synthetic.test_count=1"] if source == "synthetic"
                     else [f"data.source={small_dataset}"])
    config = load_config(None, [*data_settings, "data.short_side=48", "data.val_count=1", "data.split_seed=3",
                                f"data.cache_dir={tmp_path / 'cache'}"])
    full = load_experiment_data(config.data, show_progress=False)
    monkeypatch.setattr(experiment, "preprocess_arrays", None)  # would fail if called
    monkeypatch.setattr(experiment, "load_pair", None)
    split = experiment_split(config.data)
    assert split.split == full.split and len(split.split["val"]) == 1
    assert sum(map(len, split.split.values())) == (5 if source == "synthetic" else 3)
    for name in ("train", "val"):
        for (a_id, a_image, a_mask), (b_id, b_image, b_mask) in zip(split.originals(name), full.originals(name),
                                                                    strict=True):
            assert a_id == b_id
            np.testing.assert_array_equal(a_image, b_image)
            np.testing.assert_array_equal(a_mask, b_mask)
