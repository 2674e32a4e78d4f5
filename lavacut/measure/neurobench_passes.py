"""NeuroBench's ``Benchmark`` run on lavacut's SLAYER networks: the adapter
(:class:`SpikeTap`, :func:`adapter_net`) and the two passes (full T, and
each sample truncated at its cutoff step), whole or in shards of whole
batches whose results merge into those of one process
(:func:`shard_parts`, :func:`workload`, :func:`merge_workload`).
:mod:`lavacut.measure.neurobench` says what the metrics see and builds the
report."""

from __future__ import annotations

import copy

import numpy as np

from lavacut.cutoff.rules import group_sums, per_step_predictions


def _torch():
    import torch

    return torch


class _Tap:
    """Built lazily (torch is imported only when the metrics run)."""

    cls = None


def spike_tap_class():
    """:class:`SpikeTap`: an identity ``torch.nn.Module`` whose forward hook
    NeuroBench's ``NeuronHook`` uses to see a SLAYER layer's spikes."""
    if _Tap.cls is None:
        torch = _torch()

        class SpikeTap(torch.nn.Module):
            """Identity: passes one spiking layer's spikes to NeuroBench's hooks."""

            def forward(self, x):
                return x

        _Tap.cls = SpikeTap
    return _Tap.cls


def _spiking_count(net) -> int:
    return sum(1 for b in net.blocks if hasattr(b, "neuron"))


