"""A user's own input -> :class:`FramedSplit`: frame arrays, or event
recordings framed exactly as the built-in data sets are.

Accepted ``path``:

- ``.npy`` numeric array: frames ``(*input_shape, T)`` (one sample) or
  ``(N, *input_shape, T)``; a ``.npy`` holding a structured array (x, (y), t,
  p) is instead one event recording;
- ``.npz`` with ``frames`` and optional ``labels`` (N,) and ``classes``;
- a folder of event recordings (see :mod:`lavacut.data.event_files` for the
  formats): one subfolder per class, matched to the network's classes by
  name (:func:`lavacut.data.labels.folder_labels`), or files only
  (unlabelled); hidden files and folders (dotfiles) are skipped;
- a single event file: one unlabelled sample.

Sensor size of event recordings, first rule that applies: ``sensor`` if given
(``data.sensor``; every event must fit); the camera's size a file's header
declares (the AEDAT4 stream resolution, the DAT header); the network's
``input_shape`` (C, H, W) read as (W, H, C) if every event fits (and no
downsampling); the size a format implies (N-MNIST .bin: 34x34x2 when the
events fit); else the data's own extent (max x + 1, max y + 1, 2 polarities
if p takes both values; 1-D recordings: (max x + 1, 1, P)). A sensor that is
not the network's size is refused unless ``framing.fit`` fits it
(:mod:`lavacut.data.fitting`).

``framing.slicing = "time"`` frames the first T bins of each recording and
says (``FramedSplit.notes`` / ``info["left_out"]``) how much of longer
recordings was left out; ``"windows"`` cuts each recording into consecutive
windows of T bins, each a sample with the recording's label and its start
``t0_us``.

Files are never unpickled. Errors are :class:`UserInputError` subclasses that
name the file and the field or shape at fault.
"""
from __future__ import annotations

import dataclasses
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lavacut.data.event_files import (EVENT_EXTENSIONS, EmptyInputError, FrameValuesError,
                                      InputShapeError, LabelError, Recording, RecordingError,
                                      SensorError, UnsupportedFileError, UserInputError,
                                      load_npy, read_event_file, supported_extensions)
from lavacut.data.events import EventError
from lavacut.data.fitting import plan_fit, suggest_fit
from lavacut.data.framing import FramedSplit, FramingConfig, frame_events
from lavacut.data.labels import check_class_names, check_labels_range, folder_labels

__all__ = ["load_user_input", "UserInputError", "UnsupportedFileError", "EmptyInputError",
           "InputShapeError", "FrameValuesError", "LabelError", "SensorError", "RecordingError"]

#: events kept in memory between the scan pass (which fixes the sensor) and
#: the framing pass; files beyond it are read a second time instead
EVENT_MEMORY_BUDGET = 512 * 2**20
_NPZ_KEYS = ("frames", "labels", "classes")


def load_user_input(path: str | Path, framing: FramingConfig,
                    input_shape: tuple[int, ...] | None = None,
                    sensor: tuple[int, ...] | None = None, progress: bool = True,
                    classes: Sequence[str] | None = None, n_classes: int | None = None,
                    label_map: dict | None = None) -> FramedSplit:
    """Read frames or event recordings at ``path`` into a framed split.

    Frames come back bool ``(N, *input_shape, T)`` when ``input_shape``
    ((C, H, W) or flat (F,)) is given, else ``(N, C, H, W, T)``. Event
    recordings get ``framing.T`` bins through :func:`frame_events`; frame
    arrays keep their own T (the returned ``framing.T`` says it). ``sensor``
    ((W, H, P), or (W, P) for 1-D) applies to event recordings only.
    ``classes`` / ``n_classes``: the network's class names and outputs (when
    known), which labels are checked against and class folders matched to;
    ``label_map``: folder name -> class index or name (``data.label_map``).
    """
    path = Path(path)
    shape = _check_input_shape(input_shape)
    sensor_t = _check_sensor(sensor)
    net = (list(classes) if classes is not None else None, n_classes)
    if path.is_dir():
        items, folders = _list_folder(path)
        info: dict = {}
        split_classes = None
        if folders is not None:
            labels, split_classes, info["label_mapping"] = folder_labels(folders, net[0], n_classes,
                                                                         label_map, str(path))
            items = [(f, labels[k]) for f, k in items]
        return _frame_recordings(items, split_classes, framing, shape, sensor_t, progress, str(path), info)
    if not path.exists():
        raise UserInputError(f"{path}: no such file or folder")
    ext = path.suffix.lower()
    if ext == ".npz":
        return _from_npz(path, framing, shape, net)
    if ext == ".npy":
        arr = load_npy(path)
        if arr.dtype.names is None:
            return _split_from_frames(arr, None, None, framing, shape, path)
    elif ext not in EVENT_EXTENSIONS:
        raise UnsupportedFileError(f"{path}: unsupported file type {ext or '(no extension)'!r}; "
                                   f"supported: .npy / .npz frames, or event files: "
                                   f"{supported_extensions()}")
    return _frame_recordings([(path, None)], None, framing, shape, sensor_t, progress, str(path))


