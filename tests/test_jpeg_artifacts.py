"""RandomJPEGQuality / jpeg_roundtrip: against a NumPy baseline-JPEG model written from the standard, and OpenCV."""

import cv2
import keras
import numpy as np
import pytest
import scipy.fft

from hecl_keras.data import synthetic_crops
from hecl_keras.data.jpeg_artifacts import CHROMA_TABLE, LUMA_TABLE, RandomJPEGQuality, jpeg_roundtrip

pytestmark = pytest.mark.portable


def _libjpeg_table(table, quality):
    """libjpeg's jpeg_quality_scaling + jpeg_add_quant_table (force_baseline)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((table.astype(np.int64) * scale + 50) // 100, 1, 255)


def _numpy_jpeg(image, quality):
    """Baseline JPEG 4:2:0 by hand: JFIF YCbCr, 2x2 chroma means, 8x8 orthonormal DCT per block, quantise, back.

    image: float (H, W, 3) in [0, 1], H and W multiples of 16. Returns float (H, W, 3) in [0, 1].
    """
    x = image.astype(np.float64) * 255
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    h, w = y.shape

    def subsample(p):
        return p.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    def code(plane, table):
        out = np.empty_like(plane)
        for i in range(0, plane.shape[0], 8):
            for j in range(0, plane.shape[1], 8):
                c = scipy.fft.dctn(plane[i:i + 8, j:j + 8] - 128, norm="ortho")
                c = np.round(c / table) * table
                out[i:i + 8, j:j + 8] = scipy.fft.idctn(c, norm="ortho") + 128
        return out

    luma, chroma = _libjpeg_table(LUMA_TABLE, quality), _libjpeg_table(CHROMA_TABLE, quality)
    y = code(y, luma)
    cb = np.repeat(np.repeat(code(subsample(cb), chroma), 2, 0), 2, 1) - 128
    cr = np.repeat(np.repeat(code(subsample(cr), chroma), 2, 0), 2, 1) - 128
    rgb = np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], axis=-1)
    return np.clip(np.round(rgb), 0, 255) / 255


def _opencv_jpeg(image, quality):
    ok, data = cv2.imencode(".jpg", np.round(image * 255).astype(np.uint8)[..., ::-1],
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1] / 255.0


@pytest.mark.parametrize("quality", [10, 15, 30, 60, 95])  # 15, 30: 5000 / q is not an integer
def test_matches_a_numpy_baseline_jpeg(quality):
    images, _ = synthetic_crops(2, 64, 96, seed=quality)
    images = np.round(images * 255) / 255
    ours = keras.ops.convert_to_numpy(jpeg_roundtrip(keras.ops, images, float(quality)))
    for image, out in zip(images, ours):
        reference = _numpy_jpeg(image, quality)
        # float32 vs float64 may put a coefficient on the other side of a rounding boundary: one level, rarely
        levels, reference_levels = np.round(out * 255), np.round(reference * 255)
        assert np.abs(levels - reference_levels).max() <= 1
        assert np.mean(levels != reference_levels) < 0.02  # 0 at quality <= 60, ~0.8 % at 95
        assert np.abs(out - image).mean() > 0.5 / 255  # it did compress


@pytest.mark.parametrize("height, width", [(72, 100), (5, 3), (1, 17)])
def test_other_sizes_are_coded_with_repeated_edges(height, width):
    images, _ = synthetic_crops(1, 80, 112, seed=3)
    images = np.round(images[:, :height, :width] * 255) / 255
    ours = keras.ops.convert_to_numpy(jpeg_roundtrip(keras.ops, images, 30.0))
    assert ours.shape == images.shape
    padded = np.pad(images[0], [(0, -height % 16), (0, -width % 16), (0, 0)], mode="edge")
    reference = _numpy_jpeg(padded, 30)[:height, :width]
    np.testing.assert_allclose(np.round(ours[0] * 255), np.round(reference * 255), atol=1)


@pytest.mark.parametrize("quality", [25, 90])
def test_close_to_opencv_at_any_size(quality):
    images, _ = synthetic_crops(2, 72, 100, seed=1)  # neither side a multiple of 16: edge blocks padded
    images = np.round(images * 255) / 255
    ours = keras.ops.convert_to_numpy(jpeg_roundtrip(keras.ops, images, float(quality)))
    assert ours.shape == images.shape
    for image, out in zip(images, ours):
        codec = _opencv_jpeg(image, quality)
        # libjpeg's smooth chroma upsampling and integer DCT leave ~1 grey level; the artefacts are 2-6
        assert np.abs(out - codec).mean() < 0.6 * np.abs(image - codec).mean()


def test_layer_draws_one_quality_per_image_in_range_and_is_seeded():
    image, _ = synthetic_crops(1, 64, 64, seed=2)
    batch = np.repeat(image, 12, axis=0)
    layer = RandomJPEGQuality((10, 40), seed=4)
    out = keras.ops.convert_to_numpy(layer(batch, training=True))
    again = keras.ops.convert_to_numpy(RandomJPEGQuality((10, 40), seed=4)(batch, training=True))
    np.testing.assert_array_equal(out, again)
    qualities = np.arange(10, 41, dtype=np.float32)
    candidates = keras.ops.convert_to_numpy(  # the round trip at every integer quality in [10, 40]
        jpeg_roundtrip(keras.ops, np.repeat(image, len(qualities), axis=0), qualities.reshape(-1, 1, 1, 1)))
    matches = []
    for x in out:  # each output is one of them
        errors = np.abs(candidates - x).max(axis=(1, 2, 3))
        assert errors.min() == 0
        matches.append(int(qualities[errors.argmin()]))
    assert len(set(matches)) >= 4
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(batch, training=False)), batch)


def test_layer_reloads_from_config():
    layer = RandomJPEGQuality((30, 80), seed=1)
    clone = RandomJPEGQuality.from_config(layer.get_config())
    assert clone.quality == (30.0, 80.0) and clone.seed == 1
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, RandomJPEGQuality) and restored.quality == (30.0, 80.0)


@pytest.mark.parametrize("quality", [(0, 50), (60, 40), (50, 101)])
def test_bad_quality(quality):
    with pytest.raises(ValueError, match="quality"):
        RandomJPEGQuality(quality)
