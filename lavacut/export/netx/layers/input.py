"""``input``: the frame shape (C, H, W) netx sizes the first layer from;
with neurons, input neurons whose current the source drives with
frame x weight + bias (netx's Input); SLAYER's ``cuba.Input``."""

from __future__ import annotations

import numpy as np

from lavacut.export.netx.layers.base import Connectivity, LayerInfo, LayerKind, SupportState
from lavacut.export.netx.layers.neurons import neuron_issue
from lavacut.fixed_point import W_SCALE
from lavacut.export.netx.file import values


def _scalar(g, name: str, default: int):
    """An input layer's transform entry as netx reads it (int(...)); None
    when it is not a single value."""
    if name not in g:
        return default
    v = np.asarray(values(g[name]))
    return int(v.reshape(-1)[0]) if v.size == 1 else None


class Input(LayerKind):
    name = "input"
    image = True
    elementwise = True

    def counts_neurons(self, info: LayerInfo) -> bool:
        return bool(info.neuron)

    def is_spiking(self, info: LayerInfo) -> bool:
        return bool(info.neuron)

    def read(self, info: LayerInfo, g, prev_shape: tuple | None) -> None:
        if info.neuron:  # netx's default transform: weight 1.0 (mantissa 64), bias 0
            info.transform = tuple(_scalar(g, name, default) for name, default in (("weight", W_SCALE), ("bias", 0)))
        else:
            super().read(info, g, prev_shape)

    def support(self, L: LayerInfo, g, state: SupportState, voltage: bool) -> tuple[str, str]:
        state.have_shape, state.frame_shape = bool(L.shape), tuple(L.shape)
        issue = ""
        if state.position != 0:
            issue = "an input layer after other layers"
        elif not L.neuron and ("weight" in g or "bias" in g):
            issue = (
                "an input weight/bias without input neurons: netx ignores them and feeds the frames "
                "unscaled, so Lava would not compute what the file says"
            )
        elif L.neuron:
            issue = neuron_issue(L)
            if not issue and None in (L.transform or (None,)):
                issue = "an input weight/bias with more than one value (netx reads one value each)"
            if not issue:
                L.role = (
                    f"input neurons: the source drives their current with frame x {L.transform[0]} + "
                    f"{L.transform[1]} (the layer's weight and bias mantissas)"
                )
            state.prev, state.prev_kind = L, self
        return issue, ""

    def connectivity(self, L: LayerInfo, g, prev_shape: tuple | None) -> Connectivity:
        """No synapses: each neuron is driven by one host input."""

        def in_mask(lo, hi):
            m = np.zeros(L.neurons, bool)
            m[lo:hi] = True
            return m

        return Connectivity(L.neurons, 1, np.zeros(L.neurons, np.int64), in_mask, L.neurons)

    def rebuild(self, L: LayerInfo, g, npar: dict, where: str):
        from lavacut.export.netx.layers.blocks import q64, slayer

        w, b = L.transform
        block = slayer.block.cuba.Input(npar, weight=w / W_SCALE, bias=b / W_SCALE, delay_shift=False)
        block.pre_hook_fx = q64
        return block


INPUT = Input()

#: registered in lavacut.export.netx.layers.KINDS
KIND = INPUT
