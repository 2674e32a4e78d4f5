"""The one format of lavacut's data caches (the embedded data set, framed
splits): an ``.npz`` of arrays beside a ``.json`` of metadata holding the
``.npz``'s sha256. A cache that is missing, damaged or does not check out is
built again; one that cannot be written costs only the next build. Before
a build, ``lavacut.util.check_cache_writable`` asks whether it could be kept."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from lavacut.util import (
    atomic_path,
    atomic_write_json,
    check_cache_files,
    first_line,
    sha256_file,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def load_npz_cache(path: Path, meta_path: Path, what: str, decode: Callable[[dict[str, Any], Any], T]) -> T | None:
    """``decode(meta, npz)`` of the cache at ``path`` when its checksum holds;
    None when it is missing, or (said) unusable. Raises when a folder, FIFO
    or the like stands in place of a cache file (the build would be lost)."""
    check_cache_files(path, meta_path)
    if not (path.exists() and meta_path.exists()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("sha256") != sha256_file(path):
            raise ValueError("checksum mismatch")
        with np.load(path, allow_pickle=False) as z:
            return decode(meta, z)
    except Exception as exc:  # noqa: BLE001 - a damaged cache is built again, not a failure
        log.warning("%s %s is unusable (%s); building it again", what, path, first_line(exc))
        return None


def save_npz_cache(path: Path, meta_path: Path, what: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write the arrays and ``meta`` plus their checksum, each file atomically."""
    try:
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        atomic_write_json(meta_path, {**meta, "sha256": sha256_file(path)})
    except OSError as exc:  # disk full, the folder gone: the data in memory is right, only not kept
        log.warning("%s %s not written (%s); it is built again next time", what, path, exc)
