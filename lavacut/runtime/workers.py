"""``--workers N``: a split sharded into N tasks, each run by
:func:`run_split` in its own process with its own compiled Lava graph, on
an executor (:mod:`lavacut.runtime.executors`: ``local`` forks on this
machine, ``ray`` runs the shards on a Ray cluster), results merged in
sample order.

Every sample computes in a graph what it would alone in a fresh graph (the
on-graph reset; tested), so cutting the split into contiguous shards changes
no decision: t_c, predictions and counts are those of one graph.

Each shard owns its Lava runtime through a ``LavaSession``, which stops it
on success, error and Ctrl-C; the executor cancels the other shards when
one fails or the driver is interrupted (see the executors for how).

Timings of the merged result: ``wall_s``, ``compile_s`` and ``init_s`` are
the maxima over the shards (they run concurrently); ``lava_steps`` is the
sum over the shards.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from lavacut.runtime.executors import Task, executor_scope
from lavacut.runtime.result import RunResult


def shards(n: int, workers: int) -> list[np.ndarray]:
    """Contiguous, non-empty index ranges covering 0..n-1 in order."""
    workers = max(1, min(int(workers), int(n)))
    return [s for s in np.array_split(np.arange(n), workers) if len(s)]


def run_shard(run_split, net_path, frames, labels, rule, kwargs):
    """One shard, in its task's process: ``run_split`` with one worker."""
    return run_split(net_path, frames, labels, rule, workers=1, progress=False, **kwargs)


def run_sharded(
    run_split,
    net_path,
    frames,
    labels,
    rule,
    *,
    workers: int,
    progress: bool = True,
    executor=None,
    address: str | None = None,
    **kwargs,
):
    """``run_split`` (:func:`lavacut.runtime.runner.run_split`, passed in: the
    runner calls this module) over ``workers`` shards on ``executor`` (a
    name, default ``local``, or an open executor; ``address``: Ray's, see
    :func:`lavacut.runtime.executors.get_executor`);
    ``kwargs`` go to each shard's run_split. The export travels as bytes to
    a remote executor."""
    frames = np.asarray(frames)
    parts = shards(frames.shape[0], workers)
    # each shard's frames a view: Ray puts the same view once for both waves (full T, cutoff)
    tasks = [
        Task(
            name=f"shard {i} (samples {idx[0]}..{idx[-1]})",
            fn=run_shard,
            weight=len(idx),
            kwargs={
                "run_split": run_split,
                "net_path": net_path,
                "frames": frames[idx[0] : idx[-1] + 1],
                "labels": None if labels is None else np.asarray(labels)[idx],
                "rule": rule,
                "kwargs": kwargs,
            },
            files={"net_path": "file"},
        )
        for i, idx in enumerate(parts)
    ]
    t_start = time.perf_counter()
    with executor_scope(executor, workers=len(parts), address=address) as ex:
        results = ex.map(tasks, progress=progress, desc="lava", unit="sample")
    elapsed = time.perf_counter() - t_start
    first = results[0]
    cat = lambda key: np.concatenate([getattr(r, key) for r in results])  # noqa: E731
    merged = RunResult(
        t_c=cat("t_c"),
        pred=cat("pred"),
        counts=np.concatenate([r.counts for r in results], axis=0),
        labels=None if labels is None else np.asarray(labels).reshape(-1),
        wall_s=max(r.wall_s for r in results),
        wall_s_per_sample=None
        if first.wall_s_per_sample is None
        else [w for r in results for w in r.wall_s_per_sample],
        lava_steps=int(sum(r.lava_steps for r in results)),
        latency=first.latency,
        offset=first.offset,
        horizon=first.horizon,
        backend=first.backend,
        mode=first.mode,
        compile_s=max(r.compile_s for r in results),
        init_s=max(r.init_s for r in results),
        readout_s=max(r.readout_s for r in results),
        rule=first.rule,
        output_layout=first.output_layout,
        models=first.models,
        workers=len(parts),
        lanes=first.lanes,
    )
    if progress:
        print(
            f"lavacut: {merged.num_samples} samples over {len(parts)} workers ({ex.name}), "
            f"{merged.lava_steps} Lava steps, {elapsed:.2f} s elapsed (compile included)",
            file=sys.stderr,
        )
    return merged


def output_shard(net_path, frames, kwargs):
    """One shard of :func:`lavacut.runtime.record.lava_output`, in its task's process."""
    from lavacut.runtime.record import lava_output

    return lava_output(net_path, frames, progress=False, **kwargs)


def lava_output_sharded(
    net_path, frames, *, workers: int, executor=None, address: str | None = None, progress: bool = True, **kwargs
):
    """:func:`lavacut.runtime.record.lava_output` (``verify``) over
    ``workers`` shards on ``executor``: the output spikes concatenated in
    sample order; the timings are the maxima over the shards."""
    frames = np.asarray(frames)
    parts = shards(frames.shape[0], workers)
    tasks = [
        Task(
            name=f"shard {i} (samples {idx[0]}..{idx[-1]})",
            fn=output_shard,
            weight=len(idx),
            kwargs={"net_path": net_path, "frames": frames[idx], "kwargs": kwargs},
            files={"net_path": "file"},
        )
        for i, idx in enumerate(parts)
    ]
    with executor_scope(executor, workers=len(parts), address=address) as ex:
        results = ex.map(tasks, progress=progress, desc="lava", unit="sample")
    timings = {k: max(t[k] for _, t in results) for k in results[0][1]}
    return np.concatenate([out for out, _ in results], axis=0), timings
