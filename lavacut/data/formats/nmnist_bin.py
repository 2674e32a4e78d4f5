"""N-MNIST ``.bin`` (also N-Caltech101's): ATIS 5-byte records (x, y, then
polarity bit + 23-bit timestamp in microseconds, big-endian), read with
tonic's reader. The format has no header and no magic: it is known by its
suffix; its sensor is N-MNIST's 34x34x2 when the events fit it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lavacut.data.events import EVENT_DTYPE, EventError, EventFileError, validate_events
from lavacut.data.formats.base import EventFormat, Recording, check_events
from lavacut.data.input_errors import RecordingError

NMNIST_SENSOR = (34, 34, 2)
NMNIST_RECORD_BYTES = 5


def check_atis_size(path: Path) -> None:
    """An ATIS ``.bin`` recording (N-MNIST, N-Caltech101) is whole 5-byte records."""
    size = path.stat().st_size
    if size % NMNIST_RECORD_BYTES:
        raise EventFileError(
            f"{path}: truncated recording: {size} bytes is not a multiple of the "
            f"{NMNIST_RECORD_BYTES}-byte ATIS event record ({size // NMNIST_RECORD_BYTES} whole "
            f"records and {size % NMNIST_RECORD_BYTES} stray bytes)"
        )


def read_nmnist_file(path: str | Path, sensor_size: tuple[int, int, int] | None = NMNIST_SENSOR) -> np.ndarray:
    """Read one N-MNIST ``.bin`` recording with tonic's reader, validated
    (``sensor_size`` None: any ATIS sensor, as N-Caltech101's files).

    tonic drops the timestamp-overflow records and adds their offset.
    Returns :data:`EVENT_DTYPE` events on the 34x34x2 sensor, sorted by t.
    Raises :class:`EventFileError` for a missing, empty or truncated file
    and :class:`EventError` for events outside the sensor, unsorted or
    negative timestamps; every message names the file.
    """
    from tonic.io import read_mnist_file

    path = Path(path)
    if not path.is_file():
        raise EventFileError(f"{path}: no such N-MNIST recording file")
    if path.stat().st_size == 0:
        raise EventFileError(f"{path}: empty file (0 bytes), not an N-MNIST recording")
    check_atis_size(path)
    events = read_mnist_file(str(path), dtype=EVENT_DTYPE)
    if sensor_size is None and len(events):
        sensor_size = (int(events["x"].max()) + 1, int(events["y"].max()) + 1, 2)
    return validate_events(events, sensor_size or NMNIST_SENSOR, source=str(path))


def read(path: Path) -> Recording:
    try:
        events = read_nmnist_file(path, sensor_size=None)
    except EventError as e:  # already names the file; make it a user-input error
        raise RecordingError(str(e)) from e
    check_events(events, str(path))
    # the same 5-byte ATIS records hold N-Caltech101's larger recordings
    fits = not len(events) or (events["x"].max() < NMNIST_SENSOR[0] and events["y"].max() < NMNIST_SENSOR[1])
    return Recording(path, events, NMNIST_SENSOR if fits else None)


FORMAT = EventFormat("nmnist_bin", "N-MNIST", (".bin",), read)
