"""What the report of a user's recordings states about how they were
framed (:mod:`lavacut.data.user_input`): the sensor and where it came from,
the events a crop leaves out, the time after the framing window; and the
memory check before the frames are allocated. Each adaptation is said, none
is silent."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lavacut.data.framing import FramedSplit, check_frames_memory
from lavacut.data.input_errors import RecordingError, UserInputError
from lavacut.util import LavacutError


def count_cropped(events: np.ndarray, plan, path: Path, counts: list[int]) -> None:
    """Add a recording's events outside ``plan``'s crop box to ``counts``;
    a recording the crop leaves no event of is refused (its frames would be
    empty, its decision a measurement of nothing)."""
    inside = plan.inside(events)
    if len(events) and not inside.any():
        x0, y0, bw, bh = plan.box
        raise RecordingError(
            f"{path}: framing.fit={plan.mode} keeps the box x={x0}..{x0 + bw - 1}, y={y0}..{y0 + bh - 1} of the "
            f"camera {plan.sensor[0]}x{plan.sensor[1]}, and all {len(events)} events of this recording lie outside "
            f"it (they reach x={int(events['x'].max())}, y={int(events['y'].max())}); set framing.crop to where "
            f"they are, or data.sensor to the camera's size"
        )
    counts[0] += int(len(events) - inside.sum())
    counts[1] += len(events)


#: events reaching less than this share of the network's width or height, framed on the network's
#: size: say so (a smaller camera, e.g. 10x10 events in the corner of 34x34, may want framing.fit)
SMALL_EXTENT = 0.75


def state_sensor(scans: list, sensor, origin: str, split: FramedSplit) -> None:
    """Record the sensor the recordings were framed on and where it came
    from; say so when it is the network's input and the events fill only a
    corner of it."""
    ew, eh = max(sc.max_x for sc in scans) + 1, max(sc.max_y for sc in scans) + 1
    split.info["sensor"] = {"size": list(sensor), "from": origin, "events_extent": [ew, eh]}
    w, h = sensor[0], sensor[1]
    if origin == "the network input" and (ew < SMALL_EXTENT * w or eh < SMALL_EXTENT * h):
        split.notes.append(
            f"sensor {w}x{h} (P={sensor[2]}) from the network input, but the events reach only {ew}x{eh}: "
            f"they are framed 1:1 in its top-left corner; if the camera is {ew}x{eh}, --set "
            f"data.sensor=[{ew},{eh},{sensor[2]}] --set framing.fit=resize scales it to the network"
        )


def check_memory(shape, scans: list, n_win: list[int], window: int, source: str) -> None:
    """:func:`check_frames_memory` for a user's recordings, naming the longest when windows made them many."""
    k = int(np.argmax(n_win))
    why = (
        f" ({scans[k].path.name} alone spans {(scans[k].t_last + 1) / 3.6e9:.3g} hours: {n_win[k]} windows of "
        f"{window / 1000:g} ms; are its timestamps microseconds from the recording's start?)"
        if n_win[k] > 1
        else ""
    )
    try:
        check_frames_memory(shape, source, why)
    except LavacutError as e:
        raise UserInputError(str(e)) from None


def left_out(scans: list, window: int, split: FramedSplit) -> None:
    """Say, once for all recordings, how much lies after the framing window."""
    longer = [sc for sc in scans if sc.t_last >= window]
    if not longer:
        return
    rec_ms = [(sc.t_last + 1) / 1000 for sc in longer]
    out_ms = [r - window / 1000 for r in rec_ms]
    first = longer[0]
    more = (
        f" (and {len(longer) - 1} more: {sum(out_ms):.0f} ms of {sum(rec_ms):.0f} ms left out in all)"
        if len(longer) > 1
        else ""
    )
    split.notes.append(
        f"{len(longer)} of {len(scans)} recordings are longer than the {window / 1000:g} ms window "
        f"(T x bin_us): {out_ms[0]:.0f} ms of {rec_ms[0]:.0f} ms left out of {first.path.name}{more}; "
        f"--set framing.slicing=windows runs them as a stream of windows"
    )
    split.info["left_out"] = {
        "n_longer": len(longer),
        "n_recordings": len(scans),
        "window_ms": window / 1000,
        "left_out_ms": round(float(sum(out_ms)), 3),
        "recorded_ms": round(float(sum(rec_ms)), 3),
        "first": first.path.name,
    }
