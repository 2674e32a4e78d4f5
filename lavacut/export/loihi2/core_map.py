"""The Loihi 2 core map: each spiking layer on the fewest cores on which
every core stays below :data:`~lavacut.export.loihi2.figures.NEAR` of every
per-core limit. How a layer's neurons read the layer before is its kind's
(:meth:`lavacut.export.netx.layers.base.LayerKind.connectivity`); a layer is
cut into contiguous ranges of its partition units (an assumption: the
Loihi 2 partitioner in lava-loihi is closed)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lavacut.export.loihi2.figures import LIMITS, NEAR, NEURONS_PER_CORE, RESOURCES, SYN_MEM_BYTES_PER_CORE
from lavacut.export.netx.layers.base import Connectivity, LayerInfo


@dataclass
class _Layer:
    info: LayerInfo
    n: int  # neurons
    units: int  # partition units (neurons, or conv output positions)
    per_unit: int  # neurons per unit
    syn_per_unit: np.ndarray  # synapses of each unit
    bits: int  # weight bits per synapse
    in_mask: Any  # callable(lo, hi) -> bool mask over the previous layer's neurons
    n_in: int
    k: int = 1
    bounds: list = field(default_factory=list)


def core_layer(L: LayerInfo, conn: Connectivity, bits: int) -> _Layer:
    """A layer of the core map: its kind's connectivity, ``bits`` per synapse."""
    return _Layer(L, L.neurons, conn.units, conn.per_unit, conn.syn_per_unit, bits, conn.in_mask, conn.n_in)


def _bounds(units: int, k: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, units, k + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _loads(lay: _Layer, k: int, nxt: _Layer | None) -> dict[str, np.ndarray]:
    """Per core of ``lay`` cut into ``k`` pieces: the use of each resource."""
    b = _bounds(lay.units, k)
    csum = np.concatenate([[0], np.cumsum(lay.syn_per_unit)])
    neurons = np.array([(hi - lo) * lay.per_unit for lo, hi in b])
    mem = np.array([math.ceil((csum[hi] - csum[lo]) * lay.bits / 8) for lo, hi in b])
    ax_in = np.array([int(lay.in_mask(lo, hi).sum()) for lo, hi in b])
    # neuron -> core of this layer (neuron flat order (C, H, W) for conv, position-major partition)
    unit_core = np.repeat(np.arange(k), [hi - lo for lo, hi in b])
    if lay.per_unit > 1:  # conv: neuron (c, p) lives with its position p
        core_of = np.tile(unit_core, lay.per_unit)
    else:
        core_of = unit_core
    if nxt is None:
        dests = np.ones(lay.n)  # one axon to the host per output neuron
    else:
        dests = np.zeros(nxt.n_in)
        for lo, hi in nxt.bounds:
            dests += nxt.in_mask(lo, hi)
        dests = dests[: lay.n] if dests.size >= lay.n else np.pad(dests, (0, lay.n - dests.size))
    ax_out = np.bincount(core_of, weights=dests, minlength=k)
    return {
        "neurons_per_core": neurons,
        "synaptic_memory_per_core": mem,
        "axons_in_per_core": ax_in,
        "axons_out_per_core": ax_out,
        "_bounds": b,
    }


def _over(loads: dict, margin: bool = False, res: tuple = RESOURCES) -> list[str]:
    """Resources of ``res`` some core breaks: above the limit, or with
    ``margin`` at :data:`NEAR` of it or more (the warning level)."""
    if margin:
        return [r for r in res if loads[r].max() >= NEAR * LIMITS[r]]
    return [r for r in res if loads[r].max() > LIMITS[r]]


def _search(lay: _Layer, nxt: _Layer | None, margin: bool, res: tuple = RESOURCES) -> tuple[int, dict]:
    """Smallest k (geometric steps up, then bisection) whose cores pass
    :func:`_over`; ``lay.units`` when none does."""
    lower = max(
        1,
        math.ceil(lay.n / NEURONS_PER_CORE),
        math.ceil(int(lay.syn_per_unit.sum()) * lay.bits / 8 / SYN_MEM_BYTES_PER_CORE),
    )
    lo = k = min(lower, lay.units)
    loads = _loads(lay, k, nxt)
    while _over(loads, margin, res) and k < lay.units:
        lo, k = k, min(lay.units, max(k + 1, int(k * 1.5)))
        loads = _loads(lay, k, nxt)
    if not _over(loads, margin, res):  # lo failed (or lo == k): bisect (lo, k]
        while k - lo > 1:
            mid = (lo + k) // 2
            cand = _loads(lay, mid, nxt)
            if _over(cand, margin, res):
                lo = mid
            else:
                k, loads = mid, cand
    return k, loads


def _fit(lay: _Layer, nxt: _Layer | None) -> tuple[int, str, dict]:
    """Cores for one layer: the smallest k whose every core stays below
    :data:`NEAR` of every per-core limit (a margin for the unpublished
    synapse encodings and axon tables), else the smallest k within the
    limits (those cores get warnings). A limit that even one partition unit
    per core breaks (a neuron reading more than 4,096 inputs, say) cannot be
    cured by splitting: it is left out of the search, which sizes the layer
    by the other limits, and reported as an error. Returns k, the binding
    limit (the one that k - 1 cores break) and the loads."""
    k, loads = _search(lay, nxt, margin=True)
    margin = not _over(loads, True)
    if not margin:
        k, loads = _search(lay, nxt, margin=False)
        if _over(loads):
            unfixable = tuple(_over(_loads(lay, lay.units, nxt)))
            rest = tuple(r for r in RESOURCES if r not in unfixable)
            k, loads = _search(lay, nxt, margin=True, res=rest)
            if _over(loads, True, rest):
                k, loads = _search(lay, nxt, margin=False, res=rest)
            return k, max(_over(loads), key=lambda r: loads[r].max() / LIMITS[r]), loads
    if k == 1:
        return k, "none (fits one core)", loads
    prev = _loads(lay, k - 1, nxt)
    broken = _over(prev, margin) or list(RESOURCES)
    return k, max(broken, key=lambda r: prev[r].max() / LIMITS[r]), loads
