"""A health report of a dataset folder: counts, sizes, lesion fractions, problems."""

from __future__ import annotations

import cv2
import numpy as np

from hecl_keras.data.datasets import list_files, load_splits, split_folders
from hecl_keras.data.errors import DataError
from hecl_keras.data.geometry import fov_warning
from hecl_keras.data.io import IMAGE_EXTENSIONS, MASK_EXTENSIONS
from hecl_keras.data.normalize import central_luminance
from hecl_keras.data.preprocess import read_pair


def inspect_dataset(path, mask_suffix=None, progress=None) -> dict:
    """Reads every pair of every split and reports on them.

    Args:
        path: the dataset root (see :func:`~hecl_keras.data.datasets.load_splits`).
        mask_suffix: str or None. Mask stem suffix (None: IDRiD's ``_EX`` or ``""``).
        progress: callable(done, total, sample_id) or None.

    Returns:
        ``{"splits": {name: {"images", "masks", "pairs", "image_sizes",
        "lesion_fraction": {"min", "median", "max"}, "lesion_free", "central_luminance": {"mean", "min", "max"}}},
        "problems": [...], "warnings": [...]}``. ``central_luminance`` is the mean luminance of each photograph's
        central field of view (:func:`~hecl_keras.data.normalize.central_luminance`; ``data.tone_target`` takes
        the training split's mean).
        Each problem is a message naming the file. Nothing is skipped silently:
        a pair that cannot be read is counted out of ``pairs`` and listed.
        Warnings name readable images whose field of view is missing or tiny
        (:func:`~hecl_keras.data.geometry.fov_warning`).
    """
    folders = split_folders(path, mask_suffix)
    splits, problems = load_splits(path, mask_suffix=mask_suffix, strict=False)
    total = sum(len(s) for s in splits.values())
    done = 0
    report = {"path": str(path), "splits": {}, "problems": problems, "warnings": []}
    for name, samples in splits.items():
        sizes, fractions, luminances = {}, [], []
        for sample in samples:
            try:
                image, mask = read_pair(sample)
            except DataError as exc:
                problems.append(str(exc))
            else:
                key = f"{image.shape[1]}x{image.shape[0]}"
                sizes[key] = sizes.get(key, 0) + 1
                fractions.append(float(mask.mean()))
                warning = fov_warning(image)
                luminance = central_luminance(_about_working_scale(image))
                if luminance is not None:
                    luminances.append(luminance)
                if warning:
                    report["warnings"].append(f"{sample.image_path}: {warning}")
            done += 1
            if progress is not None:
                progress(done, total, sample.id)
        images_dir, masks_dir, _ = folders[name]
        entry = {
            "images": len(list_files(images_dir, IMAGE_EXTENSIONS)) if images_dir.is_dir() else 0,
            "masks": len(list_files(masks_dir, MASK_EXTENSIONS)) if masks_dir.is_dir() else 0,
            "pairs": len(fractions),
            "image_sizes": sizes,
            "lesion_free": int(sum(f == 0 for f in fractions)),
        }
        if fractions:
            entry["lesion_fraction"] = {
                "min": min(fractions),
                "median": float(np.median(fractions)),
                "max": max(fractions),
            }
        if luminances:
            entry["central_luminance"] = {"mean": float(np.mean(luminances)), "min": min(luminances),
                                          "max": max(luminances)}
        report["splits"][name] = entry
    return report


def _about_working_scale(image, short_side=580):
    """The photograph shrunk (area averaging) to about ``short_side``: the brightness of a working image, ~20x
    faster to measure on a 4288x2848 photograph."""
    factor = min(image.shape[:2]) // short_side
    if factor < 2:
        return image
    return cv2.resize(image, (image.shape[1] // factor, image.shape[0] // factor), interpolation=cv2.INTER_AREA)
