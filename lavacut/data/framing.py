"""Framing for SLAYER: events -> binary spike tensors ``(C, H, W, T)``.

Framing goes through tonic transforms (``Downsample``, ``Denoise``,
``ToFrame``), frames start at t = 0 and every sample gets exactly ``T`` bins of
``bin_us`` (events at or after ``T * bin_us`` are dropped; shorter recordings
end in empty frames). A bin holding at least one event of a pixel and polarity
is a spike (1), because the Lava network input takes binary spikes.

Framed splits are cached on disk (bit-packed, SHA-256 checked), so an epoch
never re-bins events.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from lavacut.data.events import sample_source, validate_events
from lavacut.data.fitting import FIT_MODES
from lavacut.data.npz_cache import load_npz_cache, save_npz_cache
from lavacut.util import LavacutError, cache_dir, check_cache_writable


@dataclass(frozen=True)
class FramingConfig:
    """How events become frames.

    ``slicing = "time"``: T bins of ``bin_us`` from t = 0 (every recording is
    cut to the same window, so bins mean the same time in every sample: what
    a real-time cutoff needs). ``slicing = "bins"``: tonic's ``n_time_bins``,
    each recording's own duration split into T equal bins (``bin_us`` then
    only sizes stream segments). ``slicing = "windows"``: a user's recording
    is cut into consecutive windows of T bins, each a sample (a long
    recording runs as a stream of decisions; see
    :mod:`lavacut.data.user_input`).

    ``fit`` and ``crop`` fit a camera to the network's input (a user's
    recordings; :mod:`lavacut.data.fitting`).
    """

    bin_us: int = 10_000
    T: int = 30
    #: "time" (fixed bin width from t = 0), "bins" (T bins over each recording)
    #: or "windows" (a recording cut into consecutive windows of T bins)
    slicing: str = "time"
    #: spatial factor for tonic.transforms.Downsample (1 = none)
    downsample: float = 1.0
    #: tonic.transforms.Denoise filter time in us (0 = none)
    denoise_us: int = 0
    #: fit a camera to the network: "none", "crop", "resize" or "crop+resize"
    fit: str = "none"
    #: the box [x0, y0, w, h] "crop" / "crop+resize" keep (None: centred)
    crop: Optional[tuple[int, ...]] = None

    def __post_init__(self):
        if self.bin_us <= 0 or self.T <= 0:
            raise LavacutError(f"framing: bin_us and T must be positive, got bin_us={self.bin_us}, T={self.T}")
        if self.slicing not in ("time", "bins", "windows"):
            raise LavacutError(f"framing: slicing must be 'time', 'bins' or 'windows', got {self.slicing!r}")
        if not 0 < self.downsample <= 1:
            raise LavacutError(f"framing: downsample must be in (0, 1], got {self.downsample}")
        if self.fit not in FIT_MODES:
            raise LavacutError(f"framing: fit must be one of {', '.join(FIT_MODES)}, got {self.fit!r}")
        if self.fit != "none" and self.downsample != 1.0:
            raise LavacutError(
                f"framing: fit={self.fit!r} and downsample={self.downsample} both scale the "
                f"sensor; use one (fit sizes it to the network)"
            )
        if self.crop is not None:
            c = tuple(self.crop)
            if (
                len(c) != 4
                or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in c)
                or c[0] < 0
                or c[1] < 0
                or c[2] <= 0
                or c[3] <= 0
            ):
                raise LavacutError(
                    f"framing: crop must be [x0, y0, w, h] with x0, y0 >= 0 and w, h > 0, got {list(self.crop)}"
                )
            if self.fit not in ("crop", "crop+resize"):
                raise LavacutError(f"framing: crop={list(c)} needs fit='crop' or 'crop+resize' (fit is {self.fit!r})")
            object.__setattr__(self, "crop", tuple(int(v) for v in c))

    def framed_sensor(self, sensor_size: Sequence[int]) -> tuple[int, int, int]:
        """(W, H, P) after downsampling: tonic's Downsample truncates x * f
        into the int16 field, so the last pixel lands at int((W - 1) * f) and
        the frame needs one more (int(W * f) is one short for an odd W at
        f = 0.5: the event on the edge was an IndexError)."""
        w, h, p = (int(v) for v in sensor_size)
        if self.downsample == 1.0:
            return (w, h, p)
        return (int((w - 1) * self.downsample) + 1, int((h - 1) * self.downsample) + 1, p)

    def input_shape(self, sensor_size: Sequence[int]) -> tuple[int, int, int]:
        """The network input (C, H, W) for a sensor (W, H, P)."""
        w, h, p = self.framed_sensor(sensor_size)
        return (p, h, w)


def available_memory() -> int | None:
    """Bytes of memory this machine can still give (Linux MemAvailable), or None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_frames_memory(shape: Sequence[int], source: str, why: str = "") -> None:
    """Refuse frames of ``shape`` (bool, one byte per bin) that would take
    more than half the memory left: the run copies them at least once, and
    an allocation past the machine's memory is a MemoryError or the OOM
    killer, not a message. ``why``: what made them so large, for the error."""
    need = int(np.prod([int(s) for s in shape], dtype=object))
    avail = available_memory()
    if avail is not None and need > avail // 2:
        raise LavacutError(
            f"{source}: frames {tuple(int(s) for s in shape)} would take {need / 2**30:.3g} GiB, more than half "
            f"the {avail / 2**30:.3g} GiB of memory available{why}; use a smaller framing.T, fewer samples "
            f"or shorter recordings"
        )