# ------------------------------------------------------------------ arguments
def _check_input_shape(input_shape) -> tuple[int, ...] | None:
    if input_shape is None:
        return None
    shape = tuple(input_shape)
    if len(shape) not in (1, 3) or not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape):
        raise InputShapeError(f"input_shape must be (C, H, W) or flat (F,) with positive "
                              f"integers, got {input_shape!r}")
    return tuple(int(s) for s in shape)


def _check_sensor(sensor) -> tuple[int, int, int] | None:
    if sensor is None:
        return None
    s = tuple(sensor)
    if len(s) not in (2, 3) or not all(isinstance(v, (int, np.integer)) and v > 0 for v in s):
        raise SensorError(f"sensor must be (W, H, P), or (W, P) for a 1-D sensor, with positive "
                          f"integers, got {sensor!r}")
    return (int(s[0]), 1, int(s[1])) if len(s) == 2 else tuple(int(v) for v in s)


# --------------------------------------------------------------------- frames
def _from_npz(path: Path, framing: FramingConfig, shape, net=(None, None)) -> FramedSplit:
    try:
        z = np.load(path, allow_pickle=False)
    except ValueError as e:  # numpy says "pickled data" for anything not npy/npz
        raise UserInputError(f"{path}: not a NumPy .npz archive ({e})") from e
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise UserInputError(f"{path}: corrupt or truncated .npz archive ({e})") from e
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise UserInputError(f"{path}: holds a single array, not an .npz archive; name it .npy")
    with z:
        keys = list(z.files)
        if "frames" not in keys:
            raise UserInputError(f"{path}: no 'frames' array in the archive; it holds "
                                 f"{', '.join(keys) or 'nothing'} (expected frames, and optional "
                                 f"labels and classes)")
        unknown = [k for k in keys if k not in _NPZ_KEYS]
        if unknown:  # e.g. 'label' for 'labels': better an error than labels silently dropped
            raise UserInputError(f"{path}: unexpected key(s) {', '.join(unknown)}; "
                                 f"known keys: {', '.join(_NPZ_KEYS)}")
        arrays = {k: _npz_member(z, k, path) for k in keys}
    split = _split_from_frames(arrays["frames"], arrays.get("labels"), arrays.get("classes"),
                               framing, shape, path)
    return _against_network(split, arrays.get("classes") is not None, *net)


def _against_network(split: FramedSplit, own_names: bool, classes, n_classes) -> FramedSplit:
    """An .npz's labels and class names checked against the network's
    outputs; labels named like the network's classes in another order are
    renumbered by name."""
    n = n_classes if n_classes is not None else (len(classes) if classes is not None else None)
    if n is None:
        return split
    if own_names:
        check_class_names(split.classes, n, split.source)
    if split.labels is None:
        return split
    if own_names and classes is not None and split.classes != list(classes):
        if sorted(split.classes) == sorted(classes):
            order = np.array([list(classes).index(c) for c in split.classes])
            split.labels = order[split.labels]
            split.info["label_mapping"] = {"rule": "by class name",
                                           "map": {c: int(i) for c, i in zip(split.classes, order)}}
            split.classes = list(classes)
        else:
            split.notes.append(f"{split.source}: its classes ({', '.join(split.classes[:4])}, ...) are not the "
                               f"network's ({', '.join(list(classes)[:4])}, ...): labels are taken as output "
                               f"indices")
    check_labels_range(split.labels, n, split.source)
    return split


