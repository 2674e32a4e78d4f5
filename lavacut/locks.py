"""Folder locks (flock on the folder itself: no lock file left behind), so
that two lavacut commands on the same files take turns or are refused
instead of mixing their writes (Linux)."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Iterator

from lavacut.util import LavacutError


class FolderInUse(LavacutError):
    """Another lavacut command holds the folder (:func:`exclusive_folder`)."""


#: a folder that cannot be locked (no read permission, a file system without flock): written unlocked,
#: as before locks, rather than refused
UNLOCKABLE = -1


def _flock(folder: Path, wait_s: float) -> int | None:
    """An open fd of ``folder`` holding its exclusive flock (released when
    the fd closes), waiting up to ``wait_s``; None if still held elsewhere;
    :data:`UNLOCKABLE` if it cannot be locked at all."""
    import fcntl

    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return UNLOCKABLE
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None
            time.sleep(0.02)
        except OSError:
            os.close(fd)
            return UNLOCKABLE


@contextlib.contextmanager
def _held(fd: int) -> Iterator[None]:
    try:
        yield
    finally:
        if fd != UNLOCKABLE:
            os.close(fd)  # releases the lock


def folder_lock(path: str | os.PathLike, wait_s: float = 120.0) -> contextlib.AbstractContextManager[None]:
    """Hold an exclusive lock on the folder holding ``path`` (flock on the
    folder itself: no lock file left behind) for a read-modify-write or a
    group of files written together: two lavacut processes (or threads)
    then take turns instead of mixing their writes. Such writes take
    seconds; a folder locked longer (a training run's) is named."""
    folder = Path(path).parent
    folder.mkdir(parents=True, exist_ok=True)
    fd = _flock(folder, wait_s)
    if fd is None:
        raise LavacutError(f"{path}: its folder {folder} stayed locked by another lavacut command for {wait_s:g} s")
    return _held(fd)


def exclusive_folder(folder: str | os.PathLike, what: str) -> contextlib.AbstractContextManager[None]:
    """Create ``folder`` and hold it for one command (a training run):
    a second command on it is refused at once, not mixed in."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = _flock(folder, 0.0)
    if fd is None:
        raise FolderInUse(
            f"{what} {folder} is in use by another lavacut command (a training run writing its "
            f"checkpoints there); wait for it, or give another folder"
        )
    return _held(fd)
