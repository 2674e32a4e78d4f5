"""``lavacut inspect``: what a NetX file holds, read with h5py only.

Works on any NetX file: lavacut metadata is shown when present (and its
absence said), layer types NetX cannot load are listed as unsupported.
Loihi 2 resource estimates per layer: neurons, synaptic connections, weights
stored and weight memory (stored weights x weight bits).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lavacut.export.netx_file import META_GROUP, NetxFileError, _open, read_metadata

#: layer types lava-dl 0.6.0's netx.hdf5.Network builds
NETX_SUPPORTED = {"input", "dense", "dense_rec", "dense_comp", "conv", "flatten"}
#: types it knows but raises NotImplementedError for
NETX_UNSUPPORTED = {"pool", "convT", "unpool", "average", "concat"}


@dataclass
class LayerInfo:
    index: str
    type: str
    shape: tuple
    supported: bool
    neuron: dict = field(default_factory=dict)
    weight_shape: tuple | None = None
    weight_bits: int | None = None
    delays: str = "none"
    neurons: int = 0
    synapses: int = 0
    weights_stored: int = 0
    weight_memory_bits: int = 0
    note: str = ""


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
            info.neurons = int(np.prod(shape)) if shape and t not in ("input", "flatten") else 0
            if "weight" in g and hasattr(g["weight"], "shape"):
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
        return out


def _taps_in_range(n_out: int, n_in: int, k: int, s: int, p: int, d: int) -> np.ndarray:
    """Per kernel tap j (0..k-1): how many of the n_out output positions put
    it on a real input (0 <= o*s - p + j*d < n_in), i.e. not on padding."""
    o = np.arange(n_out)[:, None] * s - p + np.arange(k)[None, :] * d
    return ((o >= 0) & (o < n_in)).sum(axis=0)


def _conv_synapses(g, w: np.ndarray, shape: tuple, prev_shape: tuple | None) -> int:
    """Synaptic connections of a conv layer: every nonzero kernel weight times
    the output positions where its tap lands on a real input (padding taps
    are not synapses); the same definition as dense layers (nonzero weights)
    and as :func:`lavacut.cutoff.synops.fan_out`. Falls back to full kernel
    windows when the input size is unknown."""
    def pair(name, default):
        v = np.atleast_1d(g[name][()]) if name in g else np.array([default])
        return (int(v[0]), int(v[-1]))

    kh, kw = w.shape[-2], w.shape[-1]
    nz = (w.reshape(w.shape[0], -1, kh, kw) != 0)
    if prev_shape is None or len(prev_shape) != 3:
        return int(nz.sum()) * int(np.prod(shape[1:]))
    (sy, sx), (py, px), (dy, dx) = pair("stride", 1), pair("padding", 0), pair("dilation", 1)
    vy = _taps_in_range(shape[1], prev_shape[1], kh, sy, py, dy)
    vx = _taps_in_range(shape[2], prev_shape[2], kw, sx, px, dx)
    return int((nz * vy[None, None, :, None] * vx[None, None, None, :]).sum())


def format_inspection(path: str | Path) -> str:
    layers = inspect_layers(path)
    meta = read_metadata(path)
    lines = [f"{path}"]
    lines.append(f"{'layer':<6}{'type':<11}{'shape':<16}{'vth':>6}{'iDecay':>8}{'vDecay':>8}"
                 f"{'weights':>16}{'bits':>6}{'neurons':>9}{'synapses':>11}{'wmem KiB':>10}  delays")
    tot_n = tot_s = tot_m = 0
    for L in layers:
        n = L.neuron
        lines.append(f"{L.index:<6}{L.type:<11}{str(L.shape):<16}{str(n.get('vThMant', '')):>6}"
                     f"{str(n.get('iDecay', '')):>8}{str(n.get('vDecay', '')):>8}"
                     f"{str(L.weight_shape or ''):>16}{str(L.weight_bits or ''):>6}{L.neurons:>9}"
                     f"{L.synapses:>11}{L.weight_memory_bits / 8192:>10.1f}  {L.delays}"
                     + (f"  UNSUPPORTED: {L.note}" if L.note else ""))
        tot_n += L.neurons
        tot_s += L.synapses
        tot_m += L.weight_memory_bits
    lines.append(f"total: {tot_n} neurons, {tot_s} synaptic connections, {tot_m / 8192:.1f} KiB weight memory "
                 f"(stored nonzero weights x weight bits; Loihi 2 estimate, before compiler packing)")
    bad = [L for L in layers if not L.supported]
    if bad:
        lines.append("unsupported by netx: " + ", ".join(f"layer {L.index} ({L.type})" for L in bad)
                     + " -- stock lava.lib.dl.netx.hdf5.Network will not load this file")
    if meta is None:
        lines.append("lavacut metadata: none (not written by lavacut; 'lavacut run' needs --policy "
                     "parameters or runs fixed T)")
    else:
        fr = meta.get("framing", {})
        lines.append(f"lavacut metadata (format {meta.get('format')}): name {meta.get('name')}, data set "
                     f"{meta.get('dataset')}, sensor {meta.get('sensor_size')}, input {meta.get('input_shape')}, "
                     f"framing bin {fr.get('bin_us')} us x T {fr.get('T')}")
        lines.append(f"  classes {meta.get('classes')}")
        acc = meta.get("accuracy", {})
        if acc:
            lines.append("  accuracy " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                                  for k, v in acc.items()))
        v = meta.get("versions", {})
        lines.append(f"  versions lavacut {v.get('lavacut')}, lava-nc {v.get('lava-nc')}, lava-dl {v.get('lava-dl')}, "
                     f"torch {v.get('torch')}")
        lines.append(f"  content sha256 {meta.get('content_sha256')}")
        if meta["cutoff"]:
            for name, p in meta["cutoff"].items():
                brief = {k: (f"[{len(v)} values, {min(v):.3g}..{max(v):.3g}]" if isinstance(v, list) and v else v)
                         for k, v in p.items() if k != "policy"}
                star = " (default)" if name == meta.get("default_policy") else ""
                lines.append(f"  cutoff {name}{star}: {brief}")
        else:
            lines.append("  cutoff: not calibrated yet ('lavacut calibrate')")
    return "\n".join(lines)
