"""``dense_rec``: a dense layer whose neurons also read their own spikes
of the step before (``weight_rec``); SLAYER's ``cuba.Recurrent``."""

from __future__ import annotations

import numpy as np

from lavacut.export.netx.layers.base import LayerInfo
from lavacut.export.netx.layers.dense import Dense
from lavacut.util import LavacutError
from lavacut.export.netx.file import values


class DenseRec(Dense):
    name = "dense_rec"
    voltage_readout = False
    axonal_delays = False
    recurrent = True

    def verify_issue(self, L: LayerInfo, g) -> str:
        if "delay" in g:
            return "a recurrent layer with axonal delays (the SLAYER rebuild covers recurrent layers without)"
        return ""

    def weight_shape_problem(self, g, shape: tuple, prev: tuple | None) -> str:
        bad = super().weight_shape_problem(g, shape, prev)
        n = int(np.prod(shape))
        if not bad and "weight_rec" in g and tuple(g["weight_rec"].shape) != (n, n):
            return f"weight_rec: shape {tuple(g['weight_rec'].shape)}, not ({n}, {n})"
        return bad

    def weights(self, L: LayerInfo, g) -> np.ndarray:
        w = super().weights(L, g)
        if "weight_rec" in g:
            w = np.concatenate([w.reshape(-1), np.asarray(values(g["weight_rec"]), dtype=np.float64).reshape(-1)])
        return w

    def weight_matrix(self, L: LayerInfo, g) -> np.ndarray:
        """(neurons, inputs + neurons): the recurrent weights count as inputs."""
        w = super().weight_matrix(L, g)
        if "weight_rec" in g:
            w = np.hstack([w, np.asarray(values(g["weight_rec"]), dtype=np.float64).reshape(L.neurons, -1)])
        return w

    def rebuild(self, L: LayerInfo, g, npar: dict, where: str):
        from lavacut.export.netx.layers.blocks import lava_dense_weights, q64, set_weights, slayer

        if "delay" in g:
            raise LavacutError(
                f"{where}: a recurrent layer with axonal delays; the rebuild covers recurrent layers without delays"
            )
        n_out = int(np.prod(L.shape))
        w = np.asarray(values(g["weight"])).reshape(n_out, -1)
        # netx picks one weight exponent for both matrices: optimize_weight_bits of the two side by side
        both = lava_dense_weights(np.hstack([w, np.asarray(values(g["weight_rec"])).reshape(n_out, n_out)]), where)
        block = slayer.block.cuba.Recurrent(npar, w.shape[1], n_out, pre_hook_fx=q64, delay_shift=False)
        block.neuron.persistent_state = False  # the rebuild's _recurrent carries the state itself
        # cuba.Recurrent sets its synapses' hook to its neuron's quantize_8bit (a step of 2/64):
        # odd weight mantissas, which Lava keeps, were rounded to even ones
        block.input_synapse.pre_hook_fx = block.recurrent_synapse.pre_hook_fx = q64
        set_weights(block.input_synapse.weight, both[:, : w.shape[1]])
        set_weights(block.recurrent_synapse.weight, both[:, w.shape[1] :])
        block.synapse = block.input_synapse  # the feed-forward synapse, as in Dense blocks
        return block


DENSE_REC = DenseRec()

#: registered in lavacut.export.netx.layers.KINDS
KIND = DENSE_REC
