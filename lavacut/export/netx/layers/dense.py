"""``dense``: a fully connected layer of CUBA LIF neurons (netx's Dense, or
DelayDense with axonal delays); SLAYER's ``cuba.Dense``."""

from __future__ import annotations

import numpy as np

from lavacut.export.netx.layers.base import Connectivity, LayerInfo, SupportState
from lavacut.export.netx.layers.synaptic import SynapticKind
from lavacut.export.netx.file import values


class Dense(SynapticKind):
    name = "dense"
    flat = True
    voltage_readout = True
    axonal_delays = True

    def connection_issue(self, L: LayerInfo, g, state: SupportState) -> str:
        if "weight" not in g:
            return "complex weights (RF neurons)" if "weight/real" in g else "no weight dataset"
        issue = self.delay_issue(L, g) if "delay" in g else ""
        prev = state.prev
        if not issue and prev is not None and not state.flat and not state.prev_kind.flat and len(prev.shape) > 1:
            issue = (
                f"dense after the {prev.type} layer {prev.index} of shape {prev.shape} without a flatten layer "
                f"(netx cannot connect them)"
            )
        return issue

    @staticmethod
    def delay_issue(L: LayerInfo, g) -> str:
        d = np.asarray(values(g["delay"]), dtype=np.float64)
        n = int(np.prod(L.shape))
        w = (n, int(np.prod(L.weight_shape or (0,))) // max(n, 1))  # netx reshapes weights to (out, in)
        if d.size and (not np.all(np.isfinite(d)) or d.min() < 0):
            return "negative or non-finite axonal delays"
        if d.ndim > 2 or (d.ndim == 2 and tuple(d.shape) != w) or (d.ndim == 1 and d.size not in w):
            return f"delay shape {d.shape} fits neither the outputs nor the inputs of weight {w}"
        return ""

    def weight_shape_problem(self, g, shape: tuple, prev: tuple | None) -> str:
        ws = tuple(g["weight"].shape)
        n, n_in = int(np.prod(shape)), (int(np.prod(prev)) if prev else None)
        if len(ws) == 1 and n and ws[0] % n == 0:  # netx reshapes a flat weight to (neurons, -1)
            ws = (n, ws[0] // n)
        if len(ws) != 2 or ws[0] != n:
            return f"weight: a dense weight of shape {ws} for {n} neurons; netx needs ({n}, inputs)"
        if n_in is not None and ws[1] != n_in:
            return f"weight: a dense weight of shape {ws} reading {ws[1]} inputs after a layer of {n_in} neurons"
        for name, want in (("inFeatures", ws[1]), ("outFeatures", n)):
            # netx sizes the layer from shape and weight only: a contradicting field leaves unknown which was meant
            got = np.atleast_1d(values(g[name])) if name in g else None
            if got is not None and got.size and int(got[0]) != want:
                return (
                    f"{name}: {int(got[0])}, but the weight {ws} has {want} (netx ignores {name} and uses the weight)"
                )
        return ""

    def weight_matrix(self, L: LayerInfo, g) -> np.ndarray:
        """(neurons, inputs): the weights each neuron reads."""
        return np.asarray(values(g["weight"]), dtype=np.float64).reshape(L.neurons, -1)

    def connectivity(self, L: LayerInfo, g, prev_shape: tuple | None) -> Connectivity:
        """Cut into contiguous ranges of output neurons."""
        nz = self.weight_matrix(L, g) != 0

        def in_mask(lo, hi):
            return nz[lo:hi].any(axis=0)

        return Connectivity(L.neurons, 1, nz.sum(axis=1), in_mask, nz.shape[1])

    def rebuild(self, L: LayerInfo, g, npar: dict, where: str):
        from lavacut.export.netx.layers.blocks import lava_dense_weights, q64, set_weights, slayer

        n_out = int(np.prod(L.shape))
        w = lava_dense_weights(np.asarray(values(g["weight"])).reshape(n_out, -1), where)
        block = slayer.block.cuba.Dense(npar, w.shape[1], n_out, pre_hook_fx=q64, delay_shift=False)
        set_weights(block.synapse.weight, w)
        return block


DENSE = Dense()

#: registered in lavacut.export.netx.layers.KINDS
KIND = DENSE
