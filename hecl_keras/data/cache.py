"""Disk cache of decoded, cropped and resized image/mask pairs.

A 12-megapixel JPEG takes ~0.1-0.3 s to decode and crop; a cached pair loads in
a few milliseconds. Entries are keyed by each source file's absolute path,
size and modification time and by the preprocessing parameters, so a changed
file or parameter misses the cache. The cache lives outside the dataset (the
dataset may be read-only): ``$HECL_CACHE_DIR``, else
``$XDG_CACHE_HOME/hecl_keras``, else ``~/.cache/hecl_keras``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

CACHE_FORMAT = 1


def save_npz_atomic(path, arrays: dict, compress: bool = False) -> None:
    """Writes ``arrays`` to ``path`` (.npz) through a temporary file in the same folder and a rename,
    so readers never see a half-written file; the folder is created, the temporary file removed on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            (np.savez_compressed if compress else np.savez)(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def default_cache_dir() -> Path:
    if os.environ.get("HECL_CACHE_DIR"):
        return Path(os.environ["HECL_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hecl_keras"


def _fingerprint(path: Path):
    st = Path(path).stat()
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


class ArrayCache:
    """A folder of ``.npz`` entries keyed by source files and parameters.

    Args:
        folder: str, Path or None. None means :func:`default_cache_dir`.
    """

    def __init__(self, folder=None):
        self.folder = Path(folder) if folder is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0

    def key(self, sources, params: dict) -> str:
        blob = json.dumps(
            {"format": CACHE_FORMAT, "sources": [_fingerprint(s) for s in sources], "params": params},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def get(self, key: str):
        """Returns a dict of arrays, or None on a miss (or an unreadable entry)."""
        path = self.folder / f"{key}.npz"
        if not path.is_file():
            self.misses += 1
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                out = {k: data[k] for k in data.files}
        except Exception:  # a corrupt entry (e.g. a killed write) is a miss, then rewritten
            self.misses += 1
            return None
        self.hits += 1
        return out

    def put(self, key: str, arrays: dict) -> None:
        """Writes an entry atomically (temporary file + rename)."""
        save_npz_atomic(self.folder / f"{key}.npz", arrays)