def adapter_net(net):
    """A ``torch.nn.Module`` running ``net`` (a lavacut SLAYER net whose
    ``forward(x, record=True)`` returns ``(out, hidden_records)``) and
    passing every spiking layer's spikes through a :class:`SpikeTap`."""
    torch = _torch()
    Tap = spike_tap_class()

    class NeurobenchAdapter(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.net = inner
            self.taps = torch.nn.ModuleList(Tap() for _ in range(_spiking_count(inner)))

        def forward(self, x):
            out, records = self.net(x, record=True)
            spikes = [r.spikes for r in records] + [out]
            if len(spikes) != len(self.taps):
                raise RuntimeError(f"{len(spikes)} spiking outputs for {len(self.taps)} taps")
            for tap, s in zip(self.taps, spikes):
                tap(s)
            return out

    return NeurobenchAdapter(net)


def _reset_states(net) -> None:
    """SLAYER neurons keep the last batch's state in ``*_state`` buffers of
    shape (batch, neurons), which NeuroBench's Footprint would count: put
    them back to their initial (1,) before each run."""
    torch = _torch()
    for m in net.modules():
        for name, buf in list(m.named_buffers(recurse=False)):
            if name.endswith("_state"):
                setattr(m, name, torch.zeros(1, dtype=buf.dtype, device=buf.device))


def _benchmark(model_net, loader, with_labels: bool, groups: int):
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import ActivationSparsity, ClassificationAccuracy, SynapticOperations
    from neurobench.models import TorchModel

    torch = _torch()
    model = TorchModel(model_net)
    model.add_activation_module(spike_tap_class())

    def post(out):
        y = group_sums(out.detach().cpu().numpy().astype(np.int64), groups)
        return torch.from_numpy(per_step_predictions(y)[:, -1].astype(np.int64))

    workload = [ActivationSparsity, SynapticOperations] + ([ClassificationAccuracy] if with_labels else [])
    return Benchmark(model, loader, [], [post], [[Footprint, ConnectionSparsity], workload])


def pass_batches(t_c, n: int, T: int, batch_size: int = 64) -> dict[str, tuple[np.ndarray, list[list[int]]]]:
    """Each pass's per-sample steps and batches (lists of sample indices):
    ``full_T`` in sample order; ``cutoff``: samples of equal t_c batched
    together, in order of t_c."""
    out = {}
    for name, steps in (("full_T", np.full(int(n), int(T))), ("cutoff", np.asarray(t_c, dtype=int))):
        batches = []
        for t in np.unique(steps):
            idx = np.flatnonzero(steps == t)
            batches += [idx[i : i + batch_size].tolist() for i in range(0, len(idx), batch_size)]
        out[name] = (steps, batches)
    return out


def shard_parts(passes: dict, frames: np.ndarray, labels, parts: int, readout_groups: int = 0) -> list[dict]:
    """Both passes' batches in one list, cut into up to ``parts`` contiguous
    runs of whole batches of about equal cost (samples x steps), each as the
    keyword arguments of :func:`workload`: the frames of its samples, its
    batches as positions among them. The batches stay those of one process:
    NeuroBench's per-batch metrics and its spiking-input test are per batch."""
    items = [(name, b) for name, (_, batches) in passes.items() for b in batches]
    cum = np.cumsum([len(b) * int(passes[name][0][b[0]]) for name, b in items])
    edges = [0, len(items)]
    if len(items):
        edges += [int(np.searchsorted(cum, cum[-1] * k / parts)) + 1 for k in range(1, int(parts))]
    edges = sorted(set(edges))
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        run = items[lo:hi]
        idx = np.unique(np.concatenate([b for _, b in run]))
        whole = len(idx) == len(frames)  # one part: the arrays as they are (no copy)
        batches: dict[str, list[list[int]]] = {}
        for name, b in run:
            batches.setdefault(name, []).append(np.searchsorted(idx, b).tolist())
        out.append(
            {
                "frames": frames if whole else frames[idx],
                "labels": labels if labels is None or whole else labels[idx],
                "steps": {name: passes[name][0] if whole else passes[name][0][idx] for name in batches},
                "batches": batches,
                "readout_groups": readout_groups,
            }
        )
    return out


def _loader(frames, labels, steps: np.ndarray, batches: list[list[int]]):
    """``frames`` truncated at their ``steps``, in these batches."""
    torch = _torch()
    from torch.utils.data import DataLoader, Dataset

    class Truncated(Dataset):
        def __len__(self):
            return len(frames)

        def __getitem__(self, i):
            x = torch.from_numpy(np.asarray(frames[i, ..., : steps[i]], dtype=np.float32))
            return x, torch.tensor(int(labels[i]) if labels is not None else 0)

    return DataLoader(Truncated(), batch_sampler=batches)


class _PerBatch:
    """Stands in for one of NeuroBench's per-batch workload metrics in its
    manager and records what it returned for each batch, with the batch's
    size (None: it raised, which the manager turns into 0.0)."""

    def __init__(self, inner):
        self.inner, self.values = inner, []

    def __call__(self, model, preds, data):
        size = int(data[0].size(0))
        try:
            v = self.inner(model, preds, data)
        except Exception:
            self.values.append((None, size))
            raise
        self.values.append((v, size))
        return v


#: NeuroBench's accumulated metrics whose state is sums over samples: what their compute() reads
ADDITIVE_STATE = {"SynapticOperations": ("MAC", "AC", "total_synops", "total_samples")}


def workload(net, frames, labels, steps: dict, batches: dict, readout_groups: int = 0) -> dict[str, dict]:
    """NeuroBench's workload metrics of ``net`` over these ``batches`` of
    each pass (``full_T``, ``cutoff``): per pass, Benchmark.run's results
    over them, each per-batch metric's values with the batch sizes, and the
    accumulated metrics' sums; :func:`merge_workload` joins shards."""
    from neurobench.metrics.abstract import AccumulatedMetric

    torch = _torch()
    model_net = adapter_net(copy.deepcopy(net))  # hooks and state resets never touch the caller's net
    bench = _benchmark(model_net, None, labels is not None, readout_groups)
    metrics = bench.workload_metric_manager.metrics
    for k, m in list(metrics.items()):
        if not isinstance(m, AccumulatedMetric):
            metrics[k] = _PerBatch(m)
        elif k not in ADDITIVE_STATE:
            raise RuntimeError(f"NeuroBench metric {k}: its shards cannot be merged")
    out = {}
    try:
        with torch.no_grad():
            for name, b in batches.items():
                for m in metrics.values():
                    if isinstance(m, _PerBatch):
                        m.values = []
                _reset_states(model_net)
                results = bench.run(quiet=True, dataloader=_loader(frames, labels, steps[name], b))
                out[name] = {
                    "n": len(frames),
                    "results": results,
                    "order": list(metrics),
                    "per_batch": {k: m.values for k, m in metrics.items() if isinstance(m, _PerBatch)},
                    "sums": {k: {a: getattr(metrics[k], a) for a in ADDITIVE_STATE[k]} for k in ADDITIVE_STATE},
                }
    finally:
        bench.workload_metric_manager.cleanup_hooks(bench.model)
    return out


def merge_workload(parts: list[dict], n: int, static: dict) -> dict:
    """One pass's results from its shards' :func:`workload` parts (in batch
    order), as Benchmark.run over all ``n`` samples gives them: ``static``
    (the static metrics), a per-batch metric's batch values accumulated as
    NeuroBench's WorkloadMetricManager does (value x batch size / n, in batch
    order: the same floats), an accumulated metric's summed state through its
    own compute()."""
    if len(parts) == 1 and parts[0]["n"] == n:
        return parts[0]["results"]  # one process: NeuroBench's own accumulation
    from neurobench.metrics import workload as nb_workload

    results = dict(static)
    for k in parts[0]["order"]:
        if k in ADDITIVE_STATE:
            metric = getattr(nb_workload, k)()
            for a in ADDITIVE_STATE[k]:
                setattr(metric, a, sum(p["sums"][k][a] for p in parts))
            results[k] = metric.compute()
        else:
            total = 0.0
            for v, size in (vs for p in parts for vs in p["per_batch"][k]):
                total = 0.0 if v is None else total + (v * size) / n
            results[k] = total
    return results


def static_metrics(net, with_labels: bool, readout_groups: int = 0) -> dict:
    """NeuroBench's static metrics of ``net`` as Benchmark.run computes them
    (states reset)."""
    model_net = adapter_net(copy.deepcopy(net))
    _reset_states(model_net)
    bench = _benchmark(model_net, None, with_labels, readout_groups)
    try:
        return bench.static_metric_manager.run_metrics(bench.model)
    finally:
        bench.workload_metric_manager.cleanup_hooks(bench.model)
