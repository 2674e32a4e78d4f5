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
(the calibration, the metrics) runs once, there. A shard sends its spikes
back bit-packed (0/1 spikes: 8 per byte).

:meth:`SlayerPasses.map` runs any function of the network over parts
the same way (NeuroBench's passes in ``evaluate``:
:mod:`lavacut.measure.neurobench`).

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


class PackedSpikes:
    """0/1 spikes bit-packed along the last axis (``bits``) and their ``shape``."""

    __slots__ = ("bits", "shape")

    def __init__(self, bits: np.ndarray, shape: tuple):
        self.bits, self.shape = bits, tuple(shape)

    def __getstate__(self):
        return self.bits, self.shape

    def __setstate__(self, state):
        self.bits, self.shape = state


def pack_spikes(a):
    """A 0/1 uint8 array bit-packed along its last axis, with its shape (8x
    fewer bytes to send back from a shard); anything else as it is."""
    if isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.size and a.max() <= 1:
        return PackedSpikes(np.packbits(a, axis=-1), a.shape)
    return a


def unpack_spikes(a):
    """The array :func:`pack_spikes` packed (anything else as it is)."""
    if isinstance(a, PackedSpikes):
        return np.unpackbits(a.bits, axis=-1, count=a.shape[-1])
    return a


def net_shard(net_path, fn, kwargs: dict, threads: int | None = None):
    """One shard, in its task's process: ``fn(net, **kwargs)`` on the
    export's SLAYER network; ``threads``: torch's intra-op threads there."""
    from lavacut.export.rebuild.network import net_from_export

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    net, _ = net_from_export(net_path, validated=True)  # validated by the driver
    return fn(net, **kwargs)


def forward_part(net, frames, first_batch: int, kwargs: dict):
    """A shard's part of a pass: :func:`forward` from batch ``first_batch``
    on; its spikes bit-packed for the way back."""
    out = forward(net, frames, first_batch=first_batch, batch_size=BATCH, **kwargs)
    if not kwargs.get("record"):
        return pack_spikes(out)
    return pack_spikes(out[0]), [pack_spikes(h) for h in out[1]]


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
        kw = [{"frames": frames[lo:hi], "first_batch": b, "kwargs": kwargs} for b, lo, hi in parts]
        names = [f"shard {i} (samples {lo}..{hi - 1})" for i, (_, lo, hi) in enumerate(parts)]
        results = self.map(
            forward_part, kw, names=names, weights=[hi - lo for _, lo, hi in parts], progress=progress, desc=desc
        )
        if not kwargs.get("record"):
            return np.concatenate([unpack_spikes(r) for r in results])
        outs, layers = zip(*results)
        return (
            np.concatenate([unpack_spikes(o) for o in outs]),
            [np.concatenate([unpack_spikes(h) for h in ls]) for ls in zip(*layers)],
        )

    def map(
        self,
        fn,
        parts: list[dict],
        *,
        names: list[str] | None = None,
        weights: list[int] | None = None,
        progress: bool = False,
        desc: str = "SLAYER",
    ) -> list:
        """``fn(net, **part)`` for every part, results in part order: here on
        the driver's network (one local worker), else one task per part
        that rebuilds the network from the export. ``fn``: a module-level
        function (a remote worker imports it by name)."""
        if self.here:
            return [fn(self.net, **p) for p in parts]
        # a local shard is a fork of this process: one torch thread each (the shards fill the cores; and
        # GNU OpenMP hangs in a fork whose parent ran a parallel region, as PyTorch's DataLoader workers
        # also avoid). A Ray worker is a fresh process whose threads Ray sets (OMP_NUM_THREADS = its CPUs)
        threads = 1 if self.ex.name == "local" else None
        tasks = [
            Task(
                name=f"{desc} {names[i] if names else f'shard {i}'}",
                fn=net_shard,
                weight=weights[i] if weights else 1,
                kwargs={"net_path": str(self.net_path), "fn": fn, "kwargs": p, "threads": threads},
                files={"net_path": "file"},
            )
            for i, p in enumerate(parts)
        ]
        unit = "sample" if weights else "shard"
        return self.ex.map(tasks, progress=progress, desc=desc, unit=unit)
