"""Pictures for people: keys, names, colour maps and the screen-size overview."""

import numpy as np

from hecl_keras.visualize import (
    CONFUSION_KEY,
    OUTLINE_COLOR,
    colour_key,
    contact_sheet,
    prediction_overview,
    probability_colours,
)


def _has_colour(picture, rgb, tolerance=30):
    return bool((np.abs(picture.astype(int) - np.array(rgb)).max(-1) <= tolerance).any())


def test_contact_sheet_names_cells_and_adds_the_key():
    pictures = [np.full((60, 90, 3), 120, np.uint8) for _ in range(4)]
    plain = contact_sheet(pictures, columns=2, cell=90)
    keyed = contact_sheet(pictures, columns=2, cell=90, names=["IDRiD_55", "b", "c", "d"], key=CONFUSION_KEY,
                          title="threshold 0.500")
    assert plain.shape == (120, 180, 3)
    assert keyed.shape[1] == 180 and keyed.shape[0] > plain.shape[0]  # key strip added below
    assert (keyed[:120] != plain).any()  # names written on the cells
    strip = keyed[120:]
    for rgb, _ in CONFUSION_KEY:
        assert _has_colour(strip, rgb, tolerance=0)  # one swatch per key colour


def test_colour_key_has_a_swatch_per_entry():
    strip = colour_key((((255, 0, 0), "a"), ((0, 0, 255), "b")), 200)
    assert strip.shape[1] == 200 and _has_colour(strip, (255, 0, 0), 0) and _has_colour(strip, (0, 0, 255), 0)


def test_probability_colours_are_monotone_in_brightness_and_grey_outside_the_fov():
    prob = np.linspace(0, 1, 256)[None, :].repeat(4, 0)
    fov = np.ones_like(prob, bool)
    fov[0] = False
    out = probability_colours(prob, fov)
    brightness = out[1].astype(float).sum(-1)
    assert brightness[0] < 30 and brightness[-1] > 400  # black at 0, bright yellow at 1
    assert np.all(np.diff(brightness[::16]) > 0)
    assert (out[0] == 64).all()


def test_overview_keeps_tiny_lesions_visible_at_screen_size():
    image = np.full((2400, 3600, 3), 90, np.uint8)
    mask = np.zeros((2400, 3600), bool)
    mask[1200:1203, 1800:1803] = True  # a 3x3-pixel exudate: under one pixel at 1/3 scale
    prob = mask.astype(np.float32)
    out = prediction_overview(image, mask, prob, "IDRiD_99.jpg", max_side=1200)
    assert out.shape[1] == 2 * 1200 and out.shape[0] > 800
    left = out[:800, :1200]
    assert _has_colour(left[350:450, 550:650], OUTLINE_COLOR, 40)  # the outline survives downscaling
