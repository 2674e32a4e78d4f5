"""The event type every stage shares, and its validation.

An event array is a 1-D numpy structured array with tonic's fields
``x`` (int16 column), ``y`` (int16 row), ``t`` (int64 microseconds) and
``p`` (polarity: bool or 0/1 int), sorted by ``t``. ``sensor_size`` is tonic's
``(width, height, polarities)``.
"""

from __future__ import annotations

import numpy as np

from lavacut.util import LavacutError

#: tonic's own event dtype (tonic.io.events_struct), spelled out here so the
#: data stage does not import tonic just to name it.
EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])
ORDERING = "xytp"


class EventError(LavacutError, ValueError):
    """Malformed events: names the source and the problem."""


class EventFileError(EventError):
    """A recording file is empty or truncated."""


def make_events(x, y, t, p) -> np.ndarray:
    """Build an event array of :data:`EVENT_DTYPE` from columns."""
    ev = np.empty(len(t), dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, p
    return ev


def sample_source(dataset, index: int, name: str = "sample") -> str:
    """How errors name sample ``index`` of a data set: its file when the data
    set knows it (``source_of``), else "<name> <index>"."""
    source_of = getattr(dataset, "source_of", None)
    return source_of(index) if source_of is not None else f"{name} {index}"


def validate_events(
    events: np.ndarray, sensor_size: tuple[int, int, int], source: str = "events", allow_empty: bool = False
) -> np.ndarray:
    """Check an event array against a sensor and return it unchanged.

    Raises :class:`EventError` naming ``source`` when a field is missing, the
    array is empty (unless ``allow_empty``), a timestamp is negative or out of
    order, or an event lies outside ``sensor_size = (W, H, P)``.
    """
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise EventError(
            f"{source}: expected a structured event array with fields x, y, t, p, got {type(events).__name__}"
        )
    missing = [f for f in "xytp" if f not in events.dtype.names]
    if missing:
        raise EventError(
            f"{source}: event array lacks field(s) {', '.join(missing)} (has {', '.join(events.dtype.names)})"
        )
    if events.ndim != 1:
        raise EventError(f"{source}: event array must be 1-D, has shape {events.shape}")
    if len(events) == 0:
        if allow_empty:
            return events
        raise EventError(f"{source}: sample has no events")
    t = events["t"]
    if t.min() < 0:
        i = int(np.argmax(t < 0))
        raise EventError(f"{source}: negative timestamp t={int(t[i])} at event {i}")
    if np.any(np.diff(t) < 0):
        i = int(np.argmax(np.diff(t) < 0)) + 1
        raise EventError(f"{source}: timestamps not sorted: event {i} has t={int(t[i])} after t={int(t[i - 1])}")
    w, h, npol = sensor_size
    for field, limit in (("x", w), ("y", h), ("p", max(npol, 2))):
        v = events[field].astype(np.int64)
        bad = (v < 0) | (v >= limit)
        if bad.any():
            i = int(np.argmax(bad))
            raise EventError(
                f"{source}: event {i} has {field}={int(v[i])} outside the sensor "
                f"{tuple(sensor_size)} (valid {field} in 0..{limit - 1})"
            )
    return events
