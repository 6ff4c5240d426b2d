"""``hecl predict``'s photograph pipeline as TensorFlow ops, for the SavedModel's ``predict_image_bytes`` signature.

One photograph (H, W, 3) uint8 in, its (H, W) probability map out, the way
:class:`~hecl_keras.inference.predictor.Predictor` computes it with NumPy and OpenCV:

1. field of view (red channel, downscaled to ~256 px on the short side, [1 4 6 4 1] blur, threshold),
   its bounding box padded by 1 % (:func:`~hecl_keras.data.geometry.find_fov`), crop, area resize to the
   working scale (``data.short_side``);
2. ``data.tone_target`` (one gamma fitted on the central field of view's luminance) and ``data.normalize``
   (:mod:`hecl_keras.data.normalize`; all but ``clahe``);
3. overlapping tiles of the model's input size with Gaussian weights, the views of ``eval.tta``;
4. back to the photograph's grid (bilinear into the crop box), ``eval.fov_margin``.

Where OpenCV has no TensorFlow counterpart the graph approximates, and says so here:

* the FOV box is the bounding box of every FOV pixel, not of the largest connected region: they differ only when
  bright specks lie in the black margin;
* ``eval.fov_margin``'s distance to the FOV's rim is measured on the downscaled FOV mask and scaled up, so a
  pixel's distance can be off by about the downscale factor (about 11 px on a 4288x2848 photograph); the
  central field of view of ``data.tone_target`` is exact;
* blurs and reductions round differently in the last bit, and so, rarely, does the area resize (2e-5 of a working
  image's values off by one level on IDRiD).

``tests/test_photograph_graph.py`` measures how close each step and the whole map come to the NumPy pipeline.
"""

from __future__ import annotations

import tensorflow as tf

from hecl_keras.data.geometry import FOV_BOX_MARGIN
from hecl_keras.data.normalize import CENTRAL_REGION
from hecl_keras.data.preprocess import PreprocessConfig
from hecl_keras.inference.sliding_window import gaussian_weights
from hecl_keras.inference.tta import tta_views

GRAPH_NORMALIZATIONS = ("none", "fov_standardize", "local_mean", "local_mean_fov")


def _round_int(x):
    """Half-to-even rounding to int32, as Python's ``round`` and NumPy do."""
    return tf.cast(tf.round(x), tf.int32)


def round_half_up(x):
    """OpenCV's rounding of 8-bit fixed-point results (``floor(x + 0.5)``): ``tf.round`` rounds halves to even,
    which moved ~200 pixels of a blurred FOV mask across its threshold."""
    return tf.floor(x + 0.5)


def nearest_indices(source, target):
    """(target,) int32 source indices of OpenCV's nearest-neighbour resize: ``min(floor(i * (1 / (target /
    source))), source - 1)`` in double precision, as OpenCV computes it (``floor(i * source / target)`` differs
    where that is a whole number)."""
    i = tf.range(target, dtype=tf.float64)
    step = 1.0 / (tf.cast(target, tf.float64) / tf.cast(source, tf.float64))
    return tf.minimum(tf.cast(tf.floor(i * step), tf.int32), source - 1)


def _shrink_weights(source, target):
    """(target, source) float64: OpenCV's ``INTER_AREA`` weights along one axis when shrinking: each target pixel
    the mean of the source cells it covers (partial cells by their covered part; parts under 1e-3 dropped)."""
    source_f, target_f = tf.cast(source, tf.float64), tf.cast(target, tf.float64)
    index = tf.range(source, dtype=tf.float64)[None, :]
    scale = 1.0 / (target_f / source_f)  # as OpenCV computes it
    start = tf.range(target, dtype=tf.float64)[:, None] * scale
    overlap = tf.minimum(index + 1, tf.minimum(start + scale, source_f)) - tf.maximum(index, start)
    overlap = tf.where(overlap > 1e-3, overlap, tf.zeros_like(overlap))
    return overlap / tf.minimum(scale, source_f - start)


