"""Progress bars: every tqdm bar of lavacut is made here, so that one rule
decides whether bars are drawn. A bar is drawn on stderr only when its caller
asks for one, ``--quiet`` (:func:`set_quiet`) is off, and stderr is a terminal:
redrawn bars in a log file or a CI transcript are noise.

Lava must be imported before the first bar: tqdm's first bar, even a
disabled one, makes a multiprocessing lock that fixes the start method, and
Lava's later ``set_start_method('fork')`` raises. ``lavacut.runtime`` takes
care of that when it is imported (the CLI and the tests import it first);
:func:`shown` lets callers skip making a bar at all.
"""

from __future__ import annotations

import sys

_quiet = False


def set_quiet(quiet: bool) -> None:
    """Silence (True) or allow (False) every progress bar of this process."""
    global _quiet
    _quiet = bool(quiet)


def shown(enabled: bool = True) -> bool:
    """Whether a bar the caller ``enabled`` is drawn: not quiet, stderr a terminal."""
    if not enabled or _quiet:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def bar(iterable=None, *, enabled: bool = True, **kwargs):
    """``tqdm(iterable, **kwargs)`` on stderr, disabled unless :func:`shown`.
    A disabled bar still iterates ``iterable`` and accepts ``update``/``write``."""
    from tqdm import tqdm

    return tqdm(iterable, file=sys.stderr, disable=not shown(enabled), **kwargs)
