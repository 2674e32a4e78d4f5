"""Synaptic operations, neuron updates and a Loihi energy estimate, counted
from the actual spikes up to each sample's cutoff step.

Definitions (NeuroBench's effective synaptic operations, Effective_ACs): a
synaptic operation is one input spike delivered along one synapse whose
weight is nonzero, so a layer costs sum over steps and inputs of
``spike x fan_out``, where the fan-out of an input is the number of NONZERO
weights leaving it, in the weights the exported file holds (the quantised
weights SLAYER computes with): dense, the nonzero entries of the input's
column of the (out, in) matrix (:func:`dense_fan_out`); conv, the (output
position, output channel) pairs whose kernel tap on the input has a nonzero
weight, padding taps landing nowhere (:func:`conv_fan_out`). A zero weight
costs no synaptic operation: Loihi's compiler stores synapses sparsely, and
NeuroBench counts nonzero weights only. The spikes counted are those each
layer receives up to the cutoff step, a hidden layer's spikes at the step
they are emitted; NeuroBench sees each synapse's input after the one-step
synaptic delay, so it leaves out the hidden spikes emitted at the last step
counted, the one remaining difference (:mod:`lavacut.measure.neurobench`
recounts it and checks the two agree).
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
ENERGY_SOURCE = (
    "Davies et al., IEEE Micro 38(1) 2018, Table 2 (Loihi): 23.6 pJ/synaptic op, "
    "52 pJ/neuron update, 81 pJ/spiking neuron update (spike routing not counted); Loihi 2 per-op "
    "energies are unpublished: the Loihi 2 range is 0.25-1x these figures (an assumption, "
    "see ENERGY_FIGURES)"
)
#: Loihi 2 per-op energies as a fraction of Loihi's: (low, high), an assumption (module docstring)
LOIHI2_SCALE = (0.25, 1.0)
#: every per-operation figure the estimate uses, with its source; Loihi 2 as ranges
ENERGY_FIGURES = {
    "loihi": {
        "synop_pj": E_SYNOP_PJ,
        "neuron_update_pj": E_NEURON_UPDATE_PJ,
        "neuron_spike_pj": E_NEURON_SPIKE_PJ,
        "published": True,
        "source": "Davies et al., 'Loihi: A Neuromorphic Manycore Processor with On-Chip Learning', "
        "IEEE Micro 38(1), 2018, Table 2",
    },
    "loihi2": {
        "synop_pj": [E_SYNOP_PJ * LOIHI2_SCALE[0], E_SYNOP_PJ * LOIHI2_SCALE[1]],
        "neuron_update_pj": [E_NEURON_UPDATE_PJ * LOIHI2_SCALE[0], E_NEURON_UPDATE_PJ * LOIHI2_SCALE[1]],
        "neuron_spike_pj": [E_NEURON_SPIKE_PJ * LOIHI2_SCALE[0], E_NEURON_SPIKE_PJ * LOIHI2_SCALE[1]],
        "published": False,
        "source": "unpublished by Intel; range assumed: high = Loihi's figures (no worse per operation), "
        "low = a quarter of them (Intel 4 vs 14 nm process, a usual 2-4x switching-energy gain)",
    },
}


def _taps(n_in: int, n_out: int, k: int, s: int, p: int, d: int) -> np.ndarray:
    """Along one axis, ``(k, n_in)``: how many output positions put kernel
    tap ``j`` on input position ``i`` (0 or 1; padding taps land nowhere)."""
    pos = np.arange(n_out)[:, None] * s - p + np.arange(k)[None, :] * d  # (n_out, k)
    out = np.zeros((k, n_in))
    for j in range(k):
        idx = pos[:, j]
        out[j] = np.bincount(idx[(idx >= 0) & (idx < n_in)], minlength=n_in)
    return out


def dense_fan_out(weight) -> np.ndarray:
    """Nonzero fan-out of every input of a dense layer: the number of
    nonzero weights in its column of ``weight`` ``(out, in)`` (trailing unit
    dimensions, as SLAYER's ``(out, in, 1, 1, 1)``, are dropped)."""
    w = np.asarray(weight)
    return np.count_nonzero(w.reshape(w.shape[0], -1), axis=0).astype(np.float64)


def conv_fan_out(weight, in_shape, out_shape, stride, padding, dilation=(1, 1), groups: int = 1) -> np.ndarray:
    """Nonzero fan-out of every input ``(C, H, W)`` of a conv layer with
    output ``(C', H', W')``, flattened C-order: over the output channels of
    the input's group and the output positions, the kernel taps with a
    nonzero weight that land on it. ``weight`` is ``(C', C / groups, kH,
    kW)`` (a trailing unit dimension, as SLAYER's, is dropped); ``stride``,
    ``padding``, ``dilation`` are (y, x) pairs."""
    w = np.asarray(weight)
    if w.ndim > 4:
        w = w.reshape(w.shape[:4])
    (ci, hi, wi), (co, ho, wo) = tuple(in_shape), tuple(out_shape)
    if w.ndim != 4 or w.shape[0] != co or w.shape[1] * groups != ci or co % groups:
        raise ValueError(
            f"conv weight {np.asarray(weight).shape} (groups {groups}) does not fit input "
            f"{tuple(in_shape)} -> output {tuple(out_shape)}"
        )
    kh, kw = w.shape[2], w.shape[3]
    # per input channel c (group c // (C/groups), local index c % (C/groups)) and tap: how many of its
    # group's output channels have a nonzero weight there
    m = (w != 0).reshape(groups, co // groups, w.shape[1], kh, kw).sum(axis=1).reshape(ci, kh, kw)
    ty = _taps(hi, ho, kh, stride[0], padding[0], dilation[0])
    tx = _taps(wi, wo, kw, stride[1], padding[1], dilation[1])
    return np.einsum("ckl,ky,lx->cyx", m.astype(np.float64), ty, tx).reshape(-1)


@dataclass
class OpCounts:
    synops: np.ndarray  # (N,) synaptic operations up to t_c
    neuron_updates: np.ndarray  # (N,)
    spikes: np.ndarray  # (N,) spikes of spiking layers up to t_c
    energy_uj: np.ndarray  # (N,) Loihi-class estimate, microjoules
    energy_uj_loihi2: tuple[np.ndarray, np.ndarray] | None = None  # (low, high) (N,) each: the Loihi 2 range


def count_ops(
    fan_outs: list[np.ndarray],
    layer_inputs: list[np.ndarray],
    layer_spikes_total_neurons: list[int],
    spiking_outputs: list[np.ndarray],
    t_c: np.ndarray,
) -> OpCounts:
    """Count operations up to step ``t_c`` (1-based, per sample).

    fan_outs: per spiking layer, the nonzero fan-out of each of its inputs
    (flattened like the inputs; see :func:`dense_fan_out`,
    :func:`conv_fan_out` and :func:`lavacut.train.networks.nonzero_fan_outs`).
    layer_inputs: per spiking layer, its input spikes ``(N, n_in, T)`` (the
    frame for the first layer, the previous layer's spikes after).
    spiking_outputs: per spiking layer, its spikes ``(N, n, T)``.
    """
    fo = fan_outs
    N = len(t_c)
    T = layer_inputs[0].shape[-1]
    upto = np.arange(1, T + 1)[None, :] <= np.asarray(t_c)[:, None]  # (N, T)
    syn = np.zeros(N)
    for x, f in zip(layer_inputs, fo):
        per_input = (x * upto[:, None, :]).sum(axis=-1)  # (N, n_in)
        syn += per_input @ f
    n_spk = np.zeros(N)
    for s in spiking_outputs:
        n_spk += (s * upto[:, None, :]).sum(axis=(1, 2))
    n_neurons = sum(layer_spikes_total_neurons)
    updates = n_neurons * np.asarray(t_c, dtype=np.float64)
    energy_pj = syn * E_SYNOP_PJ + (updates - n_spk) * E_NEURON_UPDATE_PJ + n_spk * E_NEURON_SPIKE_PJ
    return OpCounts(
        syn, updates, n_spk, energy_pj * 1e-6, (energy_pj * 1e-6 * LOIHI2_SCALE[0], energy_pj * 1e-6 * LOIHI2_SCALE[1])
    )
