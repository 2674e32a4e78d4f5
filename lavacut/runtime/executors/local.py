"""The ``local`` executor: one forked process per task on this machine, at
most ``workers`` at a time (``workers=1``: the tasks run one after the other
in this process, no fork).

Forked, not spawned: Lava fixes the 'fork' start method at import. Every
task gets a fresh, non-daemonic process (a Lava graph forks its own
processes; one graph per process is the safe unit, lava#260/#336), which
sends its result back through a pipe and exits. A Ctrl-C in a terminal
reaches the task processes too (same process group): each shuts its Lava
runtime down and reports. When the driver stops early for another reason
(a failed task, an exception, SIGTERM), it sends the remaining processes
SIGINT -- their Lava sessions then stop in order -- and terminates only a
process that did not exit within the timeout. Paths are passed as they
are (one filesystem).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import time
import traceback

from lavacut.runtime.executors import Executor, Task, failure, start_order, task_bar
from lavacut.runtime.session import stop_signals_raise
from lavacut.util import LavacutError


def _child(conn, task: Task) -> None:
    try:
        conn.send(("ok", task.fn(**task.kwargs)))
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            conn.send(("interrupted", "KeyboardInterrupt"))
    except LavacutError as e:
        with contextlib.suppress(Exception):
            conn.send(("bad-input", str(e)))
    except BaseException as e:  # noqa: BLE001 - reported to the driver
        with contextlib.suppress(Exception):
            conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    finally:
        conn.close()


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, workers: int = 1, address: str | None = None, timeout: float = 30.0):
        from lavacut.config import max_workers
        from lavacut.util import LavacutError

        if int(workers) > max_workers():  # each worker is a whole Lava graph or training
            raise LavacutError(
                f"workers={workers}: the local executor forks at most the {max_workers()} CPU cores "
                f"here; more run on --executor ray"
            )
        super().__init__(workers, address)
        self.timeout = timeout

    def map(
        self, tasks: list[Task], progress: bool = True, desc: str = "tasks", unit: str = "task", on_result=None
    ) -> list:
        if self.workers == 1 or len(tasks) <= 1:
            return self._inline(tasks, progress, desc, unit, on_result)
        ctx = mp.get_context("fork")
        results: list = [None] * len(tasks)
        self.placements = ["local"] * len(tasks)
        running: dict[int, tuple] = {}  # task index -> (process, receiving end)
        todo = start_order(tasks)
        bar = task_bar(tasks, progress, desc, unit)
        try:
            with stop_signals_raise():  # Ctrl-C / SIGTERM reach the driver even if inherited ignored
                while todo or running:
                    while todo and len(running) < self.workers:
                        i = todo.pop(0)
                        recv_end, send_end = ctx.Pipe(duplex=False)
                        p = ctx.Process(
                            target=_child, args=(send_end, tasks[i]), name=f"lavacut-task-{i}", daemon=False
                        )
                        p.start()
                        send_end.close()
                        running[i] = (p, recv_end)
                    ready = mp.connection.wait([c for _, c in running.values()])
                    for i, (p, c) in list(running.items()):
                        if c not in ready:
                            continue
                        try:
                            status, payload = c.recv()
                        except EOFError:
                            p.join(5.0)
                            status, payload = "error", f"its process exited without a result (exit code {p.exitcode})"
                        del running[i]
                        c.close()
                        p.join(self.timeout)
                        self._deliver(tasks, i, status, payload, results, on_result, bar)
        finally:
            if bar is not None:
                bar.close()
            _stop([p for p, _ in running.values()], self.timeout)
            for _, c in running.values():
                c.close()
        return results

    def _inline(self, tasks, progress, desc, unit, on_result) -> list:
        self.placements = ["local"] * len(tasks)
        results = []
        bar = task_bar(tasks, progress and len(tasks) > 1, desc, unit)
        try:
            for t in tasks:
                try:
                    results.append(t.fn(**t.kwargs))
                except LavacutError as e:
                    raise failure(t, "bad-input", str(e)) from e
                if on_result is not None:
                    on_result(len(results) - 1, results[-1])
                if bar is not None:
                    bar.update(t.weight)
        finally:
            if bar is not None:
                bar.close()
        return results


def _stop(procs, timeout: float) -> None:
    for p in procs:
        if p.is_alive():
            with contextlib.suppress(Exception):
                os.kill(p.pid, signal.SIGINT)  # the task's LavaSession stops its runtime in order
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.terminate()
            p.join(5.0)
        if p.is_alive():
            p.kill()
            p.join(5.0)


#: registered in lavacut.runtime.executors.EXECUTORS
EXECUTOR = LocalExecutor
