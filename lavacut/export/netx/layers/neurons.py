"""The neurons of a NetX layer as lavacut runs them: netx's CUBA LIF, what
makes one never spike (a voltage readout), why others cannot run."""

from __future__ import annotations

import math

from lavacut.fixed_point import FIXED_POINT_LIMITS, NETX_INTEGRATOR_VTH_MANT, P_SCALE, VTH_SHIFT
from lavacut.export.netx.layers.base import LayerInfo

#: neuron types netx runs as Lava's CUBA LIF (LOIHI's theta/tauRho/scaleRho are ignored by netx)
LIF_TYPES = ("CUBA", "LOIHI")
#: Lava's v saturates at 2**23 - 1 and a neuron spikes when v > vThMant << 6
V_MAX = FIXED_POINT_LIMITS["voltage"]
#: what a voltage readout's neurons are when the file gives none: netx's
#: non-leaky integrator (lava/lib/dl/netx/hdf5.py; netx computes du = iDecay - 1)
NETX_INTEGRATOR = {"type": "CUBA", "iDecay": 0, "vDecay": P_SCALE, "vThMant": NETX_INTEGRATOR_VTH_MANT}

_NEURON_WHY = {
    "SDNN": "sigma-delta neurons send graded messages and keep sigma/activation state between steps",
    "RF": "resonate-and-fire neurons have a complex (real, imaginary) state and netx wires them as complex dense",
    "ADRF": "adaptive resonate-and-fire neurons add an adaptive threshold state (which netx also drops)",
    "ALIF": "adaptive LIF neurons keep an adaptive threshold state (netx cannot load them)",
}


def never_spikes(L: LayerInfo) -> bool:
    """No neuron parameters (netx's integrator) or a CUBA threshold above
    Lava's largest voltage: the layer's neurons can never spike."""
    if not L.neuron:
        return True
    vth = L.neuron.get("vThMant")
    return (
        L.neuron_type in LIF_TYPES
        and isinstance(vth, (int, float))
        and math.isfinite(vth)
        and int(vth) << VTH_SHIFT >= V_MAX
    )


def readout_neuron(L: LayerInfo) -> dict:
    """The neuron parameters netx gives a voltage readout layer (the file's,
    else netx's integrator)."""
    return {**NETX_INTEGRATOR, **L.neuron} if L.neuron else dict(NETX_INTEGRATOR)


def neuron_issue(L: LayerInfo, voltage_readout: bool = False) -> str:
    """Why this layer's neurons cannot be run with the cutoff ("" = they can);
    a ``voltage_readout`` layer may never spike."""
    if not L.neuron:
        if voltage_readout:
            return ""
        return (
            "no neuron parameters: netx makes it a non-leaky integrator with threshold 2**17, which Lava's "
            "24-bit voltage never exceeds (a voltage readout such as SLAYER's Affine block): it never spikes, "
            "and the cutoff counts output spikes"
        )
    t = L.neuron_type
    if t not in LIF_TYPES:
        why = next((v for k, v in _NEURON_WHY.items() if t.startswith(k)), "an unknown neuron model")
        return (
            f"neuron type {t}: {why}; the cutoff resets CUBA LIF state (u, v) and counts binary spikes only, "
            f"so it cannot restart this layer exactly between samples"
        )
    bits = L.neuron.get("messageBits", 0)
    if isinstance(bits, (int, float)) and bits > 0:
        return "graded spikes (gradedSpike / messageBits): the monitor and the SLAYER rebuild count binary spikes"
    if bool(L.neuron.get("gradedSpike", False)):  # a network trained on graded spikes computes else with binary ones
        return (
            "graded spikes (gradedSpike / messageBits): gradedSpike is set but messageBits is 0, so netx would "
            "send binary spikes, not the graded ones the network was made for"
        )
    ref = L.neuron.get("refDelay", 1)
    if isinstance(ref, (int, float)) and ref > 1 and not voltage_readout:  # a readout never spikes
        # a network trained with a refractory period computes something else without it
        return (
            f"neuron refDelay {int(ref)}: netx ignores it (Lava's CUBA LIF has no refractory period, and "
            f"neither has the SLAYER rebuild), so Lava would not compute the network's refractory period; "
            f"only refDelay 0 or 1 (none) runs"
        )
    vth = L.neuron.get("vThMant")
    if not isinstance(vth, (int, float)) or not math.isfinite(vth) or vth < 0:
        return f"vThMant is {vth!r}, not a non-negative number"
    if int(vth) << VTH_SHIFT >= V_MAX and not voltage_readout:
        return (
            f"vThMant {int(vth)}: vThMant << {VTH_SHIFT} = {int(vth) << VTH_SHIFT} is not below Lava's largest "
            f"voltage {V_MAX}, so the layer never spikes (a voltage readout); the cutoff counts output spikes"
        )
    for key in ("iDecay", "vDecay"):
        d = L.neuron.get(key)
        if not isinstance(d, (int, float)) or not 0 <= d <= P_SCALE:
            return f"{key} is {d!r}, outside 0..{P_SCALE}"
    return ""
