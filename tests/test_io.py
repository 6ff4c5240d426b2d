import numpy as np
import pytest
from PIL import Image

from hecl_keras.data import DataError, read_image, read_mask


def test_read_rgb_jpeg(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.png")
    out = read_image(tmp_path / "a.png")
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, arr)


def test_grayscale_converted_with_warning(tmp_path):
    Image.fromarray(np.full((8, 8), 100, np.uint8)).save(tmp_path / "g.png")
    with pytest.warns(UserWarning, match="converted to RGB"):
        out = read_image(tmp_path / "g.png")
    assert out.shape == (8, 8, 3) and (out == 100).all()


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_rgb_reduced_to_8_bits_with_warning(tmp_path, suffix):
    import cv2

    rgb = np.random.default_rng(0).integers(0, 65536, (8, 9, 3)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / f"c{suffix}"), rgb[..., ::-1])  # OpenCV writes BGR
    with pytest.warns(UserWarning, match="16-bit RGB image reduced to 8 bits"):
        out = read_image(tmp_path / f"c{suffix}")
    np.testing.assert_array_equal(out, (rgb // 256).astype(np.uint8))


def test_8_bit_rgb_reads_without_warning(tmp_path, recwarn):
    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(tmp_path / "p.png")
    assert (read_image(tmp_path / "p.png") == 7).all() and not recwarn.list


def test_16_bit_grayscale_refused(tmp_path):
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(tmp_path / "d.png")
    with pytest.raises(DataError, match="d.png.*16-bit"):
        read_image(tmp_path / "d.png")


def test_truncated_jpeg_names_file(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "t.jpg", quality=95)
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="t.jpg"):
        read_image(tmp_path / "t.jpg")


def test_not_an_image(tmp_path):
    (tmp_path / "x.jpg").write_text("hello")
    with pytest.raises(DataError, match="x.jpg"):
        read_image(tmp_path / "x.jpg")


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.png"):
        read_image(tmp_path / "nope.png")


def test_palette_one_bit_tiff_mask(tmp_path):
    m = np.zeros((10, 12), np.uint8)
    m[2:4, 3:7] = 1
    img = Image.fromarray(m, mode="P")
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.save(tmp_path / "m.tif")
    out = read_mask(tmp_path / "m.tif")
    assert out.dtype == bool
    np.testing.assert_array_equal(out, m > 0)


def test_rgba_mask_reads_red_channel_only(tmp_path):
    """IDRiD_81_EX.tif: lesion in red, alpha 255 everywhere."""
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[5:7, 5:9, 0] = 255
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "q.tif", compression="tiff_lzw")
    out = read_mask(tmp_path / "q.tif")
    assert out.sum() == 8 and out[5:7, 5:9].all()


def test_non_binary_mask_names_file(tmp_path):
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(tmp_path / "grey.png")
    with pytest.raises(DataError, match="grey.png.*not binary"):
        read_mask(tmp_path / "grey.png")


def test_mask_0_255_png(tmp_path):
    m = np.zeros((5, 5), np.uint8)
    m[1, 1] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png").sum() == 1
