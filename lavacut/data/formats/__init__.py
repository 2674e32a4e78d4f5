"""The event file formats lavacut reads: one module per format, one table.

Every module of this package that defines ``FORMAT`` (an
:class:`EventFormat`) is registered when the package is imported, in module
name order; modules whose names start with ``_`` (and ``base``) hold shared
code. :func:`register` adds a format from anywhere else (a plug-in, a test).
Adding a format is one new module here (docs/extending.md).

What a file is, is decided by :func:`identify` alone, used for every read
(:func:`read`), for the check of a folder before it is read
(:mod:`lavacut.data.user_input`) and for describing a file
(:func:`describe`): the format claiming the file's suffix, unless that
format's ``sniff`` says the content is certainly not it and another
format's ``sniff`` recognises it (then the file is refused, named for what
it holds); a format without a ``sniff`` (N-MNIST ``.bin``) yields to any
format whose ``sniff`` recognises the content. A suffix no format claims is refused, with a hint when the
content is recognised.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from lavacut.data.formats.base import EventFormat, Recording
from lavacut.data.input_errors import RecordingError, UnsupportedFileError
from lavacut.util import LavacutError, check_input_file

__all__ = [
    "EventFormat",
    "Recording",
    "FORMATS",
    "register",
    "unregister",
    "by_suffix",
    "supported",
    "recognised",
    "identify",
    "content_format",
    "read",
    "describe",
]

#: name -> format, in registration order
FORMATS: dict[str, EventFormat] = {}
#: the bytes a sniff sees: enough for a Prophesee header
HEAD_BYTES = 8192


def register(fmt: EventFormat, replace: bool = False) -> EventFormat:
    """Add ``fmt`` to the table (``replace``: in place of the format of the
    same name). A suffix claimed by another format is refused."""
    if not isinstance(fmt, EventFormat):
        raise TypeError(f"register() takes an EventFormat, got {type(fmt).__name__}")
    if fmt.name in FORMATS and not replace:
        raise ValueError(f"event format {fmt.name!r} is already registered")
    bad = [s for s in fmt.suffixes if not s.startswith(".") or s != s.lower()]
    if not fmt.suffixes or bad:
        raise ValueError(
            f"event format {fmt.name!r}: suffixes must be lower case and start with a dot, got {fmt.suffixes!r}"
        )
    for other in FORMATS.values():
        taken = set(fmt.suffixes) & set(other.suffixes)
        if other.name != fmt.name and taken:
            raise ValueError(f"event format {fmt.name!r}: suffix {sorted(taken)[0]} is already read by {other.name!r}")
    FORMATS[fmt.name] = fmt
    return fmt


def unregister(name: str) -> EventFormat:
    """Remove the format ``name`` from the table; returns it."""
    return FORMATS.pop(name)


def by_suffix(suffix: str) -> EventFormat | None:
    """The format claiming ``suffix`` (".bin"; any case), or None."""
    suffix = suffix.lower()
    return next((f for f in FORMATS.values() if suffix in f.suffixes), None)


def supported() -> str:
    """The formats for people: ".npy (tonic structured ...), .bin (N-MNIST), ..."."""
    return ", ".join(f"{s} ({f.description})" for f in FORMATS.values() for s in f.suffixes)


def _head(path: Path) -> bytes:
    if not path.is_file():  # missing, or a FIFO / device whose open or read would block: the reader says so
        return b""
    try:
        with open(path, "rb") as f:
            return f.read(HEAD_BYTES)
    except OSError:  # missing or unreadable: the reader says so
        return b""


def recognised(head: bytes) -> list[EventFormat]:
    """The formats whose signature the bytes ``head`` (a file's first
    :data:`HEAD_BYTES`) carry."""
    return [f for f in FORMATS.values() if f.sniff is not None and f.sniff(head) is True]


def content_format(path: str | Path) -> EventFormat | None:
    """The format whose signature the file's first bytes carry, whatever
    its name says; None when no format recognises them."""
    found = recognised(_head(Path(path)))
    return found[0] if found else None


def identify(path: str | Path, where: str = "", also: str = "") -> EventFormat:
    """The format of the file at ``path`` (see the module's docstring), or
    :class:`UnsupportedFileError` naming the file and listing the formats;
    ``where`` (" in an event folder") and ``also`` (other inputs the caller
    accepts, listed first) only word that error."""
    path = Path(path)
    fmt = by_suffix(path.suffix)
    head = _head(path)
    # a format without a signature (N-MNIST .bin) cannot say "certainly not me": another format's
    # signature (a .npy or AEDAT4 named .bin) says it instead
    if fmt is not None and (not head or (fmt.sniff(head) is not False if fmt.sniff else not recognised(head))):
        return fmt
    others = [f for f in recognised(head) if f is not fmt]
    if fmt is not None:
        if not others:
            return fmt  # its reader says what is wrong with the file
        raise UnsupportedFileError(
            f"{path}: named {path.suffix} ({fmt.description}) but it holds "
            f"{others[0].description}; rename it {path.with_suffix(others[0].suffixes[0]).name}"
        )
    hint = (
        f"; its content is {others[0].description}: name it {path.with_suffix(others[0].suffixes[0]).name}"
        if others
        else ""
    )
    listing = f"{also}, or event files: " if also else "event files: "
    raise UnsupportedFileError(
        f"{path}: unsupported file type {path.suffix or '(no extension)'!r}{where}; "
        f"supported {listing}{supported()}{hint}"
    )


def read(path: str | Path) -> Recording:
    """Read one recording through the format :func:`identify` gives; errors
    are :class:`~lavacut.data.input_errors.UserInputError` naming the file."""
    path = Path(path)
    fmt = identify(path)
    if not path.is_file():
        try:
            check_input_file(path, "event file")  # a FIFO, socket or device: named as such
        except LavacutError as e:
            raise RecordingError(str(e)) from None
        raise RecordingError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise RecordingError(f"{path}: empty file (0 bytes)")
    rec = fmt.read(path)
    if not isinstance(rec, Recording):
        raise TypeError(f"event format {fmt.name!r}: its reader returned {type(rec).__name__}, not a Recording")
    return rec


def describe(path: str | Path) -> dict[str, Any]:
    """What a recording is, read through :func:`read`: its format, how it was
    recognised, its event count, duration, extent and declared sensor."""
    path = Path(path)
    fmt = identify(path)
    rec = read(path)
    ev = rec.events
    sniffed = fmt.sniff(_head(path)) if fmt.sniff is not None else None
    return {
        "path": str(path),
        "format": fmt.name,
        "description": fmt.description,
        "recognised_by": "suffix and content" if sniffed else "suffix",
        "events": int(len(ev)),
        "duration_us": int(ev["t"][-1] - ev["t"][0]),
        "t_range_us": [int(ev["t"][0]), int(ev["t"][-1])],
        "extent": [int(ev["x"].max()) + 1, int(ev["y"].max()) + 1],
        "polarities": sorted(int(p) for p in set(ev["p"].tolist())),
        "one_d": rec.one_d,
        "sensor": list(rec.declared) if rec.declared is not None else None,
        "sensor_from": None if rec.declared is None else ("header" if rec.from_header else "format"),
    }


def _register_modules() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        fmt = getattr(importlib.import_module(f"{__name__}.{info.name}"), "FORMAT", None)
        if fmt is not None:
            register(fmt)


_register_modules()
