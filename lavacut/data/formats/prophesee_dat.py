"""Prophesee DAT: '% ' header lines, the event type and size bytes, then
8-byte CD (0x0C) or TD (0x00) records; decoded by expelliarmus, the sensor
from the header (Width/Height or geometry) when it has one."""

from __future__ import annotations

from pathlib import Path

from lavacut.data.formats._prophesee import DAT_EVT, declared_sensor, decode, header_evt, read_header
from lavacut.data.formats.base import EventFormat, Recording
from lavacut.data.input_errors import RecordingError

EVENT_TYPES = (0x00, 0x0C)
RECORD_BYTES = 8


def read(path: Path) -> Recording:
    with open(path, "rb") as f:
        fields, offset = read_header(path, f, "DAT")
        type_size = f.read(2)
    if len(type_size) < 2:
        raise RecordingError(f"{path}: truncated Prophesee DAT file: header without the event type and size bytes")
    ev_type, ev_size = type_size[0], type_size[1]
    if ev_type not in EVENT_TYPES or ev_size != RECORD_BYTES:
        evt = fields.get("evt", "").strip().lower()
        if evt and evt != DAT_EVT:  # a RAW file's header ("% evt 2.0") named .dat
            raise RecordingError(
                f"{path}: named .dat but its header names the RAW encoding 'evt {evt}' and no DAT "
                f"records follow; rename it {path.with_suffix('.raw').name}"
            )
        raise RecordingError(
            f"{path}: unsupported Prophesee DAT event type 0x{ev_type:02X} of "
            f"{ev_size} bytes (lavacut reads 8-byte CD/TD events, types "
            f"0x00 and 0x0C)"
        )
    body = path.stat().st_size - offset - 2
    if body % ev_size:
        raise RecordingError(
            f"{path}: truncated Prophesee DAT file: {body} bytes of events "
            f"is not a multiple of the {ev_size}-byte record"
        )
    declared = declared_sensor(fields, path)
    return Recording(path, decode(path, "dat"), declared, from_header=declared is not None)


def sniff(head: bytes) -> bool | None:
    evt = header_evt(head)
    if evt is None:
        return False
    # older DAT headers name no encoding; an EVT one is not taken as proof of RAW
    # content here: the event type and size bytes decide when the file is read
    return True if evt == DAT_EVT else None


FORMAT = EventFormat("prophesee_dat", "Prophesee DAT", (".dat",), read, sniff)