def _enlarge_taps(source, target):
    """OpenCV's ``INTER_AREA`` rule when enlarging, along one axis: target pixel ``d`` from source pixels
    ``s = floor(d / scale)`` and ``s + 1`` (clamped) with weights ``1 - f`` and ``f``, ``f = (d + 1) - (s + 1)
    scale`` (0 when negative, else its fractional part) in single precision, quantised to 11 fractional bits
    (uint8 images). Returns ``(low (t,) int32, high (t,) int32, low weight (t,) float64, high weight)``, the
    weights as integers (x 2048)."""
    source_f, target_f = tf.cast(source, tf.float64), tf.cast(target, tf.float64)
    d = tf.range(target, dtype=tf.float64)
    inverse = target_f / source_f
    s = tf.floor(d * (1.0 / inverse))  # as OpenCV computes it
    f = tf.cast((d + 1) - (s + 1) * inverse, tf.float32)
    f = tf.where(f <= 0, tf.zeros_like(f), f - tf.floor(f))
    low = tf.cast(tf.minimum(s, source_f - 1), tf.int32)
    high = tf.cast(tf.minimum(s + 1, source_f - 1), tf.int32)
    return low, high, tf.cast(tf.round((1.0 - f) * 2048.0), tf.float64), tf.cast(tf.round(f * 2048.0), tf.float64)


def _shrink_axis0(x, weights):
    """(h, ...) float64 -> (t, ...): ``weights`` (t, h) applied along the first axis (sparse: few per row)."""
    shape = tf.shape(x)
    y = tf.sparse.sparse_dense_matmul(tf.sparse.from_dense(weights), tf.reshape(x, (shape[0], -1)))
    return tf.reshape(y, tf.concat([tf.shape(weights)[:1], shape[1:]], 0))


def _enlarge(x, size):
    """(h, w, C) float64 of uint8 values -> (size[0], size[1], C) float64 of uint8 values: OpenCV's 8-bit
    fixed-point two-pass resize with the taps of :func:`_enlarge_taps`: integer column sums, then rows combined as
    its SIMD code does, ``((b0 >> 4) a0 >> 16) + ((b1 >> 4) a1 >> 16) + 2 >> 2`` (the exact rounding of the sum
    differs in ~7 % of values; this one matched ``cv2.resize`` everywhere tested)."""
    shape = tf.shape(x)
    low, high, a, b = _enlarge_taps(shape[1], size[1])
    columns = tf.gather(x, low, axis=1) * a[None, :, None] + tf.gather(x, high, axis=1) * b[None, :, None]
    low, high, a, b = _enlarge_taps(shape[0], size[0])

    def part(rows, weight):
        return tf.floor(tf.floor(tf.gather(columns, rows, axis=0) / 16.0) * weight[:, None, None] / 65536.0)

    return tf.floor((part(low, a) + part(high, b) + 2.0) / 4.0)


def area_resize(image, size):
    """(h, w, C) numeric -> (size[0], size[1], C) float64: ``cv2.resize(image, ..., interpolation=INTER_AREA)`` of
    a uint8 image before its rounding (:func:`round_half_up` gives OpenCV's result; shrinking IDRiD photographs
    to the working scale, 2e-5 of the values then differ by one level, against 1e-3 with ``tf.image.resize``'s
    ``area``). OpenCV shrinks by area only when neither side grows; otherwise both sides take its enlarging
    rule."""
    x = tf.cast(image, tf.float64)
    shape = tf.shape(x)
    size = tf.cast(size, tf.int32)

    def shrink():
        rows = _shrink_axis0(x, _shrink_weights(shape[0], size[0]))
        columns = _shrink_axis0(tf.transpose(rows, (1, 0, 2)), _shrink_weights(shape[1], size[1]))
        return tf.transpose(columns, (1, 0, 2))

    return tf.cond(tf.reduce_all(size <= shape[:2]), shrink, lambda: _enlarge(x, size))


