"""iniVation AEDAT4 (DV software, DAVIS and DVXplorer cameras), read with the
``aedat`` package: the first event stream, the sensor from its width and
height."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from lavacut.data.events import make_events
from lavacut.data.formats.base import EventFormat, Recording, check_events
from lavacut.data.input_errors import RecordingError

MAGIC = b"#!AER-DAT4.0"


@contextlib.contextmanager
def rust_panics(path: Path):
    """A panic of the Rust decoder (a damaged flatbuffer: pyo3's
    PanicException, a BaseException) as a RecordingError naming the file; the
    panic hook's message and backtrace, written straight to fd 2, are kept
    off the terminal."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException as e:
            if type(e).__name__ != "PanicException":
                raise
            raise RecordingError(f"{path}: corrupt AEDAT4 file (its decoder failed: {e})") from None
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def read(path: Path) -> Recording:
    import aedat

    try:
        with rust_panics(path):
            decoder = aedat.Decoder(path)
            streams = decoder.id_to_stream()
            ids = sorted(i for i, s in streams.items() if s.get("type") == "events")
            if not ids:
                kinds = sorted({str(s.get("type")) for s in streams.values()})
                raise RecordingError(f"{path}: AEDAT4 file has no event stream (streams: {', '.join(kinds) or 'none'})")
            sid = ids[0]  # tonic's choice too: the lowest-numbered event stream
            packets = [pk["events"] for pk in decoder if pk["stream_id"] == sid and "events" in pk]
    except RuntimeError as e:  # the Rust decoder's error for bad magic, truncation
        raise RecordingError(f"{path}: corrupt or truncated AEDAT4 file ({e})") from e
    if not packets or sum(len(p) for p in packets) == 0:
        raise RecordingError(f"{path}: recording has no events")
    raw = np.concatenate(packets)
    t = raw["t"].astype(np.int64)
    # AEDAT4 timestamps are absolute (Unix time in us): frames start at the first event
    events = make_events(raw["x"], raw["y"], t - t.min(), raw["on"])
    check_events(events, str(path), raw={"x": raw["x"].astype(np.int64), "y": raw["y"].astype(np.int64)})
    s = streams[sid]
    return Recording(path, events, (int(s["width"]), int(s["height"]), 2), from_header=True)


FORMAT = EventFormat("aedat4", "AEDAT4, iniVation DV", (".aedat4",), read, sniff=lambda head: head.startswith(MAGIC))
