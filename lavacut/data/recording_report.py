"""``lavacut inspect`` on an event recording: what
:func:`lavacut.data.formats.describe` finds, for people."""

from __future__ import annotations

from pathlib import Path

from lavacut.data import formats
from lavacut.data.formats.npy import load_npy

SENSOR_FROM = {"header": "declared in the file's header", "format": "the format's convention"}


def format_frames_archive(path: str | Path) -> str:
    """The report of an ``.npz`` of frames (what ``lavacut run --input``
    reads from it), for ``lavacut inspect``."""
    from lavacut.data.frame_files import frames_layout, read_npz

    arrays = read_npz(Path(path))
    layout = frames_layout(arrays["frames"], arrays.get("labels"), arrays.get("classes"), str(path))
    lines = [f"{path}", "frames archive (.npz, not events):"]
    lines += [f"  {k}: {a.dtype}, shape {a.shape}" for k, a in arrays.items()]
    lines.append(f"frames: {layout}")
    lines.append(
        f"run a network on it: lavacut run NET --input {path} (frames (N, *input_shape, T); labels (N,); "
        f"classes: one name per output)"
    )
    return "\n".join(lines)


def format_recording(path: str | Path) -> str:
    """The report of an event file: its format and how it was recognised,
    event count, duration, extent, polarities and declared sensor, and how
    to run a network on it. A .npy of frames (a numeric array: ``lavacut run
    --input`` takes it as frames) is named as such."""
    if formats.identify(path).name == "npy":
        arr = load_npy(Path(path))
        if arr.dtype.names is None:
            from lavacut.data.frame_files import frames_layout

            layout = frames_layout(arr, src=str(path))
            return "\n".join(
                [
                    f"{path}",
                    f"frames array (not events): {arr.dtype}, shape {arr.shape}",
                    f"frames: {layout}",
                    f"run a network on it: lavacut run NET --input {path} (shape (*input_shape, T) "
                    f"or (N, *input_shape, T))",
                ]
            )
    d = formats.describe(path)
    extent = " x ".join(str(v) for v in (d["extent"][:1] if d["one_d"] else d["extent"]))
    sensor = (
        f"{' x '.join(map(str, d['sensor']))} ({SENSOR_FROM[d['sensor_from']]})"
        if d["sensor"] is not None
        else "not declared (framing.sensor_size, else fitted from the events)"
    )
    return "\n".join(
        [
            f"{d['path']}",
            f"event recording: {d['description']} (format {d['format']}, recognised by its {d['recognised_by']})",
            f"events: {d['events']}, over {d['duration_us'] / 1000:.3f} ms ({d['duration_us']} us)",
            *_time_unit_note(d),
            f"extent: {extent}{' (1-D: no y)' if d['one_d'] else ''} (largest coordinate + 1); "
            f"polarities: {', '.join(map(str, d['polarities']))}",
            f"sensor: {sensor}",
            f"run a network on it: lavacut run NET --input {d['path']}",
        ]
    )


def _time_unit_note(d: dict) -> list[str]:
    """What ``run`` refuses with the default framing: every event in one
    bin (timestamps in ms or s, or all equal; see
    :func:`lavacut.data.input_notes.check_time_units`)."""
    from lavacut.data.framing import FramingConfig
    from lavacut.data.input_notes import MIN_EVENTS_FOR_UNITS

    bin_us = FramingConfig().bin_us
    t0, t1 = d["t_range_us"]
    if d["events"] < MIN_EVENTS_FOR_UNITS or t0 // bin_us != t1 // bin_us:
        return []
    return [
        f"note: all {d['events']} events lie within t={t0}..{t1} us, one {bin_us} us bin of the default "
        f"framing: run refuses it as timestamps in another unit than microseconds unless framing.bin_us "
        f"spreads them"
    ]
