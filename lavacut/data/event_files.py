"""Read one event recording file into lavacut's event array.

Formats, chosen by extension:

- ``.npy``: a tonic structured array (fields x, y, t, p; or x, t, p for 1-D
  sensors such as cochleas), read with ``np.load(allow_pickle=False)``;
- ``.bin``: N-MNIST's 5-byte records, through
  :func:`lavacut.data.tonic_sets.read_nmnist_file` (tonic's reader, checked);
  sensor 34x34x2;
- ``.aedat4``: through the ``aedat`` package (``aedat.Decoder``), the first
  event stream; sensor from the stream's width and height;
- ``.dat`` and ``.raw``: Prophesee DAT (CD events) and EVT 2.0 RAW, decoded
  by expelliarmus (EVT 3.0 RAW is refused, see ``_RAW_REFUSED``); sensor from
  the header (Width/Height, geometry or format) when present.

Every error is a :class:`UserInputError` that names the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lavacut.data.events import EventError, make_events
from lavacut.data.tonic_sets import EventFileError, read_nmnist_file
from lavacut.util import LavacutError


class UserInputError(LavacutError, ValueError):
    """A user's input file or folder cannot be used; the message names it."""


class UnsupportedFileError(UserInputError):
    """A file whose extension lavacut cannot read."""


class EmptyInputError(UserInputError):
    """An empty folder, class folder or array."""


class InputShapeError(UserInputError):
    """Frames whose shape does not match the network input."""


class FrameValuesError(UserInputError):
    """Frames that are not binary spikes (NaN, negative or other values)."""


class LabelError(UserInputError):
    """Labels or classes that do not fit the samples."""


class SensorError(UserInputError):
    """An invalid sensor size, or events outside it."""


class RecordingError(UserInputError, EventFileError):
    """An empty, corrupt or truncated event file, or one lacking fields."""


#: extension -> what it holds (for the error that lists them)
EVENT_EXTENSIONS = {
    ".npy": "tonic structured events (x, y, t, p or x, t, p)",
    ".bin": "N-MNIST",
    ".aedat4": "AEDAT4 (iniVation DV)",
    ".dat": "Prophesee DAT",
    ".raw": "Prophesee RAW, EVT 2.0",
}
NMNIST_SENSOR = (34, 34, 2)
_INT16_MAX = np.iinfo(np.int16).max


@dataclass
class Recording:
    """One file's events (:data:`EVENT_DTYPE`, sorted by t), the sensor its
    format declares (or None) and whether it is 1-D (no y field);
    ``from_header``: ``declared`` is the camera's size from the file's
    header (AEDAT4, DAT), not a format's convention (N-MNIST's 34x34)."""

    path: Path
    events: np.ndarray
    declared: tuple[int, int, int] | None = None
    one_d: bool = False
    from_header: bool = False


def supported_extensions() -> str:
    return ", ".join(f"{ext} ({what})" for ext, what in EVENT_EXTENSIONS.items())


