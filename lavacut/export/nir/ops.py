"""NIR's linear nodes as lavacut synapses; the chain walk, the error type and
the small helpers the NIR modules share.

An op is a dict: ``kind`` "conv" (``w`` (O, C, kh, kw), ``stride``, ``pad``),
"dense" (``w`` (O, I)) or "flatten"; plus ``name``, ``in``/``out`` shapes and
``b`` (the node's bias, None when zero). Every run of ops between two neuron
nodes becomes ONE synapse (NetX loads no pooling): one dense matrix (the
exact Jacobian of the run) before a 1-D layer, one convolution before a
(C, H, W) layer. The biases become one constant input per neuron (the run
applied to zeros), which :mod:`.neurons` maps onto Loihi's voltage bias.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from lavacut.util import LavacutError

LINEAR_NODES = ("Linear", "Affine", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d")
NEURON_NODES = ("CubaLIF", "LIF", "IF")
#: non-spiking readouts, imported as the last layer (a voltage readout: CUBA neurons that never spike)
READOUT_NODES = ("LI", "CubaLI", "I")
SUPPORTED_NODES = ("Input", "Output") + LINEAR_NODES + NEURON_NODES + READOUT_NODES
_WHY_NOT = {
    "Delay": "axonal delays are not part of lavacut networks",
    "NoneType": "an empty node: the producing library wrote no NIR node for this module (it has no NIR mapping, "
    "e.g. Norse 1.1.0's LIFRecurrentCell, AvgPool2d, Flatten)",
    "NIRGraph": "a sub-graph (snnTorch writes recurrent layers RLeaky/RSynaptic as sub-graphs); "
    "lavacut imports feed-forward chains",
    "Conv1d": "lavacut networks take (C, H, W) frames: 2-D convolutions only",
    "Threshold": "a bare threshold without neuron dynamics",
    "Scale": "an elementwise scale node",
}


class NirError(LavacutError, ValueError):
    """A NIR graph lavacut cannot convert (the message names the node)."""


def arr(x) -> np.ndarray | None:
    if x is None:
        return None
    if hasattr(x, "detach"):  # torch tensors (snnTorch puts some in graphs it builds)
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def tname(node) -> str:
    return type(node).__name__


def pair(v, what: str, where: str) -> tuple[int, int]:
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    a = np.atleast_1d(np.asarray(v)).reshape(-1)
    if a.size == 1:
        a = np.repeat(a, 2)
    if a.size != 2 or not np.all(np.equal(np.mod(a, 1), 0)):
        raise NirError(f"{where}: {what} must be an int or a pair of ints, got {v!r}")
    return int(a[0]), int(a[1])


def shape_of(types, key: str) -> tuple[int, ...] | None:
    if not isinstance(types, dict) or types.get(key) is None:
        return None
    v = np.asarray(types[key]).reshape(-1)
    return tuple(int(x) for x in v) if v.size else None


def _nonzero(b) -> np.ndarray | None:
    b = arr(b)
    return None if b is None or not np.any(b != 0) else b.reshape(-1)


def conv_out(hw, k, s, p) -> tuple[int, int]:
    return tuple((hw[i] + 2 * p[i] - k[i]) // s[i] + 1 for i in range(2))


def linear_op(name: str, node, shape: tuple[int, ...]) -> dict:
    """The op of a Linear/Affine/Conv2d/Flatten/SumPool2d/AvgPool2d node fed ``shape``."""
    t = tname(node)
    where = f"node {name!r} ({t})"
    if t in ("Linear", "Affine"):
        w = arr(node.weight)
        if w.ndim != 2:
            raise NirError(f"{where}: weight must be 2-D (out, in), got shape {w.shape}")
        if len(shape) != 1 or shape[0] != w.shape[1]:
            raise NirError(
                f"{where}: its weight takes {w.shape[1]} inputs but the node before it outputs "
                f"shape {shape}" + (" (a Flatten is missing)" if len(shape) > 1 else "")
            )
        b = _nonzero(node.bias) if t == "Affine" else None
        if b is not None and b.size not in (1, w.shape[0]):
            raise NirError(f"{where}: bias has {b.size} values for {w.shape[0]} outputs")
        return {"kind": "dense", "w": w, "b": b, "name": name, "in": shape, "out": (w.shape[0],)}
    if t == "Flatten":
        if len(shape) == 0:
            raise NirError(f"{where}: nothing to flatten")
        itype = shape_of(node.input_type, "input")
        if itype is not None and itype != shape:
            raise NirError(f"{where}: declared input shape {itype} but the node before it outputs {shape}")
        nd = len(shape)
        s, e = int(node.start_dim), int(node.end_dim)
        s, e = (s + nd if s < 0 else s), (e + nd if e < 0 else e)
        if not (0 <= s <= e < nd):
            raise NirError(
                f"{where}: start_dim {node.start_dim} / end_dim {node.end_dim} do not fit input "
                f"shape {shape} (NIR shapes have no batch dimension)"
            )
        out = shape[:s] + (int(np.prod(shape[s : e + 1])),) + shape[e + 1 :]
        return {"kind": "flatten", "b": None, "name": name, "in": shape, "out": out}
    if len(shape) != 3:
        raise NirError(f"{where}: needs (C, H, W) input, but the node before it outputs shape {shape}")
    c, h, wd = shape
    b = None
    if t == "Conv2d":
        w = arr(node.weight)
        if w.ndim != 4:
            raise NirError(f"{where}: weight must be (C_out, C_in/groups, kH, kW), got shape {w.shape}")
        g = int(node.groups)
        if g < 1 or c != w.shape[1] * g or w.shape[0] % g:
            raise NirError(
                f"{where}: weight {w.shape} with groups={g} takes {w.shape[1] * g} channels, the "
                f"node before it outputs {c} channels (shape {shape})"
            )
        b = _nonzero(node.bias)
        if b is not None and b.size not in (1, w.shape[0]):
            raise NirError(f"{where}: bias has {b.size} values for {w.shape[0]} output channels")
        if node.input_shape is not None:
            ish = pair(node.input_shape, "input_shape", where)
            if ish != (h, wd):
                raise NirError(f"{where}: declared input_shape {ish} but the node before it outputs (H, W) = {(h, wd)}")
        dil = pair(node.dilation, "dilation", where)
        stride = pair(node.stride, "stride", where)
        if g > 1:  # groups -> block-diagonal full kernel
            full = np.zeros((w.shape[0], c) + w.shape[2:])
            og, ig = w.shape[0] // g, w.shape[1]
            for gi in range(g):
                full[gi * og : (gi + 1) * og, gi * ig : (gi + 1) * ig] = w[gi * og : (gi + 1) * og]
            w = full
        if dil != (1, 1):  # dilation -> sparse larger kernel
            kh, kw = w.shape[2:]
            full = np.zeros(w.shape[:2] + ((kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1))
            full[:, :, :: dil[0], :: dil[1]] = w
            w = full
        k = w.shape[2:]
        if isinstance(node.padding, str):
            if node.padding == "valid":
                pad = (0, 0)
            else:  # "same"
                if stride != (1, 1) or any((ki - 1) % 2 for ki in k):
                    raise NirError(
                        f"{where}: padding 'same' with stride {stride} and kernel {k} is not "
                        f"symmetric; lavacut convolutions pad symmetrically"
                    )
                pad = ((k[0] - 1) // 2, (k[1] - 1) // 2)
        else:
            pad = pair(node.padding, "padding", where)
    else:  # SumPool2d / AvgPool2d (divisor kH*kW, padding counted)
        k = pair(node.kernel_size, "kernel_size", where)
        stride = pair(node.stride, "stride", where)
        pad = pair(node.padding, "padding", where)
        w = np.zeros((c, c) + k)
        w[np.arange(c), np.arange(c)] = 1.0 if t == "SumPool2d" else 1.0 / (k[0] * k[1])
    out_hw = conv_out((h, wd), w.shape[2:], stride, pad)
    if min(out_hw) < 1:
        raise NirError(
            f"{where}: kernel {w.shape[2:]}, stride {stride}, padding {pad} leave no output for input {shape}"
        )
    return {
        "kind": "conv",
        "w": w,
        "b": b,
        "stride": stride,
        "pad": pad,
        "name": name,
        "in": shape,
        "out": (w.shape[0],) + out_hw,
        "type": t,
    }


def _move_padding(a: dict, b: dict) -> tuple[dict, dict]:
    """``b``'s zero padding moved before ``a`` (``a`` padded by pad_b *
    stride_a more, ``b`` unpadded). Exact when every output position the
    padding adds to ``a`` sees only zeros: ``kernel_a <= stride_a + pad_a``
    (left) and ``out_a * stride_a - pad_a >= size`` (right: whole windows
    cover the input), e.g. a pooling with kernel == stride on a divisible input."""
    ka, sa, pa, pb = a["w"].shape[2:], a["stride"], a["pad"], b["pad"]
    size, out_a = a["in"][1:], a["out"][1:]
    why = []
    for d, axis in enumerate(("rows", "columns")):
        if ka[d] > sa[d] + pa[d]:
            why.append(f"its windows overlap the border ({axis}: kernel {ka[d]} > stride {sa[d]} + padding {pa[d]})")
        elif out_a[d] * sa[d] - pa[d] < size[d]:
            why.append(
                f"its windows do not cover the input ({axis}: {size[d]} input {axis}, windows of "
                f"{ka[d]} at stride {sa[d]} end at {out_a[d] * sa[d] - pa[d]})"
            )
    if why:
        what = a.get("type", "convolution")
        raise NirError(
            f"node {b['name']!r} pads its input {tuple(pb)} and follows {a['name']!r} ({what}, kernel "
            f"{tuple(ka)}, stride {tuple(sa)}, padding {tuple(pa)}) without a neuron between them: NetX "
            f"has no pooling, so the two must become one convolution, which is exact only if the padding "
            f"can move before {a['name']!r}; it cannot: {'; '.join(why)}"
        )
    a = dict(a, pad=(pa[0] + pb[0] * sa[0], pa[1] + pb[1] * sa[1]))
    return a, dict(b, pad=(0, 0))


def compose_conv(a: dict, b: dict) -> dict:
    """Convolution ``a`` then ``b`` as one convolution (linear part; biases
    are handled by :func:`compose_run`)."""
    if any(b["pad"]):
        a, b = _move_padding(a, b)
    wa, wb, sa = a["w"], b["w"], a["stride"]
    ka, kb = wa.shape[2:], wb.shape[2:]
    K = ((kb[0] - 1) * sa[0] + ka[0], (kb[1] - 1) * sa[1] + ka[1])
    w = np.zeros((wb.shape[0], wa.shape[1]) + K)
    for m in range(kb[0]):
        for n in range(kb[1]):
            w[:, :, m * sa[0] : m * sa[0] + ka[0], n * sa[1] : n * sa[1] + ka[1]] += np.einsum(
                "om,mcij->ocij", wb[:, :, m, n], wa
            )
    out = {
        "kind": "conv",
        "w": w,
        "b": None,
        "stride": (sa[0] * b["stride"][0], sa[1] * b["stride"][1]),
        "pad": a["pad"],
        "name": f"{a['name']}+{b['name']}",
        "in": a["in"],
        "out": b["out"],
    }
    if conv_out(a["in"][1:], K, out["stride"], out["pad"]) != tuple(b["out"][1:]):
        raise NirError(f"nodes {out['name']}: merged convolution does not reproduce the output shape")
    return out


def apply_ops(ops: list[dict], x, bias: bool = False):
    """The ops on a torch batch (B, *shape) in float64 (with their biases if ``bias``)."""
    import torch.nn.functional as F

    for op in ops:
        B = x.shape[0]
        b = x.new_tensor(op["b"]) if bias and op["b"] is not None else None
        if op["kind"] == "dense":
            x = x.reshape(B, -1) @ x.new_tensor(op["w"]).T
            x = x if b is None else x + b
        elif op["kind"] == "flatten":
            x = x.reshape((B,) + tuple(op["out"]))
        else:
            x = F.conv2d(x, x.new_tensor(op["w"]), stride=op["stride"], padding=op["pad"])
            x = x if b is None else x + b.reshape(-1, 1, 1)
    return x


def compose_run(ops: list[dict], neuron: str) -> dict:
    """One synapse for the run of ops before neuron node ``neuron``: ``w``,
    ``offset`` (the run's output for zero input, None without biases) and
    ``bias_nodes`` (the ops with a bias)."""
    import torch

    if not any(o["kind"] != "flatten" for o in ops):
        raise NirError(
            f"neuron node {neuron!r} has no weighted layer (Linear, Affine, Conv2d, pooling) "
            f"before it: every lavacut layer is synapse -> CUBA neurons"
        )
    in_shape, out_shape = tuple(ops[0]["in"]), tuple(ops[-1]["out"])
    names = [o["name"] for o in ops]
    bias_nodes = [o["name"] for o in ops if o["b"] is not None]
    offset = None
    if bias_nodes:
        with torch.no_grad():
            offset = apply_ops(ops, torch.zeros((1,) + in_shape, dtype=torch.float64), bias=True)[0].numpy()
    common = {"nodes": names, "in": in_shape, "out": out_shape, "offset": offset, "bias_nodes": bias_nodes}
    if len(out_shape) == 3:
        bad = [o["name"] for o in ops if o["kind"] != "conv"]
        if bad:
            raise NirError(
                f"node(s) {bad} before the (C, H, W) neuron node {neuron!r}: only convolutions and "
                f"pooling can feed a convolutional layer"
            )
        acc = ops[0]
        for op in ops[1:]:
            acc = compose_conv(acc, op)
        k, s, p = acc["w"].shape[2:], acc["stride"], acc["pad"]
        if k[0] != k[1] or s[0] != s[1] or p[0] != p[1]:
            raise NirError(
                f"node(s) {names} before neuron {neuron!r}: kernel {k}, stride {s}, padding {p}; "
                f"lavacut convolutions (NetSpec) are square in all three"
            )
        return {"kind": "conv", "w": acc["w"], "kernel": int(k[0]), "stride": int(s[0]), "padding": int(p[0]), **common}
    if len(out_shape) != 1:
        raise NirError(
            f"neuron node {neuron!r} has shape {out_shape}: lavacut layers are (C, H, W) "
            f"convolutions or 1-D dense layers"
        )
    core = [o for o in ops if o["kind"] != "flatten"]
    if len(core) == 1 and core[0]["kind"] == "dense" and ops[-1] is core[0]:
        w = core[0]["w"]  # flatten (C order) then one matrix
    else:  # exact Jacobian of the linear run
        n_in = int(np.prod(in_shape))
        cols = []
        with torch.no_grad():
            for lo in range(0, n_in, 1024):
                hi = min(n_in, lo + 1024)
                basis = torch.zeros(hi - lo, n_in, dtype=torch.float64)
                basis[torch.arange(hi - lo), torch.arange(lo, hi)] = 1.0
                cols.append(apply_ops(ops, basis.reshape((hi - lo,) + in_shape)).reshape(hi - lo, -1))
        w = torch.cat(cols).T.numpy()
    return {"kind": "dense", "w": np.asarray(w, dtype=np.float64), **common}


def _self_loops(nodes, succ, pred) -> dict[str, str]:
    """{neuron node: Linear/Affine node} for each recurrent self-loop
    ``neuron -> w -> neuron`` (``w`` has no other edge), removed from
    ``succ`` / ``pred``; other loops stay and are refused by the walk."""
    loops = {}
    for w, node in nodes.items():
        if (
            tname(node) in ("Linear", "Affine")
            and len(pred[w]) == 1
            and succ[w] == pred[w]
            and tname(nodes[pred[w][0]]) in NEURON_NODES
        ):
            n = pred[w][0]
            if n in loops:
                raise NirError(
                    f"node {n!r} has two recurrent self-loops {[loops[n], w]}: lavacut imports one "
                    f"recurrent Linear/Affine per neuron node"
                )
            loops[n] = w
    for n, w in loops.items():
        succ[n].remove(w)
        pred[n].remove(w)
        succ[w], pred[w] = [], []
    return loops


def chain(graph, loops: dict | None = None) -> list[str]:
    """Node ids from the Input to the Output; errors name the node. With a
    dict ``loops``, recurrent self-loops (a neuron node fed back its own
    spikes through one Linear/Affine node) are allowed and recorded there
    ({neuron: linear node}); without it they are refused."""
    nodes = graph.nodes
    for name, node in nodes.items():
        t = tname(node)
        if t not in SUPPORTED_NODES:
            why = _WHY_NOT.get(t, "not a node type lavacut converts")
            raise NirError(f"node {name!r} has type {t}: {why}. lavacut imports {', '.join(SUPPORTED_NODES)}")
    inputs = [k for k, n in nodes.items() if tname(n) == "Input"]
    outputs = [k for k, n in nodes.items() if tname(n) == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NirError(
            f"lavacut imports graphs with one Input and one Output node; this one has inputs "
            f"{inputs} and outputs {outputs}"
        )
    succ: dict[str, list[str]] = defaultdict(list)
    pred: dict[str, list[str]] = defaultdict(list)
    for a, b in graph.edges:
        a, b = str(a), str(b)
        for x in (a, b):
            if x not in nodes:
                raise NirError(f"edge ({a!r}, {b!r}) refers to node {x!r}, which is not in the graph")
        succ[a].append(b)
        pred[b].append(a)
    found = _self_loops(nodes, succ, pred) if loops is not None else {}
    if loops is not None:
        loops.update(found)
    order, seen, cur = [], set(found.values()), inputs[0]
    while True:
        order.append(cur)
        seen.add(cur)
        nxt = succ[cur]
        if not nxt:
            break
        if len(nxt) > 1:
            raise NirError(
                f"node {cur!r} ({tname(nodes[cur])}) feeds {len(nxt)} nodes {nxt}: lavacut "
                f"imports feed-forward chains without branches"
            )
        n = nxt[0]
        if n in seen:
            raise NirError(
                f"edge ({cur!r}, {n!r}) closes a loop: lavacut imports recurrence only as a self-loop "
                f"neuron -> Linear/Affine -> the same neuron (CubaLIF/LIF/IF)"
            )
        if len(pred[n]) > 1:
            raise NirError(
                f"node {n!r} ({tname(nodes[n])}) has {len(pred[n])} inputs {pred[n]}: lavacut "
                f"imports chains without merges (a recurrent self-loop neuron -> Linear/Affine -> the "
                f"same neuron is the one exception)"
            )
        cur = n
    if order[-1] != outputs[0]:
        raise NirError(
            f"the chain from Input {inputs[0]!r} ends at node {order[-1]!r} "
            f"({tname(nodes[order[-1]])}), not at the Output node {outputs[0]!r}"
        )
    stray = [k for k in nodes if k not in seen]
    if stray:
        raise NirError(f"node(s) {stray} are not on the chain from Input {inputs[0]!r} to Output {outputs[0]!r}")
    return order
