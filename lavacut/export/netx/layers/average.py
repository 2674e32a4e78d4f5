"""``average``: SLAYER's Average readout as the last layer (netx does not
load it): class k's score is the spike count of its group of neurons of
the layer before, summed by lavacut on the host."""

from __future__ import annotations

import numpy as np

from lavacut.export.netx.layers.base import LayerInfo, LayerKind, SupportState


class Average(LayerKind):
    name = "average"
    netx_loads = False
    note = "netx cannot load this layer type (NotImplementedError)"
    host_readout = True

    def support(self, L: LayerInfo, g, state: SupportState, voltage: bool) -> tuple[str, str]:
        prev = state.prev
        K = int(np.prod(L.shape)) if L.shape else 0
        n = int(np.prod(prev.shape)) if prev is not None else 0
        if L is not state.layers[-1]:
            return "an average layer that is not the last layer (lavacut only drops it as the readout)", ""
        if prev is None or K < 1 or n % K:
            return f"an average readout of {K} groups over {n} neurons (needs a layer of K x G neurons)", ""
        G = n // K
        L.role = (
            f"readout: class k = sum of the spikes of neurons k*{G} .. k*{G}+{G - 1} of layer "
            f"{prev.index} (SLAYER Average groups, C-order flattened); Lava runs without it"
        )
        return "", ""


AVERAGE = Average()

#: registered in lavacut.export.netx.layers.KINDS
KIND = AVERAGE
