"""Open a data set by name: the embedded default or a real one through tonic.

``open_dataset(cfg.data, split)`` is the single entry the other stages use; it
returns a tonic-style data set (``sensor_size``, ``classes``, ``__getitem__``
-> ``(events, label)``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from lavacut.data.embedded import CLASSES, SENSOR_SIZE, EmbeddedBuildConfig, EmbeddedDigits
from lavacut.data.framing import load_framed
from lavacut.data.tonic_sets import DATASETS, load_tonic_dataset
from lavacut.util import LavacutError

EMBEDDED = "embedded"


def dataset_names() -> list[str]:
    return [EMBEDDED, *DATASETS]


def open_dataset(data_cfg, split: str, transform=None, progress: bool = True):
    """The ``split`` ("train" / "test") of the data set named in ``data_cfg``
    (a :class:`lavacut.config.DataConfig`)."""
    name = data_cfg.dataset
    if name == EMBEDDED:
        return EmbeddedDigits(split, transform=transform, seed=data_cfg.seed, progress=progress)
    if name not in DATASETS:
        raise LavacutError(f"unknown data set {name!r}; known: {', '.join(dataset_names())}")
    if not data_cfg.root:
        raise LavacutError(
            f"data set {name!r} is read from local files: set data.root to the folder that "
            f"holds it (e.g. --set data.root=/data/events)"
        )
    return load_tonic_dataset(name, Path(data_cfg.root), split=split, transform=transform, download=data_cfg.download)


def dataset_id(data_cfg) -> str:
    """A stable identifier for caches: name plus what changes the samples."""
    if data_cfg.dataset == EMBEDDED:
        return f"embedded-{EmbeddedBuildConfig(seed=data_cfg.seed).key()}"
    root = str(Path(data_cfg.root).resolve()) if data_cfg.root else "-"
    return f"{data_cfg.dataset}-{hashlib.sha256(root.encode()).hexdigest()[:8]}"


def load_split(cfg, split: str, progress: bool = True):
    """The framed ``split`` of the configured data set (cached): a
    :class:`lavacut.data.framing.FramedSplit` with frames ``(N, C, H, W, T)``."""
    ds = open_dataset(cfg.data, split, progress=progress)
    return load_framed(ds, dataset_id(cfg.data), split, cfg.framing, progress=progress)


def dataset_sensor_size(name: str | None) -> tuple[int, int, int] | None:
    """The sensor (W, H, P) of a named data set; None for an unknown name."""
    if name == EMBEDDED:
        return tuple(SENSOR_SIZE)
    spec = DATASETS.get(name) if name else None
    return tuple(spec.sensor_size) if spec else None


def dataset_classes(name: str | None, n: int) -> list[str]:
    """Class names of a named data set with ``n`` classes; "0".."n-1" otherwise."""
    if name == EMBEDDED and len(CLASSES) == n:
        return [str(c) for c in CLASSES]
    return [str(i) for i in range(n)]
