"""``lavacut inspect``: what a NetX file holds, read with h5py only.

Works on any NetX file: lavacut metadata is shown when present (and its
absence said), layer types NetX cannot load are listed as unsupported.
Per layer: the neuron type with its real threshold and decays (SLAYER
units: threshold = vThMant / 64, decays = iDecay / 4096 and vDecay / 4096),
Loihi 2 resource estimates (neurons, synaptic connections, weights stored,
weight memory = stored weights x weight bits), and what ``lavacut run``
(``LayerInfo.run_issue``) and ``lavacut verify`` (``LayerInfo.verify_issue``)
cannot handle in it, and why (:func:`mark_support` asks each layer's kind,
:mod:`lavacut.export.netx.layers`; the runtime and the SLAYER rebuild
refuse through it). The report itself: :mod:`lavacut.export.inspect_report`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lavacut.export.netx.file import _open, not_netx_error, values
from lavacut.export.netx.layers import kind_of
from lavacut.export.netx.layers.base import LayerInfo, SupportState
from lavacut.export.netx.layers.neurons import LIF_TYPES, never_spikes
from lavacut.fixed_point import P_SCALE, W_SCALE
from lavacut.util import LavacutError

SUPPORTED = (
    "lavacut runs CUBA (or LOIHI, which netx runs as CUBA) LIF neurons with binary spikes in an input "
    "layer (first), dense layers (with or without axonal delays), conv layers and flatten, with an "
    "average readout or a voltage readout (a dense layer whose neurons never spike, e.g. "
    "SLAYER's Affine) allowed as the last layer"
)


def _val(ds):
    v = values(ds)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.dtype.kind == "S":
        return v.astype(str).tolist()[0] if v.size == 1 else v.astype(str).tolist()
    if isinstance(v, np.ndarray) and v.size == 1:
        return v.reshape(-1)[0].item()
    if isinstance(v, np.generic):
        return v.item()
    return v


def inspect_layers(path: str | Path) -> list[LayerInfo]:
    """The layers of the NetX file ``path`` (:func:`read_layers`)."""
    with _open(path) as f:
        return read_layers(f, path)


def read_layers(f, path: str | Path) -> list[LayerInfo]:
    """The layers of the open NetX file ``f`` (``path`` names it in the
    errors), their support marked (:func:`mark_support`)."""
    if "layer" not in f:
        raise not_netx_error(f, path)
    keys = sorted(f["layer"].keys(), key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else k))
    prev_shape = None
    out = []
    for k in keys:
        g = f["layer"][k]
        t = _val(g["type"]) if "type" in g else "?"
        t = t[0] if isinstance(t, list) else t
        shape = tuple(int(s) for s in np.atleast_1d(values(g["shape"]))) if "shape" in g else ()
        kind = kind_of(t)
        info = LayerInfo(k, t, shape, kind.netx_loads, note=kind.note)
        if "neuron" in g:
            info.neuron = {n: _val(g["neuron"][n]) for n in g["neuron"]}
            _neuron_fields(info)
        info.neurons = int(np.prod(shape)) if shape and kind.counts_neurons(info) else 0
        kind.read(info, g, prev_shape)
        if "delay" in g:
            d = np.asarray(values(g["delay"]))
            info.delays = f"axonal, max {int(d.max())}" if d.size else "none"
        out.append(info)
        prev_shape = shape
    mark_support(out, f["layer"])
    return out


def _neuron_fields(info: LayerInfo) -> None:
    n = info.neuron
    info.neuron_type = str(n.get("type", "?"))
    for attr, key, scale in (
        ("threshold", "vThMant", W_SCALE),
        ("current_decay", "iDecay", P_SCALE),
        ("voltage_decay", "vDecay", P_SCALE),
    ):
        v = n.get(key)
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            setattr(info, attr, float(v) / scale)


def is_voltage_readout(layers: list[LayerInfo], L: LayerInfo) -> bool:
    """``L`` is the file's last layer, a dense layer whose neurons never
    spike: the scores are its voltages (SLAYER's Affine readout)."""
    return bool(layers) and L is layers[-1] and kind_of(L.type).voltage_readout and never_spikes(L)


def readout_of(layers: list[LayerInfo]) -> str:
    """What the cutoff reads from the output layer: "voltage" for a voltage
    readout, else "spike counts"."""
    return "voltage" if layers and is_voltage_readout(layers, layers[-1]) else "spike counts"


def num_outputs(layers: list[LayerInfo]) -> int:
    """The classes the cutoff compares: an average readout's groups, else the
    last layer with neurons (flattened)."""
    for L in reversed(layers):
        kind = kind_of(L.type)
        if kind.host_readout or kind.is_spiking(L):
            return int(np.prod(L.shape)) if L.shape else 0
    return 0


def mark_support(layers: list[LayerInfo], group=None) -> None:
    """Fill ``run_issue``, ``verify_issue`` and ``role`` of every layer
    (``group``: the file's ``layer`` h5 group, for delays and biases), each
    judged by its kind (:meth:`~lavacut.export.netx.layers.base.LayerKind.support`)."""
    state = SupportState(layers)
    for p, L in enumerate(layers):
        g = group[L.index] if group is not None else {}
        state.position = p
        issue, verify = kind_of(L.type).support(L, g, state, is_voltage_readout(layers, L))
        L.run_issue = issue
        L.verify_issue = issue or verify
    if layers and state.prev is None:
        layers[-1].run_issue = layers[-1].run_issue or "the file has no spiking layer"
        layers[-1].verify_issue = layers[-1].verify_issue or layers[-1].run_issue


def require_support(path, layers: list[LayerInfo], what: str = "run") -> None:
    """Raise :class:`LavacutError` naming the first layer ``what`` ("run" or
    "verify") cannot handle, its neuron type and what is supported."""
    for L in layers:
        issue = L.run_issue if what == "run" else L.verify_issue
        if issue:
            neuron = f", neuron {L.neuron_type}" if L.neuron_type else ""
            raise LavacutError(
                f"{path}: layer {L.index} has type {L.type!r}{neuron}: {issue}. 'lavacut {what}' "
                f"cannot handle it; {SUPPORTED}"
            )


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
        bias = np.asarray(values(g["bias"]), dtype=np.float64).reshape(-1) if "bias" in g else np.zeros(1)
        if kind_of(L.type).elementwise:
            bias = np.array([float(L.transform[1])]) if L.transform and L.transform[1] is not None else bias
        vth = L.threshold * W_SCALE
        # v restarts from 0 after a spike and the bias alone brings it past
        # vth in one step: a spike at every step (the most a neuron can give)
        if bias.size and np.all(bias > vth):
            whatever = kind_of(L.type).elementwise and L.transform and (L.transform[0] or 0) >= 0
            out.append(
                f"layer {L.index} ({L.type}): its bias ({bias.min():g}..{bias.max():g}) alone drives every "
                f"neuron past its threshold (vThMant {vth:g}) at every step: it fires at every step "
                + (
                    "whatever the frames are, so nothing after it depends on the input"
                    if whatever
                    else "without any input"
                )
            )
    weighted = [L for L in layers if kind_of(L.type).synaptic]
    last = weighted[-1] if weighted else None
    if last is not None and is_voltage_readout(layers, last):
        out.append(
            f"layer {last.index} ({last.type}) is a voltage readout: its neurons never spike (none, netx's "
            f"integrator, or a threshold beyond Lava's range); the cutoff reads their voltages"
        )
    elif last is not None and last in lif and "weight" in group[last.index]:
        g = group[last.index]
        w = np.asarray(values(g["weight"]), dtype=np.float64)
        w = kind_of(last.type).fan_in_rows(last, w)  # (output channels or neurons, inputs)
        current = np.clip(w, 0, None).sum(axis=1)  # every excitatory input spiking every step
        bias = np.asarray(values(g["bias"]), dtype=np.float64).reshape(-1) if "bias" in g else np.zeros(1)
        if bias.size not in (1, current.size):
            bias = np.zeros(1)
        if not np.any(_steady_voltage(current, bias, last) > last.threshold * W_SCALE):
            out.append(
                f"layer {last.index} ({last.type}, the output): even with every excitatory input spiking "
                f"at every step (input current at most {current.max():g}) no neuron reaches its threshold "
                f"(vThMant {last.threshold * W_SCALE:g}): it never spikes, so every decision is a tie"
            )
    return out
