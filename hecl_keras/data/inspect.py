"""A health report of a dataset folder: counts, sizes, lesion fractions, problems."""

from __future__ import annotations

import numpy as np

from hecl_keras.data.datasets import list_files, load_splits, split_folders
from hecl_keras.data.errors import DataError
from hecl_keras.data.geometry import fov_warning, plan_crop_resize
from hecl_keras.data.io import IMAGE_EXTENSIONS, MASK_EXTENSIONS
from hecl_keras.data.normalize import central_luminance
from hecl_keras.data.preprocess import read_pair


def inspect_dataset(path, mask_suffix=None, progress=None, short_side=580) -> dict:
    """Reads every pair of every split and reports on them.

    Args:
        path: the dataset root (see :func:`~hecl_keras.data.datasets.load_splits`).
        mask_suffix: str or None. Mask stem suffix (None: IDRiD's ``_EX`` or ``""``).
        progress: callable(done, total, sample_id) or None.
        short_side: int or None. ``data.short_side``: the central luminance is measured on the working image
            (FOV crop, resize to ``short_side``), the image ``data.tone_target`` is applied to.

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
                luminance = central_luminance(plan_crop_resize(image, short_side=short_side).apply_image(image))
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