def frame_events(
    events: np.ndarray, sensor_size: Sequence[int], cfg: FramingConfig, source: str = "sample", fit=None
) -> np.ndarray:
    """One sample's events -> bool frames ``(C, H, W, T)``; ``fit`` (a
    :class:`lavacut.data.fitting.FitPlan`) crops and scales the sensor to the
    network's size after denoising."""
    import tonic.transforms as tt

    validate_events(events, tuple(sensor_size), source=source)
    sensor = tuple(int(s) for s in sensor_size)
    if cfg.denoise_us > 0:
        events = tt.Denoise(filter_time=cfg.denoise_us)(events)
    if fit is not None:
        from lavacut.data.fitting import apply_fit

        events, sensor = apply_fit(events, fit), fit.out_sensor
    if cfg.downsample != 1.0:
        events = tt.Downsample(spatial_factor=cfg.downsample)(events)
        sensor = cfg.framed_sensor(sensor)
    if cfg.slicing != "bins":  # "windows": the caller shifted this window to t = 0
        events = events[events["t"] < cfg.T * cfg.bin_us]
    c, h, w = sensor[2], sensor[1], sensor[0]
    if len(events) == 0:  # tonic's empty-sample shape is (T, P, W, H); build ours
        return np.zeros((c, h, w, cfg.T), dtype=bool)
    if cfg.slicing != "bins":
        to_frame = tt.ToFrame(sensor_size=sensor, time_window=cfg.bin_us, start_time=0, end_time=cfg.T * cfg.bin_us)
    else:
        to_frame = tt.ToFrame(sensor_size=sensor, n_time_bins=cfg.T)
    frames = to_frame(events)  # (T', P, H, W)
    out = np.zeros((cfg.T, c, h, w), dtype=bool)
    n = min(cfg.T, frames.shape[0])
    out[:n] = frames[:n] > 0
    return np.ascontiguousarray(np.moveaxis(out, 0, -1))


@dataclass
class FramedSplit:
    """A whole split framed: ``frames`` bool ``(N, C, H, W, T)``, ``labels`` (N,)
    or None (unlabelled); ``classes`` names the labels when known, ``source``
    says where the samples came from."""

    frames: np.ndarray
    labels: np.ndarray | None
    sensor_size: tuple[int, int, int]
    framing: FramingConfig
    classes: list[str] | None = None
    source: str = ""
    #: per sample, for a user's recordings: the file and (windows) the
    #: window's start in the recording, us
    recordings: list[str] | None = None
    t0_us: np.ndarray | None = None
    #: what a report records about how the input was read (label_mapping,
    #: fit, windows, left_out), and the lines to print about it
    info: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frames)