def _npz_member(z, key: str, path: Path) -> np.ndarray:
    try:
        return z[key]
    except ValueError as e:
        if "Object arrays" in str(e):
            raise UserInputError(f"{path}: '{key}' is an object array (Python objects); lavacut "
                                 f"never unpickles files: save numbers, or strings for classes") from e
        raise UserInputError(f"{path}: '{key}' is unreadable ({e})") from e
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise UserInputError(f"{path}: '{key}' is corrupt or truncated ({e})") from e


def _split_from_frames(arr, labels, classes, framing: FramingConfig, shape, path: Path) -> FramedSplit:
    frames = _frames_array(arr, shape, str(path))
    n, t = frames.shape[0], frames.shape[-1]
    class_list = _check_classes(classes, path) if classes is not None else None
    labels = _check_labels(labels, class_list, n, path) if labels is not None else None
    dims = frames.shape[1:-1]
    sensor = (dims[2], dims[1], dims[0]) if len(dims) == 3 else (dims[0], 1, 1)
    if t != framing.T:
        framing = dataclasses.replace(framing, T=int(t))
    return FramedSplit(frames, labels, sensor, framing, classes=class_list, source=str(path))


def _squeezed(shape) -> tuple[int, ...]:
    return tuple(int(d) for d in shape if d != 1)


def _frames_array(arr: np.ndarray, shape, src: str) -> np.ndarray:
    """Validate a frame array and return it bool ``(N, *dims, T)``."""
    if arr.dtype.kind not in "biuf":
        raise FrameValuesError(f"{src}: frames have type {arr.dtype}; expected bool or 0/1 numbers")
    nd = arr.ndim
    if shape is None:
        if nd == 4:
            arr = arr[None]
        elif nd != 5:
            raise InputShapeError(f"{src}: frames {arr.shape}: expected (C, H, W, T) for one "
                                  f"sample or (N, C, H, W, T) for many")
    else:
        k, f = len(shape), int(np.prod(shape))
        if nd == k + 1 and arr.shape[:-1] == shape:
            arr = arr[None]
        elif nd == k + 2 and arr.shape[1:-1] == shape:
            pass
        elif k == 1 and nd == 4 and int(np.prod(arr.shape[:3])) == f:
            arr = arr.reshape(1, f, arr.shape[-1])  # C, H, W order, as SLAYER flattens
        elif k == 1 and nd == 5 and int(np.prod(arr.shape[1:4])) == f:
            arr = arr.reshape(arr.shape[0], f, arr.shape[-1])
        elif _squeezed(arr.shape[1:-1]) == _squeezed(shape) and nd >= 3:
            # (N, 64, T) for an input of (1, 1, 64): the same features, no ambiguity
            arr = arr.reshape(arr.shape[0], *shape, arr.shape[-1])
        elif _squeezed(arr.shape[:-1]) == _squeezed(shape) and nd >= 2:
            arr = arr.reshape(1, *shape, arr.shape[-1])
        else:
            raise InputShapeError(f"{src}: frames {arr.shape} do not match the network input "
                                  f"{shape} + (T,) (one sample {(*shape, 'T')}, or N samples "
                                  f"{('N', *shape, 'T')})")
    if arr.shape[0] == 0 or arr.shape[-1] == 0:
        raise EmptyInputError(f"{src}: frames {arr.shape} hold no samples or no time steps")
    _check_binary(arr, src)
    return np.ascontiguousarray(arr, dtype=bool)


def _check_binary(arr: np.ndarray, src: str) -> None:
    if arr.dtype.kind == "b":
        return
    nan = int(np.isnan(arr).sum()) if arr.dtype.kind == "f" else 0
    neg = int((arr < 0).sum())
    other = int(((arr > 0) & (arr != 1)).sum())  # NaN compares false: counted once
    if nan or neg or other:
        parts = [f"{c} {what}" for c, what in ((nan, "NaN values"), (neg, "negative values"),
                                               (other, "values other than 0/1")) if c]
        raise FrameValuesError(f"{src}: frames must be binary spikes (0/1); found "
                               f"{', '.join(parts)} (of {arr.size})")


