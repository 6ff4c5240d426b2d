"""``hecl predict``: full-resolution prediction of image files, with outputs a person can look at.

Per image: ``<stem>_mask.png`` (binary, original size), ``<stem>_prob.png``
(probability x 255, lossless, original size: for programs), ``<stem>_overlay.jpg``
(lesion outlines on the full-size fundus) and ``<stem>_overview.jpg`` (for people:
a screen-size picture, outlines | probability colour map, named, with keys).
For the run: ``summary.csv`` and ``summary.json`` with the image-level answer
(``exudates_present`` yes/no and the ``exudate_score``: the largest predicted
lesion in working-scale pixels; :mod:`hecl_keras.inference.image_level`), a
``warning`` for an image whose field of view is missing or tiny, the exudate
fraction of the field of view, the number of connected lesions (after removing
``removed_blobs`` below the model's minimum lesion size, which the mask and
overlay omit too), the largest lesion's area and the seconds spent per stage.
"""

from __future__ import annotations

import csv
import json
import time
import warnings
from pathlib import Path

import numpy as np

from hecl_keras.data.errors import DataError
from hecl_keras.data.geometry import fov_mask, fov_warning
from hecl_keras.data.io import IMAGE_EXTENSIONS, read_image, write_image
from hecl_keras.inference.image_level import image_answer
from hecl_keras.visualize import outline_overlay, prediction_overview

MIN_SIDE = 64
STAGES = ("decode", "preprocess", "model", "postprocess", "write")


def find_inputs(inputs):
    """Expands files and folders (non-recursive) into a sorted list of image paths.

    Returns:
        ``(paths, problems)``: problems (``{"file", "error"}``) name inputs that do not exist or folders with
        no image.
    """
    paths, problems = [], []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                kinds = ", ".join(IMAGE_EXTENSIONS)
                problems.append({"file": str(p), "error": f"{p}: no images ({kinds}) in this folder"})
            paths.extend(found)
        elif p.is_file():
            paths.append(p)
        else:
            problems.append({"file": str(p), "error": f"{p}: no such file or folder"})
    return paths, problems


def lesion_summary(mask, fov, areas):
    """Exudate fraction of the FOV, connected lesions and the largest lesion's area in pixels.

    Args:
        mask: (H, W) bool, the cleaned mask.
        fov: (H, W) bool field of view.
        areas: (lesions,) int. The mask's 8-connected components' areas in pixels
            (``image_answer(...)["lesion_areas"]``: the components are labelled once per image).
    """
    fov_pixels = int(fov.sum())
    return {
        "exudate_fraction_of_fov": float(np.count_nonzero(mask & fov) / fov_pixels) if fov_pixels else 0.0,
        "lesions": int(len(areas)),
        "largest_lesion_pixels": int(max(areas)) if len(areas) else 0,
        "exudate_pixels": int(mask.sum()),
    }


def predict_files(predictor, paths, out_dir, threshold=0.5, progress=None, problems=()):
    """Runs ``predictor`` over image files and writes the outputs.

    ``summary.csv`` gets one row per input (``status`` ``ok`` or ``failed``, and
    the ``error``), ``summary.json`` the predicted images and the failures; both
    are written even when every input failed.

    Args:
        predictor: :class:`~hecl_keras.inference.Predictor`.
        paths: list of image paths.
        out_dir: output folder.
        threshold: probability threshold of the binary mask.
        progress: callable(done, total, name) or None.
        problems: ``{"file", "error"}`` of inputs that failed before prediction (e.g. a missing path).

    Returns:
        ``(rows, failures)``: one dict per predicted image, and ``{"file", "error"}`` per failure.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, failures = [], list(problems)
    for n, path in enumerate(paths, 1):
        times = {}
        try:
            t = time.perf_counter()
            image = read_image(path)
            if min(image.shape[:2]) < MIN_SIDE:
                raise DataError(f"{path}: image is {image.shape[1]}x{image.shape[0]}; at least {MIN_SIDE} pixels "
                                "per side are needed")
            times["decode"] = time.perf_counter() - t
            t = time.perf_counter()
            warning = fov_warning(image, predictor.preprocess.fov_threshold)
            if warning:
                warnings.warn(f"{path}: {warning}", stacklevel=2)
            work, transform = predictor.working(image)
            times["preprocess"] = time.perf_counter() - t
            t = time.perf_counter()
            prob_work = predictor.predict_working(work)
            times["model"] = time.perf_counter() - t
            t = time.perf_counter()
            prob = transform.invert(prob_work)
            answer = image_answer(prob, threshold, predictor.min_lesion_pixels, transform.scale)
            mask = answer["mask"]  # blobs below the minimum lesion size removed
            fov = fov_mask(image, predictor.preprocess.fov_threshold)
            summary = {"exudates_present": answer["exudates_present"],
                       "exudate_score": answer["exudate_score"], **lesion_summary(mask, fov, answer["lesion_areas"]),
                       "removed_blobs": answer["removed_blobs"]}
            overlay = outline_overlay(image, mask)
            overview = prediction_overview(image, mask, prob, Path(path).name, fov=fov)
            times["postprocess"] = time.perf_counter() - t
            t = time.perf_counter()
            stem = Path(path).stem
            write_image(out_dir / f"{stem}_mask.png", mask.astype(np.uint8) * 255)
            write_image(out_dir / f"{stem}_prob.png", np.round(prob * 255).astype(np.uint8))
            write_image(out_dir / f"{stem}_overlay.jpg", overlay)
            write_image(out_dir / f"{stem}_overview.jpg", overview)
            times["write"] = time.perf_counter() - t
        except (DataError, OSError, ValueError) as exc:
            failures.append({"file": str(path), "error": str(exc)})
        else:
            rows.append({"file": str(path), "warning": warning or "", "width": image.shape[1],
                         "height": image.shape[0], **summary,
                         "seconds": sum(times.values()), **{f"seconds_{k}": times[k] for k in STAGES}})
        if progress is not None:
            progress(n, len(paths), Path(path).name)
    table = [{"status": "ok", "error": "", **r} for r in rows] + [
        {"file": f["file"], "status": "failed", "error": f["error"]} for f in failures]
    columns = ["file", "status", "error"] + [k for k in (rows[0] if rows else {}) if k != "file"]
    with open(out_dir / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(table)
    (out_dir / "summary.json").write_text(json.dumps({"images": rows, "failures": failures}, indent=2))
    return rows, failures
