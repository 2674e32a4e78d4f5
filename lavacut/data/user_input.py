"""A user's own input -> :class:`FramedSplit`: frame arrays, or event
recordings framed exactly as the built-in data sets are.

Accepted ``path``:

- ``.npy`` numeric array: frames ``(*input_shape, T)`` (one sample) or
  ``(N, *input_shape, T)``; a ``.npy`` holding a structured array (x, (y), t,
  p) is instead one event recording;
- ``.npz`` with ``frames`` and optional ``labels`` (N,) and ``classes``;
- a folder of event recordings, in any format of the table
  :mod:`lavacut.data.formats`: one subfolder per class, matched to the network's classes by
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

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lavacut.data import formats
from lavacut.data.events import EventError
from lavacut.data.fitting import plan_fit, suggest_fit
from lavacut.data.formats.npy import load_npy
from lavacut.data.frame_files import from_npz, split_from_frames
from lavacut.data.framing import FramedSplit, FramingConfig, frame_events
from lavacut.data.input_errors import (
    EmptyInputError,
    FrameValuesError,
    InputShapeError,
    LabelError,
    RecordingError,
    SensorError,
    UnsupportedFileError,
    UserInputError,
)
from lavacut.data.input_notes import (
    check_memory,
    check_time_units,
    count_cropped,
    duplicates,
    left_out,
    state_sensor,
)
from lavacut.data.labels import folder_labels
from lavacut.util import LavacutError, check_input_file

__all__ = [
    "load_user_input",
    "UserInputError",
    "UnsupportedFileError",
    "EmptyInputError",
    "InputShapeError",
    "FrameValuesError",
    "LabelError",
    "SensorError",
    "RecordingError",
]

#: events kept in memory between the scan pass (which fixes the sensor) and
#: the framing pass; files beyond it are read a second time instead
EVENT_MEMORY_BUDGET = 512 * 2**20


def load_user_input(
    path: str | Path,
    framing: FramingConfig,
    input_shape: tuple[int, ...] | None = None,
    sensor: tuple[int, ...] | None = None,
    progress: bool = True,
    classes: Sequence[str] | None = None,
    n_classes: int | None = None,
    label_map: dict | None = None,
) -> FramedSplit:
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
        if folders is None:
            _no_label_map(label_map, path, "holds no class folders")
        else:
            labels, split_classes, info["label_mapping"] = folder_labels(
                folders, net[0], n_classes, label_map, str(path)
            )
            items = [(f, labels[k]) for f, k in items]
        split = _frame_recordings(items, split_classes, framing, shape, sensor_t, progress, str(path), info)
        mapping = info.get("label_mapping") or {}
        if mapping.get("rule", "").startswith("folder order") and n_classes and len(folders) < n_classes:
            split.notes.append(
                f"{path}: {len(folders)} class folders for the network's {n_classes} outputs, numbered by "
                f"sorted name ({', '.join(f'{f}={i}' for f, i in list(mapping['map'].items())[:4])}): a split "
                f"with other folders numbers them otherwise; name folders by class index, or set data.label_map"
            )
        return split
    if not path.exists():
        raise UserInputError(f"{path}: no such file or folder")
    _no_label_map(label_map, path, "is a file, not a folder of class folders")
    ext = path.suffix.lower()
    if ext == ".npz":
        return from_npz(path, framing, shape, net)
    if ext == ".npy":
        formats.identify(path)  # an AEDAT4 (or other recording) named .npy: refused, named for what it holds
        arr = load_npy(path)
        if arr.dtype.names is None:
            return split_from_frames(arr, None, None, framing, shape, path)
    else:
        formats.identify(path, also=".npy / .npz frames")
    return _frame_recordings([(path, None)], None, framing, shape, sensor_t, progress, str(path))


# ------------------------------------------------------------------ arguments
def _no_label_map(label_map, path: Path, why: str) -> None:
    """``data.label_map`` names class folders: refused, not ignored, for an input without any."""
    if label_map:
        raise LabelError(
            f"{path}: data.label_map ({', '.join(map(str, label_map))}) maps class folders, but the input "
            f"{why}; drop data.label_map, or give a folder with one subfolder per class"
        )


def _check_input_shape(input_shape) -> tuple[int, ...] | None:
    if input_shape is None:
        return None
    shape = tuple(input_shape)
    if len(shape) not in (1, 3) or not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape):
        raise InputShapeError(f"input_shape must be (C, H, W) or flat (F,) with positive integers, got {input_shape!r}")
    return tuple(int(s) for s in shape)


def _check_sensor(sensor) -> tuple[int, int, int] | None:
    if sensor is None:
        return None
    s = tuple(sensor)
    if len(s) not in (2, 3) or not all(isinstance(v, (int, np.integer)) and v > 0 for v in s) or s[-1] > 2:
        raise SensorError(
            f"sensor must be (W, H, P), or (W, P) for a 1-D sensor, with positive integers and P "
            f"(polarities) 1 or 2, got {sensor!r}"
        )
    return (int(s[0]), 1, int(s[1])) if len(s) == 2 else tuple(int(v) for v in s)


# ------------------------------------------------------------ event folders
def _visible(folder: Path) -> list[Path]:
    # dotfiles are skipped: .DS_Store, macOS '._x.aedat4' resource forks, editors' files
    return sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)


def _check_formats(files: Sequence[Path]) -> None:
    for f in files:  # the same identification as the read that follows; a FIFO would block it
        try:
            check_input_file(f, "event file")
        except LavacutError as e:
            raise UserInputError(str(e)) from None
        formats.identify(f, where=" in an event folder")


#: folder names of data set splits (a root holding them is not a folder of classes)
_SPLIT_NAMES = {"train", "training", "test", "testing", "val", "valid", "validation"}


def _list_folder(folder: Path) -> tuple[list[tuple[Path, int | None]], list[str] | None]:
    """(file, index of its class folder) in class-then-name order, and the
    class folders' names (or None: files only, unlabelled)."""
    entries = _visible(folder)
    dirs = [p for p in entries if p.is_dir()]
    files = [p for p in entries if not p.is_dir()]
    if not entries:
        raise EmptyInputError(
            f"{folder}: empty folder; expected event files ({formats.supported()}) or one subfolder per class"
        )
    if dirs and files:
        raise UserInputError(
            f"{folder}: holds both class subfolders ({dirs[0].name}, ...) and "
            f"files ({files[0].name}, ...); put every file in its class folder, "
            f"or use no subfolders for unlabelled samples"
        )
    if not dirs:
        _check_formats(files)
        return [(f, None) for f in files], None
    items: list[tuple[Path, int | None]] = []
    for label, d in enumerate(dirs):
        inner = _visible(d)
        nested = [p for p in inner if p.is_dir()]
        if nested:
            splits = [p.name for p in dirs if p.name.lower() in _SPLIT_NAMES]
            hint = (
                f"; {folder} looks like a data set root with split folders ({', '.join(splits)}): give one "
                f"split, --input {dirs[0]}"
                if splits
                else ""
            )
            raise UserInputError(
                f"{nested[0]}: folder inside class folder {d}; a class folder must hold its event files directly{hint}"
            )
        if not inner:
            raise EmptyInputError(f"{d}: class folder '{d.name}' holds no event files")
        _check_formats(inner)
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
    n_events: int
    digest: str
    from_header: bool = False
    events: np.ndarray | None = None

    @classmethod
    def of(cls, rec: formats.Recording, label: int | None) -> "_Scan":
        ev = rec.events
        return cls(
            rec.path,
            label,
            rec.declared,
            rec.one_d,
            int(ev["x"].max()),
            int(ev["y"].max()),
            frozenset(np.unique(ev["p"]).tolist()),
            int(ev["t"][0]),
            int(ev["t"][-1]),
            len(ev),
            hashlib.blake2b(ev.tobytes(), digest_size=16).hexdigest(),
            rec.from_header,
        )