def frame_dataset(dataset, cfg: FramingConfig, progress: bool = True, name: str = "dataset") -> FramedSplit:
    """Frame every sample of a tonic-style data set (no caching)."""
    from lavacut.progress import bar

    sensor = tuple(dataset.sensor_size)
    c, h, w = cfg.input_shape(sensor)
    check_frames_memory((len(dataset), c, h, w, cfg.T), name)
    frames = np.zeros((len(dataset), c, h, w, cfg.T), dtype=bool)
    labels = np.zeros(len(dataset), dtype=np.int64)
    for i in bar(range(len(dataset)), enabled=progress, desc=f"framing {name}", unit="sample", leave=False):
        ev, lab = dataset[i]
        frames[i] = frame_events(ev, sensor, cfg, source=sample_source(dataset, i, f"{name} sample"))
        labels[i] = int(lab)
    if cfg.slicing == "time" and cfg.T > 1 and frames[..., 0].any() and not frames[..., 1:].any():
        # timestamps in ms or s read as us: every sample one frame, the other T - 1 empty
        raise LavacutError(
            f"{name}: every sample's events lie in the first {cfg.bin_us} us bin, the other {cfg.T - 1} of "
            f"T={cfg.T} frames are empty (e.g. {sample_source(dataset, 0, f'{name} sample')}); its timestamps "
            f"must be microseconds, and framing.bin_us shorter than a sample"
        )
    return FramedSplit(frames, labels, sensor, cfg)


def framed_cache_key(dataset_id: str, split: str, cfg: FramingConfig) -> str:
    framing = asdict(cfg)
    for key in ("fit", "crop"):  # user-input settings: at their defaults they leave existing keys as they were
        if framing[key] == getattr(FramingConfig, key):
            del framing[key]
    blob = json.dumps({"dataset": dataset_id, "split": split, "framing": framing, "v": 1}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def load_framed(
    dataset, dataset_id: str, split: str, cfg: FramingConfig, progress: bool = True, root: Path | None = None
) -> FramedSplit:
    """Frame a split once and cache it (bit-packed .npz with a checksum)."""
    root = Path(root) if root else cache_dir()
    key = framed_cache_key(dataset_id, split, cfg)
    path = root / f"framed_{dataset_id.replace('/', '_')}_{split}_{key}.npz"
    meta = path.with_suffix(".json")

    def decode(m, z) -> FramedSplit:
        shape = tuple(int(s) for s in z["shape"])
        bits = np.unpackbits(z["bits"], count=int(np.prod(shape))).reshape(shape).astype(bool)
        return FramedSplit(bits, z["labels"], tuple(m["sensor_size"]), cfg)

    cached = load_npz_cache(path, meta, "framed cache", decode)
    if cached is not None:
        return cached
    check_cache_writable(path.parent)
    fs = frame_dataset(dataset, cfg, progress=progress, name=f"{dataset_id} {split}")
    arrays = dict(bits=np.packbits(fs.frames.reshape(-1)), shape=np.array(fs.frames.shape), labels=fs.labels)
    info = {"sensor_size": list(fs.sensor_size), "framing": asdict(cfg), "dataset": dataset_id, "split": split}
    save_npz_cache(path, meta, "framed cache", arrays, info)
    return fs


def pad_collate(batch):
    """Collate ``(frames (C, H, W, T_i), label)`` pairs of unequal length by
    zero-padding at the end of time to the longest: returns ``(N, C, H, W, T)``
    float32 and int64 labels."""
    import torch

    t_max = max(x.shape[-1] for x, _ in batch)
    xs = [torch.nn.functional.pad(torch.as_tensor(x, dtype=torch.float32), (0, t_max - x.shape[-1])) for x, _ in batch]
    return torch.stack(xs), torch.as_tensor([int(y) for _, y in batch], dtype=torch.int64)


def frame_stream(stream, cfg: FramingConfig, progress: bool = False) -> FramedSplit:
    """Frame a continuous :class:`lavacut.data.stream.EventStream`: the
    stream is cut at its ground-truth segment boundaries and each segment is
    binned from its start, so a stream of fixed ``T * bin_us`` segments gives
    exactly the frames of its samples framed one by one (tested). The result
    feeds the Lava stream mode, where the monitor's decision moves the graph
    on to the next segment."""
    from lavacut.progress import bar

    c, h, w = cfg.input_shape(stream.sensor_size)
    frames = np.zeros((len(stream), c, h, w, cfg.T), dtype=bool)
    for k in bar(range(len(stream)), enabled=progress, desc="framing stream", unit="segment", leave=False):
        ev, _ = stream.segment(k)
        frames[k] = frame_events(ev, stream.sensor_size, cfg, source=f"stream segment {k}")
    return FramedSplit(frames, np.asarray(stream.labels, dtype=np.int64), tuple(stream.sensor_size), cfg)
