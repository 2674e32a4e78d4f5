"""Prophesee RAW: '% ' header lines naming the encoding, then EVT 2.0 words
(32-bit), decoded by expelliarmus; the sensor from the header's format line
when it has one. EVT 3.0 is recognised but refused (:data:`REFUSED`)."""

from __future__ import annotations

from pathlib import Path

from lavacut.data.formats._prophesee import DAT_EVT, declared_sensor, decode, header_evt, read_header
from lavacut.data.formats.base import EventFormat, Recording
from lavacut.data.input_errors import RecordingError

#: the header's "evt" (or "format") names the encoding; bytes per word
WORD_BYTES = {"evt2": 4, "evt3": 2}
#: encodings refused, and why (tests/data/test_event_files.py checks the reason still holds)
REFUSED = {
    "evt3": "expelliarmus 1.1 decodes EVT 3.0 timestamps wrongly (every event after a time-high "
    "change is off by multiples of 4096 us; github.com/open-neuromorphic/expelliarmus/issues/19)"
}


def encoding(path: Path, fields: dict[str, str]) -> str:
    """'evt2' or 'evt3' from "% evt 3.0" or "% format EVT3;..."."""
    evt = fields.get("evt", "").strip()
    fmt = fields.get("format", "").split(";")[0].strip().lower()
    for enc in WORD_BYTES:
        if evt in (enc[-1], f"{enc[-1]}.0") or fmt == enc:
            return enc
    raise RecordingError(
        f"{path}: Prophesee RAW file of encoding "
        f"{evt or fields.get('format') or 'not given in its header'!r}; lavacut reads "
        f"EVT 2.0 and EVT 3.0 ('% evt 2.0' / '% evt 3.0' or '% format EVT2' / 'EVT3')"
    )


def read(path: Path) -> Recording:
    with open(path, "rb") as f:
        fields, offset = read_header(path, f, "RAW")
    enc = encoding(path, fields)
    if enc in REFUSED:
        raise RecordingError(
            f"{path}: Prophesee RAW {enc.upper()} files are not read: {REFUSED[enc]}; "
            f"convert the recording to DAT or EVT 2.0 with Prophesee's Metavision tools"
        )
    body, word = path.stat().st_size - offset, WORD_BYTES[enc]
    if body % word:
        raise RecordingError(
            f"{path}: truncated Prophesee RAW ({enc.upper()}) file: {body} bytes of "
            f"events is not a multiple of the {word}-byte word"
        )
    declared = declared_sensor(fields, path)
    return Recording(path, decode(path, enc), declared, from_header=declared is not None)


def sniff(head: bytes) -> bool | None:
    evt = header_evt(head)
    if evt is None or evt == DAT_EVT:
        return False
    return True if evt else None


FORMAT = EventFormat("prophesee_raw", "Prophesee RAW, EVT 2.0", (".raw",), read, sniff)
