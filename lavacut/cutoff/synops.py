"""Synaptic operations, neuron updates and a Loihi energy estimate, counted
from the actual spikes up to each sample's cutoff step.

Definitions (NeuroBench's effective synaptic operations): a synaptic
operation is one nonzero input spike delivered along one outgoing synapse, so
a layer costs sum over steps and inputs of ``spike x fan_out``; fan-out is
the number of synapses leaving that input (dense: the output size; conv: the
output positions whose kernel window covers it times the output channels).
Neuron updates: every neuron of every spiking layer updates once per step
(Loihi updates all compartments each step).

Energy: per-operation energies of Loihi from Davies et al., "Loihi: A
Neuromorphic Manycore Processor with On-Chip Learning", IEEE Micro 38(1),
2018, Table 2: 23.6 pJ per synaptic spike operation (the table's minimum),
52 pJ per (inactive) neuron update and 81 pJ per active (spiking) neuron
update; spike routing (1.7 pJ within a tile, 3.0-4.2 pJ per mesh hop, same
table) is not counted. Intel has not published a per-operation table for
Loihi 2, so ``energy_uj`` is a Loihi-class estimate, labelled as such, and
:data:`ENERGY_FIGURES` gives Loihi 2 as a RANGE: from Loihi's figures (the
assumption that Loihi 2 costs no more per operation than Loihi) down to a
quarter of them (an assumption: Loihi 2 is built in Intel 4, two process
nodes after Loihi's 14 nm, and a 2-4x lower switching energy per operation
is the usual gain over such a step; not an Intel figure). Nothing here is a
Loihi 2 measurement.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

E_SYNOP_PJ = 23.6
E_NEURON_UPDATE_PJ = 52.0
E_NEURON_SPIKE_PJ = 81.0
ENERGY_SOURCE = ("Davies et al., IEEE Micro 38(1) 2018, Table 2 (Loihi): 23.6 pJ/synaptic op, "
                 "52 pJ/neuron update, 81 pJ/spiking neuron update (spike routing not counted); Loihi 2 per-op "
                 "energies are unpublished: the Loihi 2 range is 0.25-1x these figures (an assumption, "
                 "see ENERGY_FIGURES)")
#: Loihi 2 per-op energies as a fraction of Loihi's: (low, high), an assumption (module docstring)
LOIHI2_SCALE = (0.25, 1.0)
#: every per-operation figure the estimate uses, with its source; Loihi 2 as ranges
ENERGY_FIGURES = {
    "loihi": {"synop_pj": E_SYNOP_PJ, "neuron_update_pj": E_NEURON_UPDATE_PJ, "neuron_spike_pj": E_NEURON_SPIKE_PJ,
              "published": True,
              "source": "Davies et al., 'Loihi: A Neuromorphic Manycore Processor with On-Chip Learning', "
                        "IEEE Micro 38(1), 2018, Table 2"},
    "loihi2": {"synop_pj": [E_SYNOP_PJ * LOIHI2_SCALE[0], E_SYNOP_PJ * LOIHI2_SCALE[1]],
               "neuron_update_pj": [E_NEURON_UPDATE_PJ * LOIHI2_SCALE[0], E_NEURON_UPDATE_PJ * LOIHI2_SCALE[1]],
               "neuron_spike_pj": [E_NEURON_SPIKE_PJ * LOIHI2_SCALE[0], E_NEURON_SPIKE_PJ * LOIHI2_SCALE[1]],
               "published": False,
               "source": "unpublished by Intel; range assumed: high = Loihi's figures (no worse per operation), "
                         "low = a quarter of them (Intel 4 vs 14 nm process, a usual 2-4x switching-energy gain)"},
}


def _cover(n_in: int, n_out: int, k: int, s: int, p: int, d: int) -> np.ndarray:
    """Along one axis: how many (output position, kernel tap) pairs land on
    each input position (padding taps land nowhere)."""
    idx = (np.arange(n_out)[:, None] * s - p + np.arange(k)[None, :] * d).reshape(-1)
    return np.bincount(idx[(idx >= 0) & (idx < n_in)], minlength=n_in).astype(np.float64)


def conv_fan_out(in_shape, out_shape, kernel, stride, padding, dilation=(1, 1), groups: int = 1) -> np.ndarray:
    """Fan-out of every input ``(C, H, W)`` of a conv layer with output
    ``(C', H', W')``, flattened C-order: the output positions whose window
    covers it times the output channels of its group."""
    (ci, hi, wi), (co, ho, wo) = in_shape, out_shape
    cov = np.outer(_cover(hi, ho, kernel[0], stride[0], padding[0], dilation[0]),
                   _cover(wi, wo, kernel[1], stride[1], padding[1], dilation[1]))
    return np.broadcast_to(cov * (co // groups), (ci, hi, wi)).reshape(-1).copy()


@dataclass
class OpCounts:
    synops: np.ndarray          # (N,) synaptic operations up to t_c
    neuron_updates: np.ndarray  # (N,)
    spikes: np.ndarray          # (N,) spikes of spiking layers up to t_c
    energy_uj: np.ndarray       # (N,) Loihi-class estimate, microjoules
    energy_uj_loihi2: tuple[np.ndarray, np.ndarray] | None = None   # (low, high) (N,) each: the Loihi 2 range


def count_ops(fan_outs: list[np.ndarray], layer_inputs: list[np.ndarray], layer_spikes_total_neurons: list[int],
              spiking_outputs: list[np.ndarray], t_c: np.ndarray) -> OpCounts:
    """Count operations up to step ``t_c`` (1-based, per sample).

    fan_outs: per spiking layer, the fan-out of each of its inputs (flattened
    like the inputs; see :func:`lavacut.train.networks.fan_out`).
    layer_inputs: per spiking layer, its input spikes ``(N, n_in, T)`` (the
    frame for the first layer, the previous layer's spikes after).
    spiking_outputs: per spiking layer, its spikes ``(N, n, T)``.
    """
    fo = fan_outs
    N = len(t_c)
    T = layer_inputs[0].shape[-1]
    upto = (np.arange(1, T + 1)[None, :] <= np.asarray(t_c)[:, None])  # (N, T)
    syn = np.zeros(N)
    for x, f in zip(layer_inputs, fo):
        per_input = (x * upto[:, None, :]).sum(axis=-1)              # (N, n_in)
        syn += per_input @ f
    n_spk = np.zeros(N)
    for s in spiking_outputs:
        n_spk += (s * upto[:, None, :]).sum(axis=(1, 2))
    n_neurons = sum(layer_spikes_total_neurons)
    updates = n_neurons * np.asarray(t_c, dtype=np.float64)
    energy_pj = syn * E_SYNOP_PJ + (updates - n_spk) * E_NEURON_UPDATE_PJ + n_spk * E_NEURON_SPIKE_PJ
    return OpCounts(syn, updates, n_spk, energy_pj * 1e-6,
                    (energy_pj * 1e-6 * LOIHI2_SCALE[0], energy_pj * 1e-6 * LOIHI2_SCALE[1]))