def read_event_file(path: str | Path) -> Recording:
    """Read one recording; dispatch on the file extension."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in EVENT_EXTENSIONS:
        raise UnsupportedFileError(f"{path}: unsupported file type {ext or '(no extension)'!r}; "
                                   f"supported event files: {supported_extensions()}")
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise RecordingError(f"{path}: empty file (0 bytes)")
    if ext == ".npy":
        arr = load_npy(path)
        if arr.dtype.names is None:
            raise RecordingError(f"{path}: holds a {arr.dtype} array of shape {arr.shape}, not a "
                                 f"structured event array with fields x, y, t, p (frame arrays are "
                                 f"read when given directly, not inside an event folder)")
        events, one_d = structured_to_events(arr, str(path))
        return Recording(path, events, None, one_d)
    if ext == ".bin":
        try:
            events = read_nmnist_file(path, sensor_size=None)
        except EventError as e:  # already names the file; make it a UserInputError
            raise RecordingError(str(e)) from e
        _check_events(events, str(path))
        # the same 5-byte ATIS records hold N-Caltech101's larger recordings
        fits = not len(events) or (events["x"].max() < NMNIST_SENSOR[0] and events["y"].max() < NMNIST_SENSOR[1])
        return Recording(path, events, NMNIST_SENSOR if fits else None)
    if ext == ".aedat4":
        return _read_aedat4(path)
    if ext == ".raw":
        return _read_raw(path)
    return _read_dat(path)


def load_npy(path: Path) -> np.ndarray:
    """``np.load`` of a .npy that never unpickles; errors name the file."""
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as e:
        if "Object arrays" in str(e):
            raise UserInputError(f"{path}: holds an object array (Python objects); lavacut never "
                                 f"unpickles files: save a plain numeric or structured array") from e
        if "pickled data" in str(e):  # numpy's answer for anything without a .npy header
            raise RecordingError(f"{path}: not a NumPy .npy file (no .npy header; pickles are "
                                 f"never loaded)") from e
        raise RecordingError(f"{path}: corrupt or truncated .npy file ({e})") from e
    except (OSError, EOFError) as e:
        raise RecordingError(f"{path}: corrupt or truncated .npy file ({e})") from e
    if not isinstance(arr, np.ndarray):
        raise UserInputError(f"{path}: is an .npz archive, not a single .npy array; name it .npz")
    return arr


def structured_to_events(arr: np.ndarray, source: str) -> tuple[np.ndarray, bool]:
    """A structured array with x, (y), t, p -> (EVENT_DTYPE events, is_1d)."""
    names = arr.dtype.names or ()
    missing = [f for f in "xtp" if f not in names]
    if missing:
        raise RecordingError(f"{source}: event array lacks field(s) {', '.join(missing)} (has "
                             f"{', '.join(names) or 'none'}; expected x, y, t, p, or x, t, p "
                             f"for a 1-D sensor)")
    if arr.ndim != 1:
        raise RecordingError(f"{source}: event array must be 1-D, has shape {arr.shape}")
    one_d = "y" not in names
    cols = {f: _integer_field(arr, f, source) for f in ("xt" if one_d else "xyt")}
    y = np.zeros(len(arr), dtype=np.int64) if one_d else cols["y"]
    p = _polarity(arr["p"], source)
    events = make_events(cols["x"], y, cols["t"], p)
    _check_events(events, source, raw={"x": cols["x"], "y": y})
    return events, one_d


def _integer_field(arr: np.ndarray, field: str, source: str) -> np.ndarray:
    v = arr[field]
    if v.dtype.kind == "f":
        # some tools save every column as float; accept whole numbers only, so
        # that seconds are never mistaken for microseconds
        if not np.all(np.isfinite(v)) or np.any(v != np.round(v)):
            raise RecordingError(f"{source}: field {field} holds non-integer values ({v.dtype}); "
                                 f"expected integers ({'microseconds' if field == 't' else 'pixels'})")
    elif v.dtype.kind not in "iu":
        raise RecordingError(f"{source}: field {field} has type {v.dtype}, expected integers")
    return v.astype(np.int64)


def _polarity(p: np.ndarray, source: str) -> np.ndarray:
    if p.dtype.kind == "b":
        return p
    if p.dtype.kind not in "iuf":
        raise RecordingError(f"{source}: field p has type {p.dtype}, expected bool or 0/1")
    values = np.unique(p)
    if set(values.tolist()) <= {0, 1}:
        return p == 1
    if set(values.tolist()) <= {-1, 1}:  # the -1/+1 convention of some data sets
        return p == 1
    raise RecordingError(f"{source}: field p takes values {values[:6].tolist()}"
                         f"{'...' if len(values) > 6 else ''}; expected 0/1 (or -1/1)")


def _check_events(events: np.ndarray, source: str, raw: dict | None = None) -> None:
    """Non-empty, coordinates in 0..32767, timestamps non-negative and sorted."""
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
        raise RecordingError(f"{source}: timestamps not sorted: event {i} has t={int(t[i])} "
                             f"after t={int(t[i - 1])}")


def _read_aedat4(path: Path) -> Recording:
    import aedat

    try:
        decoder = aedat.Decoder(path)
        streams = decoder.id_to_stream()
        ids = sorted(i for i, s in streams.items() if s.get("type") == "events")
        if not ids:
            kinds = sorted({str(s.get("type")) for s in streams.values()})
            raise RecordingError(f"{path}: AEDAT4 file has no event stream (streams: "
                                 f"{', '.join(kinds) or 'none'})")
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
    _check_events(events, str(path), raw={"x": raw["x"].astype(np.int64), "y": raw["y"].astype(np.int64)})
    s = streams[sid]
    return Recording(path, events, (int(s["width"]), int(s["height"]), 2), from_header=True)


#: Prophesee files are decoded by expelliarmus (DAT, and EVT2/EVT3 ``.raw``).
#: lavacut still reads the '% ' header and checks the sizes itself, because
#: expelliarmus gives no sensor size, returns None (no error) for a file
#: without header or without events, and silently drops a truncated record.
#: DAT: after the header, the event type and size bytes, then 8-byte records;
#: event types 0x00 (TD) and 0x0C (CD).
_DAT_TYPES = (0x00, 0x0C)
_DAT_RECORD_BYTES = 8
#: RAW: the header's "evt" (or "format") names the encoding; bytes per word
_RAW_WORD_BYTES = {"evt2": 4, "evt3": 2}
#: encodings refused, and why (tests/data/test_event_files.py checks the reason still holds)
_RAW_REFUSED = {"evt3": "expelliarmus 1.1 decodes EVT 3.0 timestamps wrongly (every event after a time-high "
                        "change is off by multiples of 4096 us; github.com/open-neuromorphic/expelliarmus/issues/19)"}


def _prophesee_header(path: Path, f, kind: str = "DAT") -> tuple[dict[str, str], int]:
    """Parse the '% key value' header lines; returns (fields, data offset)."""
    fields: dict[str, str] = {}
    n_lines = 0
    while True:
        pos = f.tell()
        line = f.readline()
        if not line.startswith(b"% "):
            f.seek(pos)
            break
        n_lines += 1
        words = line[2:].decode("latin-1").strip().split(None, 1)
        if words:
            fields[words[0].lower()] = words[1] if len(words) > 1 else ""
    if n_lines == 0:
        raise RecordingError(f"{path}: not a Prophesee {kind} file (no '% ' header lines)")
    return fields, f.tell()


def _dat_sensor(fields: dict[str, str]) -> tuple[int, int, int] | None:
    try:
        if "width" in fields and "height" in fields:
            return (int(fields["width"]), int(fields["height"]), 2)
        if "geometry" in fields:  # newer headers: "% geometry 1280x720"
            w, h = fields["geometry"].lower().split("x")
            return (int(w), int(h), 2)
        if "format" in fields:    # RAW headers: "% format EVT3;height=720;width=1280"
            kv = dict(item.split("=", 1) for item in fields["format"].lower().split(";")[1:] if "=" in item)
            if "width" in kv and "height" in kv:
                return (int(kv["width"]), int(kv["height"]), 2)
    except ValueError:
        pass
    return None


def _raw_encoding(path: Path, fields: dict[str, str]) -> str:
    """'evt2' or 'evt3' from "% evt 3.0" or "% format EVT3;..."."""
    evt = fields.get("evt", "").strip()
    fmt = fields.get("format", "").split(";")[0].strip().lower()
    for enc in _RAW_WORD_BYTES:
        if evt in (enc[-1], f"{enc[-1]}.0") or fmt == enc:
            return enc
    raise RecordingError(f"{path}: Prophesee RAW file of encoding "
                         f"{evt or fields.get('format') or 'not given in its header'!r}; lavacut reads "
                         f"EVT 2.0 and EVT 3.0 ('% evt 2.0' / '% evt 3.0' or '% format EVT2' / 'EVT3')")


def _expelliarmus_events(path: Path, encoding: str) -> np.ndarray:
    from expelliarmus import Wizard

    try:
        arr = Wizard(encoding=encoding).read(path)
    except (RuntimeError, ValueError) as e:
        raise RecordingError(f"{path}: corrupt Prophesee {encoding.upper()} file ({e})") from e
    if arr is None:     # expelliarmus' answer for a header without events
        arr = np.zeros(0, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    if len(arr) and arr["p"].max() > 1:
        raise RecordingError(f"{path}: corrupt Prophesee {encoding.upper()} file: polarity "
                             f"{int(arr['p'].max())} (expected 0/1)")
    events = make_events(arr["x"], arr["y"], arr["t"], arr["p"] == 1)
    _check_events(events, str(path), raw={"x": arr["x"].astype(np.int64), "y": arr["y"].astype(np.int64)})
    return events


def _read_dat(path: Path) -> Recording:
    with open(path, "rb") as f:
        fields, offset = _prophesee_header(path, f)
        type_size = f.read(2)
    if len(type_size) < 2:
        raise RecordingError(f"{path}: truncated Prophesee DAT file: header without the "
                             f"event type and size bytes")
    ev_type, ev_size = type_size[0], type_size[1]
    if ev_type not in _DAT_TYPES or ev_size != _DAT_RECORD_BYTES:
        raise RecordingError(f"{path}: unsupported Prophesee DAT event type 0x{ev_type:02X} of "
                             f"{ev_size} bytes (lavacut reads 8-byte CD/TD events, types "
                             f"0x00 and 0x0C)")
    body = path.stat().st_size - offset - 2
    if body % ev_size:
        raise RecordingError(f"{path}: truncated Prophesee DAT file: {body} bytes of events "
                             f"is not a multiple of the {ev_size}-byte record")
    declared = _dat_sensor(fields)
    return Recording(path, _expelliarmus_events(path, "dat"), declared, from_header=declared is not None)


def _read_raw(path: Path) -> Recording:
    with open(path, "rb") as f:
        fields, offset = _prophesee_header(path, f, "RAW")
    encoding = _raw_encoding(path, fields)
    if encoding in _RAW_REFUSED:
        raise RecordingError(f"{path}: Prophesee RAW {encoding.upper()} files are not read: {_RAW_REFUSED[encoding]}; "
                             f"convert the recording to DAT or EVT 2.0 with Prophesee's Metavision tools")
    body, word = path.stat().st_size - offset, _RAW_WORD_BYTES[encoding]
    if body % word:
        raise RecordingError(f"{path}: truncated Prophesee RAW ({encoding.upper()}) file: {body} bytes of "
                             f"events is not a multiple of the {word}-byte word")
    declared = _dat_sensor(fields)
    return Recording(path, _expelliarmus_events(path, encoding), declared, from_header=declared is not None)
