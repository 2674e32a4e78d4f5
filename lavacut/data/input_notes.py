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


#: fewer events than this are too few to tell timestamps in the wrong unit from a short recording
MIN_EVENTS_FOR_UNITS = 10


def _one_bin(sc, framing) -> bool:
    """Every event of the recording in one bin: "time" and "windows" bins
    start at t = 0; "bins" splits the recording's own span, none if it is 0."""
    if sc.n_events < MIN_EVENTS_FOR_UNITS:
        return False
    if framing.slicing == "bins":
        return sc.t_last == sc.t0
    return sc.t0 // framing.bin_us == sc.t_last // framing.bin_us


def check_time_units(scans: list, framing, source: str) -> str | None:
    """Refuse recordings that all fall into a single time bin (timestamps in
    seconds or milliseconds read as microseconds, or all equal: one frame
    of the T would hold every event, the others none); a note naming them
    when only some do."""
    short = [sc for sc in scans if _one_bin(sc, framing)]
    if not short:
        return None
    sc = short[0]
    span = sc.t_last - sc.t0
    what = (
        f"all {sc.n_events} events at t={sc.t0}"
        if span == 0
        else f"{sc.n_events} events over {span} us (t={sc.t0}..{sc.t_last})"
    )
    bins = "one bin" if framing.slicing == "bins" else f"one {framing.bin_us} us bin"
    if len(short) < len(scans):
        return (
            f"{len(short)} of {len(scans)} recordings lie in {bins} of the {framing.T} "
            f"(e.g. {sc.path.name}: {what}): their other frames are empty"
        )
    last = max(s.t_last for s in scans)  # bins count from t = 0
    fix = (
        f"; if they are, --set framing.bin_us={-(-(last + 1) // framing.T)} spreads the longest over T={framing.T} bins"
        if any(s.t_last > s.t0 for s in scans) and framing.slicing != "bins"
        else ""
    )
    raise RecordingError(
        f"{sc.path if len(scans) == 1 else source}: every recording lies in {bins} "
        f"({sc.path.name}: {what}), so one of the T={framing.T} frames would hold every event; "
        f"timestamps must be microseconds (seconds or milliseconds make a recording this short) and "
        f"framing.bin_us shorter than a recording{fix}"
    )


def _class_name(k: int, classes) -> str:
    return repr(classes[k]) if classes is not None and k < len(classes) else str(k)


def duplicates(scans: list, classes) -> str | None:
    """Say when recordings hold the same events (a copy, a link): each runs,
    and counts, as a sample; in two class folders at most one label is right."""
    first: dict[str, object] = {}
    copies, clash = [], None
    for sc in scans:
        orig = first.setdefault(sc.digest, sc)
        if orig is not sc:
            copies.append((sc, orig))
            if clash is None and orig.label != sc.label:
                clash = (orig, sc)
    if not copies:
        return None
    sc, orig = copies[0]
    note = (
        f"{len(copies)} of {len(scans)} recordings repeat another's events ({sc.path.name} = {orig.path.name}): "
        f"each runs, and counts in the accuracy, as a sample"
    )
    if clash is not None:
        a, b = clash
        note += (
            f"; {a.path} and {b.path} are the same recording in the folders of classes "
            f"{_class_name(a.label, classes)} and {_class_name(b.label, classes)}: at most one label is right"
        )
    return note
