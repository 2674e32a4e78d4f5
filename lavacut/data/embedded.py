"""The embedded default data set: scikit-learn's 1,797 handwritten digits
recorded by the saccade event-camera emulator (:mod:`lavacut.data.emulator`).

It works offline on a fresh machine (the digits ship inside scikit-learn), is
deterministic from a seed, and is cached on disk after the first build with a
SHA-256 checksum; a missing or corrupt cache is rebuilt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from lavacut.data.emulator import EmulatorConfig, emulate
from lavacut.data.events import EVENT_DTYPE
from lavacut.data.splits import stratified_mask
from lavacut.data.npz_cache import load_npz_cache, save_npz_cache
from lavacut.util import LavacutError, cache_dir, check_cache_writable


SENSOR_SIZE = (34, 34, 2)
CLASSES = [str(d) for d in range(10)]
FORMAT_VERSION = 1


@dataclass(frozen=True)
class EmbeddedBuildConfig:
    seed: int = 0
    test_fraction: float = 0.2
    emulator: EmulatorConfig = field(default_factory=EmulatorConfig)

    def key(self) -> str:
        """Short hash naming the cache file: another config, another file."""
        import hashlib

        blob = json.dumps(
            {
                "v": FORMAT_VERSION,
                "seed": self.seed,
                "test_fraction": self.test_fraction,
                "emulator": self.emulator.to_dict(),
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class EmbeddedArrays:
    """The whole data set in memory: events of all samples concatenated,
    ``offsets`` (N+1) delimiting sample i as events[offsets[i]:offsets[i+1]]."""

    events: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    is_test: np.ndarray
    config: EmbeddedBuildConfig

    def sample(self, i: int) -> np.ndarray:
        return self.events[self.offsets[i] : self.offsets[i + 1]]


def build_arrays(cfg: EmbeddedBuildConfig, progress: bool = True) -> EmbeddedArrays:
    """Record all 1,797 digits (about 10 s on 2 cores)."""
    from sklearn.datasets import load_digits
    from lavacut.progress import bar

    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0  # sklearn's ink scale is 0..16
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(cfg.seed)
    sensor_rng = np.random.default_rng(cfg.seed + 1)
    events = []
    chunk = 128
    # one sensor (fixed-pattern mismatch) for the whole set: draw it once
    sensor_state = sensor_rng.bit_generator.state
    for lo in bar(range(0, len(images), chunk), enabled=progress, desc="recording digits", unit="batch", leave=False):
        sensor_rng.bit_generator.state = sensor_state
        events += emulate(images[lo : lo + chunk], cfg.emulator, rng, sensor_rng)
    offsets = np.zeros(len(events) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(e) for e in events])
    return EmbeddedArrays(
        np.concatenate(events), offsets, labels, stratified_mask(labels, cfg.test_fraction, cfg.seed + 7919), cfg
    )


def cache_paths(cfg: EmbeddedBuildConfig, root: Path | None = None) -> tuple[Path, Path]:
    root = Path(root) if root else cache_dir()
    stem = root / f"embedded_digits_{cfg.key()}"
    return stem.with_suffix(".npz"), stem.with_suffix(".json")


def load_or_build(
    cfg: EmbeddedBuildConfig | None = None, root: Path | None = None, progress: bool = True
) -> EmbeddedArrays:
    """Load the cached data set, building (and caching) it when the cache is
    missing, fails its checksum, or cannot be read."""
    cfg = cfg or EmbeddedBuildConfig()
    data_path, meta_path = cache_paths(cfg, root)
    arr = load_npz_cache(
        data_path,
        meta_path,
        "embedded data cache",
        lambda meta, z: EmbeddedArrays(z["events"].astype(EVENT_DTYPE), z["offsets"], z["labels"], z["is_test"], cfg),
    )
    if arr is not None:
        return arr
    check_cache_writable(data_path.parent)
    arr = build_arrays(cfg, progress=progress)
    arrays = dict(events=arr.events, offsets=arr.offsets, labels=arr.labels, is_test=arr.is_test)
    meta = {
        "format_version": FORMAT_VERSION,
        "seed": cfg.seed,
        "test_fraction": cfg.test_fraction,
        "emulator": cfg.emulator.to_dict(),
        "n_samples": int(len(arr.labels)),
        "n_test": int(arr.is_test.sum()),
        "test_indices": np.flatnonzero(arr.is_test).tolist(),
    }
    save_npz_cache(data_path, meta_path, "embedded data cache", arrays, meta)
    return arr


class EmbeddedDigits:
    """tonic-style data set of the embedded digits.

    ``split`` is "train", "test" or "all". ``__getitem__`` returns
    ``(events, label)`` with tonic structured events (x, y, t [us], p) on a
    34x34x2 sensor, after ``transform`` / ``target_transform``, so every tonic
    transform applies.
    """

    sensor_size = SENSOR_SIZE
    ordering = "xytp"
    dtype = EVENT_DTYPE
    classes = CLASSES

    def __init__(
        self,
        split: str = "train",
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        seed: int = 0,
        root: str | Path | None = None,
        progress: bool = True,
    ):
        if split not in ("train", "test", "all"):
            raise LavacutError(f"embedded data set: unknown split {split!r} (use train, test or all)")
        if root is not None and Path(root).exists() and not Path(root).is_dir():
            raise LavacutError(f"embedded data set: cache root {root} is a file, not a folder")
        self.split = split
        self.transform = transform
        self.target_transform = target_transform
        self.arrays = load_or_build(EmbeddedBuildConfig(seed=seed), Path(root) if root else None, progress)
        if split == "all":
            self.indices = np.arange(len(self.arrays.labels))
        else:
            self.indices = np.flatnonzero(self.arrays.is_test == (split == "test"))
        self.targets = self.arrays.labels[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        if not -len(self) <= i < len(self):
            raise IndexError(f"embedded {self.split} split has {len(self)} samples, index {i}")
        k = int(self.indices[i])
        events, label = self.arrays.sample(k).copy(), int(self.arrays.labels[k])
        if self.transform is not None:
            events = self.transform(events)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return events, label

    def __repr__(self) -> str:
        return f"EmbeddedDigits(split={self.split!r}, n={len(self)})"


def summary(ds_train: EmbeddedDigits, ds_test: EmbeddedDigits) -> dict:
    """Size, split, class balance and event statistics of the data set."""
    arr = ds_train.arrays
    n_ev = np.diff(arr.offsets)
    dur = np.array([arr.sample(i)["t"][-1] if n_ev[i] else 0 for i in range(len(n_ev))])
    on_frac = float(arr.events["p"].mean())
    return {
        "name": "embedded (scikit-learn digits through the saccade DVS emulator)",
        "sensor_size": list(SENSOR_SIZE),
        "n_samples": int(len(arr.labels)),
        "n_train": len(ds_train),
        "n_test": len(ds_test),
        "class_balance_train": np.bincount(ds_train.targets, minlength=10).tolist(),
        "class_balance_test": np.bincount(ds_test.targets, minlength=10).tolist(),
        "events_per_sample": {"mean": float(n_ev.mean()), "min": int(n_ev.min()), "max": int(n_ev.max())},
        "duration_ms": {"mean": float(dur.mean() / 1000), "max": float(dur.max() / 1000)},
        "on_fraction": on_frac,
        "seed": arr.config.seed,
        "cache": str(cache_paths(arr.config)[0]),
    }
