"""``--workers N``: a split sharded over N worker processes, each with its own
compiled Lava graph, results merged in sample order.

Every sample computes in a graph what it would alone in a fresh graph (the
on-graph reset; tested), so cutting the split into contiguous shards changes
no decision: t_c, predictions and counts are those of one graph.

Workers are forked (Lava's start method) and run :func:`run_split` on their
shard; each owns its Lava runtime through a ``LavaSession``, which stops it
on success, error and Ctrl-C. A Ctrl-C in a terminal reaches the workers too
(same process group): each shuts its runtime down and reports; the host waits
for them. When the host stops early for another reason (an error in one
worker, an exception in the host), it sends the remaining workers SIGINT --
their sessions then stop their Lava processes in order -- and terminates only
a worker that did not exit within the timeout.

Timings of the merged result: ``wall_s``, ``compile_s`` and ``init_s`` are
the maxima over the workers (they run concurrently); ``lava_steps`` is the
sum over the shards.
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback

import numpy as np

from lavacut.runtime.result import RunResult, progress_bar
from lavacut.runtime.session import stop_signals_raise
from lavacut.util import LavacutError


def shards(n: int, workers: int) -> list[np.ndarray]:
    """Contiguous, non-empty index ranges covering 0..n-1 in order."""
    workers = max(1, min(int(workers), int(n)))
    return [s for s in np.array_split(np.arange(n), workers) if len(s)]


def _worker(conn, run_split, net_path, frames, labels, rule, kwargs) -> None:
    try:
        res = run_split(net_path, frames, labels, rule, workers=1, progress=False, **kwargs)
        conn.send(("ok", res))
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            conn.send(("interrupted", "KeyboardInterrupt"))
    except BaseException as e:  # noqa: BLE001 - reported to the host
        with contextlib.suppress(Exception):
            conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def run_sharded(run_split, net_path, frames, labels, rule, *, workers: int, progress: bool = True,
                timeout: float = 30.0, **kwargs):
    """``run_split`` (:func:`lavacut.runtime.runner.run_split`, passed in: the
    runner calls this module) over ``workers`` processes (see module doc);
    ``kwargs`` go to each worker's run_split."""
    frames = np.asarray(frames)
    parts = shards(frames.shape[0], workers)
    ctx = mp.get_context("fork")
    procs, conns = [], []
    results: list = [None] * len(parts)
    t_start = time.perf_counter()
    try:
        for idx in parts:
            recv_end, send_end = ctx.Pipe(duplex=False)
            lab = None if labels is None else np.asarray(labels)[idx]
            p = ctx.Process(target=_worker, args=(send_end, run_split, net_path, frames[idx], lab, rule, kwargs),
                            name=f"lavacut-worker-{len(procs)}", daemon=False)
            p.start()
            send_end.close()
            procs.append(p)
            conns.append(recv_end)
        bar = None
        if progress:
            bar = progress_bar(frames.shape[0], True)
        try:
            with stop_signals_raise():     # Ctrl-C / SIGTERM reach the host even if inherited ignored
                pending = dict(enumerate(conns))
                while pending:
                    ready = mp.connection.wait(list(pending.values()))
                    for i, c in list(pending.items()):
                        if c not in ready:
                            continue
                        try:
                            status, payload = c.recv()
                        except EOFError:
                            status, payload = "error", f"worker {i} exited without a result (exit code " \
                                                       f"{procs[i].exitcode})"
                        del pending[i]
                        if status == "interrupted":
                            raise KeyboardInterrupt
                        if status != "ok":
                            raise LavacutError(f"worker {i} (samples {parts[i][0]}..{parts[i][-1]}) failed: "
                                               f"{payload}")
                        results[i] = payload
                        if bar is not None:
                            bar.update(len(parts[i]))
        finally:
            if bar is not None:
                bar.close()
    finally:
        _stop_workers(procs, timeout)
        for c in conns:
            c.close()
    elapsed = time.perf_counter() - t_start
    first = results[0]
    cat = lambda key: np.concatenate([getattr(r, key) for r in results])  # noqa: E731
    merged = RunResult(
        t_c=cat("t_c"), pred=cat("pred"), counts=np.concatenate([r.counts for r in results], axis=0),
        labels=None if labels is None else np.asarray(labels).reshape(-1),
        wall_s=max(r.wall_s for r in results), wall_s_per_sample=None if first.wall_s_per_sample is None else
        [w for r in results for w in r.wall_s_per_sample],
        lava_steps=int(sum(r.lava_steps for r in results)), latency=first.latency, offset=first.offset,
        horizon=first.horizon, backend=first.backend, mode=first.mode,
        compile_s=max(r.compile_s for r in results), init_s=max(r.init_s for r in results),
        readout_s=max(r.readout_s for r in results), rule=first.rule, output_layout=first.output_layout,
        models=first.models, workers=len(parts), lanes=first.lanes)
    if progress:
        print(f"lavacut: {merged.num_samples} samples over {len(parts)} workers, {merged.lava_steps} Lava steps, "
              f"{elapsed:.2f} s elapsed (compile included)", file=sys.stderr)
    return merged


def _stop_workers(procs, timeout: float) -> None:
    for p in procs:
        if p.is_alive():
            with contextlib.suppress(Exception):
                os.kill(p.pid, signal.SIGINT)        # the worker's LavaSession stops its runtime in order
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.terminate()
            p.join(5.0)
        if p.is_alive():
            p.kill()
            p.join(5.0)
