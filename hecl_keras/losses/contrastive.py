"""HECL's contrastive terms (METHOD.md sections 3-4), in keras.ops only.

All functions work under the TensorFlow and JAX backends and under XLA
(``jit_compile=True``): shapes stay static, selections are masks, not gathers.

Shapes: features (B, H, W, C) float, masks (B, H, W, 1) in {0, 1}. H and W
need not be divisible by the grid: with ``grid = n`` the patches are
``floor(H/n) x floor(W/n)`` and the last rows/columns are left out (authors' code).
"""

from __future__ import annotations

from keras import ops

from hecl_keras.losses.morphology import dilate, erode

FORMS = ("supcon", "ntxent")
SAMPLINGS = ("extremes", "all")
_NEG = -1e9  # a finite "minus infinity": masked logits never produce NaN


def _check_common(temperature, form, grid=None):
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}. Received: form={form!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0. Received: temperature={temperature}")
    if grid is not None and (int(grid) != grid or grid < 1):
        raise ValueError(f"grid must be a positive integer. Received: grid={grid}")


def l2_normalize(x, epsilon=1e-12):
    """``x / sqrt(max(sum(x**2), epsilon))`` along the last axis (an all-zero vector stays zero)."""
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), epsilon))


def supervised_contrastive_loss(embeddings, labels, temperature=0.05, form="supcon", valid=None):
    """Contrastive loss over cosine similarities of labelled vectors.

    ``form="supcon"`` (paper eq. 4, Khosla et al.): for each anchor a with a
    positive, ``-1/|P(a)| sum_p log(exp(s_ap/t) / sum_{k != a} exp(s_ak/t))``,
    averaged over those anchors. ``form="ntxent"`` (the authors' code): for each
    ordered positive pair (a, p), ``-log(e^{s_ap/t} / (e^{s_ap/t} + sum_{n in N(a)} e^{s_an/t}))``,
    averaged over pairs. Only anchors with at least one positive and one
    negative count; with none the loss is exactly 0 (never NaN).

    Args:
        embeddings: (N, C) float.
        labels: (N,) integer or float class labels.
        temperature: float > 0.
        form: ``"supcon"`` or ``"ntxent"``.
        valid: optional (N,) {0, 1}: which rows take part (others are ignored entirely).

    Returns:
        Scalar float32.
    """
    _check_common(temperature, form)
    z = l2_normalize(ops.cast(embeddings, "float32"))
    n = ops.shape(z)[0]
    labels = ops.reshape(labels, (-1,))
    v = ops.ones((n,), "float32") if valid is None else ops.cast(ops.reshape(valid, (-1,)), "float32")
    sim = ops.matmul(z, ops.transpose(z)) / temperature
    pair_valid = v[:, None] * v[None, :] * (1.0 - ops.eye(n, dtype="float32"))
    same = ops.cast(ops.equal(labels[:, None], labels[None, :]), "float32")
    positive = same * pair_valid
    negative = (1.0 - same) * pair_valid
    n_pos = ops.sum(positive, axis=1)
    n_neg = ops.sum(negative, axis=1)
    anchor = ops.cast((n_pos > 0) & (n_neg > 0), "float32") * v
    if form == "supcon":
        denominator = ops.logsumexp(ops.where(pair_valid > 0, sim, _NEG), axis=1)
        log_prob = sim - denominator[:, None]
        per_anchor = -ops.sum(positive * log_prob, axis=1) / ops.maximum(n_pos, 1.0)
        return ops.sum(anchor * per_anchor) / ops.maximum(ops.sum(anchor), 1.0)
    negatives = ops.logsumexp(ops.where(negative > 0, sim, _NEG), axis=1)
    pair_loss = ops.softplus(negatives[:, None] - sim)  # = -log(e^s_ap / (e^s_ap + sum_n e^s_an))
    pair_weight = positive * anchor[:, None]
    return ops.sum(pair_weight * pair_loss) / ops.maximum(ops.sum(pair_weight), 1.0)


def _patch_view(x, grid):
    """(B, H, W, C) -> (B, n, ph, n, pw, C) over the top-left n*ph x n*pw region."""
    b, h, w, c = ops.shape(x)
    ph, pw = h // grid, w // grid
    if ph < 1 or pw < 1:
        raise ValueError(f"Input {h}x{w} is smaller than the {grid}x{grid} patch grid.")
    x = x[:, : grid * ph, : grid * pw, :]
    return ops.reshape(x, (b, grid, ph, grid, pw, c)), ph, pw