def _check_classes(classes: np.ndarray, path: Path) -> list[str]:
    if classes.dtype.kind not in "US" or classes.ndim != 1 or len(classes) == 0:
        raise LabelError(f"{path}: classes must be a non-empty 1-D array of strings, got "
                         f"{classes.dtype} {classes.shape}")
    names = [c.decode() if isinstance(c, bytes) else str(c) for c in classes.tolist()]
    if len(set(names)) != len(names):
        dup = next(c for c in names if names.count(c) > 1)
        raise LabelError(f"{path}: class name {dup!r} appears more than once in classes")
    return names


def _check_labels(labels: np.ndarray, classes: list[str] | None, n: int, path: Path) -> np.ndarray:
    labels = labels.reshape(1) if labels.ndim == 0 else labels
    if labels.dtype.kind not in "iu":
        raise LabelError(f"{path}: labels have type {labels.dtype}; expected integers")
    if labels.shape != (n,):
        raise LabelError(f"{path}: labels have shape {labels.shape} but there are {n} samples "
                         f"(expected ({n},))")
    if labels.dtype.kind == "u" and labels.max() > np.iinfo(np.int64).max:  # would wrap negative
        raise LabelError(f"{path}: label {int(labels.max())} is not a class index (too large)")
    if labels.min() < 0:
        raise LabelError(f"{path}: {int((labels < 0).sum())} negative labels (min {int(labels.min())})")
    if classes is not None and labels.max() >= len(classes):
        bad = int((labels >= len(classes)).sum())
        raise LabelError(f"{path}: {bad} labels out of range of the {len(classes)} classes "
                         f"(max label {int(labels.max())}, valid 0..{len(classes) - 1})")
    return labels.astype(np.int64)


# ------------------------------------------------------------ event folders
def _visible(folder: Path) -> list[Path]:
    # dotfiles are skipped: .DS_Store, macOS '._x.aedat4' resource forks, editors' files
    return sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)


def _check_extensions(files: Sequence[Path]) -> None:
    for f in files:
        if f.suffix.lower() not in EVENT_EXTENSIONS:
            raise UnsupportedFileError(f"{f}: unsupported file type {f.suffix or '(no extension)'!r} "
                                       f"in an event folder; supported: {supported_extensions()}")


def _list_folder(folder: Path) -> tuple[list[tuple[Path, int | None]], list[str] | None]:
    """(file, index of its class folder) in class-then-name order, and the
    class folders' names (or None: files only, unlabelled)."""
    entries = _visible(folder)
    dirs = [p for p in entries if p.is_dir()]
    files = [p for p in entries if not p.is_dir()]
    if not entries:
        raise EmptyInputError(f"{folder}: empty folder; expected event files "
                              f"({supported_extensions()}) or one subfolder per class")
    if dirs and files:
        raise UserInputError(f"{folder}: holds both class subfolders ({dirs[0].name}, ...) and "
                             f"files ({files[0].name}, ...); put every file in its class folder, "
                             f"or use no subfolders for unlabelled samples")
    if not dirs:
        _check_extensions(files)
        return [(f, None) for f in files], None
    items: list[tuple[Path, int | None]] = []
    for label, d in enumerate(dirs):
        inner = _visible(d)
        nested = [p for p in inner if p.is_dir()]
        if nested:
            raise UserInputError(f"{nested[0]}: folder inside class folder {d}; a class folder "
                                 f"must hold its event files directly")
        if not inner:
            raise EmptyInputError(f"{d}: class folder '{d.name}' holds no event files")
        _check_extensions(inner)
        items.extend((f, label) for f in inner)
    return items, [d.name for d in dirs]


@dataclass
class _Scan:
    """What the sensor choice needs from one recording (events kept if they fit the budget)."""

    path: Path
    label: int | None
    declared: tuple[int, int, int] | None
    one_d: bool
    max_x: int
    max_y: int
    polarities: frozenset
    t0: int
    t_last: int
    from_header: bool = False
    events: np.ndarray | None = None

    @classmethod
    def of(cls, rec: Recording, label: int | None) -> "_Scan":
        ev = rec.events
        return cls(rec.path, label, rec.declared, rec.one_d, int(ev["x"].max()), int(ev["y"].max()),
                   frozenset(np.unique(ev["p"]).tolist()), int(ev["t"][0]), int(ev["t"][-1]),
                   rec.from_header)


