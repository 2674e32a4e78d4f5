"""SLAYER passes over many samples, sharded on an executor (``--workers N``,
``--executor``): the expensive part of ``calibrate`` and of ``evaluate``
(the split's pass, the sweeps' calibration passes).

A pass is cut into contiguous shards of WHOLE batches of
:func:`lavacut.train.inference.forward`, each a task that rebuilds the
network from the export (which travels as bytes to a remote executor) and
runs its batches; the outputs are concatenated in sample order. This is
exactly one pass: every batch holds the same samples as in one pass, and
the calibration dropout's masks are seeded per batch (``first_batch``), not
drawn from one stream. What the driver then computes on the merged arrays
(the calibration, the metrics) runs once, there.

With ``workers=1`` on the local executor the pass runs here, on the
driver's network (no task, no rebuild); on Ray even one shard is a task.
"""

from __future__ import annotations

import contextlib

import numpy as np

from lavacut.runtime.executors import Executor, Task, executor_scope
from lavacut.runtime.workers import shards
from lavacut.train.inference import forward

BATCH = 64  # forward's batch size: the shards' unit


def batch_shards(n: int, workers: int, batch_size: int = BATCH) -> list[tuple[int, int, int]]:
    """(first batch, first sample, end sample) of up to ``workers``
    contiguous shards of whole batches covering samples 0..n-1 in order."""
    out = []
    for b in shards(-(-int(n) // batch_size), workers):
        out.append((int(b[0]), int(b[0]) * batch_size, min(int(n), (int(b[-1]) + 1) * batch_size)))
    return out


def forward_shard(net_path, frames, first_batch: int, kwargs: dict, threads: int | None = None):
    """One shard, in its task's process: the export's SLAYER network over
    ``frames``; ``threads``: torch's intra-op threads there."""
    from lavacut.export.rebuild.network import net_from_export

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    net, _ = net_from_export(net_path, validated=True)  # validated by the driver
    return forward(net, frames, first_batch=first_batch, batch_size=BATCH, **kwargs)


class SlayerPasses:
    """The SLAYER passes of one export on one executor, open for the
    duration (``with``): :meth:`forward` is :func:`forward` over many samples.

    ``make_net``: builds the driver's network (called once, when a pass
    runs here); ``executor``: a name (default local) or
    an open executor; ``address``: Ray's cluster."""

    def __init__(
        self, net_path, make_net, workers: int = 1, executor: str | Executor | None = None, address: str | None = None
    ):
        self.net_path, self._make_net, self._net = net_path, make_net, None
        self.workers = max(1, int(workers))
        self.executor, self.address = executor, address
        self._stack = contextlib.ExitStack()
        self.ex: Executor | None = None

    def __enter__(self):
        self.ex = self._stack.enter_context(executor_scope(self.executor, workers=self.workers, address=self.address))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()
        self.ex = None

    @property
    def net(self):
        if self._net is None:
            self._net = self._make_net()
        return self._net

    @property
    def here(self) -> bool:
        """Whether the passes run in this process (one local worker)."""
        return self.workers == 1 and getattr(self.ex, "name", "local") == "local"

    def forward(self, frames: np.ndarray, *, progress: bool = False, desc: str = "SLAYER", **kwargs):
        """:func:`forward` (``record``, ``dropout``, ``seed``, ``readout``)
        over ``frames``, sharded; the same arrays as one pass."""
        if self.here or len(frames) == 0:
            return forward(self.net, frames, batch_size=BATCH, progress=progress, desc=desc, **kwargs)
        parts = batch_shards(len(frames), self.workers)
        # a local shard is a fork of this process: one torch thread each (the shards fill the cores; and
        # GNU OpenMP hangs in a fork whose parent ran a parallel region, as PyTorch's DataLoader workers
        # also avoid). A Ray worker is a fresh process whose threads Ray sets (OMP_NUM_THREADS = its CPUs)
        threads = 1 if self.ex.name == "local" else None
        tasks = [
            Task(
                name=f"{desc} shard {i} (samples {lo}..{hi - 1})",
                fn=forward_shard,
                weight=hi - lo,
                kwargs={
                    "net_path": str(self.net_path),
                    "frames": frames[lo:hi],
                    "first_batch": b,
                    "kwargs": kwargs,
                    "threads": threads,
                },
                files={"net_path": "file"},
            )
            for i, (b, lo, hi) in enumerate(parts)
        ]
        results = self.ex.map(tasks, progress=progress, desc=desc, unit="sample")
        if not kwargs.get("record"):
            return np.concatenate(results)
        outs, layers = zip(*results)
        return np.concatenate(outs), [np.concatenate(ls) for ls in zip(*layers)]