def _separable(x, kernel):
    """(h, w, C) float32 convolved with the 1-D ``kernel`` ((k,) float32) along both axes, border mirrored
    without repeating the edge (OpenCV's ``BORDER_REFLECT_101``)."""
    radius = (tf.shape(kernel)[0] - 1) // 2
    channels = x.shape[-1]
    y = tf.pad(x[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    rows = tf.tile(tf.reshape(kernel, (-1, 1, 1, 1)), (1, 1, channels, 1))
    cols = tf.tile(tf.reshape(kernel, (1, -1, 1, 1)), (1, 1, channels, 1))
    y = tf.nn.depthwise_conv2d(y, rows, (1, 1, 1, 1), "VALID")
    return tf.nn.depthwise_conv2d(y, cols, (1, 1, 1, 1), "VALID")[0]


def gaussian_blur(x, sigma):
    """(h, w, C) float32 -> the same blurred as ``cv2.GaussianBlur(x, (0, 0), sigma)`` on float32 (kernel
    ``round(8 sigma + 1) | 1`` wide). ``sigma`` may be a scalar tensor."""
    sigma = tf.cast(sigma, tf.float64)
    size = tf.bitwise.bitwise_or(_round_int(sigma * 8.0 + 1.0), 1)
    r = tf.cast(tf.range(size) - size // 2, tf.float64)
    kernel = tf.exp(-(r ** 2) / (2.0 * sigma ** 2))
    return _separable(x, tf.cast(kernel / tf.reduce_sum(kernel), tf.float32))


def fov_mask_small(image, threshold):
    """(H, W, 3) uint8 -> (h, w) bool at 1/f scale, f = max(1, min(H, W) // 256)
    (:func:`hecl_keras.data.geometry.fov_mask_small`), and f."""
    shape = tf.shape(image)
    factor = tf.maximum(1, tf.minimum(shape[0], shape[1]) // 256)
    small_size = tf.maximum(1, shape[:2] // factor)
    red = tf.cast(round_half_up(area_resize(image[..., :1], small_size)), tf.float32)
    blurred = _separable(red, tf.constant([1, 4, 6, 4, 1], tf.float32) / 16.0)  # OpenCV's 5-tap kernel
    return round_half_up(blurred[..., 0]) > threshold, factor


def upsample_nearest(small, size):
    """(h, w) any dtype -> (size[0], size[1]) by OpenCV's nearest-neighbour rule."""
    shape = tf.shape(small)
    rows = nearest_indices(shape[0], size[0])
    cols = nearest_indices(shape[1], size[1])
    return tf.gather(tf.gather(small, rows, axis=0), cols, axis=1)


def fov_mask(image, threshold):
    """(H, W, 3) uint8 -> (H, W) bool field of view (:func:`hecl_keras.data.geometry.fov_mask`), with the small
    mask and its factor: ``(fov, small, factor)``."""
    small, factor = fov_mask_small(image, threshold)
    return upsample_nearest(small, tf.shape(image)[:2]), small, factor


def rim_distance(small):
    """(h, w) bool -> (h, w) float32: each True pixel's Euclidean distance (pixels) to the nearest False pixel of
    the mask, the frame's edge not counting as one (OpenCV's precise ``distanceTransform``, as
    :func:`hecl_keras.data.geometry.rim_distance_fraction` uses it); 1e9 when the mask has no False pixel.

    Exact, by brute force: the nearest False pixel always has a True 8-neighbour, so only those (the rim, ~2000
    pixels of a working image) are compared with every pixel, a row at a time (~0.5 s for a working image on
    two CPU cores; a whole photograph would take minutes, so :func:`photograph_probabilities` measures
    ``fov_margin`` on the downscaled mask).
    """
    inside = tf.cast(small, tf.float32)[None, ..., None]
    touches = tf.nn.max_pool2d(inside, 3, 1, "SAME")[0, ..., 0] > 0  # a True pixel in the 3x3 neighbourhood
    rim = tf.cast(tf.where(tf.logical_and(tf.logical_not(small), touches)), tf.float32)  # (n, 2) row, column
    columns = tf.range(tf.shape(small)[1], dtype=tf.float32)

    def row_distance(y):
        squared = tf.reduce_min((rim[None, :, 1] - columns[:, None]) ** 2 + (rim[None, :, 0] - y) ** 2, axis=1)
        return tf.sqrt(squared)

    far = tf.fill(tf.shape(small), tf.constant(1e9, tf.float32))
    distance = tf.cond(
        tf.shape(rim)[0] > 0,
        lambda: tf.map_fn(row_distance, tf.range(tf.shape(small)[0], dtype=tf.float32),
                          fn_output_signature=tf.TensorSpec((None,), tf.float32)),
        lambda: far)
    return tf.where(small, distance, 0.0)


def rim_distance_fraction(fov, small=None, factor=None):
    """(H, W) float32: distance to the FOV's rim as a fraction of its radius (half its width), 0 outside it
    (:func:`hecl_keras.data.geometry.rim_distance_fraction`). ``fov`` (H, W) bool is not empty. With ``small``
    and ``factor`` (:func:`fov_mask`) the distance is measured on the downscaled mask and scaled up (off by up to
    about ``factor`` pixels; for whole photographs), else exactly."""
    columns = tf.where(tf.reduce_any(fov, axis=0))[:, 0]
    radius = tf.cast(columns[-1] - columns[0] + 1, tf.float32) / 2.0
    if small is None:
        distance = rim_distance(fov)
    else:
        distance = upsample_nearest(rim_distance(small), tf.shape(fov)) * tf.cast(factor, tf.float32)
    return tf.where(fov, distance / radius, 0.0)


def match_tone(image, target, fov):
    """(h, w, 3) uint8 -> the same raised to the gamma that brings the central FOV's mean luminance to ``target``
    (:func:`hecl_keras.data.normalize.match_tone`); ``fov`` (h, w) bool is not empty."""
    central = rim_distance_fraction(fov) >= CENTRAL_REGION
    central = tf.cond(tf.reduce_any(central), lambda: central, lambda: fov)
    pixels = tf.boolean_mask(image, central)  # row-major, as NumPy's boolean indexing
    luminance = tf.reduce_mean(tf.cast(pixels, tf.float64), axis=1) / 255.0
    step = tf.maximum(1, tf.shape(luminance)[0] // 20000)
    values = tf.clip_by_value(luminance[::step], 1 / 255.0, 1.0)
    low, high = tf.constant(-4.0, tf.float64), tf.constant(4.0, tf.float64)
    for _ in range(40):  # the same bisection as NumPy's: log2 of the gamma in [-4, 4]
        middle = (low + high) / 2
        above = tf.reduce_mean(values ** (2.0 ** middle)) > target
        low, high = tf.where(above, middle, low), tf.where(above, high, middle)
    gamma = 2.0 ** ((low + high) / 2)
    table = tf.cast(tf.round(255.0 * (tf.range(256, dtype=tf.float64) / 255.0) ** gamma), tf.uint8)
    return tf.where(fov[..., None], tf.gather(table, tf.cast(image, tf.int32)), image)


def normalize_colour(image, method="none", fov_threshold=20, tone_target=None):
    """(h, w, 3) uint8 working image -> (h, w, 3) uint8: :func:`hecl_keras.data.normalize.normalize_colour` in
    TensorFlow (every method but ``clahe``)."""
    if method not in GRAPH_NORMALIZATIONS:
        raise ValueError(f"normalize {method!r} has no TensorFlow version here; the graph supports "
                         f"{GRAPH_NORMALIZATIONS}")
    if tone_target is None and method == "none":
        return image
    fov = fov_mask(image, fov_threshold)[0]

    def normalized():
        toned = match_tone(image, tone_target, fov) if tone_target is not None else image
        if method == "none":
            return toned
        x = tf.cast(toned, tf.float32)
        if method == "fov_standardize":
            pixels = tf.boolean_mask(x, fov)
            mean = tf.reduce_mean(pixels, axis=0)
            std = tf.math.reduce_std(pixels, axis=0) + 1e-3
            out = 128.0 + 32.0 * (x - mean) / std
        else:
            sigma = tf.cast(tf.reduce_min(tf.shape(image)[:2]), tf.float64) / 30.0
            if method == "local_mean":
                mean = gaussian_blur(x, sigma)
            else:  # local_mean_fov: the mean over lit pixels only
                lit = tf.cast(tf.logical_and(fov, toned[..., 0] > fov_threshold), tf.float32)[..., None]
                weight = gaussian_blur(lit, sigma)
                mean = gaussian_blur(x * lit, sigma) / tf.maximum(weight, 1e-6)
            out = 4.0 * (x - mean) + 128.0
        out = tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8)
        return tf.where(fov[..., None], out, tf.zeros_like(out))

    return tf.cond(tf.reduce_any(fov), normalized, lambda: image)


def fov_box(image, threshold, margin=FOV_BOX_MARGIN):
    """(H, W, 3) uint8 -> int32 (4,) ``(top, bottom, left, right)``: the FOV's bounding box padded by ``margin``
    of the size, the whole image without a field of view (:func:`hecl_keras.data.geometry.find_fov`, every FOV
    pixel instead of the largest region)."""
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    small, _ = fov_mask_small(image, threshold)
    small_shape = tf.cast(tf.shape(small), tf.float64)
    sy, sx = tf.cast(h, tf.float64) / small_shape[0], tf.cast(w, tf.float64) / small_shape[1]
    rows = tf.cast(tf.where(tf.reduce_any(small, axis=1))[:, 0], tf.float64)
    cols = tf.cast(tf.where(tf.reduce_any(small, axis=0))[:, 0], tf.float64)
    pad_y, pad_x = _round_int(margin * tf.cast(h, tf.float64)), _round_int(margin * tf.cast(w, tf.float64))

    def box():
        top = tf.maximum(0, tf.cast(tf.floor(rows[0] * sy), tf.int32) - pad_y)
        bottom = tf.minimum(h, tf.cast(tf.math.ceil((rows[-1] + 1) * sy), tf.int32) + pad_y)
        left = tf.maximum(0, tf.cast(tf.floor(cols[0] * sx), tf.int32) - pad_x)
        right = tf.minimum(w, tf.cast(tf.math.ceil((cols[-1] + 1) * sx), tf.int32) + pad_x)
        return tf.stack([top, bottom, left, right])

    return tf.cond(tf.size(rows) > 0, box, lambda: tf.stack([0, h, 0, w]))


def working_image(image, preprocess: PreprocessConfig):
    """(H, W, 3) uint8 photograph -> ``(working image (h, w, 3) uint8, box (4,) int32)``
    (:meth:`hecl_keras.inference.predictor.Predictor.working`)."""
    shape = tf.shape(image)
    box = fov_box(image, preprocess.fov_threshold) if preprocess.fov_crop else tf.stack([0, shape[0], 0, shape[1]])
    crop = image[box[0]:box[1], box[2]:box[3]]
    crop_size = tf.shape(crop)[:2]
    if preprocess.short_side is None:
        size = crop_size
    else:
        s = preprocess.short_side / tf.cast(tf.reduce_min(crop_size), tf.float64)
        size = tf.maximum(1, _round_int(tf.cast(crop_size, tf.float64) * s))
    resized = tf.cond(tf.reduce_all(tf.equal(size, crop_size)), lambda: crop,
                      lambda: tf.cast(tf.clip_by_value(round_half_up(area_resize(crop, size)), 0, 255), tf.uint8))
    working = normalize_colour(resized, preprocess.normalize, preprocess.fov_threshold, preprocess.tone_target)
    return working, box


def tile_starts(length, tile, overlap):
    """int32 (n,) tile offsets along one axis (:func:`hecl_keras.inference.sliding_window.tile_starts`)."""
    stride = max(1, int(round(tile * (1.0 - overlap))))
    extra = tf.maximum(length - tile, 0)
    count = (extra + stride - 1) // stride + 1  # ceil((length - tile) / stride) + 1; 1 when the tile covers it
    positions = tf.linspace(tf.constant(0.0, tf.float64), tf.cast(extra, tf.float64), count)
    return _round_int(positions)


def _views(tiles, probabilities_fn, tta):
    """(n, th, tw, 3) -> (n, th, tw) mean probability over the views of ``tta``
    (:func:`hecl_keras.inference.tta.predict_views`)."""
    total = 0.0
    views = tta_views(tta)
    for transpose, rows, cols in views:
        x = tf.transpose(tiles, (0, 2, 1, 3)) if transpose else tiles
        x = tf.reverse(x, [1]) if rows else x
        x = tf.reverse(x, [2]) if cols else x
        p = probabilities_fn(x)[..., 0]
        p = tf.reverse(p, [2]) if cols else p
        p = tf.reverse(p, [1]) if rows else p
        total += tf.transpose(p, (0, 2, 1)) if transpose else p
    return total / len(views)


def predict_tiled(probabilities_fn, working, tile_size, overlap=0.25, tta="none"):
    """(h, w, 3) uint8 working image -> (h, w) float32 probabilities
    (:func:`hecl_keras.inference.sliding_window.predict_tiled`).

    ``probabilities_fn``: float32 (n, th, tw, 3) in [0, 1] -> (n, th, tw, 1); ``tile_size``: (th, tw) ints."""
    th, tw = (int(s) for s in tile_size)
    if tta == "d4" and th != tw:
        raise ValueError(f"tta 'd4' needs square tiles. Received: tile_size={tile_size}")
    x = tf.cast(working, tf.float32) / 255.0
    h, w = tf.shape(x)[0], tf.shape(x)[1]
    ph, pw = tf.maximum(h, th), tf.maximum(w, tw)
    x = tf.pad(x, [[0, ph - h], [0, pw - w], [0, 0]])
    ys, xs = tile_starts(ph, th, overlap), tile_starts(pw, tw, overlap)
    grid = tf.reshape(tf.stack(tf.meshgrid(ys, xs, indexing="ij"), axis=-1), (-1, 2))  # (n, 2) row-major
    tiles = tf.map_fn(lambda yx: x[yx[0]:yx[0] + th, yx[1]:yx[1] + tw], grid,
                      fn_output_signature=tf.TensorSpec((th, tw, 3), tf.float32))
    weights = tf.constant(gaussian_weights(th, tw))
    weighted = _views(tiles, probabilities_fn, tta) * weights

    def place(args):
        tile, yx = args
        return tf.pad(tile, [[yx[0], ph - th - yx[0]], [yx[1], pw - tw - yx[1]]])

    acc = tf.reduce_sum(tf.map_fn(place, (weighted, grid), fn_output_signature=tf.float32), axis=0)
    norm = tf.reduce_sum(tf.map_fn(place, (tf.broadcast_to(weights, tf.shape(weighted)), grid),
                                   fn_output_signature=tf.float32), axis=0)
    return (acc / norm)[:h, :w]


def photograph_probabilities(probabilities_fn, image, tile_size, preprocess=PreprocessConfig(), overlap=0.25,
                             tta="none", fov_margin=0.0):
    """(H, W, 3) uint8 photograph -> (H, W) float32 probabilities, 0 outside the FOV box
    (:meth:`hecl_keras.inference.predictor.Predictor.__call__` as TensorFlow ops)."""
    working, box = working_image(image, preprocess)
    prob = predict_tiled(probabilities_fn, working, tile_size, overlap, tta)
    crop_size = tf.stack([box[1] - box[0], box[3] - box[2]])
    prob = tf.cond(tf.reduce_all(tf.equal(tf.shape(prob), crop_size)), lambda: prob,
                   lambda: tf.image.resize(prob[..., None], crop_size, method="bilinear")[..., 0])
    shape = tf.shape(image)
    prob = tf.pad(prob, [[box[0], shape[0] - box[1]], [box[2], shape[1] - box[3]]])
    if fov_margin > 0:
        fov, small, factor = fov_mask(image, preprocess.fov_threshold)
        keep = tf.cond(tf.reduce_any(fov),
                       lambda: tf.logical_and(fov, rim_distance_fraction(fov, small, factor) >= fov_margin),
                       lambda: tf.ones_like(fov))
        prob = tf.where(keep, prob, 0.0)
    return prob

