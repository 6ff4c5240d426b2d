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
