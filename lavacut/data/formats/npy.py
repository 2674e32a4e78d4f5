"""NumPy ``.npy``: one recording as a tonic structured array (x, y, t, p; or
x, t, p for 1-D sensors such as cochleas), read with
``np.load(allow_pickle=False)``: never unpickled."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lavacut.data.formats.base import EventFormat, Recording, structured_to_events
from lavacut.data.input_errors import RecordingError, UserInputError

MAGIC = b"\x93NUMPY"


def load_npy(path: Path) -> np.ndarray:
    """``np.load`` of a .npy that never unpickles; errors name the file."""
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as e:
        if "Object arrays" in str(e):
            raise UserInputError(
                f"{path}: holds an object array (Python objects); lavacut never "
                f"unpickles files: save a plain numeric or structured array"
            ) from e
        if "pickled data" in str(e):  # numpy's answer for anything without a .npy header
            raise RecordingError(f"{path}: not a NumPy .npy file (no .npy header; pickles are never loaded)") from e
        raise RecordingError(f"{path}: corrupt or truncated .npy file ({e})") from e
    except (OSError, EOFError) as e:
        raise RecordingError(f"{path}: corrupt or truncated .npy file ({e})") from e
    if not isinstance(arr, np.ndarray):
        raise UserInputError(f"{path}: is an .npz archive, not a single .npy array; name it .npz")
    return arr


def holds_events(path: Path) -> bool:
    """A .npy of a structured (event) array, not frames; from its header
    (memory-mapped, not read). An unreadable file counts as events: its
    reader says what is wrong."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False).dtype.names is not None
    except (ValueError, OSError, EOFError):
        return True


def read(path: Path) -> Recording:
    arr = load_npy(path)
    if arr.dtype.names is None:
        raise RecordingError(
            f"{path}: holds a {arr.dtype} array of shape {arr.shape}, not a "
            f"structured event array with fields x, y, t, p (frame arrays are "
            f"read when given directly, not inside an event folder)"
        )
    events, one_d = structured_to_events(arr, str(path))
    return Recording(path, events, None, one_d)


FORMAT = EventFormat(
    "npy", "tonic structured events (x, y, t, p or x, t, p)", (".npy",), read, sniff=lambda head: head.startswith(MAGIC)
)