def is_dense(lesion_pixels, patch_area, threshold):
    """``lesion_pixels / patch_area >= threshold``, decided on the integer count.

    Float32 means of e.g. 33 lesion pixels in a 10x11 patch land on either side
    of 0.3 depending on the summation order of the backend; the count does not.
    """
    return lesion_pixels >= threshold * patch_area - 1e-6


def patch_statistics(features, masks, grid=5):
    """Mean feature and lesion density of each grid patch.

    Returns:
        ``(vectors (B*n*n, C), density (B*n*n,), lesion_pixels (B*n*n,), patch_area)``
        in image, patch-row, patch-column order.
    """
    f, ph, pw = _patch_view(ops.cast(features, "float32"), grid)
    m, _, _ = _patch_view(ops.cast(masks, "float32"), grid)
    c = ops.shape(f)[-1]
    vectors = ops.reshape(ops.mean(f, axis=(2, 4)), (-1, c))
    counts = ops.reshape(ops.sum(m, axis=(2, 4, 5)), (-1,))
    area = ph * pw
    return vectors, counts / area, counts, area


def _extremes(density, dense, k):
    """{0,1} selection of the k densest dense patches and the k least dense sparse ones.

    Ties break by position (image, row, column): a stable ranking computed with
    pairwise comparisons, so every backend picks the same patches.
    """
    n = ops.shape(density)[0]
    index = ops.arange(n)
    earlier = ops.cast(index[None, :] < index[:, None], "float32")  # [i, j]: j comes before i
    d_i, d_j = density[:, None], density[None, :]
    dense_f = ops.cast(dense, "float32")
    sparse_f = 1.0 - dense_f
    ahead_dense = ops.cast(d_j > d_i, "float32") + ops.cast(ops.equal(d_j, d_i), "float32") * earlier
    ahead_sparse = ops.cast(d_j < d_i, "float32") + ops.cast(ops.equal(d_j, d_i), "float32") * earlier
    rank_dense = ops.sum(ahead_dense * dense_f[None, :], axis=1)
    rank_sparse = ops.sum(ahead_sparse * sparse_f[None, :], axis=1)
    return dense_f * ops.cast(rank_dense < k, "float32") + sparse_f * ops.cast(rank_sparse < k, "float32")


def select_patches(density, dense, sampling="extremes", k=3):
    """Which patches enter L_pd: all of them, or the k extremes of each class. Returns (N,) {0, 1} float."""
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}. Received: sampling={sampling!r}")
    if sampling == "all":
        return ops.ones(ops.shape(density), "float32")
    return _extremes(density, dense, k)


def patch_density_loss(features, masks, grid=5, threshold=0.3, temperature=0.05, sampling="extremes", k=3,
                       form="supcon"):
    """L_pd: patch-wise density contrast.

    Patches with lesion density >= ``threshold`` are dense, the others sparse.
    ``sampling="extremes"`` keeps the ``k`` densest dense and ``k`` least dense
    sparse patches of the batch (authors' code); ``"all"`` keeps every patch.

    Args:
        features: (B, H, W, C). masks: (B, H, W, 1) in {0, 1}.
        grid: int. Patches per side.
        threshold: float. Density threshold.
        temperature: float.
        sampling: ``"extremes"`` or ``"all"``.
        k: int. Patches per class with ``"extremes"``.
        form: ``"supcon"`` or ``"ntxent"``.

    Returns:
        Scalar; 0 when the batch lacks a dense or a sparse patch.
    """
    _check_common(temperature, form, grid)
    vectors, density, dense = patch_vectors(features, masks, grid, threshold)
    return patch_density_from_vectors(vectors, density, dense, temperature, sampling, k, form)


def patch_vectors(features, masks, grid=5, threshold=0.3):
    """The inputs of L_pd: ``(vectors (N, C), density (N,), dense (N,) bool)`` with N = B*grid*grid."""
    vectors, density, counts, area = patch_statistics(features, masks, grid)
    return vectors, density, is_dense(counts, area, threshold)


def patch_density_from_vectors(vectors, density, dense, temperature=0.05, sampling="extremes", k=3, form="supcon"):
    """L_pd from (possibly gathered across replicas) patch vectors; see :func:`patch_density_loss`."""
    valid = select_patches(density, dense, sampling, k)
    return supervised_contrastive_loss(vectors, ops.cast(dense, "int32"), temperature, form, valid)


