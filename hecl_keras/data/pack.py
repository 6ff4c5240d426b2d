"""A compact, self-contained copy of an experiment's data for machines without the dataset or TensorFlow.

``hecl data pack CONFIG --out FILE.npz`` writes one ``.npz`` holding:

* the training and validation pairs at working scale (the same arrays the
  trainer gets from :func:`~hecl_keras.training.data.load_experiment_data`);
* for every test image: the working-scale image, its :class:`CropResize`, the
  mask at the photograph's original resolution (so the standard protocol is
  scored exactly as ``hecl evaluate`` scores it), and the paper protocol's
  512x512 image and mask (:func:`~hecl_keras.data.geometry.paper_geometry`).

Images are stored as lossless WebP (decoded bit-exactly), masks as packed bits.
IDRiD at the authors' scale (short side 580) packs into about 35 MB. The file
is derived from the dataset: keep it out of version control like any cache.

Reading needs NumPy and OpenCV only (no TensorFlow): :func:`load_pack`.
"""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np

from hecl_keras.data.cache import save_npz_atomic
from hecl_keras.data.errors import DataError
from hecl_keras.data.geometry import CropResize, paper_geometry
from hecl_keras.data.preprocess import Pair, preprocess_arrays, preprocess_config

FORMAT = "hecl-pack/1"


@dataclasses.dataclass
class PackedTestImage:
    """One test photograph, ready for both protocols without its original file.

    Attributes:
        id: str.
        image: (h, w, 3) uint8, working scale (what the sliding window sees).
        transform: :class:`CropResize` from the original photograph to ``image``.
        mask: (H, W) bool at the original resolution.
        paper_image: (512, 512, 3) uint8, the paper protocol's geometry.
        paper_mask: (512, 512) bool.
    """

    id: str
    image: np.ndarray
    transform: CropResize
    mask: np.ndarray
    paper_image: np.ndarray
    paper_mask: np.ndarray


@dataclasses.dataclass
class PackedData:
    """What :func:`load_pack` returns.

    Attributes:
        train, val: lists of :class:`Pair` (working scale).
        test: list of :class:`PackedTestImage`.
        split: ``{"train": [ids], "val": [ids], "test": [ids]}``.
        meta: dict: format, source, preprocessing, split seed, sizes.
    """

    train: list
    val: list
    test: list
    split: dict
    meta: dict


def _encode_image(image):
    ok, data = cv2.imencode(".webp", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_WEBP_QUALITY, 101])
    if not ok:
        raise RuntimeError("OpenCV could not encode WebP (built without libwebp?).")
    return data.reshape(-1)


def _decode_image(data, shape):
    bgr = cv2.imdecode(np.asarray(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape != tuple(shape):
        raise ValueError(f"Corrupt pack entry: expected an image of shape {tuple(shape)}.")
    return np.ascontiguousarray(bgr[..., ::-1])


def _pack_mask(mask):
    return np.packbits(np.asarray(mask, bool).reshape(-1))


def _unpack_mask(bits, shape):
    return np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape).astype(bool)


def pack_experiment(config, out_path, progress=None) -> dict:
    """Writes the pack of ``config.data`` (train/val at working scale, test for both protocols).

    Args:
        config: ExperimentConfig (its ``data`` section is used).
        out_path: destination ``.npz``; written atomically.
        progress: callable(done, total, id) or None.

    Returns:
        The pack's metadata dict (also stored in the file).

    Raises:
        DataError: ``data.tone_at: inference`` with a ``data.tone_target`` (training and inference would need
            different working images).
    """
    from hecl_keras.data.experiment import load_experiment_data

    if config.data.tone_target is not None and config.data.tone_at == "inference":
        raise DataError("a data pack holds one working image per photograph, but data.tone_at: inference needs "
                        "two (without the tone match for training and validation, with it for inference); pack "
                        "with data.tone_at: all or data.tone_target: null")
    data = load_experiment_data(config.data, show_progress=progress is not None)
    pre = preprocess_config(config.data)
    arrays, entries = {}, {"train": [], "val": [], "test": []}
    total = len(data.train) + len(data.val) + len(data.split.get("test", []))
    done = 0
    for split, pairs in (("train", data.train), ("val", data.val)):
        for p in pairs:
            arrays[f"{split}/{p.id}/image"] = _encode_image(p.image)
            arrays[f"{split}/{p.id}/mask"] = _pack_mask(p.mask)
            entries[split].append({"id": p.id, "shape": list(p.image.shape),
                                   "transform": p.transform.to_dict()})
            done += 1
            if progress:
                progress(done, total, p.id)
    for sample_id, image, mask in data.originals("test"):
        work, _, t = preprocess_arrays(image, mask, pre)
        paper_image, paper_mask = paper_geometry(image, mask)
        arrays[f"test/{sample_id}/image"] = _encode_image(work)
        arrays[f"test/{sample_id}/mask"] = _pack_mask(mask)
        arrays[f"test/{sample_id}/paper_image"] = _encode_image(paper_image)
        arrays[f"test/{sample_id}/paper_mask"] = _pack_mask(paper_mask)
        entries["test"].append({"id": sample_id, "shape": list(work.shape), "mask_shape": list(mask.shape),
                                "paper_size": int(paper_image.shape[0]), "transform": t.to_dict()})
        done += 1
        if progress:
            progress(done, total, sample_id)
    meta = {"format": FORMAT, "source": str(config.data.source), "preprocess": dataclasses.asdict(pre),
            "val_count": config.data.val_count, "split_seed": config.data.split_seed, "entries": entries}
    arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    save_npz_atomic(out_path, arrays, compress=True)  # deflate: packed full-resolution masks shrink ~100x
    return meta


def load_pack(path) -> PackedData:
    """Reads a file written by :func:`pack_experiment`.

    Raises:
        ValueError: not a hecl pack, or a corrupt entry.
    """
    with np.load(path, allow_pickle=False) as z:
        if "meta.json" not in z.files:
            raise ValueError(f"{path} is not a hecl data pack (no meta.json entry); make one with `hecl data pack`.")
        meta = json.loads(z["meta.json"].tobytes().decode())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: unsupported pack format {meta.get('format')!r} (this version reads {FORMAT}).")
        e = meta["entries"]
        train, val = ([Pair(d["id"], _decode_image(z[f"{s}/{d['id']}/image"], d["shape"]),
                            _unpack_mask(z[f"{s}/{d['id']}/mask"], d["shape"][:2]),
                            CropResize.from_dict(d["transform"]))
                       for d in e[s]] for s in ("train", "val"))
        test = []
        for d in e["test"]:
            k, side = f"test/{d['id']}", d["paper_size"]
            test.append(PackedTestImage(
                d["id"], _decode_image(z[f"{k}/image"], d["shape"]), CropResize.from_dict(d["transform"]),
                _unpack_mask(z[f"{k}/mask"], d["mask_shape"]),
                _decode_image(z[f"{k}/paper_image"], (side, side, 3)),
                _unpack_mask(z[f"{k}/paper_mask"], (side, side))))
    split = {s: [d["id"] for d in e[s]] for s in ("train", "val", "test")}
    return PackedData(train, val, test, split, meta)
