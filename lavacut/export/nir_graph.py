"""NIR bridge: lavacut networks <-> the Neuromorphic Intermediate Representation.

NIR (package ``nir``) is the graph format snnTorch, Norse, Sinabs, Rockpool,
Spyx and others exchange trained spiking networks in. This module converts
both ways:

- :func:`to_nir` / :func:`write_nir`: a lavacut SLAYER network (a checkpoint
  or a ``.net`` export) -> a NIR graph ``Input -> [Conv2d -> CubaLIF]* ->
  [Flatten] -> [Linear -> CubaLIF]+ -> Output`` with lavacut's metadata and
  cutoff calibration in ``graph.metadata``;
- :func:`from_nir` / :func:`import_nir`: a NIR graph -> a SLAYER network and
  a NetX export that ``lavacut calibrate / evaluate / run`` use like a native
  one.

Discrete time: what lavacut runs
--------------------------------
One lavacut/SLAYER CUBA layer (``lava.lib.dl.slayer.neuron.cuba``), bit for bit
what Lava's ``PyLifModelBitAcc`` (Loihi) computes, with integer states
``U, V`` (value * 4096), ``iDecay, vDecay`` in 0..4096 and ``vThMant``:

    X[t] = 4096 * sum_j w_j s_j[t]          (w_j = k_j / 32, k_j in [-128, 127]:
                                             8-bit weights)
    U[t] = rtz(U[t-1] * (4096 - iDecay) / 4096) + X[t]
    V[t] = rtz(V[t-1] * (4096 - vDecay) / 4096) + U[t]
    s[t] = V[t] > 64 * vThMant ;  V[t] = 0 where s[t]

(rtz: round toward zero), and every layer's output spikes reach the next
layer (or the network output) one step later (SLAYER's ``delay_shift``, the
Loihi synapse delay). In real units ``du = iDecay/4096``,
``dv = vDecay/4096``, ``vth = vThMant/64``, u = U/4096, v = V/4096:
``u[t] = (1-du) u[t-1] + x[t]``, ``v[t] = (1-dv) v[t-1] + u[t]``, spike when
``v > vth``, reset to 0.

Continuous time: what NIR says
------------------------------
NIR's ``CubaLIF``: ``tau_syn I' = -I + w_in S``, ``tau_mem v' = (v_leak - v)
+ r I``, spike when ``v > v_threshold``, then ``v = v_reset``. NIR leaves the
discretisation to the simulator. lavacut reads and writes it with FORWARD
EULER at step ``dt``, current first (the order SLAYER, Loihi and snnTorch
use):

    I[t] = (1 - dt/tau_syn) I[t-1] + (dt/tau_syn) w_in S[t]
    v[t] = (1 - dt/tau_mem) v[t-1] + (dt/tau_mem) (v_leak + r I[t])

Export mapping (lavacut -> NIR), per spiking layer:

    tau_syn = dt / du          w_in = tau_syn / dt  (= 1/du)
    tau_mem = dt / dv          r    = tau_mem / dt  (= 1/dv)
    v_threshold = vth, v_leak = 0, v_reset = 0
    Linear / Conv2d weight = the 8-bit quantised SLAYER weight k/32 (exact
    floats), no bias; one ``Flatten(start_dim=0)`` (C-order, like SLAYER).

so ``(dt/tau_syn) w_in = 1`` and ``(dt/tau_mem) r = 1``: the Euler equations
above are exactly ``u, v`` of SLAYER in floating point, whatever ``dt`` is. A
layer with ``dv = 0`` (no voltage leak) gets ``tau_mem = 2**24 dt`` and
``r = 2**24`` (finite numbers; imported back it is ``vDecay = 0`` again).

``dt`` defaults to :data:`DEFAULT_DT` = 1e-4 s: snnTorch's NIR export and
import hard-code that step (snnTorch 1.0's importer asserts
``r == tau_mem / 1e-4``), so a lavacut graph loads in snnTorch with the
right decays. ``dt`` can be anything else (e.g. the framing bin,
``bin_us * 1e-6``); the graph is self-describing (``dt = tau_mem / r``) and
``graph.metadata`` holds ``dt``, ``dt_unit = "s"`` and ``frame_s`` (the
framing bin in seconds: multiply every tau by ``frame_s / dt`` for physical
time constants).

Exact vs approximate, for other simulators:

- exact in lavacut: NIR -> lavacut of a graph lavacut wrote gives the same
  integers, hence the same spikes (tested on the embedded test set);
- approximate elsewhere: (1) a float simulator does not round toward zero at
  each decay, so states differ by < 1/4096 per step from SLAYER's and a
  spike can flip when ``v`` lands within that of the threshold; (2) Loihi
  and SLAYER delay every synapse by one step (``delay_shift``), NIR's
  Linear / Conv2d are instantaneous: an L-layer network simulated from the
  graph answers L steps EARLIER (its output at t is lavacut's at t + L;
  ``metadata["synaptic_delay_steps"] = 1`` per layer, no ``Delay`` nodes
  are written since most importers cannot read them); (3) simulators that
  update the voltage with the previous step's current (Norse) add one more
  step per layer; (4) states are unbounded there, 24-bit on Loihi.

Import mapping (NIR -> lavacut), per neuron node, with ``dt`` from the
``dt`` argument, else ``graph.metadata["dt"]``, else inferred from
``r = tau_mem/dt`` and ``w_in = tau_syn/dt`` when every neuron agrees
(snnTorch's convention; r = 1 / w_in = 1 are ignored as evidence), else 1 if
the graph has no time constants (IF only), else an error asking for dt:

- ``CubaLIF``: ``du = dt/tau_syn``, ``dv = dt/tau_mem``, input gain
  ``g = (dt/tau_syn) w_in (dt/tau_mem) r``;
- ``LIF``: ``du = 1`` (``iDecay = 4096``: SLAYER keeps ``u[t] = x[t]``, NetX
  stores ``du = 4095`` and Lava adds 1 back, so the current holds only this
  step's input), ``dv = dt/tau``, ``g = (dt/tau) r``;
- ``IF``: ``du = 1``, ``dv = 0``, ``g = dt r``;
- ``iDecay = round(4096 du)`` must be in 1..4096, ``vDecay = round(4096 dv)``
  in 0..4096 (``dt/tau > 1`` is an error: Euler would overshoot); the
  decays must quantise to ONE value per layer (heterogeneous per-neuron
  ``tau``: error naming the node). Layers may differ from each other (the
  decays are per block in SLAYER and per layer in NetX);
- ``v_leak`` and ``v_reset`` must be 0 and ``v_threshold > 0``: per-neuron
  thresholds and gains are folded exactly into that neuron's incoming
  weights (``v`` is rescaled by ``theta / v_threshold``), per output channel
  for convolutions (a threshold varying over positions is an error). So
  every layer shares the one threshold ``theta`` a NetSpec holds;
- ``theta`` (a multiple of 1/64): if the graph's weights land exactly on the
  8-bit grid with the graph's own (shared) threshold, that one (lossless);
  else the largest threshold for which every layer's folded weights fit
  ``[-256, 254] / 64`` (so the layer with the largest weights uses the full
  8-bit range), at most 256 (headroom below Lava's 24-bit voltage); or the
  ``threshold`` argument. :func:`import_nir` records the integer state
  ranges on test samples and notes when they exceed Loihi's. The weights are then
  quantised by SLAYER's quantiser (round to 2/64, clamp); the report gives
  per layer the relative RMS error, weights rounded to zero and clipped;
- ``Linear`` / ``Affine`` (bias must be zero: a constant input to ``u`` has
  no exact CUBA/NetX form, NetX's bias is added to ``v``), ``Conv2d``
  (groups and dilation are expanded into a plain kernel; no bias),
  ``Flatten``, ``SumPool2d`` and ``AvgPool2d`` (divisor kH*kW, padding
  counted, torch's default): every run of these between
  two neuron nodes is composed into ONE synapse (NetX cannot load pooling):
  a run ending in a 1-D neuron layer becomes one dense matrix (its exact
  Jacobian), a run ending in a (C, H, W) layer one convolution: a pooling
  alone becomes a convolution with unit weights on the diagonal channel
  pairs (the grouped convolution with groups = C written densely, weight
  1.0 = 64/64 is representable), pooling then convolution compose into one
  strided convolution (exact when the later operation has no padding; else
  an error naming the node). Kernels, strides and paddings must be square
  (NetSpec), the output layer must be dense;
- the SLAYER network keeps lavacut's one-step synaptic delay per layer, so an
  imported network answers L steps later than its source simulator.

Refused, with an error naming the node: node types other than Input, Output,
Linear, Affine, Conv2d, Flatten, SumPool2d, AvgPool2d, CubaLIF, LIF, IF
(e.g. LI/CubaLI readouts, Delay, Scale, Threshold, recurrent sub-graphs),
branches and recurrence, shapes that do not chain, nonzero bias, v_leak or
v_reset, heterogeneous per-neuron time constants.

:func:`reference_simulate` runs a NIR graph with the forward-Euler semantics
above in floating point (the reference the tests compare SLAYER against).
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lavacut.util import LavacutError, atomic_path

__all__ = [
    "DEFAULT_DT", "NirError", "to_nir", "write_nir", "read_nir", "lavacut_metadata",
    "from_nir", "import_nir", "format_import_report", "reference_simulate", "SUPPORTED_NODES",
]

#: Default NIR time step (s): the one snnTorch's NIR export/import hard-code.
DEFAULT_DT = 1e-4
#: graph.metadata key holding lavacut's metadata as JSON.
META_KEY = "lavacut"
#: tau_mem / dt written for a layer without voltage leak (vDecay = 0).
NO_LEAK_TAU_STEPS = float(1 << 24)

W_SCALE = 64        # weight / threshold scale (weights step 2/64, threshold 1/64)
P_SCALE = 4096      # decay scale
W_MIN, W_MAX = -256, 254   # SLAYER's 8-bit weight range, in 1/64
#: automatic thresholds stay <= 256 (vThMant 2**14): Lava's voltage saturates
#: at 2**23 / 4096 = 2048, leaving 8x headroom above the threshold.
MAX_AUTO_THRESHOLD_MANT = 1 << 14

LINEAR_NODES = ("Linear", "Affine", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d")
NEURON_NODES = ("CubaLIF", "LIF", "IF")
SUPPORTED_NODES = ("Input", "Output") + LINEAR_NODES + NEURON_NODES
_WHY_NOT = {
    "LI": "a non-spiking leaky-integrator readout; lavacut's output layer is spiking CUBA neurons "
          "(count spikes instead: replace it by a LIF/CubaLIF layer)",
    "CubaLI": "a non-spiking readout; lavacut's output layer is spiking CUBA neurons",
    "I": "a non-spiking integrator readout; lavacut's output layer is spiking CUBA neurons",
    "Delay": "axonal delays are not part of lavacut networks",
    "NIRGraph": "a sub-graph (snnTorch writes recurrent layers RLeaky/RSynaptic as sub-graphs); "
                "lavacut imports feed-forward chains",
    "Conv1d": "lavacut networks take (C, H, W) frames: 2-D convolutions only",
    "Threshold": "a bare threshold without neuron dynamics",
    "Scale": "an elementwise scale node",
}


class NirError(LavacutError, ValueError):
    """A NIR graph lavacut cannot convert (the message names the node)."""


# ============================================================================
# small helpers
# ============================================================================

def _arr(x) -> np.ndarray:
    if x is None:
        return None
    if hasattr(x, "detach"):          # torch tensors (snnTorch puts some in graphs it builds)
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _tname(node) -> str:
    return type(node).__name__


def _pair(v, what: str, where: str) -> tuple[int, int]:
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    a = np.atleast_1d(np.asarray(v)).reshape(-1)
    if a.size == 1:
        a = np.repeat(a, 2)
    if a.size != 2 or not np.all(np.equal(np.mod(a, 1), 0)):
        raise NirError(f"{where}: {what} must be an int or a pair of ints, got {v!r}")
    return int(a[0]), int(a[1])


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


# ============================================================================
# export: lavacut -> NIR
# ============================================================================

def _quantised_blocks(net):
    """(block, integer weights (float64 array), iDecay, vDecay, vThMant) per
    block, read from a fresh copy of ``net`` exactly as export_hdf5 sees it."""
    import torch

    from lavacut.train.networks import build_network

    fresh = build_network(net.spec)
    fresh.load_state_dict(net.state_dict())
    fresh.eval()
    with torch.no_grad():
        fresh(torch.zeros(1, *net.spec.input_shape, 2), record=False)
        out = []
        for b in fresh.blocks:
            if not hasattr(b, "neuron"):
                out.append((b, None, None, None, None))
                continue
            s = b.synapse
            if getattr(s, "weight_norm_enabled", False):
                s.disable_weight_norm()
            w = b.neuron.quantize_8bit(s.weight, descale=True).detach().cpu().numpy().astype(np.float64)
            out.append((b, w, int(b.neuron.cx_current_decay), int(b.neuron.cx_voltage_decay),
                        int(round(float(b.neuron.threshold) * W_SCALE))))
    return out


def _cuba_node(shape, i_decay: int, v_decay: int, vth_mant: int, dt: float, block: int):
    import nir

    du, dv = i_decay / P_SCALE, v_decay / P_SCALE
    if i_decay < 1:
        raise NirError(f"block {block}: current decay iDecay={i_decay} cannot be written (tau_syn would be "
                       f"infinite); lavacut networks need iDecay >= 1")
    tau_syn = dt / du
    tau_mem = dt / dv if v_decay > 0 else dt * NO_LEAK_TAU_STEPS
    full = lambda v: np.full(tuple(shape), float(v), dtype=np.float64)  # noqa: E731
    return nir.CubaLIF(
        tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(tau_mem / dt), v_leak=full(0.0),
        v_threshold=full(vth_mant / W_SCALE), v_reset=full(0.0), w_in=full(tau_syn / dt),
        metadata={"iDecay": int(i_decay), "vDecay": int(v_decay), "vThMant": int(vth_mant),
                  "lavacut_block": int(block)})


def to_nir(net, meta: dict | None = None, dt: float = DEFAULT_DT):
    """A lavacut :class:`~lavacut.train.networks.SlayerNet` as a NIR graph
    (type-checked by ``nir``). ``meta`` (an export's metadata, cutoff
    calibration included) goes to ``graph.metadata["lavacut"]`` as JSON; the
    mapping is in the module docstring."""
    import nir

    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise NirError(f"dt must be a positive number of seconds, got {dt!r}")
    spec = net.spec
    c, h, w = spec.input_shape
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([c, h, w])})}
    order = ["input"]
    shape: tuple[int, ...] = (c, h, w)
    conv_shapes = spec.conv_output_shapes() if spec.kind == "conv" else []
    layers = []
    li = 0
    if spec.kind == "dense":
        nodes["flatten"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
        order.append("flatten")
        shape = (c * h * w,)
    for i, (b, wint, idec, vdec, vth) in enumerate(_quantised_blocks(net)):
        if wint is None:                               # cuba.Flatten
            nodes["flatten"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
            order.append("flatten")
            shape = (int(np.prod(shape)),)
            continue
        wf = (wint / W_SCALE)
        if wf.ndim == 5:                               # SLAYER (O, I, kh, kw, 1) / dense (O, I, 1, 1, 1)
            wf = wf[..., 0]
        if len(shape) == 3:                            # convolution
            k = wf.shape[-1]
            s, p = spec.conv_strides[li], spec.conv_paddings[li]
            name = f"conv{li}"
            nodes[name] = nir.Conv2d(input_shape=(shape[1], shape[2]), weight=wf.astype(np.float32),
                                     stride=(s, s), padding=(p, p), dilation=(1, 1), groups=1,
                                     bias=np.zeros(wf.shape[0], dtype=np.float32))
            shape = tuple(conv_shapes[li])
            layers.append({"kind": "conv", "kernel": int(k), "stride": s, "padding": p})
        else:
            wf = wf.reshape(wf.shape[0], -1)
            name = f"linear{li}"
            nodes[name] = nir.Linear(weight=wf.astype(np.float32))
            shape = (wf.shape[0],)
            layers.append({"kind": "dense"})
        cname = f"cuba{li}"
        nodes[cname] = _cuba_node(shape, idec, vdec, vth, dt, i)
        layers[-1].update(synapse=name, neuron=cname, shape=list(shape), iDecay=idec, vDecay=vdec, vThMant=vth)
        order += [name, cname]
        li += 1
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    order.append("output")
    edges = list(zip(order[:-1], order[1:]))

    full_meta = dict(meta or {})
    framing = full_meta.get("framing") or {}
    export_info = {
        "dt": float(dt), "dt_unit": "s", "convention": "forward Euler, current first; tau = dt / decay, "
        "r = tau_mem / dt, w_in = tau_syn / dt (see lavacut.export.nir_graph)",
        "synaptic_delay_steps": 1, "layers": layers, "spec": spec.to_dict(),
    }
    full_meta["nir_export"] = export_info
    metadata = {
        META_KEY: json.dumps(full_meta, default=_json_default),
        "producer": "lavacut",
        "dt": float(dt),
        "dt_unit": "s",
        "synaptic_delay_steps": 1,
        "neuron_model": "Loihi CUBA (lava-dl SLAYER cuba.Neuron), fixed point: decays /4096, "
                        "threshold /64, weights 8-bit /64",
    }
    if framing.get("bin_us"):
        metadata["frame_s"] = float(framing["bin_us"]) * 1e-6
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)
    except (ValueError, AssertionError) as exc:   # a bug here, not a user error; say what nir said
        raise NirError(f"the NIR graph built from the network fails nir's type check: {exc}") from None


def _meta_from_checkpoint(state: dict, net) -> dict:
    from lavacut.config import RunConfig

    cfg = RunConfig.from_dict(dict(state["config"]), source="checkpoint (stored config)")
    sensor = _sensor_size(cfg.data.dataset)
    return {
        "name": cfg.name,
        "dataset": cfg.data.dataset,
        "data_seed": cfg.data.seed,
        **({"sensor_size": list(sensor)} if sensor else {}),
        "input_shape": list(net.spec.input_shape),
        "framing": {k: getattr(cfg.framing, k) for k in ("bin_us", "T", "downsample", "denoise_us")},
        "classes": _classes(cfg.data.dataset, net.spec.n_classes),
        "n_classes": net.spec.n_classes,
        "latency_steps": net.latency,
        "spec": net.spec.to_dict(),
        "train_config": cfg.to_dict(),
        "accuracy": {"best_val": float(state.get("best_val_acc", float("nan")))},
        "checkpoint_epoch": int(state.get("epoch", 0)),
    }


def _load_source(source: str | Path):
    """(net, meta) from a checkpoint (.pt) or a NetX export (.net / HDF5)."""
    import h5py

    source = Path(source)
    if not source.is_file():
        raise LavacutError(f"{source}: no such file")
    if h5py.is_hdf5(source):
        from lavacut.export.exporter import net_from_export
        try:
            return net_from_export(source)
        except LavacutError:
            raise
        except (KeyError, OSError) as exc:
            raise LavacutError(f"{source}: not a NetX network lavacut can rebuild ({exc})") from None
    from lavacut.export.exporter import net_from_checkpoint
    from lavacut.train.checkpoint import load_checkpoint

    state = load_checkpoint(source)
    net = net_from_checkpoint(state)
    return net, _meta_from_checkpoint(state, net)


def write_nir(source_path: str | Path, out_path: str | Path, dt: float | str = DEFAULT_DT):
    """``lavacut export SOURCE --format nir -o OUT.nir``: SOURCE is a
    checkpoint or a NetX export; writes OUT atomically with ``nir.write``,
    reads it back with ``nir.read`` (NIR's type checks on) and returns
    ``(out_path, graph)``. ``dt``: seconds per step, or ``"bin"`` for the
    framing bin of the source's metadata (physical time constants)."""
    import nir

    net, meta = _load_source(source_path)
    meta = dict(meta or {})
    if isinstance(dt, str):
        bin_us = (meta.get("framing") or {}).get("bin_us")
        if dt != "bin" or not bin_us:
            raise NirError(f"dt must be a number of seconds or 'bin' (needs the source's framing metadata), "
                           f"got {dt!r}")
        dt = float(bin_us) * 1e-6
    meta.setdefault("name", Path(source_path).stem)
    meta["nir_source"] = str(source_path)
    graph = to_nir(net, meta, dt=dt)
    out_path = Path(out_path)
    with atomic_path(out_path, suffix=".nir") as tmp:
        nir.write(tmp, graph)
        nir.read(tmp)                 # type-checked read-back before it replaces OUT
    return out_path, graph


# ============================================================================
# import: NIR -> lavacut
# ============================================================================

def read_nir(path: str | Path):
    """``nir.read`` without NIR's own type inference (lavacut checks shapes
    itself and names the node at fault); clear error for unreadable files."""
    import nir

    path = Path(path)
    if not path.is_file():
        raise NirError(f"{path}: no such file")
    try:
        return nir.read(path, type_check=False)
    except Exception as exc:  # h5py / nir raise many types for bad files
        raise NirError(f"{path}: not a NIR graph nir {getattr(nir, 'version', '')} can read "
                       f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None


def lavacut_metadata(graph) -> dict | None:
    """The lavacut metadata a graph written by :func:`to_nir` carries, else None."""
    md = getattr(graph, "metadata", None) or {}
    raw = md.get(META_KEY) if isinstance(md, dict) else None
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    if isinstance(raw, np.ndarray):
        raw = raw.item()
    try:
        out = json.loads(raw)
    except (TypeError, json.JSONDecodeError):
        raise NirError(f"graph metadata {META_KEY!r} is not lavacut's JSON") from None
    return out if isinstance(out, dict) else None


def _chain(graph) -> list[str]:
    """Node ids from the Input to the Output; errors name the node."""
    nodes = graph.nodes
    for name, node in nodes.items():
        t = _tname(node)
        if t not in SUPPORTED_NODES:
            why = _WHY_NOT.get(t, "not a node type lavacut converts")
            raise NirError(f"node {name!r} has type {t}: {why}. lavacut imports "
                           f"{', '.join(SUPPORTED_NODES)}")
    inputs = [k for k, n in nodes.items() if _tname(n) == "Input"]
    outputs = [k for k, n in nodes.items() if _tname(n) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NirError(f"lavacut imports graphs with one Input and one Output node; this one has inputs "
                       f"{inputs} and outputs {outputs}")
    succ: dict[str, list[str]] = defaultdict(list)
    pred: dict[str, list[str]] = defaultdict(list)
    for a, b in graph.edges:
        a, b = str(a), str(b)
        for x in (a, b):
            if x not in nodes:
                raise NirError(f"edge ({a!r}, {b!r}) refers to node {x!r}, which is not in the graph")
        succ[a].append(b)
        pred[b].append(a)
    order, seen, cur = [], set(), inputs[0]
    while True:
        order.append(cur)
        seen.add(cur)
        nxt = succ[cur]
        if not nxt:
            break
        if len(nxt) > 1:
            raise NirError(f"node {cur!r} ({_tname(nodes[cur])}) feeds {len(nxt)} nodes {nxt}: lavacut "
                           f"imports feed-forward chains without branches")
        n = nxt[0]
        if n in seen:
            raise NirError(f"edge ({cur!r}, {n!r}) closes a loop: recurrent connections are not supported")
        if len(pred[n]) > 1:
            raise NirError(f"node {n!r} ({_tname(nodes[n])}) has {len(pred[n])} inputs {pred[n]}: lavacut "
                           f"imports feed-forward chains without merges")
        cur = n
    if order[-1] != outputs[0]:
        raise NirError(f"the chain from Input {inputs[0]!r} ends at node {order[-1]!r} "
                       f"({_tname(nodes[order[-1]])}), not at the Output node {outputs[0]!r}")
    stray = [k for k in nodes if k not in seen]
    if stray:
        raise NirError(f"node(s) {stray} are not on the chain from Input {inputs[0]!r} to Output "
                       f"{outputs[0]!r}")
    return order


def _shape_of(types, key: str):
    if not isinstance(types, dict):
        return None
    v = types.get(key)
    if v is None:
        return None
    v = np.asarray(v).reshape(-1)
    return tuple(int(x) for x in v)


# ---------------------------------------------------------------- linear ops
# an op is a dict: kind "conv" (w (O, C, kh, kw), stride, pad), "dense" (w
# (O, I)) or "flatten" (shape); plus name, in_shape, out_shape.

def _conv_out(hw, k, s, p):
    return tuple((hw[i] + 2 * p[i] - k[i]) // s[i] + 1 for i in range(2))


def _linear_op(name: str, node, shape: tuple[int, ...]) -> dict:
    t = _tname(node)
    where = f"node {name!r} ({t})"
    if t in ("Linear", "Affine"):
        w = _arr(node.weight)
        if w.ndim != 2:
            raise NirError(f"{where}: weight must be 2-D (out, in), got shape {w.shape}")
        if t == "Affine":
            b = _arr(node.bias)
            if b is not None and np.any(b != 0):
                raise NirError(f"{where}: nonzero bias (max |b| = {np.abs(b).max():.4g}); lavacut's CUBA "
                               f"layers have no bias (a constant input to the current has no exact "
                               f"CUBA/NetX form: NetX's bias is added to the voltage)")
        if len(shape) != 1 or shape[0] != w.shape[1]:
            raise NirError(f"{where}: its weight takes {w.shape[1]} inputs but the node before it outputs "
                           f"shape {shape}" + (" (a Flatten is missing)" if len(shape) > 1 else ""))
        return {"kind": "dense", "w": w, "name": name, "in": shape, "out": (w.shape[0],)}
    if t == "Flatten":
        if len(shape) == 0:
            raise NirError(f"{where}: nothing to flatten")
        itype = _shape_of(node.input_type, "input")
        if itype is not None and itype != shape:
            raise NirError(f"{where}: declared input shape {itype} but the node before it outputs {shape}")
        nd = len(shape)
        s, e = int(node.start_dim), int(node.end_dim)
        s, e = (s + nd if s < 0 else s), (e + nd if e < 0 else e)
        if not (0 <= s <= e < nd):
            raise NirError(f"{where}: start_dim {node.start_dim} / end_dim {node.end_dim} do not fit input "
                           f"shape {shape} (NIR shapes have no batch dimension)")
        out = shape[:s] + (int(np.prod(shape[s:e + 1])),) + shape[e + 1:]
        return {"kind": "flatten", "name": name, "in": shape, "out": out}
    # 2-D ops
    if len(shape) != 3:
        raise NirError(f"{where}: needs (C, H, W) input, but the node before it outputs shape {shape}")
    c, h, wd = shape
    if t == "Conv2d":
        w = _arr(node.weight)
        if w.ndim != 4:
            raise NirError(f"{where}: weight must be (C_out, C_in/groups, kH, kW), got shape {w.shape}")
        g = int(node.groups)
        if g < 1 or c != w.shape[1] * g or w.shape[0] % g:
            raise NirError(f"{where}: weight {w.shape} with groups={g} takes {w.shape[1] * g} channels, the "
                           f"node before it outputs {c} channels (shape {shape})")
        b = _arr(node.bias)
        if b is not None and np.any(b != 0):
            raise NirError(f"{where}: nonzero bias (max |b| = {np.abs(b).max():.4g}); lavacut's CUBA layers "
                           f"have no bias")
        if node.input_shape is not None:
            ish = _pair(node.input_shape, "input_shape", where)
            if ish != (h, wd):
                raise NirError(f"{where}: declared input_shape {ish} but the node before it outputs "
                               f"(H, W) = {(h, wd)}")
        dil = _pair(node.dilation, "dilation", where)
        stride = _pair(node.stride, "stride", where)
        if g > 1:                                   # groups -> block-diagonal full kernel
            full = np.zeros((w.shape[0], c) + w.shape[2:])
            og, ig = w.shape[0] // g, w.shape[1]
            for gi in range(g):
                full[gi * og:(gi + 1) * og, gi * ig:(gi + 1) * ig] = w[gi * og:(gi + 1) * og]
            w = full
        if dil != (1, 1):                           # dilation -> sparse larger kernel
            kh, kw = w.shape[2:]
            full = np.zeros(w.shape[:2] + ((kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1))
            full[:, :, ::dil[0], ::dil[1]] = w
            w = full
        k = w.shape[2:]
        if isinstance(node.padding, str):
            if node.padding == "valid":
                pad = (0, 0)
            else:                                   # "same"
                if stride != (1, 1) or any((ki - 1) % 2 for ki in k):
                    raise NirError(f"{where}: padding 'same' with stride {stride} and kernel {k} is not "
                                   f"symmetric; lavacut convolutions pad symmetrically")
                pad = ((k[0] - 1) // 2, (k[1] - 1) // 2)
        else:
            pad = _pair(node.padding, "padding", where)
    else:                                           # SumPool2d / AvgPool2d
        k = _pair(node.kernel_size, "kernel_size", where)
        stride = _pair(node.stride, "stride", where)
        pad = _pair(node.padding, "padding", where)
        w = np.zeros((c, c) + k)
        w[np.arange(c), np.arange(c)] = 1.0 if t == "SumPool2d" else 1.0 / (k[0] * k[1])
    out_hw = _conv_out((h, wd), w.shape[2:], stride, pad)
    if min(out_hw) < 1:
        raise NirError(f"{where}: kernel {w.shape[2:]}, stride {stride}, padding {pad} leave no output for "
                       f"input {shape}")
    return {"kind": "conv", "w": w, "stride": stride, "pad": pad, "name": name, "in": shape,
            "out": (w.shape[0],) + out_hw}


def _compose_conv(a: dict, b: dict) -> dict:
    """Convolution ``a`` then ``b`` as one convolution (exact if b has no padding)."""
    if any(b["pad"]):
        raise NirError(f"node {b['name']!r} pads its input {b['pad']} and follows {a['name']!r} without a "
                       f"neuron between them: the two cannot be merged into one convolution exactly "
                       f"(NetX has no pooling layers; put the padding on the first operation)")
    wa, wb, sa = a["w"], b["w"], a["stride"]
    ka, kb = wa.shape[2:], wb.shape[2:]
    K = ((kb[0] - 1) * sa[0] + ka[0], (kb[1] - 1) * sa[1] + ka[1])
    w = np.zeros((wb.shape[0], wa.shape[1]) + K)
    for m in range(kb[0]):
        for n in range(kb[1]):
            w[:, :, m * sa[0]:m * sa[0] + ka[0], n * sa[1]:n * sa[1] + ka[1]] += np.einsum(
                "om,mcij->ocij", wb[:, :, m, n], wa)
    out = {"kind": "conv", "w": w, "stride": (sa[0] * b["stride"][0], sa[1] * b["stride"][1]),
           "pad": a["pad"], "name": f"{a['name']}+{b['name']}", "in": a["in"], "out": b["out"]}
    if _conv_out(a["in"][1:], K, out["stride"], out["pad"]) != tuple(b["out"][1:]):
        raise NirError(f"nodes {out['name']}: merged convolution does not reproduce the output shape")
    return out


def _apply_ops(ops: list[dict], x):
    """Apply linear ops to a torch batch (B, *shape) in float64."""
    import torch.nn.functional as F

    for op in ops:
        B = x.shape[0]
        if op["kind"] == "dense":
            x = x.reshape(B, -1) @ x.new_tensor(op["w"]).T
        elif op["kind"] == "flatten":
            x = x.reshape((B,) + tuple(op["out"]))
        else:
            x = F.conv2d(x, x.new_tensor(op["w"]), stride=op["stride"], padding=op["pad"])
    return x


def _compose_run(ops: list[dict], neuron: str) -> dict:
    """One synapse for the run of linear ops before neuron node ``neuron``."""
    import torch

    if not any(o["kind"] != "flatten" for o in ops):
        raise NirError(f"neuron node {neuron!r} has no weighted layer (Linear, Affine, Conv2d, pooling) "
                       f"before it: every lavacut layer is synapse -> CUBA neurons")
    in_shape, out_shape = tuple(ops[0]["in"]), tuple(ops[-1]["out"])
    names = [o["name"] for o in ops]
    if len(out_shape) == 3:
        bad = [o["name"] for o in ops if o["kind"] != "conv"]
        if bad:
            raise NirError(f"node(s) {bad} before the (C, H, W) neuron node {neuron!r}: only convolutions and "
                           f"pooling can feed a convolutional layer")
        acc = ops[0]
        for op in ops[1:]:
            acc = _compose_conv(acc, op)
        k, s, p = acc["w"].shape[2:], acc["stride"], acc["pad"]
        if k[0] != k[1] or s[0] != s[1] or p[0] != p[1]:
            raise NirError(f"node(s) {names} before neuron {neuron!r}: kernel {k}, stride {s}, padding {p}; "
                           f"lavacut convolutions (NetSpec) are square in all three")
        return {"kind": "conv", "w": acc["w"], "kernel": int(k[0]), "stride": int(s[0]), "padding": int(p[0]),
                "nodes": names, "in": in_shape, "out": out_shape}
    if len(out_shape) != 1:
        raise NirError(f"neuron node {neuron!r} has shape {out_shape}: lavacut layers are (C, H, W) "
                       f"convolutions or 1-D dense layers")
    core = [o for o in ops if o["kind"] != "flatten"]
    if len(core) == 1 and core[0]["kind"] == "dense" and ops[-1] is core[0]:
        w = core[0]["w"]                             # flatten (C order) then one matrix
    else:                                            # exact Jacobian of the linear run
        n_in = int(np.prod(in_shape))
        cols = []
        with torch.no_grad():
            for lo in range(0, n_in, 1024):
                hi = min(n_in, lo + 1024)
                basis = torch.zeros(hi - lo, n_in, dtype=torch.float64)
                basis[torch.arange(hi - lo), torch.arange(lo, hi)] = 1.0
                cols.append(_apply_ops(ops, basis.reshape((hi - lo,) + in_shape)).reshape(hi - lo, -1))
        w = torch.cat(cols).T.numpy()
    return {"kind": "dense", "w": np.asarray(w, dtype=np.float64), "nodes": names, "in": in_shape,
            "out": out_shape, "flatten_before": len(in_shape) > 1}


# ---------------------------------------------------------------- neurons

def _param(node, attr: str, shape: tuple[int, ...], where: str, default=None) -> np.ndarray:
    v = getattr(node, attr, None)
    if v is None:
        if default is None:
            raise NirError(f"{where}: parameter {attr} is missing")
        v = default
    a = _arr(v)
    if a.size == 1:
        return np.full(shape, float(a.reshape(-1)[0]))
    if tuple(a.shape) != tuple(shape):
        if a.size == int(np.prod(shape)):
            return a.reshape(shape)
        raise NirError(f"{where}: {attr} has shape {a.shape} but the node before it outputs shape {shape}")
    return a


def _neuron_params(name: str, node, shape, dt: float) -> dict:
    """du, dv, gain (arrays), vth (array) of a neuron node under lavacut's Euler reading."""
    t = _tname(node)
    where = f"node {name!r} ({t})"
    ntype = _shape_of(node.input_type, "input") if hasattr(node, "input_type") else None
    if ntype is not None and ntype != tuple(shape) and int(np.prod(ntype)) not in (1, int(np.prod(shape))):
        raise NirError(f"{where}: holds {ntype} neurons but the node before it outputs shape {shape}")
    P = lambda a, d=None: _param(node, a, shape, where, d)  # noqa: E731
    vth = P("v_threshold")
    v_reset = P("v_reset", 0.0)
    if t == "CubaLIF":
        tau_syn, tau_mem, r, w_in, v_leak = P("tau_syn"), P("tau_mem"), P("r"), P("w_in", 1.0), P("v_leak", 0.0)
        du, dv = dt / tau_syn, dt / tau_mem
        gain = du * w_in * dv * r
    elif t == "LIF":
        tau, r, v_leak = P("tau"), P("r"), P("v_leak", 0.0)
        du, dv = np.ones(shape), dt / tau
        gain = dv * r
    else:  # IF
        r = P("r")
        v_leak = np.zeros(shape)
        du, dv = np.ones(shape), np.zeros(shape)
        gain = dt * r
    for nm, v in (("v_leak", v_leak), ("v_reset", v_reset)):
        if np.any(v != 0):
            raise NirError(f"{where}: {nm} must be 0 (CUBA neurons leak toward 0 and reset to 0), got values "
                           f"in [{v.min():.4g}, {v.max():.4g}]")
    if not np.all(np.isfinite(vth)) or np.any(vth <= 0):
        raise NirError(f"{where}: v_threshold must be positive and finite, got [{vth.min():.4g}, {vth.max():.4g}]")
    for nm, d, lo in (("current decay dt/tau_syn", du, 1), ("voltage decay dt/tau_mem", dv, 0)):
        if not np.all(np.isfinite(d)) or np.any(d < 0):
            raise NirError(f"{where}: {nm} is not a finite non-negative number (tau <= 0?)")
        if np.any(d > 1 + 1e-9):
            raise NirError(f"{where}: {nm} = {d.max():.4g} > 1 (dt = {dt:g} s is longer than the time "
                           f"constant): forward Euler would overshoot; give a smaller dt")
    if not np.all(np.isfinite(gain)):
        raise NirError(f"{where}: r / w_in give a non-finite input gain")
    i_dec = np.rint(du * P_SCALE).astype(np.int64)
    v_dec = np.rint(dv * P_SCALE).astype(np.int64)
    for nm, q, d in (("tau_syn" if t == "CubaLIF" else "current", i_dec, du),
                     ("tau_mem" if t == "CubaLIF" else "tau", v_dec, dv)):
        if q.min() != q.max():
            raise NirError(f"{where}: heterogeneous per-neuron {nm}: decays dt/tau span [{d.min():.6g}, "
                           f"{d.max():.6g}] (quantised {q.min()}..{q.max()} /4096); a CUBA layer has one "
                           f"current and one voltage decay for all its neurons")
    if i_dec.flat[0] < 1:
        raise NirError(f"{where}: current decay dt/tau_syn = {du.flat[0]:.3g} rounds to 0/4096; CUBA needs "
                       f">= 1/4096 (NetX stores du = iDecay - 1)")
    return {"type": t, "du": float(du.flat[0]), "dv": float(dv.flat[0]), "iDecay": int(i_dec.flat[0]),
            "vDecay": int(v_dec.flat[0]), "gain": gain, "vth": vth}


# ---------------------------------------------------------------- dt

def _meta_float(md: dict, key: str):
    v = md.get(key) if isinstance(md, dict) else None
    if v is None:
        return None
    try:
        f = float(np.asarray(v).reshape(-1)[0])
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and f > 0 else None


def _resolve_dt(graph, dt: float | None) -> tuple[float, str]:
    if dt is not None:
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise NirError(f"dt must be a positive number, got {dt!r}")
        return float(dt), "given"
    md_dt = _meta_float(getattr(graph, "metadata", {}) or {}, "dt")
    if md_dt is not None:
        return md_dt, "graph metadata 'dt'"
    cands, has_tau = [], False
    for name, node in graph.nodes.items():
        t = _tname(node)
        pairs = []
        if t == "CubaLIF":
            pairs = [(node.tau_mem, node.r), (node.tau_syn, node.w_in)]
        elif t == "LIF":
            pairs = [(node.tau, node.r)]
        for tau, k in pairs:
            has_tau = True
            try:
                tau, k = np.broadcast_arrays(_arr(tau).reshape(-1), _arr(k).reshape(-1))
            except ValueError:
                continue          # mismatched shapes: reported by the node checks
            ok = np.isfinite(tau) & np.isfinite(k) & (k != 1) & (k != 0) & (tau > 0)
            cands += [float(v) for v in (tau[ok] / k[ok]) if v > 0]
    if not has_tau:
        return 1.0, "no time constants in the graph (IF only): dt = 1"
    if cands:
        lo, hi = min(cands), max(cands)
        if hi <= lo * (1 + 1e-4):
            return float(np.median(cands)), "inferred from r = tau_mem/dt and w_in = tau_syn/dt"
        raise NirError(f"cannot infer the time step: tau/r and tau_syn/w_in give {lo:.6g}..{hi:.6g}; pass dt "
                       f"(the step the producer simulated with, e.g. 1e-4 for snnTorch)")
    raise NirError("cannot infer the time step (the graph has r = 1 and w_in = 1 and no 'dt' metadata); pass "
                   "dt (the step the producer simulated with, e.g. 1e-4 for snnTorch, 1e-3 for Norse)")


# ---------------------------------------------------------------- data binding

def _sensor_size(dataset: str | None):
    if dataset == "embedded":
        from lavacut.data.embedded import SENSOR_SIZE
        return tuple(SENSOR_SIZE)
    try:
        from lavacut.data.tonic_sets import DATASETS
    except ImportError:  # pragma: no cover
        return None
    spec = DATASETS.get(dataset) if dataset else None
    return tuple(spec.sensor_size) if spec else None


def _classes(dataset: str | None, n: int) -> list[str]:
    if dataset == "embedded":
        from lavacut.data.embedded import CLASSES
        if len(CLASSES) == n:
            return [str(c) for c in CLASSES]
    return [str(i) for i in range(n)]


# ---------------------------------------------------------------- the import

@dataclass
class ImportReport:
    """What :func:`from_nir` did (stored as ``meta["nir_import"]``)."""

    dt: float
    dt_source: str
    threshold: float
    threshold_choice: str
    lossless: bool
    layers: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def format(self) -> str:
        lines = [f"dt = {self.dt:g} s ({self.dt_source}); threshold {self.threshold:g} ({self.threshold_choice}); "
                 f"{'lossless' if self.lossless else 'quantised (lossy)'}"]
        for L in self.layers:
            q = L["quantisation"]
            lines.append(f"  {L['kind']:<5} {'+'.join(L['nodes'])} -> {L['neuron']} ({L['neuron_type']}) "
                         f"{tuple(L['shape'])}: iDecay {L['iDecay']} vDecay {L['vDecay']}, weight rel. RMS error "
                         f"{q['rel_rms_error']:.2e}, {q['zeroed']} rounded to 0, {q['clipped']} clipped")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def format_import_report(meta: dict) -> str:
    """Human-readable summary of ``meta["nir_import"]`` (for the CLI)."""
    rep = dict(meta["nir_import"])
    names = {f.name for f in ImportReport.__dataclass_fields__.values()}
    text = ImportReport(**{k: v for k, v in rep.items() if k in names}).format()
    acc = (meta.get("accuracy") or {}).get("test_full_T_slayer")
    if acc is not None:
        text += f"\n  test accuracy at full T (SLAYER): {acc:.4f} on {meta['accuracy'].get('n_test', '?')} samples"
    return text


def _on_grid(x: np.ndarray, step: float, tol: float = 1e-6) -> bool:
    y = x / step
    return bool(np.all(np.abs(y - np.rint(y)) <= tol * np.maximum(1.0, np.abs(y))))


def _choose_threshold(layers: list[dict], threshold: float | None) -> tuple[float, str]:
    """One threshold theta (multiple of 1/64) for every layer; weights are
    layer['wn'] * theta (wn = weights normalised to threshold 1)."""
    wmax = max(float(np.abs(L["wn"]).max()) if L["wn"].size else 0.0 for L in layers)
    if threshold is not None:
        m = threshold * W_SCALE
        if threshold <= 0 or abs(m - round(m)) > 1e-9 or round(m) >= (1 << 17):
            raise NirError(f"threshold must be a positive multiple of 1/{W_SCALE} below 2048, got {threshold}")
        return float(threshold), "given"
    # lossless: one of the graph's own thresholds puts every folded weight on the 8-bit grid
    ths = sorted({round(float(t), 12) for L in layers for t in np.unique(L["vth"])})
    for th in ths[:16]:
        m = th * W_SCALE
        if abs(m - round(m)) > 1e-9 or not 1 <= round(m) < (1 << 17):
            continue
        th = round(m) / W_SCALE
        if all(_on_grid(L["wn"] * th, 2 / W_SCALE) and
               (not L["wn"].size or (L["wn"].min() * th >= W_MIN / W_SCALE - 1e-9 and
                                     L["wn"].max() * th <= W_MAX / W_SCALE + 1e-9)) for L in layers):
            return th, "the graph's own threshold: weights exactly on the 8-bit grid"
    if wmax == 0:
        return 1.0, "all weights are zero"
    mant = int(math.floor(W_MAX / wmax * (1 + 1e-12)))
    if mant < 1:
        raise NirError(f"weights are too large relative to the thresholds (max |w| / v_threshold = {wmax:.4g}): "
                       f"even threshold 1/64 puts them beyond the 8-bit range")
    if mant > MAX_AUTO_THRESHOLD_MANT:
        return (MAX_AUTO_THRESHOLD_MANT / W_SCALE,
                f"capped at {MAX_AUTO_THRESHOLD_MANT / W_SCALE:g} (voltage headroom below Loihi's 24-bit state): the "
                f"weights use {MAX_AUTO_THRESHOLD_MANT / mant:.0%} of the 8-bit range")
    return mant / W_SCALE, "largest threshold on the 1/64 grid that keeps every layer's weights in the 8-bit range"


def from_nir(graph_or_path, *, dt: float | None = None, threshold: float | None = None,
             input_shape: Sequence[int] | None = None, cfg=None, overrides: Sequence[str] | None = None,
             name: str | None = None):
    """Convert a NIR graph (a ``nir.NIRGraph`` or a ``.nir`` file) into a
    lavacut SLAYER network (eval mode) and its export metadata.

    ``dt``: the producer's time step (default: metadata, inferred, see the
    module docstring). ``threshold``: force the shared CUBA threshold
    (default: lossless if possible, else the one that uses the 8-bit weight
    range best). ``input_shape``: (C, H, W) for a graph with a flat input
    (default: the data set's framed shape when the sizes agree, else
    (n, 1, 1)). ``cfg`` (a RunConfig) / ``overrides`` ("data.dataset=...",
    "framing.T=...") name the data set the network expects; default: the
    one stored by lavacut in the graph, else RunConfig()'s (embedded).

    Returns ``(net, meta)``; ``meta["nir_import"]`` is the
    :class:`ImportReport` as a dict; ``meta`` carries ``cutoff`` /
    ``default_policy`` when the graph came from lavacut with a calibration
    and the import is lossless.
    """
    import torch

    from lavacut.config import RunConfig
    from lavacut.train.networks import NetSpec, build_network

    path = None
    if isinstance(graph_or_path, (str, Path)):
        path = Path(graph_or_path)
        graph = read_nir(path)
    else:
        graph = graph_or_path
    if not hasattr(graph, "nodes") or not hasattr(graph, "edges"):
        raise NirError(f"expected a nir.NIRGraph or a .nir file, got {type(graph_or_path).__name__}")
    lc_meta = lavacut_metadata(graph)
    order = _chain(graph)
    nodes = graph.nodes
    dt, dt_source = _resolve_dt(graph, dt)

    # ---- walk the chain: shapes, linear runs, neurons
    in_node = nodes[order[0]]
    shape = _shape_of(in_node.input_type, "input") or _shape_of(in_node.output_type, "output")
    if not shape or min(shape) < 1:
        raise NirError(f"Input node {order[0]!r} has no usable shape ({shape})")
    graph_in_shape = shape
    pending: list[dict] = []
    layers: list[dict] = []
    for nm in order[1:]:
        node = nodes[nm]
        t = _tname(node)
        if t in LINEAR_NODES:
            op = _linear_op(nm, node, shape)
            if op["kind"] != "flatten" or op["out"] != shape:
                pending.append(op)
            shape = tuple(op["out"])
        elif t in NEURON_NODES:
            syn = _compose_run(pending, nm)
            par = _neuron_params(nm, node, shape, dt)
            syn.update(neuron=nm, neuron_type=t, shape=shape, **{k: par[k] for k in ("du", "dv", "iDecay", "vDecay")})
            scale = par["gain"] / par["vth"]                  # fold gain and threshold into the weights
            w = syn["w"]
            if syn["kind"] == "conv":
                c = scale.reshape(shape[0], -1)
                if not np.allclose(c, c[:, :1], rtol=1e-9, atol=0):
                    raise NirError(f"node {nm!r} ({t}): threshold / r / w_in vary over positions within a "
                                   f"channel; a convolution shares its kernel, so they can only vary per channel")
                syn["wn"] = w * c[:, 0][:, None, None, None]
            else:
                syn["wn"] = w * scale.reshape(-1)[:, None]
            syn["vth"] = par["vth"]
            layers.append(syn)
            pending = []
        else:  # Output
            if pending:
                raise NirError(f"node(s) {[o['name'] for o in pending]} come after the last neuron node: lavacut "
                               f"networks end with a spiking layer")
            otype = _shape_of(node.output_type, "output") or _shape_of(node.input_type, "input")
            if otype is not None and int(np.prod(otype)) != int(np.prod(shape)):
                raise NirError(f"Output node {nm!r} declares shape {otype} but the node before it outputs {shape}")
    if not layers:
        raise NirError("the graph has no neuron layer")
    last = layers[-1]
    if last["kind"] != "dense":
        raise NirError(f"the last neuron node {last['neuron']!r} has shape {tuple(last['shape'])}: lavacut's output "
                       f"layer is dense (one neuron per class); add Flatten + Linear + neurons")
    if last["shape"][0] < 2:
        raise NirError(f"the output neuron node {last['neuron']!r} has {last['shape'][0]} neuron(s); lavacut "
                       f"needs one per class (>= 2)")
    seen_dense = False
    for L in layers:
        if L["kind"] == "dense":
            seen_dense = True
        elif seen_dense:  # pragma: no cover (a conv layer needs 3-D input, impossible after a dense one)
            raise NirError(f"node {L['neuron']!r}: a convolution after a dense layer is not supported")

    # ---- threshold and quantisation
    theta, th_choice = _choose_threshold(layers, threshold)
    report = ImportReport(dt=dt, dt_source=dt_source, threshold=theta, threshold_choice=th_choice, lossless=True)
    for L in layers:
        wf = L["wn"] * theta
        wq = np.clip(np.rint(wf * W_SCALE / 2) * 2, W_MIN, W_MAX) / W_SCALE
        err = wq - wf
        nrm = float(np.linalg.norm(wf))
        q = {"rel_rms_error": float(np.linalg.norm(err) / nrm) if nrm else 0.0,
             "max_abs_error": float(np.abs(err).max()) if err.size else 0.0,
             "zeroed": int(np.sum((wq == 0) & (wf != 0))),
             "clipped": int(np.sum((wf < W_MIN / W_SCALE - 1e-9) | (wf > W_MAX / W_SCALE + 1e-9))),
             "n_weights": int(wf.size),
             "max_abs_weight": float(np.abs(wf).max()) if wf.size else 0.0}
        L["wq"] = wq
        exact_w = q["max_abs_error"] <= 1e-6 * max(1.0, q["max_abs_weight"])
        exact_d = abs(L["du"] * P_SCALE - L["iDecay"]) < 1e-3 and abs(L["dv"] * P_SCALE - L["vDecay"]) < 1e-3
        report.lossless &= bool(exact_w and exact_d)
        report.layers.append({
            "kind": L["kind"], "nodes": L["nodes"], "neuron": L["neuron"], "neuron_type": L["neuron_type"],
            "shape": list(L["shape"]), "du": L["du"], "dv": L["dv"], "iDecay": L["iDecay"], "vDecay": L["vDecay"],
            "decay_rel_error": {"current": abs(L["iDecay"] / P_SCALE - L["du"]) / L["du"] if L["du"] else 0.0,
                                "voltage": abs(L["vDecay"] / P_SCALE - L["dv"]) / L["dv"] if L["dv"] else 0.0},
            "quantisation": q,
            **({"kernel": L["kernel"], "stride": L["stride"], "padding": L["padding"]} if L["kind"] == "conv" else {}),
        })
        core = [n for n in L["nodes"] if _tname(nodes[n]) != "Flatten"]
        if len(core) > 1 or _tname(nodes[core[0]]) in ("SumPool2d", "AvgPool2d"):
            report.notes.append(f"{'+'.join(L['nodes'])} merged into one "
                                f"{'convolution' if L['kind'] == 'conv' else 'dense synapse'} before "
                                f"{L['neuron']!r}")
    ths = {round(float(t), 9) for L in layers for t in np.unique(L["vth"])}
    if len(ths) > 1 or ths != {theta}:
        report.notes.append(f"v_threshold {sorted(ths)[:4]}{'...' if len(ths) > 4 else ''} folded into the incoming "
                            f"weights: every layer uses threshold {theta:g}")
    if any(L["neuron_type"] != "CubaLIF" for L in layers):
        report.notes.append("LIF / IF layers run as CUBA with current decay 4096/4096 (current = this step's input)")
    report.notes.append(f"the SLAYER/Lava network delays each synapse by one step: its output at step t is the "
                        f"source simulator's at t - {len(layers)}")

    # ---- the data set the network is bound to
    explicit_data = cfg is not None or bool(overrides)
    base = cfg if cfg is not None else (
        RunConfig.from_dict(dict(lc_meta["train_config"]), source="NIR graph metadata (train_config)")
        if lc_meta and isinstance(lc_meta.get("train_config"), dict) else RunConfig())
    if overrides:
        base = base.with_overrides(list(overrides))
    sensor = _sensor_size(base.data.dataset)
    want = tuple(base.framing.input_shape(sensor)) if sensor else None
    n_in = int(np.prod(graph_in_shape))
    if input_shape is not None:
        shp = tuple(int(v) for v in input_shape)
        if len(shp) != 3 or int(np.prod(shp)) != n_in:
            raise NirError(f"input_shape {shp} must be (C, H, W) with C*H*W = {n_in} (the graph's input "
                           f"{graph_in_shape})")
        if layers[0]["kind"] == "conv" and shp != tuple(graph_in_shape):
            raise NirError(f"input_shape {shp}: the first layer is a convolution on {tuple(graph_in_shape)}")
    elif len(graph_in_shape) == 3:
        shp = tuple(graph_in_shape)
    elif want is not None and int(np.prod(want)) == n_in:
        shp = want
        report.notes.append(f"flat graph input of {n_in} read as the data set's (C, H, W) = {want} in C order")
    else:
        shp = (n_in, 1, 1)
    n_classes = int(last["shape"][0])
    bound = want is not None and shp == want
    if not bound:
        msg = (f"the network input (C, H, W) = {shp} does not match data set {base.data.dataset!r} framed as "
               f"{want}" if want else f"data set {base.data.dataset!r} is unknown to lavacut")
        if explicit_data:
            raise NirError(msg + "; choose a matching data set / framing (e.g. data.dataset=..., "
                                 "framing.downsample=...) or input_shape")
        report.notes.append(msg + ": the export is not bound to a data set; give --config with matching data "
                                  "to calibrate, evaluate or run it")

    # ---- the SLAYER network
    convs = [L for L in layers if L["kind"] == "conv"]
    dense = [L for L in layers if L["kind"] == "dense"]
    net_name = name or (lc_meta or {}).get("name") or (path.stem if path else "nir-import")
    try:
        spec = NetSpec(kind="conv" if convs else "dense", input_shape=shp, n_classes=n_classes,
                       hidden=tuple(int(L["shape"][0]) for L in dense[:-1]),
                       conv_channels=tuple(int(L["shape"][0]) for L in convs),
                       conv_kernels=tuple(L["kernel"] for L in convs),
                       conv_strides=tuple(L["stride"] for L in convs),
                       conv_paddings=tuple(L["padding"] for L in convs),
                       threshold=theta, current_decay=layers[0]["iDecay"] / P_SCALE,
                       voltage_decay=layers[0]["vDecay"] / P_SCALE,
                       dropout=0.0, weight_norm=False, name=str(net_name))
    except LavacutError as exc:
        raise NirError(f"the converted network is not a valid lavacut NetSpec: {exc}") from None
    if convs and spec.conv_output_shapes()[-1] != tuple(convs[-1]["shape"]):
        raise NirError(f"convolution shapes do not chain: NetSpec gives {spec.conv_output_shapes()}, the graph "
                       f"{[tuple(L['shape']) for L in convs]}")
    net = build_network(spec)
    blocks = net.spiking_blocks
    with torch.no_grad():
        for b, L in zip(blocks, layers):
            target = b.synapse.weight
            if L["wq"].size != target.numel():
                raise NirError(f"node {L['neuron']!r}: weight has {L['wq'].size} entries, the SLAYER layer "
                               f"{tuple(target.shape)}")
            target.copy_(torch.from_numpy(L["wq"].astype(np.float32)).reshape(target.shape))
            b.neuron.current_decay.fill_(float(L["iDecay"]))
            b.neuron.voltage_decay.fill_(float(L["vDecay"]))
    net.eval()

    # ---- metadata
    keep = bool(lc_meta) and report.lossless
    gmd = graph.metadata if isinstance(getattr(graph, "metadata", None), dict) else {}
    producer = "lavacut" if lc_meta else str(gmd.get("producer", "unknown"))
    meta: dict[str, Any] = {
        "name": str(net_name),
        "dataset": base.data.dataset if bound else None,
        "data_seed": base.data.seed,
        "input_shape": list(spec.input_shape),
        "framing": {k: getattr(base.framing, k) for k in ("bin_us", "T", "downsample", "denoise_us")},
        "classes": ((lc_meta or {}).get("classes") if keep else None) or _classes(base.data.dataset, n_classes),
        "n_classes": n_classes,
        "latency_steps": net.latency,
        "spec": spec.to_dict(),
        "accuracy": dict((lc_meta or {}).get("accuracy") or {}) if keep else {},
        "source": {"format": "nir", "file": str(path) if path else None, "producer": producer},
        "nir_import": asdict(report),
    }
    if any(L["iDecay"] != layers[0]["iDecay"] or L["vDecay"] != layers[0]["vDecay"] for L in layers):
        meta["layer_decays"] = [[L["iDecay"], L["vDecay"]] for L in layers]
    if bound:
        meta["sensor_size"] = list(sensor)
        meta["train_config"] = base.to_dict()
    if keep and lc_meta.get("cutoff"):
        from lavacut.measure.policies import rule_from_params
        good = {}
        for nm, params in lc_meta["cutoff"].items():
            try:
                rule_from_params(params).check_horizon(base.framing.T)
                good[nm] = params
            except (ValueError, TypeError):
                report.notes.append(f"cutoff calibration {nm!r} dropped: it does not fit T = {base.framing.T}")
        if good:
            meta["cutoff"] = good
            dp = lc_meta.get("default_policy")
            meta["default_policy"] = dp if dp in good else None
            meta["nir_import"]["notes"].append(f"cutoff calibration kept ({', '.join(sorted(good))}): the "
                                               f"import is lossless")
    elif lc_meta and lc_meta.get("cutoff"):
        meta["nir_import"]["notes"].append("the graph's cutoff calibration was dropped: the import is not "
                                           "lossless, recalibrate with 'lavacut calibrate'")
    meta["nir_import"]["notes"] = list(dict.fromkeys(report.notes + meta["nir_import"]["notes"]))
    return net, meta


def import_nir(path: str | Path, out_net_path: str | Path | None = None, *, dt: float | None = None,
               threshold: float | None = None, input_shape: Sequence[int] | None = None, cfg=None,
               overrides: Sequence[str] | None = None, name: str | None = None, evaluate: bool = True,
               progress: bool = False):
    """``lavacut import FILE.nir``: :func:`from_nir`, then a NetX export
    (``netx_exports/<name>.net`` by default) with lavacut metadata. With
    ``evaluate`` and a bound data set, the test accuracy at full T (SLAYER)
    is measured and stored as for native exports. Returns ``(path, meta)``.
    """
    from lavacut.export.netx_file import write_export

    net, meta = from_nir(path, dt=dt, threshold=threshold, input_shape=input_shape, cfg=cfg,
                         overrides=overrides, name=name)
    cutoff = meta.pop("cutoff", None)
    default_policy = meta.pop("default_policy", None)
    if evaluate and meta.get("train_config"):
        from lavacut.config import RunConfig
        from lavacut.data.sources import load_split
        from lavacut.train.trainer import accuracy_from_spikes, infer_spikes

        rc = RunConfig.from_dict(meta["train_config"], source="import")
        try:
            test = load_split(rc, "test", progress=progress)
        except LavacutError as exc:
            meta["nir_import"]["notes"].append(f"test accuracy not measured: {exc}")
        else:
            acc = accuracy_from_spikes(infer_spikes(net, test.frames, progress=progress, desc="test accuracy"),
                                       test.labels)
            meta["accuracy"] = {**meta.get("accuracy", {}), "test_full_T_slayer": acc, "n_test": int(len(test))}
            _check_fixed_point(net, test.frames[:64], meta)
    out = Path(out_net_path) if out_net_path else Path("netx_exports") / f"{meta['name']}.net"
    write_export(net, out, meta, cutoff=cutoff or None, default_policy=default_policy if cutoff else None)
    return out, meta


def _check_fixed_point(net, frames, meta) -> None:
    """Record the integer state ranges on a few samples; note when Lava's
    fixed-point limits would be exceeded (then Lava no longer matches SLAYER)."""
    import torch

    from lavacut.train.networks import FIXED_POINT_LIMITS, fixed_point_ranges

    ranges = fixed_point_ranges(net, torch.as_tensor(np.asarray(frames), dtype=torch.float32))
    meta["nir_import"]["fixed_point_ranges"] = ranges
    worst = max(r[k] / FIXED_POINT_LIMITS[k] for r in ranges for k in FIXED_POINT_LIMITS)
    if worst > 1:
        meta["nir_import"]["notes"].append(
            f"integer states exceed Loihi's ranges on test samples ({worst:.1f}x the limit): Lava will not "
            f"reproduce SLAYER exactly; import with a smaller threshold")


# ============================================================================
# reference simulator (NIR semantics as lavacut reads them, floating point)
# ============================================================================

def reference_simulate(graph_or_path, frames, dt: float | None = None) -> np.ndarray:
    """Simulate a NIR chain graph in float64 with forward Euler (current
    first, reset to ``v_reset``; linear nodes instantaneous; bias applied).

    ``frames``: ``(N, *input_shape, T)``. Returns the spikes of the last
    neuron node, ``(N, *shape, T)``. This is the semantics :func:`from_nir`
    converts; SLAYER's output is this one delayed by the number of layers,
    up to fixed-point rounding.
    """
    import torch
    import torch.nn.functional as F

    graph = read_nir(graph_or_path) if isinstance(graph_or_path, (str, Path)) else graph_or_path
    order = _chain(graph)
    dt, _ = _resolve_dt(graph, dt)
    x = torch.as_tensor(np.asarray(frames), dtype=torch.float64)
    N, T = x.shape[0], x.shape[-1]
    state: dict[str, dict] = {}
    outs = []
    with torch.no_grad():
        for t in range(T):
            h = x[..., t]
            spikes = None
            for nm in order[1:-1]:
                node = graph.nodes[nm]
                tp = _tname(node)
                if tp in ("Linear", "Affine"):
                    h = h @ torch.as_tensor(_arr(node.weight)).T
                    if tp == "Affine" and node.bias is not None:
                        h = h + torch.as_tensor(_arr(node.bias))
                elif tp == "Flatten":
                    nd = h.dim() - 1
                    s, e = int(node.start_dim), int(node.end_dim)
                    s, e = (s + nd if s < 0 else s), (e + nd if e < 0 else e)
                    h = h.flatten(s + 1, e + 1)
                elif tp == "Conv2d":
                    where = f"node {nm!r}"
                    pad = node.padding if isinstance(node.padding, str) else _pair(node.padding, "padding", where)
                    h = F.conv2d(h, torch.as_tensor(_arr(node.weight)),
                                 None if node.bias is None else torch.as_tensor(_arr(node.bias)).reshape(-1),
                                 stride=_pair(node.stride, "stride", where), padding=pad,
                                 dilation=_pair(node.dilation, "dilation", where), groups=int(node.groups))
                elif tp in ("SumPool2d", "AvgPool2d"):
                    where = f"node {nm!r}"
                    k = _pair(node.kernel_size, "kernel_size", where)
                    h = F.avg_pool2d(h, k, _pair(node.stride, "stride", where), _pair(node.padding, "padding", where),
                                     count_include_pad=True,
                                     divisor_override=1 if tp == "SumPool2d" else None)
                else:  # neurons
                    shape = tuple(h.shape[1:])
                    P = lambda a, d=None: torch.as_tensor(_param(node, a, shape, nm, d))  # noqa: E731
                    st = state.setdefault(nm, {"i": torch.zeros_like(h), "v": torch.zeros_like(h)})
                    if tp == "CubaLIF":
                        st["i"] = st["i"] + dt / P("tau_syn") * (-st["i"] + P("w_in", 1.0) * h)
                        st["v"] = st["v"] + dt / P("tau_mem") * (P("v_leak", 0.0) - st["v"] + P("r") * st["i"])
                    elif tp == "LIF":
                        st["v"] = st["v"] + dt / P("tau") * (P("v_leak", 0.0) - st["v"] + P("r") * h)
                    else:  # IF
                        st["v"] = st["v"] + dt * P("r") * h
                    z = (st["v"] > P("v_threshold")).to(h.dtype)
                    st["v"] = torch.where(z > 0, P("v_reset", 0.0), st["v"])
                    h = spikes = z
            outs.append(spikes if spikes is not None else h)
    return torch.stack(outs, dim=-1).numpy()
