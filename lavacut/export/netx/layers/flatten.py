"""``flatten``: (C, H, W) -> one vector, what a dense layer after a conv
reads; SLAYER's ``cuba.Flatten``."""

from __future__ import annotations

import numpy as np

from lavacut.export.netx.layers.base import LayerInfo, LayerKind, SupportState


class Flatten(LayerKind):
    name = "flatten"
    reshape_only = True

    def counts_neurons(self, info: LayerInfo) -> bool:
        return bool(info.neuron)

    def support(self, L: LayerInfo, g, state: SupportState, voltage: bool) -> tuple[str, str]:
        state.flat = True
        prev = state.prev
        if prev is not None and state.prev_kind.synaptic and len(prev.shape) == 1:
            # lava-dl netx transposes the layer before as (C, H, W): it fails on a vector
            return f"a flatten after layer {prev.index} of shape {prev.shape} (netx flattens (C, H, W) only)", ""
        return "", ""

    def weight_shape_problem(self, g, shape: tuple, prev: tuple | None) -> str:
        n = int(np.prod(prev)) if prev else int(np.prod(shape))
        if n != int(np.prod(shape)):  # netx ignores it, and the layer after reads the wrong size
            return f"shape: {list(shape)}, but it flattens the layer before of shape {list(prev)} ({n} values)"
        return ""

    def rebuild(self, L: LayerInfo, g, npar: dict, where: str):
        from lavacut.export.netx.layers.blocks import slayer

        return slayer.block.cuba.Flatten()


FLATTEN = Flatten()

#: registered in lavacut.export.netx.layers.KINDS
KIND = FLATTEN
