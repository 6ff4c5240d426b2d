"""Finding image/mask pairs on disk: IDRiD's official layout and generic folders.

A dataset is a mapping ``split name -> list[Sample]``. Nothing is decoded
here; see :mod:`hecl_keras.data.io` for that.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hecl_keras.data.errors import DataError
from hecl_keras.data.io import IMAGE_EXTENSIONS, MASK_EXTENSIONS

IDRID_SEGMENTATION = "A. Segmentation"
IDRID_IMAGES = {"train": "1. Original Images/a. Training Set", "test": "1. Original Images/b. Testing Set"}
IDRID_MASKS = {
    "train": "2. All Segmentation Groundtruths/a. Training Set/3. Hard Exudates",
    "test": "2. All Segmentation Groundtruths/b. Testing Set/3. Hard Exudates",
}


@dataclasses.dataclass(frozen=True)
class Sample:
    """One image and its mask.

    Attributes:
        id: str. The image's file stem, e.g. ``"IDRiD_01"``.
        image_path: Path. The photograph.
        mask_path: Path. Its binary lesion mask.
    """

    id: str
    image_path: Path
    mask_path: Path


def list_files(folder: Path, extensions) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions)


def paired_folder(images_dir, masks_dir, mask_suffix: str = "", strict: bool = True):
    """Pairs images and masks by file stem.

    ``images_dir/NAME.jpg`` pairs with ``masks_dir/NAME{mask_suffix}.{tif,png,...}``.

    Args:
        images_dir: folder of images.
        masks_dir: folder of masks.
        mask_suffix: str. Appended to the image stem to form the mask stem,
            e.g. ``"_EX"`` for IDRiD. Defaults to ``""``.
        strict: bool. If True, any problem raises :class:`DataError`;
            otherwise problems are returned. Defaults to True.

    Returns:
        ``samples`` (list of :class:`Sample`, sorted by id) when strict, else
        ``(samples, problems)`` where problems is a list of messages.
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    problems: list[str] = []
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise DataError(f"Folder not found: {folder}")
    images = list_files(images_dir, IMAGE_EXTENSIONS)
    if not images:
        raise DataError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) in folder: {images_dir}")
    masks = {}
    for m in list_files(masks_dir, MASK_EXTENSIONS):
        if m.stem in masks:
            problems.append(f"Two masks with the same name: {masks[m.stem]} and {m}")
        masks[m.stem] = m
    samples, used = [], set()
    for img in images:
        key = img.stem + mask_suffix
        if key not in masks:
            problems.append(f"Missing mask for {img}: expected {masks_dir / key}.<tif|png|...>")
            continue
        used.add(key)
        samples.append(Sample(img.stem, img, masks[key]))
    for key in sorted(set(masks) - used):
        problems.append(f"Mask without an image: {masks[key]}")
    if strict:
        if problems:
            raise DataError("; ".join(problems))
        return samples
    return samples, problems


def find_idrid_root(path) -> Path | None:
    """Returns the ``A. Segmentation`` folder of an IDRiD release, or None."""
    path = Path(path)
    for candidate in (path, path / IDRID_SEGMENTATION):
        if (candidate / IDRID_IMAGES["train"]).is_dir():
            return candidate
    return None


def split_folders(path, mask_suffix: str | None = None) -> dict:
    """Finds the split folders of a dataset root.

    Understands three layouts:

    * IDRiD's official release (``path`` or ``path/A. Segmentation``): splits
      ``train`` and ``test``, masks ``*_EX.tif`` (hard exudates).
    * ``path/images`` + ``path/masks``: one split, ``all``.
    * ``path/<split>/images`` + ``path/<split>/masks`` for every split folder.

    Returns:
        dict split -> (images_dir, masks_dir, mask_suffix).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"Dataset folder not found: {path}")
    if not path.is_dir():
        raise DataError(f"{path} is a file: give the dataset folder (the IDRiD release root, or a folder with "
                        "images/ and masks/ or split folders holding both)")
    idrid = find_idrid_root(path)
    if idrid is not None:
        return {
            s: (idrid / IDRID_IMAGES[s], idrid / IDRID_MASKS[s], "_EX" if mask_suffix is None else mask_suffix)
            for s in ("train", "test")
        }
    if (path / "images").is_dir():
        return {"all": (path / "images", path / "masks", mask_suffix or "")}
    layout = {
        d.name: (d / "images", d / "masks", mask_suffix or "")
        for d in sorted(path.iterdir())
        if d.is_dir() and (d / "images").is_dir()
    }
    if not layout:
        raise DataError(
            f"{path}: no dataset found. Expected the IDRiD release layout, "
            "'images/' + 'masks/' folders, or split folders each holding them."
        )
    return layout


def load_splits(path, mask_suffix: str | None = None, strict: bool = True):
    """Finds the splits of a dataset folder.

    Args:
        path: str or Path. The dataset root (layouts: :func:`split_folders`).
        mask_suffix: str or None. Mask stem suffix; None means ``"_EX"`` for
            IDRiD and ``""`` otherwise.
        strict: bool. Raise on the first problem (True) or collect them.

    Returns:
        dict split -> list[Sample] when strict, else ``(splits, problems)``.
    """
    layout = split_folders(path, mask_suffix)
    splits, problems = {}, []
    for split, (images_dir, masks_dir, suffix) in layout.items():
        try:
            found, probs = paired_folder(images_dir, masks_dir, suffix, strict=False)
        except DataError as exc:
            if strict:
                raise
            found, probs = [], [str(exc)]
        if strict and probs:
            raise DataError("; ".join(probs))
        splits[split] = found
        problems.extend(probs)
    return splits if strict else (splits, problems)


def training_split_name(splits) -> str:
    """The split of :func:`load_splits`' result that training (and the validation split) draws from:
    ``"train"`` when the dataset has one, else its first (a flat ``images/`` + ``masks/`` folder)."""
    return "train" if "train" in splits else next(iter(splits))
