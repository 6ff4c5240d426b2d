import numpy as np
import pytest

from hecl_keras.data import (
    AugmentConfig,
    AugmentedBatches,
    build_augmenter,
    synthetic_crops,
    synthetic_fundus,
    synthetic_pairs,
    tf_training_dataset,
    tile_pairs,
)
from hecl_keras.data.augment import augment


def test_synthetic_is_deterministic_and_varied():
    a = synthetic_fundus(96, 128, seed=5)
    b = synthetic_fundus(96, 128, seed=5)
    c = synthetic_fundus(96, 128, seed=6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_synthetic_crops_are_the_pairs_as_a_model_batch():
    images, masks = synthetic_crops(3, 48, 64, seed=4)
    assert images.shape == (3, 48, 64, 3) and masks.shape == (3, 48, 64, 1)
    assert images.dtype == masks.dtype == np.float32
    for i, (image, mask) in enumerate(synthetic_pairs(3, 48, 64, seed=4, lesion_free_prob=0.0)):
        np.testing.assert_array_equal(images[i], image / np.float32(255))
        np.testing.assert_array_equal(masks[i, ..., 0], mask)
    assert masks.reshape(3, -1).max(1).min() == 1  # every crop bears lesions


def test_synthetic_masks_are_bright_yellow_inside_fov():
    fractions = []
    for seed in range(12):
        image, mask = synthetic_fundus(256, 256, seed=seed)
        assert image.dtype == np.uint8 and mask.dtype == bool and mask.shape == (256, 256)
        fractions.append(mask.mean())
        if mask.any():
            # Exudates are brighter in green than the background they sit on.
            assert image[mask][:, 1].mean() > image[~mask & (image[..., 0] > 30)][:, 1].mean() + 40
            assert image[mask].min() > 0  # all inside the FOV
    assert min(fractions) == 0.0  # some images lesion-free
    assert 0.0005 < np.median(fractions) < 0.1
    with pytest.raises(ValueError, match="32x32"):
        synthetic_fundus(16, 16)


def _pattern_pair(size=96, seed=0):
    """An image whose red channel is 0.8 on lesions, 0.2 elsewhere; mask = red > 0.5."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size, 1), np.float32)
    for _ in range(6):
        y, x = rng.integers(8, size - 16, 2)
        mask[y:y + 10, x:x + 6] = 1.0
    image = np.repeat(0.2 + 0.6 * mask, 3, axis=-1).astype(np.float32)
    return image, mask


def test_augmentation_keeps_mask_aligned_with_image():
    image, mask = _pattern_pair()
    aug = build_augmenter(AugmentConfig(crop_size=(64, 64), brightness=(1, 1), contrast=(1, 1)), seed=1)
    mismatches = []
    for _ in range(8):
        x, y = augment(aug, image, mask)
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == (64, 64, 3) and y.shape == (64, 64, 1)
        assert set(np.unique(y)) <= {0.0, 1.0}
        mismatches.append(np.mean((x[..., 0] > 0.5) != (y[..., 0] > 0.5)))
    # Rotation interpolates both the same way: only rare rim pixels may disagree.
    assert max(mismatches) < 0.01


def test_colour_augmentation_changes_image_not_mask():
    image, mask = _pattern_pair()
    aug = build_augmenter(AugmentConfig(crop_size=(96, 96), flip=False, rotation=0), seed=3)
    x, y = augment(aug, image, mask)
    np.testing.assert_array_equal(np.asarray(y), mask)
    assert not np.allclose(np.asarray(x), image)
    assert np.asarray(x).min() >= 0 and np.asarray(x).max() <= 1


def test_brightness_scale_range():
    from hecl_keras.data import RandomBrightnessScale

    layer = RandomBrightnessScale((-0.5, 0.5), seed=0)
    x = np.full((64, 4, 4, 3), 0.5, np.float32)
    out = np.asarray(layer(x, training=True))[:, 0, 0, 0] / 0.5
    assert out.min() >= 0.5 - 1e-6 and out.max() <= 1.5 + 1e-6 and out.std() > 0.1


def test_bad_augment_config():
    with pytest.raises(ValueError, match="brightness"):
        AugmentConfig(brightness=(1.2, 1.5))


def test_tf_dataset_and_pydataset_contract():
    pairs = synthetic_pairs(5, 80, 100, seed=0)
    cfg = AugmentConfig(crop_size=(64, 64), jpeg_quality=(30, 90))  # the JPEG layer needs static crop shapes
    batches = list(tf_training_dataset(pairs, batch_size=2, augment_config=cfg, repeats=2))
    assert len(batches) == 5
    for x, y in batches:
        assert x.shape == (2, 64, 64, 3) and x.dtype.name == "float32"
        assert y.shape == (2, 64, 64, 1) and set(np.unique(y.numpy())) <= {0.0, 1.0}
    ds = AugmentedBatches(pairs, 2, cfg, repeats=2)
    assert len(ds) == 5
    x, y = ds[0]
    assert x.shape == (2, 64, 64, 3) and y.shape == (2, 64, 64, 1) and x.dtype == np.float32


def test_tiles_cover_every_pixel():
    pairs = synthetic_pairs(2, 70, 90, seed=0)
    x, y = tile_pairs(pairs, (32, 32))
    assert x.shape == (2 * 3 * 3, 32, 32, 3)
    assert y.sum() == sum(m.sum() for _, m in pairs)


CAMERA = dict(hue=0.05, saturation=0.3, gamma=0.5, blur=1.5, jpeg_quality=(20, 60))


def test_camera_augmentations_change_colour_not_geometry_and_are_seeded():
    from hecl_keras.data.augment import augment_seeded

    image, mask = _pattern_pair()
    image = image * np.array([1.0, 0.8, 0.5], np.float32)  # colour, so hue and saturation act
    plain = build_augmenter(AugmentConfig(crop_size=(96, 96), flip=False, rotation=0, brightness=(1, 1),
                                          contrast=(1, 1)), seed=3)
    camera = build_augmenter(AugmentConfig(crop_size=(96, 96), flip=False, rotation=0, brightness=(1, 1),
                                           contrast=(1, 1), **CAMERA), seed=3)
    seed = np.array([7, 11], np.int64)
    x0, y0 = (np.asarray(t) for t in augment_seeded(plain, image, mask, seed))
    x1, y1 = (np.asarray(t) for t in augment_seeded(camera, image, mask, seed))
    x2, _ = (np.asarray(t) for t in augment_seeded(camera, image, mask, seed))
    np.testing.assert_array_equal(y1, mask)  # photometric only: the mask is untouched
    np.testing.assert_allclose(x0, image, atol=1e-6)
    assert np.abs(x1 - image).mean() > 0.01 and 0 <= x1.min() and x1.max() <= 1
    np.testing.assert_array_equal(x1, x2)  # same per-crop seed, same draw


def test_random_gamma_range():
    from hecl_keras.data.augment import RandomGamma

    x = np.full((64, 2, 2, 3), 0.5, np.float32)
    out = np.asarray(RandomGamma(0.5, seed=0)(x, training=True))[:, 0, 0, 0]
    gammas = np.log(out) / np.log(0.5)
    assert gammas.min() >= 2 ** -0.5 - 1e-4 and gammas.max() <= 2 ** 0.5 + 1e-4 and gammas.std() > 0.1


def test_zoom_moves_image_and_mask_together():
    image, mask = _pattern_pair()
    aug = build_augmenter(AugmentConfig(crop_size=(96, 96), flip=False, rotation=0, brightness=(1, 1),
                                        contrast=(1, 1), zoom=0.3), seed=5)
    changed = 0
    for _ in range(6):
        x, y = (np.asarray(t) for t in augment(aug, image, mask))
        assert np.mean((x[..., 0] > 0.5) != (y[..., 0] > 0.5)) < 0.02
        changed += not np.array_equal(y, mask)
    assert changed >= 4


@pytest.mark.parametrize("field, value", [("hue", 1.5), ("gamma", -0.1), ("zoom", 0.5), ("blur", -1.0),
                                          ("jpeg_quality", (0, 50)), ("jpeg_quality", (90,))])
def test_bad_camera_augment_config(field, value):
    with pytest.raises(ValueError, match=field):
        AugmentConfig(**{field: value})


@pytest.mark.portable
def test_compiled_augmentation_draws_what_the_eager_one_draws():
    """AugmentedBatches' per-crop augmentation: under JAX the runs of traceable layers are compiled
    (RandomCrop stays eager), elsewhere nothing is; the output is augment_seeded's."""
    import keras

    from hecl_keras.data.augment import CompiledSeededAugment, augment_seeded

    pairs = synthetic_pairs(1, 80, 100, seed=2, lesion_free_prob=0.0)
    image, mask = pairs[0][0].astype(np.float32) / 255.0, pairs[0][1][..., None].astype(np.float32)
    augmenter = build_augmenter(AugmentConfig(crop_size=(48, 48), gamma=0.5, jpeg_quality=(30, 90)), seed=1)
    compiled = CompiledSeededAugment(augmenter)
    names = [augmenter.layers[i].__class__.__name__ for i in compiled.compiled_layers]
    if keras.backend.backend() == "jax":
        assert {"RandomRotation", "RandomGamma", "RandomJPEGQuality"} <= set(names) and "RandomCrop" not in names
    else:
        assert names == []
    for seed in ([3, 5], [3, 6]):
        seed = np.array(seed, np.int64)
        x, y = (np.asarray(t) for t in compiled(image, mask, seed))
        ex, ey = (np.asarray(t) for t in augment_seeded(augmenter, image, mask, seed))
        assert x.shape == (48, 48, 3) and y.shape == (48, 48, 1)
        np.testing.assert_allclose(x, ex, atol=1e-4)  # XLA fuses the arithmetic (2e-6 apart measured)
        assert np.mean(y != ey) < 0.01  # masks re-binarised at 0.5: a rounding can flip a boundary pixel
    assert not np.array_equal(np.asarray(compiled(image, mask, np.array([3, 5]))[0]),
                              np.asarray(compiled(image, mask, np.array([3, 6]))[0]))
