"""One continuous event stream made of data set samples played back to back.

Timeline (all times in microseconds): segment ``k`` starts at
``boundaries_us[k]``; its sample's events keep their own timestamps, shifted
by that start. The segment's content lasts ``segment_us`` when that is fixed,
else the sample's own duration (last t + 1); then ``gap_us`` of silence
follows, which belongs to segment ``k``. So
``boundaries_us[k + 1] = boundaries_us[k] + content_k + gap_us`` and
``boundaries_us[-1]`` is the end of the stream, trailing gap included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Protocol

import numpy as np

from lavacut.data.events import EVENT_DTYPE, EventError, make_events, sample_source, validate_events
from lavacut.util import LavacutError


class StreamError(LavacutError, ValueError):
    """A stream cannot be built or queried as asked."""


class SampleDataset(Protocol):
    """Anything indexable that yields ``(events, label)`` and names its sensor."""

    sensor_size: tuple[int, int, int]

    def __getitem__(self, index: int) -> tuple[np.ndarray, Any]: ...

    def __len__(self) -> int: ...


@dataclass(frozen=True, eq=False)
class EventStream:
    """Samples concatenated in time.

    ``events``: one :data:`EVENT_DTYPE` array sorted by t (microseconds);
    ``sensor_size``: ``(W, H, P)``; ``boundaries_us``: int64, length n+1,
    segment start times then the stream's end; ``labels``: int64, length n;
    ``sample_indices``: int64, length n, the data set index of each segment;
    ``gap_us``: silence at the end of every segment.
    """

    events: np.ndarray
    sensor_size: tuple[int, int, int]
    boundaries_us: np.ndarray
    labels: np.ndarray
    sample_indices: np.ndarray
    gap_us: int = 0

    def __post_init__(self) -> None:
        n = len(self.labels)
        if len(self.boundaries_us) != n + 1 or len(self.sample_indices) != n:
            raise StreamError(
                f"inconsistent stream: {n} labels, {len(self.sample_indices)} "
                f"sample indices, {len(self.boundaries_us)} boundaries "
                f"(expected {n + 1})"
            )
        if np.any(np.diff(self.boundaries_us) < 0):
            raise StreamError("inconsistent stream: boundaries_us must not decrease")

    def __len__(self) -> int:
        """Number of segments."""
        return len(self.labels)

    @property
    def duration_us(self) -> int:
        """Length of the whole stream, trailing gap included."""
        return int(self.boundaries_us[-1])

    def segment(self, k: int) -> tuple[np.ndarray, int]:
        """Events of segment ``k`` with t re-based to the segment start, and its label."""
        k = self._check_index(k)
        lo, hi = np.searchsorted(self.events["t"], self.boundaries_us[k : k + 2], side="left")
        events = self.events[lo:hi].copy()
        events["t"] -= self.boundaries_us[k]
        return events, int(self.labels[k])

    def segment_of(self, t_us: int) -> int:
        """Index of the segment whose span ``[start, next start)`` holds ``t_us``."""
        if not 0 <= t_us < self.boundaries_us[-1]:
            raise StreamError(f"t={t_us} us is outside the stream [0, {self.duration_us}) us")
        return int(np.searchsorted(self.boundaries_us, t_us, side="right")) - 1

    def _check_index(self, k: int) -> int:
        n = len(self)
        if not -n <= k < n:
            raise IndexError(f"segment {k} out of range for a stream of {n} segments")
        return k % n


def make_stream(
    dataset: SampleDataset, indices: Iterable[int] | None = None, segment_us: int | None = None, gap_us: int = 0
) -> EventStream:
    """Concatenate samples of ``dataset`` (default: all, in order) into one stream.

    Each sample's events keep their own timestamps (they are not re-based to
    their first event) and are shifted to start at their segment's start. With
    ``segment_us`` every segment's content lasts exactly that long: events at
    ``t >= segment_us`` are dropped, shorter samples are padded with silence
    (empty samples are allowed then). Without it a segment lasts its sample's
    last t + 1. ``gap_us`` of silence follows every segment.

    Events are checked against ``dataset.sensor_size`` and converted to
    :data:`EVENT_DTYPE`; errors name the offending data set index.
    """
    sensor_size = getattr(dataset, "sensor_size", None)
    if sensor_size is None or len(sensor_size) != 3:
        raise StreamError(f"dataset {dataset!r} needs a sensor_size (W, H, P), has {sensor_size!r}")
    sensor_size = tuple(int(v) for v in sensor_size)
    if segment_us is not None and segment_us <= 0:
        raise StreamError(f"segment_us must be positive, got {segment_us}")
    if gap_us < 0:
        raise StreamError(f"gap_us must not be negative, got {gap_us}")
    chosen = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
    if not chosen:
        raise StreamError("cannot build a stream from an empty selection of samples")

    pieces: list[np.ndarray] = []
    labels: list[int] = []
    boundaries = [0]
    for index in chosen:
        events, label = dataset[index]
        events = _sample_events(events, sensor_size, sample_source(dataset, index), segment_us)
        if segment_us is not None:
            events = events[events["t"] < segment_us]
            content_us = segment_us
        else:
            content_us = int(events["t"][-1]) + 1
        events["t"] += boundaries[-1]
        pieces.append(events)
        labels.append(_as_label(label, index))
        boundaries.append(boundaries[-1] + content_us + gap_us)

    return EventStream(
        events=np.concatenate(pieces),
        sensor_size=sensor_size,
        boundaries_us=np.asarray(boundaries, dtype=np.int64),
        labels=np.asarray(labels, dtype=np.int64),
        sample_indices=np.asarray(chosen, dtype=np.int64),
        gap_us=int(gap_us),
    )


def _sample_events(
    events: np.ndarray, sensor_size: tuple[int, int, int], source: str, segment_us: int | None
) -> np.ndarray:
    """Validate one sample (``source`` names it in errors) and return a fresh
    :data:`EVENT_DTYPE` copy of it (tonic classes differ in field order and
    widths)."""
    if segment_us is None and isinstance(events, np.ndarray) and len(events) == 0:
        raise EventError(
            f"{source}: sample has no events, so its duration is unknown; "
            f"pass segment_us to give every segment a fixed length"
        )
    validate_events(events, sensor_size, source=source, allow_empty=segment_us is not None)
    if events.dtype == EVENT_DTYPE:
        return events.copy()
    return make_events(events["x"], events["y"], events["t"], events["p"])


def _as_label(label: Any, index: int) -> int:
    try:
        value = int(label)
    except (TypeError, ValueError):
        raise StreamError(f"sample {index}: label {label!r} is not an integer class index") from None
    return value
