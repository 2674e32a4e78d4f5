"""Read one event recording file into lavacut's event array.

The formats and their readers are the table of :mod:`lavacut.data.formats`
(one module per format: tonic structured ``.npy``, N-MNIST ``.bin``,
``.aedat4``, Prophesee ``.dat`` and EVT 2.0 ``.raw``); this module is the
entry point the data stage reads through, and keeps the names other modules
import (the user-input errors, :class:`Recording`).

Every error is a :class:`UserInputError` that names the file.
"""

from __future__ import annotations

from pathlib import Path

from lavacut.data import formats
from lavacut.data.formats.base import Recording, structured_to_events
from lavacut.data.formats.npy import load_npy
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

__all__ = [
    "read_event_file",
    "supported_extensions",
    "Recording",
    "load_npy",
    "structured_to_events",
    "UserInputError",
    "UnsupportedFileError",
    "EmptyInputError",
    "InputShapeError",
    "FrameValuesError",
    "LabelError",
    "SensorError",
    "RecordingError",
]


def supported_extensions() -> str:
    """The registered formats for people: ".npy (...), .bin (N-MNIST), ..."."""
    return formats.supported()


def read_event_file(path: str | Path) -> Recording:
    """Read one recording through the format table (:func:`lavacut.data.formats.read`)."""
    return formats.read(path)
