"""What Prophesee's DAT and RAW formats share: the '% key value' header and
decoding by expelliarmus.

lavacut still reads the header and checks the sizes itself, because
expelliarmus gives no sensor size, returns None (no error) for a file
without header or without events, and silently drops a truncated record."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lavacut.data.events import make_events
from lavacut.data.formats.base import check_events
from lavacut.data.input_errors import RecordingError

#: the header's "% evt" value of a DAT file (RAW files name their encoding: 2.0, 3.0)
DAT_EVT = "dat"


def _fields(lines) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in lines:
        words = line[2:].decode("latin-1").strip().split(None, 1)
        if words:
            fields[words[0].lower()] = words[1] if len(words) > 1 else ""
    return fields


def read_header(path: Path, f, kind: str) -> tuple[dict[str, str], int]:
    """Parse the '% key value' header lines of open file ``f``; returns
    (fields, data offset)."""
    lines = []
    while True:
        pos = f.tell()
        line = f.readline()
        if not line.startswith(b"% "):
            f.seek(pos)
            break
        lines.append(line)
    if not lines:
        raise RecordingError(f"{path}: not a Prophesee {kind} file (no '% ' header lines)")
    return _fields(lines), f.tell()


def header_evt(head: bytes) -> str | None:
    """The encoding a file's first bytes name: "dat", an EVT version ("2.0",
    "evt3", ...), "" for a '% ' header that names none, None for no header."""
    if not head.startswith(b"% "):
        return None
    lines = []
    for line in head.split(b"\n")[:-1]:  # whole lines only
        if not line.startswith(b"% "):
            break
        lines.append(line)
    fields = _fields(lines)
    return fields.get("evt", "").strip().lower() or fields.get("format", "").split(";")[0].strip().lower()


def declared_sensor(fields: dict[str, str], path: Path | None = None) -> tuple[int, int, int] | None:
    """The camera's (W, H, 2) the header declares, None when it declares
    none; a size it declares but that is not two positive integers is a
    RecordingError (framing on a guessed sensor instead would be silent)."""
    size, line = None, ""
    if "width" in fields and "height" in fields:
        size, line = (fields["width"], fields["height"]), f"Width {fields['width']} / Height {fields['height']}"
    elif "geometry" in fields:  # newer headers: "% geometry 1280x720"
        size, line = tuple(fields["geometry"].lower().split("x")), f"geometry {fields['geometry']}"
    elif "format" in fields:  # RAW headers: "% format EVT3;height=720;width=1280"
        kv = dict(item.split("=", 1) for item in fields["format"].lower().split(";")[1:] if "=" in item)
        if "width" in kv and "height" in kv:
            size, line = (kv["width"], kv["height"]), f"format {fields['format']}"
    if size is None:
        return None
    try:
        w, h = (int(v) for v in size)
    except ValueError:
        w = h = 0
    if w <= 0 or h <= 0:
        raise RecordingError(
            f"{path}: its header declares the sensor '% {line.strip()}', not a width and height in "
            f"pixels; fix or remove that header line"
        )
    return (w, h, 2)


def decode(path: Path, encoding: str) -> np.ndarray:
    """The events of a checked file, decoded by expelliarmus."""
    from expelliarmus import Wizard

    try:
        arr = Wizard(encoding=encoding).read(path)
    except (RuntimeError, ValueError) as e:
        raise RecordingError(f"{path}: corrupt Prophesee {encoding.upper()} file ({e})") from e
    if arr is None:  # expelliarmus' answer for a header without events
        arr = np.zeros(0, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    if len(arr) and arr["p"].max() > 1:
        raise RecordingError(
            f"{path}: corrupt Prophesee {encoding.upper()} file: polarity {int(arr['p'].max())} (expected 0/1)"
        )
    events = make_events(arr["x"], arr["y"], arr["t"], arr["p"] == 1)
    check_events(events, str(path), raw={"x": arr["x"].astype(np.int64), "y": arr["y"].astype(np.int64)})
    return events
