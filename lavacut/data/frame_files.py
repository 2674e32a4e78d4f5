"""Frame arrays a user gives directly (``--input``): a ``.npy`` of frames
``(*input_shape, T)`` or ``(N, *input_shape, T)``, or an ``.npz`` with
``frames`` and optional ``labels`` and ``classes``; checked (shape, binary
values, labels against the network's classes) into a :class:`FramedSplit`.
Files are never unpickled; errors name the file and the field or shape."""

from __future__ import annotations

import dataclasses
import zipfile
import zlib
from pathlib import Path

import numpy as np

from lavacut.data.framing import FramedSplit, FramingConfig
from lavacut.data.input_errors import EmptyInputError, FrameValuesError, InputShapeError, LabelError, UserInputError
from lavacut.data.labels import check_class_names, check_labels_range

_NPZ_KEYS = ("frames", "labels", "classes")


def from_npz(path: Path, framing: FramingConfig, shape, net=(None, None)) -> FramedSplit:
    arrays = read_npz(path)
    split = split_from_frames(arrays["frames"], arrays.get("labels"), arrays.get("classes"), framing, shape, path)
    return _against_network(split, arrays.get("classes") is not None, *net)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` of frames (``frames``, optional ``labels``
    and ``classes``), never unpickled; errors name the file and the key."""
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
            raise UserInputError(
                f"{path}: no 'frames' array in the archive; it holds "
                f"{', '.join(keys) or 'nothing'} (expected frames, and optional "
                f"labels and classes){_events_npz_hint(keys)}"
            )
        unknown = [k for k in keys if k not in _NPZ_KEYS]
        if unknown:  # e.g. 'label' for 'labels': better an error than labels silently dropped
            raise UserInputError(f"{path}: unexpected key(s) {', '.join(unknown)}; known keys: {', '.join(_NPZ_KEYS)}")
        return {k: _npz_member(z, k, path) for k in keys}


def _events_npz_hint(keys: list[str]) -> str:
    if not ({"x", "t", "p"} <= set(keys) or "events" in keys):
        return ""
    return (
        "; events are read from a .npy of one recording (a structured array with fields x, y, t, p, "
        "t in microseconds) or a folder of them, not from an .npz"
    )


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
            split.info["label_mapping"] = {
                "rule": "by class name",
                "map": {c: int(i) for c, i in zip(split.classes, order)},
            }
            split.classes = list(classes)
        else:
            split.notes.append(
                f"{split.source}: its classes ({', '.join(split.classes[:4])}, ...) are not the "
                f"network's ({', '.join(list(classes)[:4])}, ...): labels are taken as output "
                f"indices"
            )
    check_labels_range(split.labels, n, split.source)
    return split


def _npz_member(z, key: str, path: Path) -> np.ndarray:
    try:
        return z[key]
    except ValueError as e:
        if "Object arrays" in str(e):
            raise UserInputError(
                f"{path}: '{key}' is an object array (Python objects); lavacut "
                f"never unpickles files: save numbers, or strings for classes"
            ) from e
        raise UserInputError(f"{path}: '{key}' is unreadable ({e})") from e
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise UserInputError(f"{path}: '{key}' is corrupt or truncated ({e})") from e


def split_from_frames(arr, labels, classes, framing: FramingConfig, shape, path: Path) -> FramedSplit:
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


#: the axis order of frames lavacut reads (lava-dl's), for messages
ORDER = "(N, C, H, W, T)"


def _other_order(got: tuple[int, ...], shape: tuple[int, ...]) -> str:
    """Why frames ``got`` may hold the network's input ``shape`` with their
    axes in another order (time not last, channels last), or ""."""
    rest = list(got[1:])  # after N
    for d in shape:
        if d not in rest:
            return ""
        rest.remove(d)
    if len(rest) != 1 or got[1:-1] == shape:
        return ""
    return (
        f"; its axes hold the network input {shape} and {rest[0]} steps in another order: lavacut reads "
        f"{ORDER} for (C, H, W) inputs, (N, F, T) for flat ones, time last (np.moveaxis puts them in order)"
    )


def _channels_last(dims: tuple[int, ...]) -> bool:
    """(H, W, C) rather than (C, H, W): the last axis holds two polarities
    and the first more (a last axis of 1 flattens the same either way)."""
    return len(dims) == 3 and dims[2] == 2 < dims[0]


def _flattened(arr: np.ndarray, f: int, src: str) -> np.ndarray:
    """(N, C, H, W, T) or one (C, H, W, T) flattened to (N, f, T), C, H, W
    order as SLAYER flattens; (H, W, C) frames are refused, not scrambled."""
    one = arr.ndim == 4
    dims = tuple(arr.shape[:3] if one else arr.shape[1:4])
    if _channels_last(dims):
        raise InputShapeError(
            f"{src}: frames {arr.shape} look like {'(H, W, C, T)' if one else '(N, H, W, C, T)'} (the last "
            f"spatial axis has {dims[2]} entries, as polarities); the network takes {f} features per step "
            f"flattened in (C, H, W) order: give {'(C, H, W, T)' if one else ORDER} frames "
            f"(np.moveaxis(frames, {2 if one else 3}, {0 if one else 1})), or (N, {f}, T)"
        )
    return arr.reshape(1 if one else arr.shape[0], f, arr.shape[-1])


def _frames_array(arr: np.ndarray, shape, src: str) -> np.ndarray:
    """Validate a frame array and return it bool ``(N, *dims, T)``."""
    check_frame_values(arr, src)
    nd = arr.ndim
    if shape is None:
        if nd == 4:
            arr = arr[None]
        elif nd != 5:
            raise InputShapeError(
                f"{src}: frames {arr.shape}: expected (C, H, W, T) for one sample or {ORDER} for many"
                f"{_events_hint(arr)}"
            )
    else:
        k, f = len(shape), int(np.prod(shape))
        if nd == k + 1 and arr.shape[:-1] == shape:
            arr = arr[None]
        elif nd == k + 2 and arr.shape[1:-1] == shape:
            pass
        elif k == 1 and nd == 4 and int(np.prod(arr.shape[:3])) == f:
            arr = _flattened(arr, f, src)
        elif k == 1 and nd == 5 and int(np.prod(arr.shape[1:4])) == f:
            arr = _flattened(arr, f, src)
        elif _squeezed(arr.shape[1:-1]) == _squeezed(shape) and nd >= 3:
            # (N, 64, T) for an input of (1, 1, 64): the same features, no ambiguity
            arr = arr.reshape(arr.shape[0], *shape, arr.shape[-1])
        elif _squeezed(arr.shape[:-1]) == _squeezed(shape) and nd >= 2:
            arr = arr.reshape(1, *shape, arr.shape[-1])
        else:
            raise InputShapeError(
                f"{src}: frames {arr.shape} do not match the network input "
                f"{shape} + (T,) (one sample {(*shape, 'T')}, or N samples "
                f"{('N', *shape, 'T')}){_other_order(arr.shape, shape) or _events_hint(arr)}"
            )
    if arr.shape[0] == 0 or arr.shape[-1] == 0:
        raise EmptyInputError(f"{src}: frames {arr.shape} hold no samples or no time steps")
    return np.ascontiguousarray(arr, dtype=bool)


def _events_hint(arr: np.ndarray) -> str:
    """A plain (n, 4) or (n, 3) integer table is events without field names."""
    if arr.ndim == 2 and arr.shape[1] in (3, 4) and arr.shape[0] > 4 and arr.dtype.kind in "iuf":
        cols = "x, y, t, p" if arr.shape[1] == 4 else "x, t, p"
        return (
            f"; if its {arr.shape[1]} columns are events ({cols}), save them as a structured array with "
            f"fields {cols} (t in microseconds), which lavacut reads as a recording"
        )
    return ""


def check_frame_values(arr: np.ndarray, src: str) -> None:
    """Frames of numbers holding only 0 and 1 (bool, any int or float
    type); the bad values are counted by kind."""
    if arr.dtype.kind not in "biuf":
        raise FrameValuesError(f"{src}: frames have type {arr.dtype}; expected bool or 0/1 numbers")
    if arr.dtype.kind == "b":
        return
    finite = np.isfinite(arr) if arr.dtype.kind == "f" else True  # NaN and inf are counted apart
    nan = int(np.isnan(arr).sum()) if arr.dtype.kind == "f" else 0
    inf = int(np.isinf(arr).sum()) if arr.dtype.kind == "f" else 0
    neg = int(((arr < 0) & finite).sum())
    other = int(((arr > 0) & (arr != 1) & finite).sum())
    if nan or inf or neg or other:
        parts = [
            f"{c} {what}"
            for c, what in (
                (nan, "NaN values"),
                (inf, "infinite values"),
                (neg, "negative values"),
                (other, "values other than 0/1"),
            )
            if c
        ]
        raise FrameValuesError(
            f"{src}: frames {arr.shape} must be binary spikes (0/1); found {', '.join(parts)} (of {arr.size})"
            f"{_events_hint(arr)}"
        )


def _check_classes(classes: np.ndarray, path: Path) -> list[str]:
    if classes.dtype.kind not in "US" or classes.ndim != 1 or len(classes) == 0:
        raise LabelError(
            f"{path}: classes must be a non-empty 1-D array of strings, got {classes.dtype} {classes.shape}"
        )
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
        raise LabelError(f"{path}: labels have shape {labels.shape} but there are {n} samples (expected ({n},))")
    if labels.dtype.kind == "u" and labels.max() > np.iinfo(np.int64).max:  # would wrap negative
        raise LabelError(f"{path}: label {int(labels.max())} is not a class index (too large)")
    if labels.min() < 0:
        raise LabelError(f"{path}: {int((labels < 0).sum())} negative labels (min {int(labels.min())})")
    if classes is not None and labels.max() >= len(classes):
        bad = int((labels >= len(classes)).sum())
        raise LabelError(
            f"{path}: {bad} labels out of range of the {len(classes)} classes "
            f"(max label {int(labels.max())}, valid 0..{len(classes) - 1})"
        )
    return labels.astype(np.int64)


def frames_layout(frames: np.ndarray, labels=None, classes=None, src: str = "frames") -> str:
    """What ``lavacut run --input`` reads from these arrays whatever the
    network (for ``lavacut inspect``), after the checks that need no network:
    types, 0/1 values, samples and steps, labels and classes."""
    check_frame_values(frames, src)
    layouts = {2: "one sample (F, T)", 3: "(N, F, T)", 4: "one sample (C, H, W, T)", 5: ORDER}
    if frames.ndim not in layouts:
        raise InputShapeError(
            f"{src}: frames {frames.shape}: expected {ORDER} or (N, F, T), or one sample (C, H, W, T) or (F, T)"
            f"{_events_hint(frames)}"
        )
    n = frames.shape[0] if frames.ndim in (3, 5) else 1
    if frames.size == 0:
        raise EmptyInputError(f"{src}: frames {frames.shape} hold no samples or no time steps")
    class_list = _check_classes(classes, src) if classes is not None else None
    if labels is not None:
        _check_labels(labels, class_list, n, src)
    dims = frames.shape[-4:-1] if frames.ndim >= 4 else frames.shape[-2:-1]
    line = (
        f"{n} sample{'s' if n != 1 else ''} of {dims} per step, T={frames.shape[-1]} steps, as {layouts[frames.ndim]}"
    )
    if _channels_last(tuple(dims)):
        line += (
            f"; the last spatial axis has {dims[2]} entries, as polarities in (H, W, C) order would: "
            f"run reads (C, H, W) and refuses it for a flat network"
        )
    return line
