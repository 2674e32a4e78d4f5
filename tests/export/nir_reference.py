"""A reference simulator of NIR chain graphs, written from NIR's equations
without lavacut's code (a plain helper module of the NIR tests).

Forward Euler at step ``dt``, current first, float64::

    CubaLIF: I[t] = I[t-1] + dt/tau_syn (-I[t-1] + w_in h[t])
             v[t] = v[t-1] + dt/tau_mem (v_leak - v[t-1] + r I[t])
    LIF:     v[t] = v[t-1] + dt/tau (v_leak - v[t-1] + r h[t])
    IF:      v[t] = v[t-1] + dt r h[t]
    spike s[t] = v[t] > v_threshold, then v[t] = v_reset where s[t]
    LI, CubaLI, I: as LIF, CubaLIF, IF without spikes (readouts: the
             simulation returns their voltage v[t])

A recurrent self-loop ``n -> w -> n`` (w a Linear/Affine node) adds
``w(s_n[t-1])`` to n's input ``h[t]``: the layer's own spikes of the
previous step, in both readings below.

``h[t]`` is the neuron's input: the linear nodes (Linear, Affine, Conv2d,
Flatten, SumPool2d, AvgPool2d with padding counted) applied, biases included,
to the previous neuron layer's spikes (the input frames for the first layer).

``synaptic_delay = 0`` is NIR's reading: linear nodes are instantaneous, so
``h[t]`` uses spikes of step ``t``. ``synaptic_delay = 1`` is Loihi's: every
run of linear nodes before a neuron layer delivers one step later (``h[t]``
uses step ``t - 1``, zero spikes before step 0), as NetX/Lava and lavacut's
SLAYER networks do; its output at ``t`` is their output at ``t``.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

NEURONS = ("CubaLIF", "LIF", "IF")
READOUTS = ("LI", "CubaLI", "I")


def _t(a):
    import torch

    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def _two(v):
    a = np.atleast_1d(np.asarray(v)).reshape(-1).astype(int)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def _chain(graph) -> tuple[list[str], dict]:
    """(node ids Input .. Output, {neuron: its recurrent weight node})."""
    succ, pred = defaultdict(list), defaultdict(list)
    for a, b in graph.edges:
        succ[a].append(b)
        pred[b].append(a)
    loops = {pred[w][0]: w for w in graph.nodes if succ[w] and succ[w] == pred[w]}
    for n, w in loops.items():
        succ[n].remove(w)
    cur = next(k for k, n in graph.nodes.items() if type(n).__name__ == "Input")
    order = [cur]
    while succ[cur]:
        (cur,) = succ[cur]
        order.append(cur)
    return order, loops


def _linear(node, h):
    import torch.nn.functional as F

    tp = type(node).__name__
    if tp in ("Linear", "Affine"):
        h = h @ _t(node.weight).T
        return h + _t(node.bias) if tp == "Affine" and node.bias is not None else h
    if tp == "Flatten":
        nd = h.dim() - 1
        s, e = int(node.start_dim), int(node.end_dim)
        return h.flatten((s + nd if s < 0 else s) + 1, (e + nd if e < 0 else e) + 1)
    if tp == "Conv2d":
        pad = node.padding if isinstance(node.padding, str) else _two(node.padding)
        b = None if node.bias is None else _t(node.bias).reshape(-1)
        return F.conv2d(
            h,
            _t(node.weight),
            b,
            stride=_two(node.stride),
            padding=pad,
            dilation=_two(node.dilation),
            groups=int(node.groups),
        )
    if tp in ("SumPool2d", "AvgPool2d"):
        return F.avg_pool2d(
            h,
            _two(node.kernel_size),
            _two(node.stride),
            _two(node.padding),
            count_include_pad=True,
            divisor_override=1 if tp == "SumPool2d" else None,
        )
    raise ValueError(f"reference simulator: no node type {tp}")


def _neuron_step(node, h, st, dt):
    import torch

    tp = type(node).__name__

    def P(attr, default=0.0):
        v = getattr(node, attr, None)
        v = _t(default if v is None else v)
        return v.reshape(()) if v.numel() == 1 else v.reshape(h.shape[1:])

    if tp in ("CubaLIF", "CubaLI"):
        st["i"] = st["i"] + dt / P("tau_syn") * (-st["i"] + P("w_in", 1.0) * h)
        st["v"] = st["v"] + dt / P("tau_mem") * (P("v_leak") - st["v"] + P("r") * st["i"])
    elif tp in ("LIF", "LI"):
        st["v"] = st["v"] + dt / P("tau") * (P("v_leak") - st["v"] + P("r") * h)
    else:
        st["v"] = st["v"] + dt * P("r") * h
    if tp in READOUTS:
        return st["v"]
    z = (st["v"] > P("v_threshold")).to(h.dtype)
    st["v"] = torch.where(z > 0, P("v_reset") * torch.ones_like(h), st["v"])
    return z


def infer_dt(graph) -> float:
    """``graph.metadata["dt"]``, else the median of tau/r over the LIF and
    CubaLIF nodes (snnTorch writes r = tau/dt, in float32)."""
    if "dt" in (graph.metadata or {}):
        return float(np.asarray(graph.metadata["dt"]).reshape(-1)[0])
    ratios = []
    for n in graph.nodes.values():
        tau = getattr(n, "tau_mem", getattr(n, "tau", None))
        if type(n).__name__ in ("LIF", "CubaLIF"):
            r = np.asarray(n.r, dtype=np.float64).reshape(-1)
            ratios += list((np.asarray(tau, dtype=np.float64).reshape(-1) / r)[r != 1])
    if not ratios:
        raise ValueError("give dt: the graph has no 'dt' metadata and no r = tau/dt")
    return float(np.median(ratios))


def simulate(graph, frames, dt: float | None = None, synaptic_delay: int = 0) -> np.ndarray:
    """Spikes of the last neuron node (its voltage for an LI / CubaLI / I
    readout), ``(N, *shape, T)``, for ``frames``
    ``(N, *input_shape, T)``. ``dt``: seconds (default: :func:`infer_dt`)."""
    import nir
    import torch

    if not hasattr(graph, "nodes"):
        graph = nir.read(graph)
    if dt is None:
        dt = infer_dt(graph)
    order, loops = _chain(graph)
    layers, run = [], []  # (linear nodes, neuron node, loop node) per layer
    for nm in order[1:-1]:
        node = graph.nodes[nm]
        if type(node).__name__ in NEURONS + READOUTS:
            layers.append((run, node, graph.nodes[loops[nm]] if nm in loops else None))
            run = []
        else:
            run.append(node)
    x = torch.as_tensor(np.asarray(frames), dtype=torch.float64)
    T = x.shape[-1]
    state = [{"i": 0.0, "v": 0.0} for _ in layers]
    prev = [torch.zeros_like(x[..., 0])] + [None] * len(layers)  # spikes of step t - 1: input, layers
    outs = []
    with torch.no_grad():
        for t in range(T):
            cur = [x[..., t]]
            for li, (run, node, loop) in enumerate(layers):
                h = cur[li]
                if synaptic_delay:
                    h = prev[li] if prev[li] is not None else torch.zeros_like(cur[li])
                for op in run:
                    h = _linear(op, h)
                if loop is not None:
                    h = h + _linear(loop, prev[li + 1] if prev[li + 1] is not None else torch.zeros_like(h))
                if not torch.is_tensor(state[li]["v"]):
                    state[li] = {"i": torch.zeros_like(h), "v": torch.zeros_like(h)}
                cur.append(_neuron_step(node, h, state[li], dt))
            prev = cur
            outs.append(cur[-1])
    return torch.stack(outs, dim=-1).numpy()
