"""NeuroBench's own metrics on lavacut's SLAYER networks, at full T and at
the cutoff.

The metrics are the ``neurobench`` package's classes (2.3.0), run through
its ``Benchmark`` on a ``TorchModel``: static ``Footprint`` and
``ConnectionSparsity``; workload ``ActivationSparsity``,
``SynapticOperations`` (``Effective_ACs`` for binary spikes,
``Effective_MACs``, ``Dense``) and ``ClassificationAccuracy``. The report
keeps NeuroBench's names.

What NeuroBench can and cannot see in a SLAYER net (the adapter):

- SLAYER's synapses (``slayer.synapse.Dense`` / ``Conv``) subclass
  ``torch.nn.Conv3d``, one of NeuroBench's connection layers, and lavacut's
  nets call them as modules: NeuroBench's ``LayerHook`` sees every synaptic
  input directly, and ``ConnectionSparsity`` counts their zero weights.
- SLAYER's CUBA neurons are not among NeuroBench's activation modules
  (torch activations, snnTorch neurons), and lavacut's nets run them through
  ``neuron.dynamics`` / ``neuron.spike`` rather than ``forward``, so no
  forward hook fires. :class:`SpikeTap` (an identity module registered with
  ``add_activation_module``) receives each spiking layer's spikes, so
  NeuroBench's ``NeuronHook`` and ``ActivationSparsity`` count them
  unchanged.

At the cutoff each sample's input is truncated at its cutoff step t_c
(SLAYER is causal, so the first t_c steps equal those of the full run) and
samples with the same t_c are batched together.

Cross-check with lavacut's counter (:func:`lavacut.cutoff.synops.count_ops`,
the report's ``operations``): both count "one input spike delivered along
one synapse with a nonzero weight", with the same fan-outs (lavacut's
:func:`lavacut.train.networks.nonzero_fan_outs` against NeuroBench's binary
weight copies, :func:`neurobench_fan_outs`: ``fan_outs_match_neurobench``).
The one remaining difference is timing: lavacut counts a layer's spikes at
the step they are emitted, NeuroBench sees each synapse's input after the
synaptic delays (SLAYER's one-step ``delay_shift``; in a rebuilt NetX file
Lava's one-step delay and axonal delays), so spikes emitted at the last step
counted (or delayed past it) are not counted. The cross-check recounts
lavacut's counter on the delayed inputs (:func:`seen_inputs`), which must
match NeuroBench within 1 % (``within_1pct``), and states the difference
(``explained.synaptic_delays``).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from lavacut.cutoff.synops import count_ops
from lavacut.measure.neurobench_passes import (
    merge_workload,
    pass_batches,
    shard_parts,
    static_metrics,
    workload,
)

METRICS_STATIC = ("Footprint", "ConnectionSparsity")
METRICS_WORKLOAD = ("ActivationSparsity", "SynapticOperations", "ClassificationAccuracy")
TOLERANCE = 0.01


def neurobench_fan_outs(net, input_shape) -> list[np.ndarray | None]:
    """NeuroBench's view of the fan-outs, per synapse module (in block
    order): how many nonzero weights leave each of its inputs, flattened
    C-order; the gradient of the summed output of the synapse with binarised
    weights (NeuroBench's ``make_binary_copy``, which binarises the raw
    weights) with respect to a one-step input. None for a synapse the net's
    forward never calls as a module (NeuroBench cannot see it either). An
    independent count of what :func:`lavacut.train.networks.nonzero_fan_outs`
    computes from the quantised weights (the same for a net loaded from an
    export, whose raw weights are the file's)."""
    import torch
    from neurobench.metrics.utils.layers.binary_copy import make_binary_copy

    syn = [b.synapse for b in net.blocks if hasattr(b, "synapse")]
    shapes: dict[int, tuple] = {}

    def hook(i):
        def record(module, inp):  # returns None: the input is left alone
            shapes.setdefault(i, tuple(inp[0].shape[1:-1]))

        return record

    handles = [s.register_forward_pre_hook(hook(i)) for i, s in enumerate(syn)]
    try:
        with torch.no_grad():
            net.eval()
            net(torch.zeros((1, *input_shape, 1)), record=False)
    finally:
        for h in handles:
            h.remove()
    out: list[np.ndarray | None] = []
    for i, s in enumerate(syn):
        if i not in shapes:
            out.append(None)
            continue
        b = make_binary_copy(s)
        x = torch.ones((1, *shapes[i], 1), requires_grad=True)
        b(x).sum().backward()
        out.append(x.grad.detach().reshape(-1).numpy().astype(np.float64))
    return out


def _shift(x: np.ndarray, d) -> np.ndarray:
    """Delay (N, n, T) spikes by d steps (an int, or one per input), dropping
    what moves past T."""
    d = np.broadcast_to(np.asarray(d, dtype=int), (x.shape[1],))
    y = np.zeros_like(x)
    T = x.shape[-1]
    for k in np.unique(d):
        if k < T:
            idx = np.flatnonzero(d == k)
            y[:, idx, k:] = x[:, idx, : T - k]
    return y


def seen_inputs(net, layer_inputs: list[np.ndarray]) -> tuple[list[np.ndarray | None], dict[str, str]]:
    """What each synapse of ``net`` receives, from lavacut's per-layer
    inputs (the frame, then each spiking layer's spikes at emission), and
    notes on the delays applied. lavacut's SLAYER nets: SLAYER's
    ``delay_shift`` delays every layer's spikes one step into the next
    synapse. A rebuilt NetX file (:class:`lavacut.export.rebuild.slayer.NetxRebuild`):
    Lava's one-step synapse delay before every layer, then axonal delays per
    input ('pre'); per-synapse delays ('syn') are computed outside the
    synapse module, where NeuroBench's hooks do not see them (None)."""
    notes: dict[str, str] = {}
    if hasattr(net, "_delays") and hasattr(net, "_kinds"):
        mods = [d for k, d in zip(net._kinds, net._delays) if k.name in ("dense", "conv")]
        out: list[np.ndarray | None] = []
        for j, (x, md) in enumerate(zip(layer_inputs, mods)):
            mode, d = md or (None, None)
            y = _shift(x, 1)
            if mode == "pre":
                y = _shift(y, d)
                notes[f"synapse {j}"] = "axonal delays per input: spikes delayed past T are not delivered"
            elif mode == "syn":
                y = None
                notes[f"synapse {j}"] = (
                    "per-synapse delays: computed outside the synapse module, so "
                    "NeuroBench's hooks do not see this layer's synaptic operations"
                )
            out.append(y)
        notes["schedule"] = "rebuilt NetX file: Lava's one-step synapse delay before every layer"
        return out, notes
    shift = all(getattr(b, "delay_shift", False) for b in net.blocks if hasattr(b, "synapse"))
    if shift:
        notes["schedule"] = "SLAYER delay_shift: each layer's spikes reach the next synapse one step later"
    return [layer_inputs[0]] + [_shift(x, 1) if shift else x for x in layer_inputs[1:]], notes


def _clean(results: dict) -> dict[str, Any]:
    out = {}
    for k, v in results.items():
        if isinstance(v, dict):
            out[k] = {kk: float(vv) for kk, vv in v.items()}
        else:
            out[k] = float(v)
    return out


def cross_check(
    nb_acs: float,
    lavacut_synops: float,
    fan_outs: list[np.ndarray],
    layer_inputs: list[np.ndarray],
    seen: list[np.ndarray | None],
    n_neurons: list[int],
    outputs: list[np.ndarray],
    t_c: np.ndarray,
) -> dict:
    """NeuroBench's Effective_ACs (mean per sample) against lavacut's synops,
    both counting nonzero-weight synapses. ``fan_outs`` are lavacut's (those
    its count used); ``seen`` what each synapse receives after the synaptic
    delays (None: a synapse NeuroBench's hooks do not see). The difference
    is explained by the delays (spikes that reach a synapse after the last
    step counted) and by unseen synapses; lavacut's counter on the delayed
    inputs must match NeuroBench within 1 %."""
    zero = [np.zeros_like(x) for x in layer_inputs]
    unseen = count_ops(
        fan_outs, [x if s is None else z for x, s, z in zip(layer_inputs, seen, zero)], n_neurons, outputs, t_c
    ).synops.mean()
    recount = count_ops(
        fan_outs, [z if s is None else s for s, z in zip(seen, zero)], n_neurons, outputs, t_c
    ).synops.mean()
    rel = abs(nb_acs - lavacut_synops) / max(lavacut_synops, 1e-12)
    rel_recount = abs(nb_acs - recount) / max(recount, 1e-12)
    return {
        "neurobench_Effective_ACs": float(nb_acs),
        "lavacut_synops": float(lavacut_synops),
        "relative_difference": float(rel),
        "agree_within_1pct": bool(rel <= TOLERANCE),
        "explained": {
            "synaptic_delays": float(lavacut_synops - unseen - recount),
            "not_seen_by_neurobench": float(unseen),
            "lavacut_recounted": float(recount),
        },
        "recounted_relative_difference": float(rel_recount),
        "within_1pct": bool(rel_recount <= TOLERANCE),
        "note": "both count input spikes x nonzero-weight synapses; lavacut counts a layer's spikes at the step "
        "they are emitted, NeuroBench sees each synapse's input after the synaptic delays (spikes "
        "delayed past the last step, or past t_c, are not delivered): synaptic_delays. "
        "lavacut_recounted = lavacut's counter on the delayed inputs; it must match NeuroBench "
        "within 1 %.",
    }


def neurobench_metrics(
    net,
    frames: np.ndarray,
    labels: np.ndarray | None,
    t_c: np.ndarray,
    *,
    layer_inputs: list[np.ndarray] | None = None,
    outputs: list[np.ndarray] | None = None,
    lavacut_synops: dict | None = None,
    fan_outs: list[np.ndarray] | None = None,
    readout_groups: int = 0,
    batch_size: int = 64,
    parts: int = 1,
    map_parts=None,
) -> dict[str, Any]:
    """NeuroBench metrics of ``net`` on ``frames`` at full T and at the
    per-sample cutoff steps ``t_c`` (1-based). With ``layer_inputs`` /
    ``outputs`` (lavacut's per-layer spikes, as for :func:`count_ops`) and
    ``lavacut_synops`` ({"full": mean, "cutoff": mean}) also the
    cross-check against lavacut's counter; ``fan_outs``: the fan-outs that
    count used (default :func:`lavacut.train.networks.nonzero_fan_outs` of
    ``net``). ``parts``: the passes cut into up to so many shards of whole
    batches, run by ``map_parts(fn, kwargs_list, weights=...)`` as
    ``fn(net, **kwargs)`` each (:meth:`lavacut.pipelines.shards.SlayerPasses.map`;
    default here, one after the other); the metrics are those of one process."""
    import neurobench

    report: dict[str, Any] = {
        "package": f"neurobench {getattr(neurobench, '__version__', '?')}",
        "adapter": "SLAYER synapses are torch Conv3d subclasses: NeuroBench hooks them directly. SLAYER neurons "
        "run through neuron.dynamics/spike (no forward hook, not a NeuroBench activation module): "
        "each spiking layer's spikes pass through an identity SpikeTap module registered with "
        "add_activation_module, which NeuroBench's NeuronHook records.",
        "cutoff_method": "each sample's input truncated at its cutoff step t_c (SLAYER is causal), samples of "
        "equal t_c batched together; workload metrics averaged per sample as NeuroBench does",
        "footprint": "Footprint: bytes of the torch model's parameters and buffers (float32 weights and "
        "decays, SLAYER's neuron state buffers at their initial size); the NetX/Loihi 2 weights are "
        "8-bit mantissas ('lavacut check' for their memory)",
        "missing": {},
    }
    if labels is None:
        report["missing"]["ClassificationAccuracy"] = "the input has no labels"
    passes = pass_batches(t_c, len(frames), frames.shape[-1], batch_size)
    kws = shard_parts(passes, frames, labels, parts, readout_groups)
    # shards: the static metrics here (this also imports NeuroBench before a local executor forks)
    static = static_metrics(net, labels is not None, readout_groups) if len(kws) > 1 else {}
    if map_parts is None:
        done = [workload(net, **kw) for kw in kws]
    else:
        done = map_parts(workload, kws, weights=[len(kw["frames"]) for kw in kws])
    for name in passes:
        report[name] = _clean(merge_workload([d[name] for d in done if name in d], len(frames), static))
    report["cutoff"]["mean_cutoff_step"] = float(np.mean(t_c))
    if layer_inputs is not None and outputs is not None and lavacut_synops is not None:
        nb_fo = neurobench_fan_outs(copy.deepcopy(net), frames.shape[1:-1])
        li = [x.reshape(len(x), -1, x.shape[-1]) for x in layer_inputs]
        if fan_outs is None:
            from lavacut.train.networks import nonzero_fan_outs

            fan_outs = nonzero_fan_outs(net)
        if len(nb_fo) != len(li) or len(fan_outs) != len(li):
            report["missing"]["cross_check"] = (
                f"{len(nb_fo)} synapse modules for {len(li)} lavacut layer inputs "
                f"(an input layer with neurons has no synapse module)"
            )
        else:
            seen, notes = seen_inputs(net, li)
            n_neurons = [o.shape[1] for o in outputs]
            T = frames.shape[-1]
            report["cross_check"] = {
                "full_T": cross_check(
                    report["full_T"]["SynapticOperations"]["Effective_ACs"],
                    lavacut_synops["full"],
                    fan_outs,
                    li,
                    seen,
                    n_neurons,
                    outputs,
                    np.full(len(frames), T),
                ),
                "cutoff": cross_check(
                    report["cutoff"]["SynapticOperations"]["Effective_ACs"],
                    lavacut_synops["cutoff"],
                    fan_outs,
                    li,
                    seen,
                    n_neurons,
                    outputs,
                    np.asarray(t_c),
                ),
                "fan_outs_match_neurobench": all(
                    np.array_equal(np.asarray(a, dtype=np.float64), b) for a, b in zip(fan_outs, nb_fo) if b is not None
                ),
                "delays": notes,
            }
            unseen = [k for k, v in notes.items() if "do not see" in v]
            if unseen:
                report["missing"]["SynapticOperations"] = (
                    f"partial: {', '.join(unseen)} computed outside a torch synapse module (per-synapse delays)"
                )
    return report
