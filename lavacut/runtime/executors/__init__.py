"""Where lavacut's independent tasks run: ONE seam for every parallel job.

A job is a list of :class:`Task` (a module-level function and its keyword
arguments); an executor runs them, at most ``workers`` in flight, and
returns their results in task order. Used by the sharded Lava runs
(:mod:`lavacut.runtime.workers`: run, evaluate --engine lava, verify), the
sharded SLAYER passes (:mod:`lavacut.pipelines.shards`: calibrate,
evaluate) and the training sweeps (:mod:`lavacut.pipelines.rcs_sweep`,
:mod:`lavacut.pipelines.experiments`).

Executors (:data:`EXECUTORS`, name -> class: every module of this package
that names its class ``EXECUTOR``; an optional engine is imported inside
its methods, so listing them imports no engine):

- ``local`` (default, nothing to start): a fork per task on this machine
  (Lava's start method); with ``workers=1`` the tasks run one after the other
  in this process.
- ``ray``: Ray tasks on a cluster (``RAY_ADDRESS`` / ``--ray-address``), or on a
  local Ray that lavacut starts and stops itself
  (:mod:`lavacut.runtime.executors.ray_cluster`).

Another executor is one new module with a subclass of :class:`Executor`
named ``EXECUTOR`` (docs/extending.md).

Files: no shared filesystem is assumed. ``Task.files`` names the keyword
arguments that are paths: ``"file"`` (read by the task: an export) or
``"dir"`` (a folder the task reads and writes: a run folder). The local
executor passes the paths as they are; a remote one ships their bytes to a
temporary copy beside the task and ships a ``"dir"`` back, written on the
driver (atomically, file by file).

Failures: a task that raised :class:`~lavacut.util.LavacutError` (bad input)
is re-raised as a LavacutError naming the task (exit 2); any other exception
as :class:`TaskFailed` naming the task (an internal error, exit 3); a task
interrupted by Ctrl-C/SIGTERM as KeyboardInterrupt. On any of these, and on
Ctrl-C or SIGTERM in the driver, every other task is cancelled and its
processes (Lava's included) are stopped before the exception leaves
:meth:`Executor.map`.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lavacut.util import LavacutError, atomic_write_bytes

#: executor name -> "module:Class" (imported only when chosen: Ray is an optional extra)
#: executor name -> class (filled from this package's modules at the end of this file)
EXECUTORS: dict[str, type] = {}
DEFAULT_EXECUTOR = "local"


@dataclass
class Task:
    """One unit of work: ``fn(**kwargs)``; ``fn`` must be importable by name
    (a module-level function) so that a remote worker can run it."""

    name: str  # says which one in messages: "shard 2 (samples 10..19)", "run dense_a0_s1"
    fn: Callable[..., Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    weight: int = 1  # progress units (a shard's samples; 1 for a run)
    files: dict[str, str] = field(default_factory=dict)  # kwarg -> "file" | "dir" (see module doc)
    #: expected run time, any unit: the costliest start first (a long task started last would run alone at the end)
    cost: float = 0.0


class TaskFailed(Exception):
    """A task failed for another reason than bad input: an internal error."""


class Executor:
    """The interface: a context manager whose :meth:`map` runs tasks."""

    name = "?"

    def __init__(self, workers: int = 1, address: str | None = None):
        if int(workers) < 1:
            raise LavacutError(f"workers must be >= 1, got {workers}")
        self.workers = int(workers)
        self.address = address
        #: per task of the last map, where it ran (a node id, or "local")
        self.placements: list[str] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release what the executor started (nothing for ``local``)."""

    def map(
        self, tasks: list[Task], progress: bool = True, desc: str = "tasks", unit: str = "task", on_result=None
    ) -> list:
        """The tasks' results in task order; ``on_result(i, result)`` is
        called in the driver as each task finishes (in finishing order)."""
        raise NotImplementedError

    @staticmethod
    def _deliver(tasks: list[Task], i: int, status: str, value, results: list, on_result, bar) -> None:
        """Task ``i`` came back: raise its failure, or keep its result, tell
        ``on_result`` and advance the bar (every executor's map does this)."""
        if status != "ok":
            raise failure(tasks[i], status, value)
        results[i] = value
        if on_result is not None:
            on_result(i, value)
        if bar is not None:
            bar.update(tasks[i].weight)


def executor_names() -> tuple[str, ...]:
    return tuple(EXECUTORS)


def get_executor(name: str | None = None, workers: int = 1, address: str | None = None) -> Executor:
    """An executor by name (default ``local``); ``address``: Ray's cluster
    (else ``RAY_ADDRESS``, else a local Ray started for this command)."""
    name = name or DEFAULT_EXECUTOR
    if name not in EXECUTORS:
        raise LavacutError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    return EXECUTORS[name](workers=workers, address=address)


@contextlib.contextmanager
def executor_scope(executor: str | Executor | None, workers: int = 1, address: str | None = None):
    """An open executor: ``executor`` itself when it is one (left open: its
    owner closes it), else a new one by name, closed at the end."""
    if isinstance(executor, Executor):
        yield executor
        return
    with get_executor(executor, workers=workers, address=address) as ex:
        yield ex


# ----------------------------------------------------------------------------- helpers for executors
def failure(task: Task, kind: str, message: str) -> BaseException:
    """The exception the driver raises for a failed task (see module doc)."""
    if kind == "interrupted":
        return KeyboardInterrupt()
    if kind == "bad-input":
        return LavacutError(f"{task.name} failed: {message}")
    return TaskFailed(f"{task.name} failed: {message}")


def read_dir(path: str | os.PathLike) -> dict[str, tuple[bytes, float]]:
    """Every file under a folder, by relative path, with its modification
    time (a run folder to ship: lavacut compares the mtimes of a cache and
    what it caches)."""
    root = Path(path)
    if not root.is_dir():
        return {}
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime) for p in sorted(root.rglob("*")) if p.is_file()
    }


def write_dir(path: str | os.PathLike, files: dict[str, tuple[bytes, float]]) -> None:
    """Files shipped by :func:`read_dir` into a folder on this machine; each
    written atomically with its mtime, unchanged ones left alone."""
    root = Path(path)
    for rel, (data, mtime) in files.items():
        target = root / rel
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
        os.utime(target, (mtime, mtime))


def start_order(tasks: list[Task]) -> list[int]:
    """The order tasks are started in: costliest first, else task order."""
    return sorted(range(len(tasks)), key=lambda i: -tasks[i].cost)


def task_bar(tasks: list[Task], progress: bool, desc: str, unit: str):
    """The one progress bar of a job (over task weights), or None."""
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=sum(t.weight for t in tasks), desc=desc, unit=unit, file=sys.stderr, leave=False)


def _register_executors() -> None:
    """Every module of this package that names its class ``EXECUTOR``
    (they import this module's names, so this runs after them)."""
    for module in pkgutil.iter_modules(__path__):
        cls = getattr(importlib.import_module(f"{__name__}.{module.name}"), "EXECUTOR", None)
        if cls is not None:
            EXECUTORS[cls.name] = cls


_register_executors()
