"""argparse value types: each checks one range and says it in one line."""

from __future__ import annotations

import argparse

from lavacut.config import MAX_TASKS, max_workers


def probability(lo_closed: bool, hi_closed: bool):
    """A number in the unit interval with the given ends."""
    text = f"{'[' if lo_closed else '('}0, 1{']' if hi_closed else ')'}"

    def parse(raw: str) -> float:
        try:
            v = float(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number in {text}, got {raw!r}") from None
        if not ((0 <= v if lo_closed else 0 < v) and (v <= 1 if hi_closed else v < 1)):
            raise argparse.ArgumentTypeError(f"must be in {text}, got {raw}")
        return v

    return parse


def eps_or_auto(raw: str):
    """--eps: a number in [0, 1), or ``auto``."""
    return "auto" if raw == "auto" else probability(True, False)(raw)


def at_least_zero(kind):
    """A finite number (``kind`` int or float) >= 0."""
    what = "an integer" if kind is int else "a number"

    def parse(raw: str):
        try:
            v = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what} >= 0, got {raw!r}") from None
        if not v >= 0 or v == float("inf"):
            raise argparse.ArgumentTypeError(f"must be {what} >= 0, got {raw}")
        return v

    return parse


def at_least_one(raw: str) -> int:
    """An integer >= 1 (a number of copies: --replicas)."""
    try:
        v = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {raw!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {v}")
    return v


def workers(raw: str) -> int:
    """--workers: 1 .. MAX_TASKS (the local executor's bound, the CPU cores,
    is checked by :func:`lavacut.cli.common.check_local_workers`)."""
    try:
        v = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer in 1..{MAX_TASKS}, got {raw!r}") from None
    if not 1 <= v <= MAX_TASKS:
        raise argparse.ArgumentTypeError(
            f"must be in 1..{MAX_TASKS} (tasks in flight; the local executor: "
            f"at most the {max_workers()} CPU cores here), got {v}"
        )
    return v


def positive_number(raw: str) -> float:
    """A finite number > 0."""
    try:
        v = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {raw!r}") from None
    if not 0 < v < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {raw}")
    return v


def dt(raw: str):
    """--dt: seconds per step (> 0), or ``bin``."""
    return "bin" if raw == "bin" else positive_number(raw)


#: an integer >= 0 (a count: --samples, --lanes)
count = at_least_zero(int)
