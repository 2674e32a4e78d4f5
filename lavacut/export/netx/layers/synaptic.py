"""What the spiking layers with synapses (dense, dense_rec, conv) share:
how ``lavacut run`` judges them (neurons, bias, then the kind's own
connection rules)."""

from __future__ import annotations

import numpy as np

from lavacut.export.netx.layers.base import LayerInfo, LayerKind, SupportState
from lavacut.export.netx.layers.neurons import neuron_issue
from lavacut.export.netx.file import values


class SynapticKind(LayerKind):
    synaptic = True

    def support(self, L: LayerInfo, g, state: SupportState, voltage: bool) -> tuple[str, str]:
        issue = neuron_issue(L, voltage) or self.bias_issue(L, g) or self.connection_issue(L, g, state)
        if voltage and not issue:
            L.role = (
                "voltage readout: its neurons never spike; the cutoff reads class k's score as "
                "neuron k's voltage v(t) (Lava's integer v)"
            )
        verify = self.verify_issue(L, g)
        state.prev, state.prev_kind, state.flat = L, self, False
        return issue, verify

    def bias_issue(self, L: LayerInfo, g) -> str:
        """Why netx cannot take the layer's ``bias`` ("" = it can): one value,
        or one per neuron."""
        if "bias" not in g:
            return ""
        b = np.asarray(values(g["bias"]))
        n = int(np.prod(L.shape))
        return "" if b.size in (1, n) else f"a bias of {b.size} values for {n} neurons"

    def connection_issue(self, L: LayerInfo, g, state: SupportState) -> str:
        """Why its synapses cannot be run after the layers before ("" = they can)."""
        return ""

    def verify_issue(self, L: LayerInfo, g) -> str:
        """Why the SLAYER rebuild cannot compute it, beyond what ``lavacut run`` refuses."""
        return ""
