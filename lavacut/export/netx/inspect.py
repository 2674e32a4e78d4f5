"""``lavacut inspect``: what a NetX file holds, read with h5py only.

Works on any NetX file: lavacut metadata is shown when present (and its
absence said), layer types NetX cannot load are listed as unsupported.
Per layer: the neuron type with its real threshold and decays (SLAYER
units: threshold = vThMant / 64, decays = iDecay / 4096 and vDecay / 4096),
Loihi 2 resource estimates (neurons, synaptic connections, weights stored,
weight memory = stored weights x weight bits), and what ``lavacut run``
(``LayerInfo.run_issue``) and ``lavacut verify`` (``LayerInfo.verify_issue``)
cannot handle in it, and why (:func:`mark_support`, the one place those
rules live; the runtime and the SLAYER rebuild refuse through it). The
report itself: :mod:`lavacut.export.inspect_report`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lavacut.export.netx.file import NetxFileError, _open
from lavacut.fixed_point import FIXED_POINT_LIMITS, P_SCALE, W_SCALE
from lavacut.util import LavacutError

#: layer types lava-dl 0.6.0's netx.hdf5.Network builds
NETX_SUPPORTED = {"input", "dense", "dense_rec", "dense_comp", "conv", "flatten"}
#: types it knows but raises NotImplementedError for
NETX_UNSUPPORTED = {"pool", "convT", "unpool", "average", "concat"}
#: neuron types netx runs as Lava's CUBA LIF (LOIHI's theta/tauRho/scaleRho are ignored by netx)
LIF_TYPES = ("CUBA", "LOIHI")
#: Lava's v saturates at 2**23 - 1 and a neuron spikes when v > vThMant << 6
V_MAX = FIXED_POINT_LIMITS["voltage"]
MAX_DELAY = 62

SUPPORTED = ("lavacut runs CUBA (or LOIHI, which netx runs as CUBA) LIF neurons with binary spikes in an input "
             "layer (first), dense layers (with or without axonal delays), conv layers and flatten, with an "
             "average readout or a voltage readout (a dense layer whose neurons never spike, e.g. "
             "SLAYER's Affine) allowed as the last layer")

_NEURON_WHY = {
    "SDNN": "sigma-delta neurons send graded messages and keep sigma/activation state between steps",
    "RF": "resonate-and-fire neurons have a complex (real, imaginary) state and netx wires them as complex dense",
    "ADRF": "adaptive resonate-and-fire neurons add an adaptive threshold state (which netx also drops)",
    "ALIF": "adaptive LIF neurons keep an adaptive threshold state (netx cannot load them)",
}


@dataclass
class LayerInfo:
    index: str
    type: str
    shape: tuple
    supported: bool                     # stock netx loads this layer type
    neuron: dict = field(default_factory=dict)
    weight_shape: tuple | None = None
    weight_bits: int | None = None
    delays: str = "none"
    neurons: int = 0
    synapses: int = 0
    weights_stored: int = 0
    weight_memory_bits: int = 0
    note: str = ""
    neuron_type: str = ""               # "" when the layer has no neuron group
    threshold: float | None = None      # vThMant / 64 (SLAYER units)
    current_decay: float | None = None  # iDecay / 4096
    voltage_decay: float | None = None  # vDecay / 4096
    transform: tuple | None = None      # input layer with neurons: (weight, bias) mantissas netx reads
    role: str = ""                      # what lavacut makes of it (input neurons, readout, ...)
    run_issue: str = ""                 # why 'lavacut run' cannot handle it ("" = it can)
    verify_issue: str = ""              # why 'lavacut verify' cannot rebuild it in SLAYER ("" = it can)


def _val(ds):
    v = ds[()]
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.dtype.kind == "S":
        return v.astype(str).tolist()[0] if v.size == 1 else v.astype(str).tolist()
    if isinstance(v, np.ndarray) and v.size == 1:
        return v.reshape(-1)[0].item()
    if isinstance(v, np.generic):
        return v.item()
    return v


def signed_bits(w: np.ndarray) -> int:
    """Bits of a signed integer weight mantissa holding every value of w."""
    m = int(np.max(np.abs(w))) if w.size else 0
    return max(1, math.ceil(math.log2(m + 1)) + 1)


def inspect_layers(path: str | Path) -> list[LayerInfo]:
    with _open(path) as f:
        if "layer" not in f:
            raise NetxFileError(f"{path}: no 'layer' group: not a NetX network file")
        keys = sorted(f["layer"].keys(), key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else k))
        prev_shape = None
        out = []
        for k in keys:
            g = f["layer"][k]
            t = _val(g["type"]) if "type" in g else "?"
            t = t[0] if isinstance(t, list) else t
            shape = tuple(int(s) for s in np.atleast_1d(g["shape"][()])) if "shape" in g else ()
            info = LayerInfo(k, t, shape, t in NETX_SUPPORTED)
            if t in NETX_UNSUPPORTED:
                info.note = "netx cannot load this layer type (NotImplementedError)"
            elif t not in NETX_SUPPORTED:
                info.note = "unknown layer type"
            if "neuron" in g:
                info.neuron = {n: _val(g["neuron"][n]) for n in g["neuron"]}
                _neuron_fields(info)
            spiking = t not in ("input", "flatten") or bool(info.neuron)     # input layers may have neurons
            info.neurons = int(np.prod(shape)) if shape and spiking else 0
            if t == "input" and info.neuron:
                info.transform = tuple(_scalar(g, name, default) for name, default in (("weight", 64), ("bias", 0)))
            elif "weight" in g and hasattr(g["weight"], "shape"):
                w = np.asarray(g["weight"][()])
                info.weight_shape = tuple(w.shape)
                info.weights_stored = int(np.count_nonzero(w))
                wi = np.round(w).astype(np.int64) if np.all(np.isfinite(w)) else np.zeros(1, np.int64)
                info.weight_bits = signed_bits(wi)
                info.weight_memory_bits = info.weights_stored * info.weight_bits
                if t == "conv" and len(shape) == 3:
                    info.synapses = _conv_synapses(g, w, shape, prev_shape)
                else:
                    info.synapses = info.weights_stored
            if "delay" in g:
                d = np.asarray(g["delay"][()])
                info.delays = f"axonal, max {int(d.max())}" if d.size else "none"
            out.append(info)
            prev_shape = shape
        mark_support(out, f["layer"])
        return out


def _scalar(g, name: str, default: int):
    """An input layer's transform entry as netx reads it (int(...)); None
    when it is not a single value."""
    if name not in g:
        return default
    v = np.asarray(g[name][()])
    return int(v.reshape(-1)[0]) if v.size == 1 else None


def _neuron_fields(info: LayerInfo) -> None:
    n = info.neuron
    info.neuron_type = str(n.get("type", "?"))
    for attr, key, scale in (("threshold", "vThMant", W_SCALE), ("current_decay", "iDecay", P_SCALE),
                             ("voltage_decay", "vDecay", P_SCALE)):
        v = n.get(key)
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            setattr(info, attr, float(v) / scale)


#: what a voltage readout's neurons are when the file gives none: netx's
#: non-leaky integrator (lava/lib/dl/netx/hdf5.py; netx computes du = iDecay - 1)
NETX_INTEGRATOR = {"type": "CUBA", "iDecay": 0, "vDecay": 4096, "vThMant": 1 << 17}
READOUTS = ("spike counts", "voltage")


def never_spikes(L: LayerInfo) -> bool:
    """No neuron parameters (netx's integrator) or a CUBA threshold above
    Lava's largest voltage: the layer's neurons can never spike."""
    if not L.neuron:
        return True
    vth = L.neuron.get("vThMant")
    return (L.neuron_type in LIF_TYPES and isinstance(vth, (int, float)) and math.isfinite(vth)
            and int(vth) << 6 >= V_MAX)


def is_voltage_readout(layers: list[LayerInfo], L: LayerInfo) -> bool:
    """``L`` is the file's last layer, a dense layer whose neurons never
    spike: the scores are its voltages (SLAYER's Affine readout)."""
    return bool(layers) and L is layers[-1] and L.type == "dense" and never_spikes(L)


def readout_of(layers: list[LayerInfo]) -> str:
    """What the cutoff reads from the output layer: "voltage" for a voltage
    readout, else "spike counts"."""
    return "voltage" if layers and is_voltage_readout(layers, layers[-1]) else "spike counts"


def readout_neuron(L: LayerInfo) -> dict:
    """The neuron parameters netx gives a voltage readout layer (the file's,
    else netx's integrator)."""
    return {**NETX_INTEGRATOR, **L.neuron} if L.neuron else dict(NETX_INTEGRATOR)


def num_outputs(layers: list[LayerInfo]) -> int:
    """The classes the cutoff compares: an average readout's groups, else the
    last layer with neurons (flattened)."""
    for L in reversed(layers):
        if L.type == "average" or L.type in ("dense", "dense_rec", "conv") or (L.type == "input" and L.neuron):
            return int(np.prod(L.shape)) if L.shape else 0
    return 0


def _neuron_issue(L: LayerInfo, voltage_readout: bool = False) -> str:
    """Why this layer's neurons cannot be run with the cutoff ("" = they can);
    a ``voltage_readout`` layer may never spike."""
    if not L.neuron:
        if voltage_readout:
            return ""
        return ("no neuron parameters: netx makes it a non-leaky integrator with threshold 2**17, which Lava's "
                "24-bit voltage never exceeds (a voltage readout such as SLAYER's Affine block): it never spikes, "
                "and the cutoff counts output spikes")
    t = L.neuron_type
    if t not in LIF_TYPES:
        why = next((v for k, v in _NEURON_WHY.items() if t.startswith(k)), "an unknown neuron model")
        return (f"neuron type {t}: {why}; the cutoff resets CUBA LIF state (u, v) and counts binary spikes only, "
                f"so it cannot restart this layer exactly between samples")
    bits = L.neuron.get("messageBits", 0)
    if bool(L.neuron.get("gradedSpike", False)) or (isinstance(bits, (int, float)) and bits > 0):
        return "graded spikes (gradedSpike / messageBits): the monitor and the SLAYER rebuild count binary spikes"
    vth = L.neuron.get("vThMant")
    if not isinstance(vth, (int, float)) or not math.isfinite(vth) or vth < 0:
        return f"vThMant is {vth!r}, not a non-negative number"
    if int(vth) << 6 >= V_MAX and not voltage_readout:
        return (f"vThMant {int(vth)}: vThMant << 6 = {int(vth) << 6} is not below Lava's largest voltage {V_MAX}, "
                f"so the layer never spikes (a voltage readout); the cutoff counts output spikes")
    for key in ("iDecay", "vDecay"):
        d = L.neuron.get(key)
        if not isinstance(d, (int, float)) or not 0 <= d <= P_SCALE:
            return f"{key} is {d!r}, outside 0..{P_SCALE}"
    return ""


def _delay_issue(L: LayerInfo, g) -> str:
    d = np.asarray(g["delay"][()], dtype=np.float64)
    n = int(np.prod(L.shape))
    w = (n, int(np.prod(L.weight_shape or (0,))) // max(n, 1))      # netx reshapes weights to (out, in)
    if d.size and (not np.all(np.isfinite(d)) or d.min() < 0):
        return "negative or non-finite axonal delays"
    if d.ndim > 2 or (d.ndim == 2 and tuple(d.shape) != w) or (d.ndim == 1 and d.size not in w):
        return f"delay shape {d.shape} fits neither the outputs nor the inputs of weight {w}"
    return ""


def _bias_issue(L: LayerInfo, g) -> str:
    if "bias" not in g:
        return ""
    b = np.asarray(g["bias"][()])
    if L.type == "conv":      # netx: one value per output channel ((C,) of the (C, H, W) layer)
        return "" if b.ndim == 1 and b.size == L.shape[0] else "a conv bias that is not one value per channel"
    n = int(np.prod(L.shape))
    return "" if b.size in (1, n) else f"a bias of {b.size} values for {n} neurons"


def _layer_issue(L: LayerInfo, g, prev: LayerInfo | None, flat: bool, have_shape: bool,
                 voltage_readout: bool = False) -> str:
    """Why ``lavacut run`` cannot handle spiking layer ``L`` ("" = it can);
    ``prev``: the previous spiking layer, ``flat``: a flatten layer since."""
    issue = _neuron_issue(L, voltage_readout) or _bias_issue(L, g)
    if issue:
        return issue
    if L.type == "conv":
        if "delay" in g:
            return "axonal delays on a conv layer: netx 0.6.0 ignores them, so Lava would not compute them"
        if prev is None and not have_shape:
            return "a conv first layer without an input layer giving the frame shape"
        if prev is not None and (flat or len(prev.shape) != 3 or prev.type not in ("conv", "input")):
            return f"conv after the flat layer {prev.index} ({prev.type})"
        return ""
    if "weight" not in g:
        return "complex weights (RF neurons)" if "weight/real" in g else "no weight dataset"
    if "delay" in g:
        issue = _delay_issue(L, g)
    if not issue and prev is not None and not flat and prev.type not in ("dense", "dense_rec") \
            and len(prev.shape) > 1:
        issue = (f"dense after the {prev.type} layer {prev.index} of shape {prev.shape} without a flatten layer "
                 f"(netx cannot connect them)")
    return issue


def mark_support(layers: list[LayerInfo], group=None) -> None:
    """Fill ``run_issue``, ``verify_issue`` and ``role`` of every layer
    (``group``: the file's ``layer`` h5 group, for delays and biases)."""
    prev, flat, have_shape = None, False, False     # previous spiking layer, flatten since, frame shape known
    for p, L in enumerate(layers):
        g = group[L.index] if group is not None else {}
        issue, verify = "", ""
        if L.type == "input":
            have_shape = bool(L.shape)
            if p != 0:
                issue = "an input layer after other layers"
            elif L.neuron:
                issue = _neuron_issue(L)
                if not issue and None in (L.transform or (None,)):
                    issue = "an input weight/bias with more than one value (netx reads one value each)"
                if not issue:
                    L.role = (f"input neurons: the source drives their current with frame x {L.transform[0]} + "
                              f"{L.transform[1]} (the layer's weight and bias mantissas)")
                prev = L
        elif L.type == "flatten":
            flat = True
        elif L.type in ("dense", "dense_rec", "conv"):
            voltage = is_voltage_readout(layers, L)
            issue = _layer_issue(L, g, prev, flat, have_shape, voltage)
            if voltage and not issue:
                L.role = ("voltage readout: its neurons never spike; the cutoff reads class k's score as "
                          "neuron k's voltage v(t) (Lava's integer v)")
            if L.type == "dense_rec" and "delay" in g:
                verify = "a recurrent layer with axonal delays (the SLAYER rebuild covers recurrent layers without)"
            prev, flat = L, False
        elif L.type == "average":
            K = int(np.prod(L.shape)) if L.shape else 0
            n = int(np.prod(prev.shape)) if prev is not None else 0
            if L is not layers[-1]:
                issue = "an average layer that is not the last layer (lavacut only drops it as the readout)"
            elif prev is None or K < 1 or n % K:
                issue = f"an average readout of {K} groups over {n} neurons (needs a layer of K x G neurons)"
            else:
                G = n // K
                L.role = (f"readout: class k = sum of the spikes of neurons k*{G} .. k*{G}+{G - 1} of layer "
                          f"{prev.index} (SLAYER Average groups, C-order flattened); Lava runs without it")
        elif L.type == "dense_comp":
            issue = "a complex dense layer (RF neurons)"
        else:
            issue = L.note or "unknown layer type"
        L.run_issue = issue
        L.verify_issue = issue or verify
    if layers and prev is None:
        layers[-1].run_issue = layers[-1].run_issue or "the file has no spiking layer"
        layers[-1].verify_issue = layers[-1].verify_issue or layers[-1].run_issue


def require_support(path, layers: list[LayerInfo], what: str = "run") -> None:
    """Raise :class:`LavacutError` naming the first layer ``what`` ("run" or
    "verify") cannot handle, its neuron type and what is supported."""
    for L in layers:
        issue = L.run_issue if what == "run" else L.verify_issue
        if issue:
            neuron = f", neuron {L.neuron_type}" if L.neuron_type else ""
            raise LavacutError(f"{path}: layer {L.index} has type {L.type!r}{neuron}: {issue}. 'lavacut {what}' "
                               f"cannot handle it; {SUPPORTED}")


def _steady_voltage(current, bias, L: LayerInfo) -> np.ndarray:
    """The largest voltage (in vThMant units) a CUBA neuron reaches with a
    constant input ``current`` and ``bias`` (mantissas): Lava's
    u <- u (4096 - du) / 4096 + a_in, v <- v (4096 - dv) / 4096 + u + bias,
    at its fixed point; infinite where a decay of 0 lets it grow without end."""
    du, dv = (float(L.neuron.get(k, P_SCALE)) for k in ("iDecay", "vDecay"))
    with np.errstate(divide="ignore", invalid="ignore"):
        u = current * P_SCALE / du if du else np.where(current > 0, np.inf, 0.0)
        drive = u + bias
        v = drive * P_SCALE / dv if dv else np.where(drive > 0, np.inf, drive)
    return np.nan_to_num(np.asarray(v, dtype=np.float64), nan=0.0)


def activity_warnings(layers: list[LayerInfo], group) -> list[str]:
    """Layers whose spikes do not depend on their input: a layer whose bias
    alone drives every neuron past threshold (it fires with no input at all;
    an input layer then fires whatever the frames are), and an output layer
    no input can drive past threshold (it never spikes). An output layer
    without neurons is a voltage readout (:func:`is_voltage_readout`),
    said as such."""
    out = []
    lif = [L for L in layers if L.neuron and L.neuron_type in LIF_TYPES and isinstance(L.threshold, float)]
    for L in lif:
        g = group[L.index]
        bias = np.asarray(g["bias"][()], dtype=np.float64).reshape(-1) if "bias" in g else np.zeros(1)
        if L.type == "input":
            bias = np.array([float(L.transform[1])]) if L.transform and L.transform[1] is not None else bias
        vth = L.threshold * W_SCALE
        # v restarts from 0 after a spike and the bias alone brings it past
        # vth in one step: a spike at every step (the most a neuron can give)
        if bias.size and np.all(bias > vth):
            whatever = L.type == "input" and L.transform and (L.transform[0] or 0) >= 0
            out.append(f"layer {L.index} ({L.type}): its bias ({bias.min():g}..{bias.max():g}) alone drives every "
                       f"neuron past its threshold (vThMant {vth:g}) at every step: it fires at every step "
                       + ("whatever the frames are, so nothing after it depends on the input" if whatever else
                          "without any input"))
    weighted = [L for L in layers if L.type in ("dense", "dense_rec", "conv")]
    last = weighted[-1] if weighted else None
    if last is not None and is_voltage_readout(layers, last):
        out.append(f"layer {last.index} ({last.type}) is a voltage readout: its neurons never spike (none, netx's "
                   f"integrator, or a threshold beyond Lava's range); the cutoff reads their voltages")
    elif last is not None and last in lif and "weight" in group[last.index]:
        g = group[last.index]
        w = np.asarray(g["weight"][()], dtype=np.float64)
        w = w.reshape(w.shape[0] if last.type == "conv" else last.neurons, -1)   # (output channels or neurons, inputs)
        current = np.clip(w, 0, None).sum(axis=1)       # every excitatory input spiking every step
        bias = np.asarray(g["bias"][()], dtype=np.float64).reshape(-1) if "bias" in g else np.zeros(1)
        if bias.size not in (1, current.size):
            bias = np.zeros(1)
        if not np.any(_steady_voltage(current, bias, last) > last.threshold * W_SCALE):
            out.append(f"layer {last.index} ({last.type}, the output): even with every excitatory input spiking "
                       f"at every step (input current at most {current.max():g}) no neuron reaches its threshold "
                       f"(vThMant {last.threshold * W_SCALE:g}): it never spikes, so every decision is a tie")
    return out


def _taps_in_range(n_out: int, n_in: int, k: int, s: int, p: int, d: int) -> np.ndarray:
    """Per kernel tap j (0..k-1): how many of the n_out output positions put
    it on a real input (0 <= o*s - p + j*d < n_in), i.e. not on padding."""
    o = np.arange(n_out)[:, None] * s - p + np.arange(k)[None, :] * d
    return ((o >= 0) & (o < n_in)).sum(axis=0)


def conv_pair(g, name: str, default: int) -> tuple[int, int]:
    """A conv attribute of a NetX layer group as (y, x); ``default`` when absent."""
    v = np.atleast_1d(g[name][()]) if name in g else np.array([default])
    return (int(v[0]), int(v[-1]))


def _conv_synapses(g, w: np.ndarray, shape: tuple, prev_shape: tuple | None) -> int:
    """Synaptic connections of a conv layer: every nonzero kernel weight times
    the output positions where its tap lands on a real input (padding taps
    are not synapses); the same definition as dense layers (nonzero weights)
    and as :func:`lavacut.cutoff.synops.conv_fan_out`. Falls back to full
    kernel windows when the input size is unknown."""
    kh, kw = w.shape[2], w.shape[3]
    nz = (w.reshape(w.shape[0], -1, kh, kw) != 0)
    if prev_shape is None or len(prev_shape) != 3:
        return int(nz.sum()) * int(np.prod(shape[1:]))
    (sy, sx), (py, px), (dy, dx) = (conv_pair(g, "stride", 1), conv_pair(g, "padding", 0),
                                   conv_pair(g, "dilation", 1))
    vy = _taps_in_range(shape[1], prev_shape[1], kh, sy, py, dy)
    vx = _taps_in_range(shape[2], prev_shape[2], kw, sx, px, dx)
    return int((nz * vy[None, None, :, None] * vx[None, None, None, :]).sum())
