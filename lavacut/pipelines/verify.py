"""``lavacut verify``: Lava's CPU simulation against SLAYER, spike for spike.

The first N samples run through ONE compiled Lava graph
(:func:`lavacut.runtime.record.lava_output`) and through the SLAYER network
rebuilt from the same file (or a given ``reference_net``); the output spike
trains (K x T per sample) are compared exactly. When they differ,
:func:`lavacut.measure.exactness.explain_exactness` says what may be why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lavacut.cutoff.rules import cumulative_counts
from lavacut.measure.exactness import explain_exactness
from lavacut.pipelines.run import RunRequest, open_run, report_stamp
from lavacut.runtime.record import lava_output
from lavacut.runtime.workers import lava_output_sharded
from lavacut.train.inference import forward
from lavacut.util import LavacutError


@dataclass
class VerifyResult:
    """Outcome of :func:`verify_export`.

    ``samples``: one dict per sample, ``{index, label, identical, first_step,
    first_neuron, lava_spikes, slayer_spikes}``; ``first_step`` is the first
    1-based output step (== local Lava step == SLAYER index + 1) where the
    trains differ and ``first_neuron`` the lowest output neuron differing at
    that step (both None when identical); ``*_spikes`` are total output spike
    counts of the sample.

    ``lava_wall_s``: everything the Lava side cost, end to end (loading the
    net, building the graph, compile, forking the runtime, running N*T steps,
    reading the sink, stopping); ``lava_timings`` splits it up (``run_s`` is
    the N*T steps alone). ``slayer_wall_s``: rebuilding the SLAYER net from
    the file and its forward over the N samples.

    ``lava_out`` / ``slayer_out``: the (N, K, T) uint8 spike trains compared
    (a voltage readout: the (N, K, T) int64 voltages; ``*_spikes`` are then
    sums of voltages, and ``readout`` says "voltage").
    """

    path: str
    n_samples: int
    n_identical: int
    agreement_rate: float
    samples: list[dict[str, Any]]
    lava_wall_s: float
    slayer_wall_s: float
    backend: str
    horizon: int = 0
    num_classes: int = 0
    split: str = "test"
    reference: str = "rebuilt from the file"
    lava_timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    readout: str = "spike counts"
    lava_out: np.ndarray | None = field(default=None, repr=False)
    slayer_out: np.ndarray | None = field(default=None, repr=False)

    @property
    def all_identical(self) -> bool:
        return self.n_identical == self.n_samples

    @property
    def mismatches(self) -> list[dict[str, Any]]:
        return [s for s in self.samples if not s["identical"]]

    def summary(self) -> dict[str, Any]:
        """JSON-friendly figures (no per-sample list, no arrays)."""
        return {
            **report_stamp(),
            "path": self.path,
            "split": self.split,
            "n_samples": self.n_samples,
            "n_identical": self.n_identical,
            "agreement_rate": self.agreement_rate,
            "horizon": self.horizon,
            "num_classes": self.num_classes,
            "backend": self.backend,
            "reference": self.reference,
            "readout": self.readout,
            "lava_wall_s": self.lava_wall_s,
            "slayer_wall_s": self.slayer_wall_s,
            "lava_timings": dict(self.lava_timings),
            "mismatching_indices": [s["index"] for s in self.mismatches],
        }

    def format(self) -> str:
        """A table: one line per sample for <= 20 samples, else one line per
        mismatching sample; then a summary line (and notes)."""
        rows = self.samples if self.n_samples <= 20 else self.mismatches
        lines = [
            f"{self.path}: Lava ({self.backend}, fixed_pt) vs SLAYER ({self.reference}), "
            f"{self.split} split, K={self.num_classes}, T={self.horizon}"
        ]
        if rows:
            unit = "sum v" if self.readout == "voltage" else "spikes"
            lines.append(
                f"{'sample':>7} {'label':>6} {'identical':>10} {'first step':>11} "
                f"{'neuron':>7} {'lava ' + unit:>12} {'slayer ' + unit:>14}"
            )
            for s in rows:
                lines.append(
                    f"{s['index']:>7} {'-' if s['label'] is None else s['label']:>6} {'yes' if s['identical'] else 'NO':>10} "
                    f"{'-' if s['first_step'] is None else s['first_step']:>11} "
                    f"{'-' if s['first_neuron'] is None else s['first_neuron']:>7} "
                    f"{s['lava_spikes']:>12} {s['slayer_spikes']:>14}"
                )
        lt = self.lava_timings
        lines.append(
            f"{self.n_identical}/{self.n_samples} samples identical ({100 * self.agreement_rate:.2f}%)"
            f"; Lava {self.lava_wall_s:.2f} s (compile {lt.get('compile_s', 0):.2f}, run "
            f"{lt.get('run_s', 0):.2f}, readout {lt.get('readout_s', 0):.2f}), SLAYER "
            f"{self.slayer_wall_s:.2f} s"
        )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


# --------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------


def compare_spikes(lava_out: np.ndarray, slayer_out: np.ndarray, labels=None) -> list[dict[str, Any]]:
    """Per sample of two (N, K, T) spike arrays: identical, and the first
    (1-based) step and lowest neuron where they differ."""
    a = np.asarray(lava_out)
    b = np.asarray(slayer_out)
    if a.shape != b.shape or a.ndim != 3:
        raise LavacutError(
            f"cannot compare spike trains of shapes {a.shape} (Lava) and {b.shape} (SLAYER); both must be (N, K, T)"
        )
    labels = [None] * len(a) if labels is None else [int(y) for y in np.asarray(labels).reshape(-1)]
    out = []
    for j in range(len(a)):
        diff = a[j] != b[j]  # (K, T)
        if diff.any():
            steps = np.flatnonzero(diff.any(axis=0))
            t0 = int(steps[0])
            first_step, first_neuron = t0 + 1, int(np.flatnonzero(diff[:, t0])[0])
        else:
            first_step = first_neuron = None
        out.append(
            {
                "index": j,
                "label": labels[j],
                "identical": first_step is None,
                "first_step": first_step,
                "first_neuron": first_neuron,
                "lava_spikes": int(a[j].sum()),
                "slayer_spikes": int(b[j].sum()),
            }
        )
    return out


def verify_export(
    req: RunRequest,
    backend: str | None = None,
    progress: bool = True,
    reference_net=None,
    models: str | None = None,
    lanes: int | None = None,
    workers: int | None = None,
    executor: str | None = None,
) -> VerifyResult:
    """Run the first ``req.samples`` samples (0 = all; default [run] samples)
    of ``req.split`` or the user's ``--input`` through Lava (``backend``,
    default [run] backend) and SLAYER and compare their output spike trains
    exactly. ``reference_net``: compare against this SLAYER net (e.g.
    the trained net before export) instead of the rebuild from the file.
    ``models``: the Lava ProcessModels (default [run] models; see
    :func:`lavacut.runtime.session.make_run_cfg`); ``lanes``: samples side
    by side in the fused network (default [run] lanes). ``workers``,
    ``executor``: shard the Lava side (default [run] workers and executor;
    see :func:`lavacut.runtime.workers.lava_output_sharded`)."""
    export, cfg, split, samples = open_run(req)
    backend = backend or cfg.run.backend
    if backend not in ("cpu", "loihi2"):
        raise LavacutError(f"unknown backend {backend!r}; choose cpu or loihi2")
    t0 = time.perf_counter()
    net = reference_net if reference_net is not None else export.slayer_net()
    reference = (
        f"reference_net ({type(reference_net).__name__})" if reference_net is not None else "rebuilt from the file"
    )
    rebuild_s = time.perf_counter() - t0
    data = export.frames(cfg, split, samples, user_input=req.user_input, progress=progress)
    notes: list[str] = []
    if samples and samples > len(data):
        notes.append(f"asked for {samples} samples, {data.source} has {len(data)}: verified all of them")
    frames, labels = data.frames, data.labels

    t0 = time.perf_counter()
    slayer_out = forward(net, frames, progress=progress, readout=False)  # what net.out sends
    if export.readout == "voltage":  # compare the voltages themselves, not their increments
        slayer_out = cumulative_counts(slayer_out)
        notes.append("voltage readout: the output layer's voltages v(t) compared exactly, every step")
    slayer_wall = rebuild_s + time.perf_counter() - t0

    t0 = time.perf_counter()
    workers, executor = int(workers or cfg.run.workers), executor or cfg.run.executor
    lanes = cfg.run.lanes if lanes is None else lanes
    if (workers > 1 and len(frames) > 1) or executor != "local":  # shards, each its own graph
        lava_out, timings = lava_output_sharded(
            export.path,
            frames,
            workers=workers,
            executor=executor,
            progress=progress,
            backend=backend,
            models=models or cfg.run.models,
            lanes=lanes,
        )
    else:
        lava_out, timings = lava_output(
            export.path, frames, backend=backend, progress=progress, models=models or cfg.run.models, lanes=lanes
        )
    lava_wall = time.perf_counter() - t0
    if slayer_out.shape != lava_out.shape:
        raise LavacutError(f"output shapes differ: Lava {lava_out.shape}, SLAYER {slayer_out.shape} (N, K, T)")

    per_sample = compare_spikes(lava_out, slayer_out, labels)
    n_ok = sum(s["identical"] for s in per_sample)
    N = len(per_sample)
    if n_ok < N:
        with _suppress_lavacut_errors(notes):
            notes += explain_exactness(
                export.path, frames=frames[[s["index"] for s in per_sample if not s["identical"]]], net=net
            )
    return VerifyResult(
        path=str(export.path),
        n_samples=N,
        n_identical=n_ok,
        agreement_rate=n_ok / N,
        samples=per_sample,
        lava_wall_s=lava_wall,
        slayer_wall_s=slayer_wall,
        backend=backend,
        horizon=int(lava_out.shape[-1]),
        num_classes=int(lava_out.shape[1]),
        split=data.source,
        reference=reference,
        lava_timings=timings,
        notes=notes,
        readout=export.readout,
        lava_out=lava_out,
        slayer_out=slayer_out,
    )


class _suppress_lavacut_errors:
    """Diagnosis is best effort: a failure there becomes a note."""

    def __init__(self, notes: list[str]):
        self.notes = notes

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, Exception):
            self.notes.append(f"diagnosis failed: {exc_type.__name__}: {exc}")
            return True
        return False


# --------------------------------------------------------------------------
# diagnosis
# --------------------------------------------------------------------------
