"""NIR graph -> layer dicts for :func:`lavacut.export.nir.read.from_nir`:
the node checks (:func:`check_node_parameters`), the input shape
(:func:`graph_input_shape`) and the walk of the chain folding each run of
linear nodes into the synapse of the neuron node after it
(:func:`walk_layers`).
"""

from __future__ import annotations

import numpy as np

from lavacut.export.nir.neurons import neuron_params, normalised_bias
from lavacut.export.nir.ops import (
    LINEAR_NODES,
    NEURON_NODES,
    READOUT_NODES,
    NirError,
    compose_run,
    linear_op,
    shape_of,
    tname,
)


def check_node_parameters(graph, path="the graph") -> None:
    """Every array parameter of every node: real numbers, no NaN, not empty
    (NirError naming the node and parameter)."""
    for name, node in getattr(graph, "nodes", {}).items():
        if not hasattr(node, "__dict__"):  # an empty (None) node: ops.chain names it
            continue
        for key, value in vars(node).items():
            if key in ("input_type", "output_type", "metadata") or not isinstance(value, np.ndarray):
                continue
            if value.size == 0:
                raise NirError(
                    f"{path}: node {name!r} ({type(node).__name__}) parameter {key} is empty (shape {value.shape})"
                )
            if value.dtype.kind not in "biuf":
                raise NirError(
                    f"{path}: node {name!r} ({type(node).__name__}) parameter {key} is not real "
                    f"numbers (dtype {value.dtype})"
                )
            if np.any(np.isnan(value)):
                raise NirError(f"{path}: node {name!r} ({type(node).__name__}) parameter {key} contains NaN")


def graph_input_shape(node, name, input_shape):
    shape = shape_of(node.input_type, "input") or shape_of(getattr(node, "output_type", None), "output")
    if (not shape or min(shape) < 1) and input_shape is not None:
        shape = tuple(int(v) for v in input_shape)
    if not shape or min(shape) < 1:
        raise NirError(f"Input node {name!r} has no usable shape ({shape}); give the frame shape (--input-shape C H W)")
    return shape


def _recurrent(syn: dict, nm: str, node, wnode: str, wop, shape) -> None:
    """Add the self-loop ``nm -> wnode -> nm`` to layer ``syn``: ``rec`` (n, n),
    its bias into the layer's constant input."""
    t = tname(node)
    if syn["kind"] != "dense" or len(shape) != 1:
        raise NirError(
            f"node {nm!r} ({t}) of shape {tuple(shape)} has the recurrent loop {wnode!r}: lavacut's "
            f"recurrent layers are dense (1-D), as netx's Recurrent block"
        )
    if wop["out"] != tuple(shape):
        raise NirError(
            f"node {wnode!r} ({tname(wop['node'])}) maps {nm!r}'s {shape[0]} spikes to {wop['out']} "
            f"outputs: a recurrent weight must be ({shape[0]}, {shape[0]})"
        )
    syn["rec"], syn["rec_node"] = wop["w"], wnode
    if wop["b"] is not None:
        b = np.broadcast_to(wop["b"], shape).astype(np.float64)
        syn["offset"] = b if syn.get("offset") is None else syn["offset"] + b.reshape(syn["offset"].shape)
        syn["bias_nodes"] = list(syn.get("bias_nodes") or []) + [wnode]


def walk_layers(graph, order, shape, dt, loops=None) -> list[dict]:
    """Walk the chain: one dict per neuron layer (synapse, decays, folded
    weights/bias; ``rec`` for a recurrent self-loop, ``readout`` for an
    LI / CubaLI / I voltage readout)."""
    nodes = graph.nodes
    loops = loops or {}
    pending: list[dict] = []
    layers: list[dict] = []
    for nm in order[1:]:
        node = nodes[nm]
        t = tname(node)
        if layers and layers[-1]["readout"] and t != "Output":
            raise NirError(
                f"node {layers[-1]['neuron']!r} ({layers[-1]['neuron_type']}) is a non-spiking readout "
                f"followed by {nm!r} ({t}): lavacut reads a voltage only at the output layer"
            )
        if t in LINEAR_NODES:
            op = linear_op(nm, node, shape)
            if op["kind"] != "flatten" or op["out"] != shape:
                pending.append(op)
            shape = tuple(op["out"])
        elif t in NEURON_NODES + READOUT_NODES:
            syn = compose_run(pending, nm)
            syn["readout"] = t in READOUT_NODES
            if nm in loops:
                wop = linear_op(loops[nm], nodes[loops[nm]], tuple(shape))
                wop["node"] = nodes[loops[nm]]
                _recurrent(syn, nm, node, loops[nm], wop, shape)
            par = neuron_params(nm, node, shape, dt)
            syn.update(neuron=nm, neuron_type=t, shape=shape, **{k: par[k] for k in ("du", "dv", "iDecay", "vDecay")})
            scale = par["gain"] / par["vth"]  # fold gain and threshold into the weights
            bn = normalised_bias(nm, par, syn)
            if syn["kind"] == "conv":
                c = scale.reshape(shape[0], -1)
                if not np.allclose(c, c[:, :1], rtol=1e-9, atol=0):
                    raise NirError(
                        f"node {nm!r} ({t}): threshold / r / w_in vary over positions within a "
                        f"channel; a convolution shares its kernel, so they can only vary per channel"
                    )
                syn["wn"] = syn["w"] * c[:, 0][:, None, None, None]
                if bn is not None:
                    bc = bn.reshape(shape[0], -1)
                    if not np.allclose(bc, bc[:, :1], rtol=1e-9, atol=1e-12):
                        raise NirError(
                            f"node {nm!r} ({t}): its constant input (v_leak, or biases through padding "
                            f"or pooling) varies over positions within a channel; lavacut conv layers "
                            f"hold one bias per channel"
                        )
                    bn = bc[:, 0]
            else:
                syn["wn"] = syn["w"] * scale.reshape(-1)[:, None]
                if syn.get("rec") is not None:  # the loop feeds the same input: same gain per target
                    syn["wn_rec"] = syn["rec"] * scale.reshape(-1)[:, None]
            syn["bn"] = None if bn is None else bn.reshape(-1)
            syn["vth"] = par["vth"]
            layers.append(syn)
            pending = []
        else:  # Output
            if pending:
                raise NirError(
                    f"node(s) {[o['name'] for o in pending]} come after the last neuron node: lavacut "
                    f"networks end with a spiking layer"
                )
            otype = shape_of(node.output_type, "output") or shape_of(node.input_type, "input")
            if (
                otype is not None
                and int(np.prod(otype)) != int(np.prod(shape))
                and not (len(otype) > 1 and len(shape) == 1 and otype[-1] == shape[0])
            ):  # batch / time dims
                raise NirError(f"Output node {nm!r} declares shape {otype} but the node before it outputs {shape}")
    if not layers:
        raise NirError("the graph has no neuron layer")
    if layers[-1]["kind"] != "dense":
        raise NirError(
            f"the last neuron node {layers[-1]['neuron']!r} has shape {tuple(layers[-1]['shape'])}: "
            f"lavacut's output layer is dense (one neuron per class); add Flatten + Linear + neurons"
        )
    return layers
