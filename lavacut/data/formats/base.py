"""What every event file format shares: the entry of the format table
(:class:`EventFormat`), what a reader returns (:class:`Recording`) and the
checks that turn columns read from a file into lavacut's event array."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from lavacut.data.events import make_events
from lavacut.data.input_errors import RecordingError

_INT16_MAX = np.iinfo(np.int16).max
#: the largest |value| an integer field may hold (2**62: headroom for t + window arithmetic)
_INT64_SAFE = 2**62


@dataclass
class Recording:
    """One file's events (:data:`~lavacut.data.events.EVENT_DTYPE`, tonic's
    x, y, t, p; sorted by t), the sensor its format declares (or None) and
    whether it is 1-D (no y field); ``from_header``: ``declared`` is the
    camera's size from the file's header (AEDAT4, DAT), not a format's
    convention (N-MNIST's 34x34)."""

    path: Path
    events: np.ndarray
    declared: tuple[int, int, int] | None = None
    one_d: bool = False
    from_header: bool = False


@dataclass(frozen=True)
class EventFormat:
    """One event file format lavacut reads.

    ``name``: a short identifier (the module's name for the built-in ones);
    ``description``: what the files hold, for people (listed in the error
    for an unsupported file); ``suffixes``: the file name endings it claims,
    lower case with the dot; ``read(path) -> Recording``: the reader, which
    raises :class:`~lavacut.data.input_errors.RecordingError` naming the
    file (the registry has already checked that the file exists and is not
    empty); ``sniff(head) -> True | False | None``: what the file's first
    bytes say (True: this format's magic or header; False: certainly not
    this format; None: cannot tell), or None for a format without a
    signature (identified by its suffix alone)."""

    name: str
    description: str
    suffixes: tuple[str, ...]
    read: Callable[[Path], Recording]
    sniff: Callable[[bytes], bool | None] | None = None


def structured_to_events(arr: np.ndarray, source: str) -> tuple[np.ndarray, bool]:
    """A structured array with x, (y), t, p -> (EVENT_DTYPE events, is_1d),
    checked as :func:`check_events` does."""
    names = arr.dtype.names or ()
    missing = [f for f in "xtp" if f not in names]
    if missing:
        raise RecordingError(
            f"{source}: event array lacks field(s) {', '.join(missing)} (has "
            f"{', '.join(names) or 'none'}; expected x, y, t, p, or x, t, p "
            f"for a 1-D sensor)"
        )
    if arr.ndim != 1:
        raise RecordingError(f"{source}: event array must be 1-D, has shape {arr.shape}")
    one_d = "y" not in names
    cols = {f: _integer_field(arr, f, source) for f in ("xt" if one_d else "xyt")}
    y = np.zeros(len(arr), dtype=np.int64) if one_d else cols["y"]
    p = _polarity(arr["p"], source)
    events = make_events(cols["x"], y, cols["t"], p)
    check_events(events, source, raw={"x": cols["x"], "y": y})
    return events, one_d


def _integer_field(arr: np.ndarray, field: str, source: str) -> np.ndarray:
    v = arr[field]
    if v.ndim != 1:  # a sub-array field, e.g. ("x", int, (2,)): one value per event is expected
        raise RecordingError(
            f"{source}: field {field} holds {v.shape[1:]} values per event ({arr.dtype[field]}); expected one"
        )
    if v.dtype.kind == "m" and field == "t":  # a duration type carries its unit: microseconds from it
        v = v.astype("m8[us]").astype(np.int64)
    if v.dtype.kind == "f":
        # some tools save every column as float; accept whole numbers only, so
        # that seconds are never mistaken for microseconds
        if not np.all(np.isfinite(v)) or np.any(v != np.round(v)):
            raise RecordingError(
                f"{source}: field {field} holds non-integer values ({v.dtype}); "
                f"expected integers ({'microseconds' if field == 't' else 'pixels'})"
            )
    elif v.dtype.kind not in "iu":
        raise RecordingError(f"{source}: field {field} has type {v.dtype}, expected integers")
    # a uint64 past 2**63 or a float past int64 would wrap negative in the cast below
    if len(v) and (v.max() > _INT64_SAFE or v.min() < -_INT64_SAFE):
        bad = v.max() if v.max() > _INT64_SAFE else v.min()
        raise RecordingError(
            f"{source}: field {field} has value {bad:.6g}, outside the range lavacut reads "
            f"(|{field}| < 2**62{' microseconds' if field == 't' else ''})"
        )
    return v.astype(np.int64)


def _polarity(p: np.ndarray, source: str) -> np.ndarray:
    if p.ndim != 1:
        raise RecordingError(f"{source}: field p holds {p.shape[1:]} values per event ({p.dtype}); expected one")
    if p.dtype.kind == "b":
        return p
    if p.dtype.kind not in "iuf":
        raise RecordingError(f"{source}: field p has type {p.dtype}, expected bool or 0/1")
    values = np.unique(p)
    if set(values.tolist()) <= {0, 1}:
        return p == 1
    if set(values.tolist()) <= {-1, 1}:  # the -1/+1 convention of some data sets
        return p == 1
    raise RecordingError(
        f"{source}: field p takes values {values[:6].tolist()}"
        f"{'...' if len(values) > 6 else ''}; expected 0/1 (or -1/1)"
    )


def check_events(events: np.ndarray, source: str, raw: dict | None = None) -> None:
    """Non-empty, coordinates in 0..32767, timestamps non-negative and
    sorted; ``raw``: the x and y columns before the cast to int16, so that a
    coordinate past 32767 is refused rather than wrapped."""
    if len(events) == 0:
        raise RecordingError(f"{source}: recording has no events")
    for f in "xy":
        v = raw[f] if raw is not None else events[f]
        if v.min() < 0 or v.max() > _INT16_MAX:
            bad = int(v.min()) if v.min() < 0 else int(v.max())
            raise RecordingError(f"{source}: field {f} has value {bad}, outside 0..{_INT16_MAX}")
    t = events["t"]
    if t.min() < 0:
        raise RecordingError(f"{source}: negative timestamp t={int(t.min())}")
    dt = np.diff(t)
    if np.any(dt < 0):
        i = int(np.argmax(dt < 0)) + 1
        raise RecordingError(f"{source}: timestamps not sorted: event {i} has t={int(t[i])} after t={int(t[i - 1])}")
