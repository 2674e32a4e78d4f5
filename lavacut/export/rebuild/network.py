"""The SLAYER network that computes what Lava runs for a NetX file: from
lavacut's stored spec, from a spec derived from the layers, else the
layer-by-layer rebuild (:mod:`lavacut.export.rebuild.slayer`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lavacut.export.netx.file import read_stored_metadata
from lavacut.export.netx.inspect import inspect_layers
from lavacut.export.validate import require_valid
from lavacut.fixed_point import P_SCALE, W_MAX, W_MIN, W_SCALE
from lavacut.util import LavacutError


def spec_from_layers(path: str | Path):
    """Derive a NetSpec from a NetX file's layers (for files lavacut did not
    write): a chain of cuba conv layers, optional flatten, cuba dense layers,
    all with the same neuron parameters, no input neurons, biases, delays or
    dilation, and weights SLAYER's 8-bit quantisation keeps (even integers in
    [W_MIN, W_MAX]). Raises naming the layer otherwise (then
    :func:`net_from_export` rebuilds the file with
    :mod:`lavacut.export.rebuild.slayer`)."""
    import h5py

    from lavacut.train.netspec import NetSpec

    layers = inspect_layers(path)
    convs, dense, neuron, input_shape = [], [], None, None
    with h5py.File(path, "r") as f:
        for L in layers:
            g = f["layer"][L.index]
            if L.type == "input":
                if L.neuron:
                    raise LavacutError(
                        f"{path}: layer {L.index} is an input layer with neurons, which a NetSpec cannot express"
                    )
                # (C, H, W) as SLAYER writes it; a dense net's input may be 1-D (n,)
                input_shape = L.shape if len(L.shape) == 3 else (int(np.prod(L.shape)), 1, 1)
                continue
            if L.type == "flatten":
                continue
            if L.type not in ("conv", "dense"):
                raise LavacutError(
                    f"{path}: layer {L.index} has type {L.type!r}, which lavacut cannot rebuild "
                    f"in SLAYER (cuba dense/conv chains only)"
                )
            n = (int(L.neuron.get("vThMant", -1)), int(L.neuron.get("iDecay", -1)), int(L.neuron.get("vDecay", -1)))
            if L.neuron.get("type", "CUBA") not in ("CUBA", "LOIHI") or (neuron and n != neuron) or L.run_issue:
                raise LavacutError(
                    f"{path}: layer {L.index} has neuron {L.neuron}; lavacut rebuilds networks "
                    f"whose CUBA layers share one set of parameters"
                )
            neuron = n
            for key, what in (("delay", "axonal delays"), ("bias", "a bias")):
                if key in g:
                    raise LavacutError(f"{path}: layer {L.index} has {what}, which a NetSpec does not express")
            w = np.asarray(g["weight"][()], dtype=np.float64)
            if w.size and (np.any(w % 2) or w.min() < W_MIN or w.max() > W_MAX):
                raise LavacutError(
                    f"{path}: layer {L.index} has weights that are not even integers in "
                    f"[{W_MIN}, {W_MAX}] (SLAYER's 8-bit quantisation would change them)"
                )
            if L.type == "conv":
                if dense:
                    raise LavacutError(f"{path}: layer {L.index}: conv after dense is not supported")
                k = np.atleast_1d(g["kernelSize"][()])
                s = np.atleast_1d(g["stride"][()])
                p = np.atleast_1d(g["padding"][()])
                dil = np.atleast_1d(g["dilation"][()]) if "dilation" in g else np.ones(1)
                if (
                    len(set(k)) > 1
                    or len(set(s)) > 1
                    or len(set(p)) > 1
                    or int(np.atleast_1d(g["groups"][()])[0]) != 1
                    or np.any(dil != 1)
                ):
                    raise LavacutError(
                        f"{path}: layer {L.index}: only square kernels/strides/paddings, groups=1, no dilation"
                    )
                convs.append((int(g["outChannels"][()]), int(k[0]), int(s[0]), int(p[0])))
                if input_shape is None:
                    raise LavacutError(f"{path}: conv network without an input layer giving the frame shape")
            else:
                dense.append(int(np.prod(L.shape)))
                if input_shape is None and not convs:
                    input_shape = (int(g["inFeatures"][()]), 1, 1)
    if neuron is None or not dense:
        raise LavacutError(f"{path}: no dense output layer found")
    vth, idecay, vdecay = neuron
    return NetSpec(
        kind="conv" if convs else "dense",
        input_shape=tuple(int(v) for v in input_shape),
        n_classes=dense[-1],
        hidden=tuple(dense[:-1]),
        conv_channels=tuple(c[0] for c in convs),
        conv_kernels=tuple(c[1] for c in convs),
        conv_strides=tuple(c[2] for c in convs),
        conv_paddings=tuple(c[3] for c in convs),
        threshold=vth / W_SCALE,
        current_decay=idecay / P_SCALE,
        voltage_decay=vdecay / P_SCALE,
        weight_norm=False,
        dropout=0.0,
        name=Path(path).stem,
    )


def net_from_export(path: str | Path, validated: bool = False):
    """Rebuild the SLAYER network of a NetX file (eval mode): the spec from
    lavacut's metadata when present, else derived from the layers (weights
    are the file's integers / 64, which SLAYER's 8-bit quantisation maps back
    to the same integers, so the rebuilt net computes what Lava computes);
    a file no NetSpec expresses (input neurons, per-layer neurons, biases,
    delays, average readout, conv outputs, odd weights, ...) is rebuilt by
    :func:`lavacut.export.rebuild.slayer.rebuild_netx` (a module with an ``input_shape``
    and ``readout_groups``, no ``spec``). ``validated``: the file was checked
    already (:meth:`Export.open`). Returns (net, lavacut metadata or
    None)."""
    import torch

    from lavacut.train.netspec import NetSpec
    from lavacut.train.networks import build_network  # torch

    if not validated:  # the rebuild computes what netx does with out-of-range values: no range check here
        require_valid(path, ranges=False)
    meta = read_stored_metadata(path, check_hash=not validated)
    if meta and "spec" in meta:
        spec = NetSpec.from_dict(dict(meta["spec"]))
    else:
        try:
            spec = spec_from_layers(path)
        except LavacutError:
            from lavacut.export.rebuild.slayer import rebuild_netx  # torch

            return rebuild_netx(path), meta
    spec = spec.replace(weight_norm=False)
    net = build_network(spec)
    import h5py

    with h5py.File(path, "r") as f:
        keys = sorted((k for k in f["layer"].keys() if k.isdigit()), key=int)
        weighted = [f["layer"][k] for k in keys if "weight" in f["layer"][k]]
        weights = [np.asarray(g["weight"][()]) for g in weighted]
        # the decays the file's neurons use (trained ones differ from the spec's
        # when learn_decay was on); SLAYER quantises its decay parameters to
        # these integers in the forward pass
        decays = [
            (
                int(np.asarray(g["neuron"]["iDecay"][()]).reshape(-1)[0]),
                int(np.asarray(g["neuron"]["vDecay"][()]).reshape(-1)[0]),
            )
            if "neuron" in g and "iDecay" in g["neuron"] and "vDecay" in g["neuron"]
            else None
            for g in weighted
        ]
    blocks = net.spiking_blocks
    if len(weights) != len(blocks):
        raise LavacutError(f"{path}: {len(weights)} weighted layers but the spec has {len(blocks)} spiking layers")
    with torch.no_grad():
        for i, (b, w, d) in enumerate(zip(blocks, weights, decays)):
            target = b.synapse.weight
            if int(np.prod(w.shape)) != target.numel():
                raise LavacutError(
                    f"{path}: layer {i + 1} weight has shape {w.shape}, the network expects {tuple(target.shape)}"
                )
            target.copy_(torch.from_numpy(w.astype(np.float32) / W_SCALE).reshape(target.shape))
            if d is not None:
                b.neuron.current_decay.fill_(d[0])
                b.neuron.voltage_decay.fill_(d[1])
    net.eval()
    return net, meta