def _misfit(sc: _Scan, sensor: tuple[int, int, int]) -> str | None:
    w, h, p = sensor
    if sc.max_x >= w:
        return f"events reach x={sc.max_x}, outside the sensor {sensor} (x in 0..{w - 1})"
    if sc.max_y >= h:
        return f"events reach y={sc.max_y}, outside the sensor {sensor} (y in 0..{h - 1})"
    if p == 1 and len(sc.polarities) > 1:
        return f"events have both polarities but the sensor {sensor} has one (P=1)"
    return None


def _choose_sensor(scans: list[_Scan], sensor, shape, framing: FramingConfig,
                   source: str) -> tuple[tuple[int, int, int], str]:
    """The sensor the recordings are framed on, and where it came from."""
    if sensor is not None:
        for sc in scans:
            if (m := _misfit(sc, sensor)) is not None:
                raise SensorError(f"{sc.path}: {m}")
        return sensor, "data.sensor"
    declared = {}
    for sc in scans:
        if sc.declared is not None:
            declared.setdefault(sc.declared, sc)
    if len(declared) > 1:
        (a, pa), (b, pb) = list(declared.items())[:2]
        raise SensorError(f"{source}: recordings declare different sensors: {pa.path} {a}, {pb.path} {b}; "
                          f"--set data.sensor=[W,H,P] frames them alike")
    # a header names the camera: it comes before the network's size, which
    # would otherwise silently take the corner of a larger camera
    header = next((sc for sc in declared.values() if sc.from_header), None)
    if header is None and shape is not None and len(shape) == 3 and framing.downsample == 1.0:
        c, h, w = shape  # what the network expects, when every recording fits it
        if all(_misfit(sc, (w, h, c)) is None for sc in scans):
            return (w, h, c), "the network input"
    if declared:
        size, first = next(iter(declared.items()))
        for sc in scans:
            if (m := _misfit(sc, size)) is not None:
                raise SensorError(f"{sc.path}: {m} (the sensor size the recordings' format "
                                  f"declares); --set data.sensor=[W,H,P] overrides it")
        return size, f"the {first.path.suffix} {'header' if first.from_header else 'format'}"
    pols = frozenset().union(*(sc.polarities for sc in scans))
    return ((max(sc.max_x for sc in scans) + 1, max(sc.max_y for sc in scans) + 1,
             2 if len(pols) > 1 else 1), "the events' extent")


def _fit(sensor, origin: str, shape, framing: FramingConfig, source: str):
    """The fit plan for ``sensor`` (None: none needed), refusing a sensor
    that is not the network's size under ``framing.fit = "none"``."""
    if shape is None or len(shape) != 3:
        if framing.fit != "none":
            raise UserInputError(f"{source}: framing.fit={framing.fit} needs a network input (C, H, W); this "
                                 f"network takes {shape or 'any shape'}")
        return None
    c, h, w = shape
    fw, fh, _ = framing.framed_sensor(sensor)
    plan = plan_fit(framing.fit, framing.crop, sensor, (w, h), source) if framing.downsample == 1.0 else None
    if plan is None and (fw, fh) != (w, h):
        raise InputShapeError(f"{source}: the camera is {sensor[0]}x{sensor[1]} (P={sensor[2]}, from {origin})"
                              f"{f', {fw}x{fh} after framing.downsample' if framing.downsample != 1 else ''} "
                              f"but the network takes {w}x{h} (input {shape}); "
                              f"{suggest_fit(sensor, (w, h))}; or --set data.sensor=[W,H,P] if "
                              f"{sensor[0]}x{sensor[1]} is not the camera's size")
    return plan


