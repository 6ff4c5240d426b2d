"""An independent NumPy/SciPy implementation of METHOD.md sections 3-4, written from the text with loops.

Used only by the tests, to check hecl_keras.losses exactly.
"""

import math

import numpy as np
from scipy import ndimage

CROSS = ndimage.generate_binary_structure(2, 1)


def normalize(v):
    return v / math.sqrt(max(float(np.sum(v.astype(np.float64) ** 2)), 1e-12))


def contrastive(vectors, labels, members, tau, form):
    """vectors: list of C-vectors, labels: list, members: indices in the set M."""
    classes = {labels[i] for i in members}
    if len(classes) < 2:
        return 0.0
    z = {i: normalize(np.asarray(vectors[i], np.float64)) for i in members}
    s = {(a, b): float(z[a] @ z[b]) / tau for a in members for b in members}
    losses = []
    for a in members:
        pos = [p for p in members if p != a and labels[p] == labels[a]]
        neg = [n for n in members if labels[n] != labels[a]]
        if not pos or not neg:
            continue
        if form == "supcon":
            den = sum(math.exp(s[a, k]) for k in members if k != a)
            losses.append(-sum(math.log(math.exp(s[a, p]) / den) for p in pos) / len(pos))
        else:
            negsum = sum(math.exp(s[a, n]) for n in neg)
            losses.extend(-math.log(math.exp(s[a, p]) / (math.exp(s[a, p]) + negsum)) for p in pos)
    return float(np.mean(losses)) if losses else 0.0


def patches(features, masks, grid):
    b, h, w, _ = features.shape
    ph, pw = h // grid, w // grid
    vecs, dens = [], []
    for i in range(b):
        for r in range(grid):
            for c in range(grid):
                window = (i, slice(r * ph, (r + 1) * ph), slice(c * pw, (c + 1) * pw))
                vecs.append(features[window].reshape(-1, features.shape[-1]).mean(0))
                dens.append(float(masks[window].mean()))
    return vecs, dens


def patch_density(features, masks, grid=5, threshold=0.3, tau=0.05, sampling="extremes", k=3, form="supcon"):
    vecs, dens = patches(features, masks, grid)
    labels = [int(d >= threshold) for d in dens]
    order = range(len(dens))
    if sampling == "all":
        members = list(order)
    else:
        dense = sorted([i for i in order if labels[i] == 1], key=lambda i: -dens[i])[:k]  # sorted() is stable
        sparse = sorted([i for i in order if labels[i] == 0], key=lambda i: dens[i])[:k]
        members = dense + sparse
    return contrastive(vecs, labels, members, tau, form)


def contours(masks, grid=5, threshold=0.3, dense_it=(2, 2), sparse_it=(1, 5)):
    b, h, w, _ = masks.shape
    ph, pw = h // grid, w // grid
    inner = np.zeros(masks.shape, np.float32)
    outer = np.zeros(masks.shape, np.float32)
    for i in range(b):
        for r in range(grid):
            for c in range(grid):
                ys, xs = slice(r * ph, (r + 1) * ph), slice(c * pw, (c + 1) * pw)
                y = masks[i, ys, xs, 0] > 0.5
                fc = y.mean()
                if fc == 0 or fc == 1:
                    continue
                ke, kd = dense_it if fc >= threshold else sparse_it
                eroded = ndimage.binary_erosion(y, CROSS, iterations=ke, border_value=0)
                dilated = ndimage.binary_dilation(y, CROSS, iterations=kd)
                inner[i, ys, xs, 0] = y & ~eroded
                outer[i, ys, xs, 0] = dilated & ~y
    return inner, outer


def edge(features, masks, grid=5, threshold=0.3, tau=0.05, form="supcon"):
    inner, outer = contours(masks, grid, threshold)
    vecs, labels, members = [], [], []
    b = features.shape[0]
    for kind, region in ((1, inner), (0, outer)):
        for i in range(b):
            area = region[i].sum()
            vecs.append((features[i] * region[i]).reshape(-1, features.shape[-1]).sum(0) / max(area, 1))
            labels.append(kind)
            if area > 0:
                members.append(len(vecs) - 1)
    return contrastive(vecs, labels, members, tau, form)