def _misfit(sc: _Scan, sensor: tuple[int, int, int]) -> str | None:
    w, h, p = sensor
    if sc.max_x >= w:
        return f"events reach x={sc.max_x}, outside the sensor {sensor} (x in 0..{w - 1})"
    if sc.max_y >= h:
        return f"events reach y={sc.max_y}, outside the sensor {sensor} (y in 0..{h - 1})"
    if p == 1 and len(sc.polarities) > 1:
        return f"events have both polarities but the sensor {sensor} has one (P=1)"
    return None


def _choose_sensor(
    scans: list[_Scan], sensor, shape, framing: FramingConfig, source: str
) -> tuple[tuple[int, int, int], str]:
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
        raise SensorError(
            f"{source}: recordings declare different sensors: {pa.path} {a}, {pb.path} {b}; "
            f"--set data.sensor=[W,H,P] frames them alike"
        )
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
                raise SensorError(
                    f"{sc.path}: {m} (the sensor size the recordings' format "
                    f"declares); --set data.sensor=[W,H,P] overrides it"
                )
        return size, f"the {first.path.suffix} {'header' if first.from_header else 'format'}"
    pols = frozenset().union(*(sc.polarities for sc in scans))
    return (
        (max(sc.max_x for sc in scans) + 1, max(sc.max_y for sc in scans) + 1, 2 if len(pols) > 1 else 1),
        "the events' extent",
    )