def _frame_recordings(items, classes, framing: FramingConfig, shape, sensor, progress: bool,
                      source: str, info: dict | None = None) -> FramedSplit:
    from lavacut.progress import bar

    scans: list[_Scan] = []
    kept = 0
    window = framing.T * framing.bin_us
    for path, label in bar(items, enabled=progress, desc=f"reading {Path(source).name}", unit="file",
                           leave=False):
        rec = read_event_file(path)
        sc = _Scan.of(rec, label)
        if framing.slicing == "time" and sc.t0 >= window:
            raise RecordingError(f"{path}: every event lies after the framing window (first event "
                                 f"at t={sc.t0} us, window 0..{window} us = T {framing.T} x bin_us "
                                 f"{framing.bin_us}); timestamps must count microseconds from the "
                                 f"start of the recording")
        if kept + rec.events.nbytes <= EVENT_MEMORY_BUDGET:
            sc.events, kept = rec.events, kept + rec.events.nbytes
        scans.append(sc)
    one_d = [sc for sc in scans if sc.one_d]
    if one_d and len(one_d) != len(scans):
        two_d = next(sc for sc in scans if not sc.one_d)
        raise UserInputError(f"{source}: mixes 1-D recordings ({one_d[0].path}: x, t, p) and 2-D "
                             f"ones ({two_d.path}: x, y, t, p)")
    sensor, origin = _choose_sensor(scans, sensor, shape, framing, source)
    plan = _fit(sensor, origin, shape, framing, source)
    chw = framing.input_shape(plan.out_sensor if plan else sensor)
    out = chw if shape is None or len(shape) == 3 else (int(np.prod(chw)),)
    if shape is not None and out != shape:
        raise InputShapeError(f"{source}: frames {(*chw, framing.T)} do not match the network "
                              f"input {shape} + (T,) (sensor {sensor}, from {origin}; --set "
                              f"data.sensor=[W,H,P] if that is not the camera's size)")
    # the windows of each recording: one from t = 0, or consecutive ones to its last event
    n_win = [sc.t_last // window + 1 if framing.slicing == "windows" else 1 for sc in scans]
    frames = np.zeros((sum(n_win), *out, framing.T), dtype=bool)
    t0_us = np.zeros(len(frames), dtype=np.int64)
    recordings: list[str] = []
    i = 0
    for sc, n in zip(bar(scans, enabled=progress, desc=f"framing {Path(source).name}",
                         unit="recording", leave=False), n_win):
        events = sc.events if sc.events is not None else read_event_file(sc.path).events
        for k in range(n):
            ev = events
            if framing.slicing == "windows":
                lo, hi = np.searchsorted(events["t"], [k * window, (k + 1) * window])
                ev = events[lo:hi].copy()
                ev["t"] -= k * window
            if len(ev):         # an empty window stays empty frames
                try:
                    frames[i] = frame_events(ev, sensor, framing, source=str(sc.path),
                                             fit=plan).reshape(*out, -1)
                except EventError as e:
                    raise RecordingError(str(e)) from e
            t0_us[i] = k * window
            recordings.append(str(sc.path))
            i += 1
    labels = (np.array([sc.label for sc, n in zip(scans, n_win) for _ in range(n)], dtype=np.int64)
              if classes is not None or (scans and scans[0].label is not None) else None)
    split = FramedSplit(frames, labels, sensor, framing, classes=classes, source=source,
                        recordings=recordings, t0_us=t0_us if framing.slicing == "windows" else None,
                        info=dict(info or {}))
    if plan is not None:
        split.info["fit"] = plan.as_dict()
        split.notes.append(plan.note())
    if framing.slicing == "windows":
        split.info["windows"] = {"n_recordings": len(scans), "n_windows": len(frames),
                                 "window_ms": window / 1000}
    elif framing.slicing == "time":
        _left_out(scans, window, split)
    return split


def _left_out(scans: list[_Scan], window: int, split: FramedSplit) -> None:
    """Say, once for all recordings, how much lies after the framing window."""
    longer = [sc for sc in scans if sc.t_last >= window]
    if not longer:
        return
    rec_ms = [(sc.t_last + 1) / 1000 for sc in longer]
    out_ms = [r - window / 1000 for r in rec_ms]
    first = longer[0]
    more = (f" (and {len(longer) - 1} more: {sum(out_ms):.0f} ms of {sum(rec_ms):.0f} ms left out in all)"
            if len(longer) > 1 else "")
    split.notes.append(f"{len(longer)} of {len(scans)} recordings are longer than the {window / 1000:g} ms window "
                       f"(T x bin_us): {out_ms[0]:.0f} ms of {rec_ms[0]:.0f} ms left out of {first.path.name}{more}; "
                       f"--set framing.slicing=windows runs them as a stream of windows")
    split.info["left_out"] = {"n_longer": len(longer), "n_recordings": len(scans), "window_ms": window / 1000,
                              "left_out_ms": round(float(sum(out_ms)), 3), "recorded_ms": round(float(sum(rec_ms)), 3),
                              "first": first.path.name}
