"""lavacut -> NIR: a SLAYER network (checkpoint or NetX export) as a graph
``Input -> [Conv2d -> CubaLIF]* -> [Flatten] -> [Linear -> CubaLIF]+ -> Output``
with lavacut's metadata (cutoff calibration included) in ``graph.metadata``.
The parameter mapping is in :mod:`lavacut.export.nir.neurons`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from lavacut.export.nir.neurons import DEFAULT_DT, NO_LEAK_TAU_STEPS
from lavacut.export.nir.ops import NirError
from lavacut.fixed_point import P_SCALE, W_SCALE
from lavacut.config import RunConfig
from lavacut.data.sources import dataset_classes, dataset_sensor_size
from lavacut.export.exporter import net_from_checkpoint
from lavacut.export.rebuild.network import net_from_export
from lavacut.util import LavacutError, atomic_path, check_output_path, json_text

#: graph.metadata key holding lavacut's metadata as JSON.
META_KEY = "lavacut"


def _quantised_blocks(net):
    """(block, integer weights (float64), iDecay, vDecay, vThMant) per block,
    read from a fresh copy of ``net`` exactly as export_hdf5 sees it."""
    import torch

    from lavacut.train.networks import build_network  # torch

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
            out.append(
                (
                    b,
                    w,
                    int(b.neuron.cx_current_decay),
                    int(b.neuron.cx_voltage_decay),
                    int(round(float(b.neuron.threshold) * W_SCALE)),
                )
            )
    return out


def _cuba_node(shape, i_decay: int, v_decay: int, vth_mant: int, bias, dt: float, block: int):
    import nir

    if i_decay < 1:
        raise NirError(
            f"block {block}: current decay iDecay={i_decay} cannot be written (tau_syn would be "
            f"infinite); lavacut networks need iDecay >= 1"
        )
    du, dv = i_decay / P_SCALE, v_decay / P_SCALE
    tau_syn = dt / du
    tau_mem = dt / dv if v_decay > 0 else dt * NO_LEAK_TAU_STEPS
    full = lambda v: np.full(tuple(shape), float(v), dtype=np.float64)  # noqa: E731
    v_leak = full(0.0)
    if bias:  # bias per step = (dt/tau_mem) v_leak  (per channel for conv layers)
        b = np.asarray(bias, dtype=np.float64) * (tau_mem / dt)
        v_leak = np.broadcast_to(b.reshape((-1,) + (1,) * (len(shape) - 1)), tuple(shape)).copy()
    return nir.CubaLIF(
        tau_syn=full(tau_syn),
        tau_mem=full(tau_mem),
        r=full(tau_mem / dt),
        v_leak=v_leak,
        v_threshold=full(vth_mant / W_SCALE),
        v_reset=full(0.0),
        w_in=full(tau_syn / dt),
        metadata={
            "iDecay": int(i_decay),
            "vDecay": int(v_decay),
            "vThMant": int(vth_mant),
            "lavacut_block": int(block),
        },
    )


def to_nir(net, meta: dict | None = None, dt: float = DEFAULT_DT):
    """A lavacut :class:`~lavacut.train.networks.SlayerNet` as a NIR graph
    (type-checked by ``nir``); ``meta`` goes to ``graph.metadata["lavacut"]``
    as JSON."""
    import nir

    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise NirError(f"dt must be a positive number of seconds, got {dt!r}")
    spec = net.spec
    c, h, w = spec.input_shape
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([c, h, w])})}
    order = ["input"]
    shape: tuple[int, ...] = (c, h, w)
    conv_shapes = spec.conv_output_shapes() if spec.kind == "conv" else []
    biases = list(spec.layer_bias) or [()] * len(spec.layer_sizes())
    layers = []
    li = 0
    if spec.kind == "dense":
        nodes["flatten"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
        order.append("flatten")
        shape = (c * h * w,)
    for i, (_, wint, idec, vdec, vth) in enumerate(_quantised_blocks(net)):
        if wint is None:  # cuba.Flatten
            nodes["flatten"] = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1)
            order.append("flatten")
            shape = (int(np.prod(shape)),)
            continue
        wf = wint / W_SCALE
        if wf.ndim == 5:  # SLAYER (O, I, kh, kw, 1) / dense (O, I, 1, 1, 1)
            wf = wf[..., 0]
        if len(shape) == 3:  # convolution
            k = wf.shape[-1]
            s, p = spec.conv_strides[li], spec.conv_paddings[li]
            name = f"conv{li}"
            nodes[name] = nir.Conv2d(
                input_shape=(shape[1], shape[2]),
                weight=wf.astype(np.float32),
                stride=(s, s),
                padding=(p, p),
                dilation=(1, 1),
                groups=1,
                bias=np.zeros(wf.shape[0], dtype=np.float32),
            )
            shape = tuple(conv_shapes[li])
            layers.append({"kind": "conv", "kernel": int(k), "stride": s, "padding": p})
        else:
            wf = wf.reshape(wf.shape[0], -1)
            name = f"linear{li}"
            nodes[name] = nir.Linear(weight=wf.astype(np.float32))
            shape = (wf.shape[0],)
            layers.append({"kind": "dense"})
        cname = f"cuba{li}"
        nodes[cname] = _cuba_node(shape, idec, vdec, vth, biases[li], dt, i)
        layers[-1].update(
            synapse=name,
            neuron=cname,
            shape=list(shape),
            iDecay=idec,
            vDecay=vdec,
            vThMant=vth,
            **({"bias": list(biases[li])} if biases[li] else {}),
        )
        order += [name, cname]
        li += 1
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    order.append("output")
    edges = list(zip(order[:-1], order[1:]))

    full_meta = dict(meta or {})
    framing = full_meta.get("framing") or {}
    full_meta["nir_export"] = {
        "dt": float(dt),
        "dt_unit": "s",
        "convention": "forward Euler, current first; tau = dt / decay, "
        "r = tau_mem / dt, w_in = tau_syn / dt, v_leak = bias * tau_mem / dt (see lavacut.export.nir.neurons)",
        "synaptic_delay_steps": 1,
        "layers": layers,
        "spec": spec.to_dict(),
    }
    metadata = {
        META_KEY: json_text(full_meta),
        "producer": "lavacut",
        "dt": float(dt),
        "dt_unit": "s",
        "synaptic_delay_steps": 1,
        "neuron_model": "Loihi CUBA (lava-dl SLAYER cuba.Neuron), fixed point: decays /4096, "
        "threshold /64, weights 8-bit /64, bias /64",
    }
    if framing.get("bin_us"):
        metadata["frame_s"] = float(framing["bin_us"]) * 1e-6
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)
    except (ValueError, AssertionError) as exc:  # a bug here, not a user error; say what nir said
        raise NirError(f"the NIR graph built from the network fails nir's type check: {exc}") from None


def _meta_from_checkpoint(state: dict, net) -> dict:
    from lavacut.train.checkpoint import best_val  # torch

    cfg = RunConfig.from_dict(dict(state["config"]), source="checkpoint (stored config)")
    sensor = dataset_sensor_size(cfg.data.dataset)
    return {
        "name": cfg.name,
        "dataset": cfg.data.dataset,
        "data_seed": cfg.data.seed,
        "sensor_size": list(sensor) if sensor else None,
        "input_shape": list(net.spec.input_shape),
        "framing": {k: getattr(cfg.framing, k) for k in ("bin_us", "T", "slicing", "downsample", "denoise_us")},
        "classes": dataset_classes(cfg.data.dataset, net.spec.n_classes),
        "n_classes": net.spec.n_classes,
        "latency_steps": net.latency,
        "spec": net.spec.to_dict(),
        "train_config": cfg.to_dict(),
        "accuracy": {"best_val": best_val(state)},
        "checkpoint_epoch": int(state.get("epoch", 0)),
    }


def _load_source(source: str | Path):
    """(net, meta) from a checkpoint (.pt) or a NetX export (.net / HDF5)."""
    import h5py

    source = Path(source)
    if not source.is_file():
        raise LavacutError(f"{source}: no such file")
    if h5py.is_hdf5(source):
        try:
            return net_from_export(source)
        except LavacutError:
            raise
        except (KeyError, OSError) as exc:
            raise LavacutError(f"{source}: not a NetX network lavacut can rebuild ({exc})") from None
    from lavacut.train.checkpoint import load_checkpoint  # torch

    state = load_checkpoint(source)
    net = net_from_checkpoint(state)
    return net, _meta_from_checkpoint(state, net)


def write_nir(source_path: str | Path, out_path: str | Path, dt: float | str = DEFAULT_DT):
    """``lavacut export SOURCE --format nir -o OUT.nir``: SOURCE is a
    checkpoint or a NetX export; writes OUT atomically, reads it back with
    ``nir.read`` (type checks on) and returns ``(out_path, graph)``. ``dt``:
    seconds per step, or ``"bin"`` for the source's framing bin."""
    import nir

    if check_output_path(out_path, "NIR output"):
        print(f"{out_path} exists: it is replaced when the new graph is complete")
    net, meta = _load_source(source_path)
    meta = dict(meta or {})
    if isinstance(dt, str):
        bin_us = (meta.get("framing") or {}).get("bin_us")
        if dt != "bin" or not bin_us:
            raise NirError(f"dt must be a number of seconds or 'bin' (needs the source's framing metadata), got {dt!r}")
        dt = float(bin_us) * 1e-6
    meta.setdefault("name", Path(source_path).stem)
    meta["nir_source"] = str(source_path)
    graph = to_nir(net, meta, dt=dt)
    out_path = Path(out_path)
    with atomic_path(out_path, suffix=".nir") as tmp:
        nir.write(tmp, graph)
        nir.read(tmp)  # type-checked read-back before it replaces OUT
    return out_path, graph


def lavacut_metadata(graph) -> dict | None:
    """The lavacut metadata a graph written by :func:`to_nir` carries, else None."""
    md = getattr(graph, "metadata", None) or {}
    raw = md.get(META_KEY) if isinstance(md, dict) else None
    if raw is None:
        return None
    if isinstance(raw, np.ndarray):
        raw = raw.item()
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    try:
        out = json.loads(raw)
    except (TypeError, json.JSONDecodeError):
        raise NirError(f"graph metadata {META_KEY!r} is not lavacut's JSON") from None
    return out if isinstance(out, dict) else None