def contour_masks(masks, grid=5, threshold=0.3, dense_iterations=(2, 2), sparse_iterations=(1, 5),
                  element="cross"):
    """Inner and outer contour masks, built patch by patch (METHOD.md section 4.1).

    ``inner = y - erode(y, k_e)``, ``outer = dilate(y, k_d) - y`` with
    ``(k_e, k_d) = dense_iterations`` for patches of density in [threshold, 1)
    and ``sparse_iterations`` for densities in (0, threshold); patches with
    density 0 or 1 have no contour. Morphology stays inside each patch
    (dilation does not cross its border; erosion treats outside as background).
    Pixels outside the grid are 0.

    Args:
        masks: (B, H, W, 1) in {0, 1}.

    Returns:
        ``(inner, outer)``, each (B, H, W, 1) float32 in {0, 1}.
    """
    masks = ops.cast(masks, "float32")
    b, h, w, _ = ops.shape(masks)
    view, ph, pw = _patch_view(masks, grid)
    patches = ops.reshape(ops.transpose(view, (0, 1, 3, 2, 4, 5)), (-1, ph, pw, 1))  # (B*n*n, ph, pw, 1)
    counts = ops.sum(patches, axis=(1, 2, 3))[:, None, None, None]
    area = ph * pw
    dense = is_dense(counts, area, threshold)
    dense_edge = ops.cast(dense & (counts < area), "float32")
    sparse_edge = ops.cast(~dense & (counts > 0), "float32")
    inner = dense_edge * (patches - erode(patches, dense_iterations[0], element))
    inner += sparse_edge * (patches - erode(patches, sparse_iterations[0], element))
    outer = dense_edge * (dilate(patches, dense_iterations[1], element) - patches)
    outer += sparse_edge * (dilate(patches, sparse_iterations[1], element) - patches)

    def untile(p):
        p = ops.transpose(ops.reshape(p, (b, grid, grid, ph, pw, 1)), (0, 1, 3, 2, 4, 5))
        p = ops.reshape(p, (b, grid * ph, grid * pw, 1))
        return ops.pad(p, ((0, 0), (0, h - grid * ph), (0, w - grid * pw), (0, 0)))

    return untile(inner), untile(outer)


def edge_contrast_loss(features, masks, grid=5, threshold=0.3, temperature=0.05, form="supcon",
                       dense_iterations=(2, 2), sparse_iterations=(1, 5), element="cross"):
    """L_de: discriminative edge inspection.

    Per image, the mean feature over its inner contour (edge vector) and over
    its outer contour (background vector); the 2B vectors are contrasted by
    type across the batch. An image with an empty inner (outer) contour
    contributes no edge (background) vector.

    Args:
        features: (B, H, W, C). masks: (B, H, W, 1) in {0, 1}.
        Others: as in :func:`contour_masks` and :func:`supervised_contrastive_loss`.

    Returns:
        Scalar; 0 when the batch lacks an edge or a background vector.
    """
    _check_common(temperature, form, grid)
    vectors, labels, valid = edge_vectors(features, masks, grid, threshold, dense_iterations, sparse_iterations,
                                          element)
    return supervised_contrastive_loss(vectors, labels, temperature, form, valid)


def edge_vectors(features, masks, grid=5, threshold=0.3, dense_iterations=(2, 2), sparse_iterations=(1, 5),
                 element="cross"):
    """The inputs of L_de: ``(vectors (2B, C), labels (2B,) 1=edge 0=background, valid (2B,) bool)``."""
    features = ops.cast(features, "float32")
    inner, outer = contour_masks(masks, grid, threshold, dense_iterations, sparse_iterations, element)

    def region_mean(region):
        total = ops.sum(region, axis=(1, 2))  # (B, 1)
        return ops.sum(features * region, axis=(1, 2)) / ops.maximum(total, 1.0), total[:, 0] > 0

    edge, edge_valid = region_mean(inner)
    back, back_valid = region_mean(outer)
    b = ops.shape(features)[0]
    vectors = ops.concatenate([edge, back], axis=0)
    labels = ops.concatenate([ops.ones((b,), "int32"), ops.zeros((b,), "int32")], axis=0)
    valid = ops.concatenate([edge_valid, back_valid], axis=0)
    return vectors, labels, valid