def _fit(sensor, origin: str, shape, framing: FramingConfig, source: str):
    """The fit plan for ``sensor`` (None: none needed), refusing a sensor
    that is not the network's size under ``framing.fit = "none"``."""
    if shape is None or len(shape) != 3:
        if framing.fit != "none":
            raise UserInputError(
                f"{source}: framing.fit={framing.fit} needs a network input (C, H, W); this "
                f"network takes {shape or 'any shape'}"
            )
        return None
    c, h, w = shape
    fw, fh, _ = framing.framed_sensor(sensor)
    plan = plan_fit(framing.fit, framing.crop, sensor, (w, h), source) if framing.downsample == 1.0 else None
    if plan is None and (fw, fh) != (w, h):
        raise InputShapeError(
            f"{source}: the camera is {sensor[0]}x{sensor[1]} (P={sensor[2]}, from {origin})"
            f"{f', {fw}x{fh} after framing.downsample' if framing.downsample != 1 else ''} "
            f"but the network takes {w}x{h} (input {shape}); "
            f"{suggest_fit(sensor, (w, h))}; or --set data.sensor=[W,H,P] if "
            f"{sensor[0]}x{sensor[1]} is not the camera's size"
        )
    return plan


def _frame_recordings(
    items, classes, framing: FramingConfig, shape, sensor, progress: bool, source: str, info: dict | None = None
) -> FramedSplit:
    from lavacut.progress import bar

    scans: list[_Scan] = []
    kept = 0
    window = framing.T * framing.bin_us
    for path, label in bar(items, enabled=progress, desc=f"reading {Path(source).name}", unit="file", leave=False):
        rec = formats.read(path)
        sc = _Scan.of(rec, label)
        if framing.slicing == "time" and sc.t0 >= window:
            raise RecordingError(
                f"{path}: every event lies after the framing window (first event "
                f"at t={sc.t0} us, window 0..{window} us = T {framing.T} x bin_us "
                f"{framing.bin_us}); timestamps must count microseconds from the "
                f"start of the recording (subtract its first timestamp, {sc.t0})"
            )
        if kept + rec.events.nbytes <= EVENT_MEMORY_BUDGET:
            sc.events, kept = rec.events, kept + rec.events.nbytes
        scans.append(sc)
    one_d = [sc for sc in scans if sc.one_d]
    if one_d and len(one_d) != len(scans):
        two_d = next(sc for sc in scans if not sc.one_d)
        raise UserInputError(
            f"{source}: mixes 1-D recordings ({one_d[0].path}: x, t, p) and 2-D ones ({two_d.path}: x, y, t, p)"
        )
    if one_d and shape is not None and len(shape) == 3 and shape[1] > 1:  # no fit makes one row into many
        raise InputShapeError(
            f"{one_d[0].path}: a 1-D recording (x, t, p: no y) but the network takes 2-D frames {shape} "
            f"(C, H, W with H={shape[1]}); run it on a network with a flat or one-row input"
        )
    notes = [n for n in (check_time_units(scans, framing, source), duplicates(scans, classes)) if n]
    sensor, origin = _choose_sensor(scans, sensor, shape, framing, source)
    plan = _fit(sensor, origin, shape, framing, source)
    chw = framing.input_shape(plan.out_sensor if plan else sensor)
    out = chw if shape is None or len(shape) == 3 else (int(np.prod(chw)),)
    if shape is not None and out != shape:
        raise InputShapeError(
            f"{source}: frames {(*chw, framing.T)} do not match the network "
            f"input {shape} + (T,) (sensor {sensor}, from {origin}; --set "
            f"data.sensor=[W,H,P] if that is not the camera's size)"
        )
    # the windows of each recording: one from t = 0, or consecutive ones to its last event
    n_win = [sc.t_last // window + 1 if framing.slicing == "windows" else 1 for sc in scans]
    check_memory((sum(n_win), *out, framing.T), scans, n_win, window, source)
    frames = np.zeros((sum(n_win), *out, framing.T), dtype=bool)
    t0_us = np.zeros(len(frames), dtype=np.int64)
    recordings: list[str] = []
    cropped = [0, 0]  # events outside the crop box, events in all
    i = 0
    for sc, n in zip(
        bar(scans, enabled=progress, desc=f"framing {Path(source).name}", unit="recording", leave=False), n_win
    ):
        events = sc.events if sc.events is not None else formats.read(sc.path).events
        if plan is not None and plan.box is not None:
            count_cropped(events, plan, sc.path, cropped)
        for k in range(n):
            ev = events
            if framing.slicing == "windows":
                lo, hi = np.searchsorted(events["t"], [k * window, (k + 1) * window])
                ev = events[lo:hi].copy()
                ev["t"] -= k * window
            if len(ev):  # an empty window stays empty frames
                try:
                    frames[i] = frame_events(ev, sensor, framing, source=str(sc.path), fit=plan).reshape(*out, -1)
                except EventError as e:
                    raise RecordingError(str(e)) from e
            t0_us[i] = k * window
            recordings.append(str(sc.path))
            i += 1
    labels = (
        np.array([sc.label for sc, n in zip(scans, n_win) for _ in range(n)], dtype=np.int64)
        if classes is not None or (scans and scans[0].label is not None)
        else None
    )
    split = FramedSplit(
        frames,
        labels,
        sensor,
        framing,
        classes=classes,
        source=source,
        recordings=recordings,
        t0_us=t0_us if framing.slicing == "windows" else None,
        info=dict(info or {}),
    )
    split.notes.extend(notes)
    state_sensor(scans, sensor, origin, split)
    if plan is not None:
        split.info["fit"] = plan.as_dict()
        if plan.box is not None:
            split.info["fit"]["events_outside_crop"] = cropped[0]
            if cropped[0]:
                split.info["fit"]["note"] += (
                    f" (the crop leaves out {cropped[0]} of {cropped[1]} events, {100 * cropped[0] / cropped[1]:.1f} %)"
                )
        split.notes.append(split.info["fit"]["note"])
    if framing.slicing == "windows":
        split.info["windows"] = {"n_recordings": len(scans), "n_windows": len(frames), "window_ms": window / 1000}
    elif framing.slicing == "time":
        left_out(scans, window, split)
    return split
