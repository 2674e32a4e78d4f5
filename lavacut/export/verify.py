"""Verify an export: Lava's CPU simulation against SLAYER, spike for spike.

:func:`verify_export` runs the first N samples of a split through

- Lava (``Loihi2SimCfg(select_tag="fixed_pt")``): ONE compiled graph for all
  N samples, :func:`lavacut.runtime.graph.build_split_graph` with
  ``FixedT()`` in stream mode (the CutoffMonitor switches samples on the
  graph every T steps and zeroes every state Var, so each sample runs as in
  a fresh graph), plus a ``lava.proc.io.sink.RingBuffer`` on the network's
  output port recording all N * T output vectors, read once at the end;
- the SLAYER network rebuilt from the same file
  (:func:`lavacut.export.exporter.net_from_export`, eval mode), or a given
  ``reference_net``;

and compares the output spike trains (K x T per sample) exactly.

Step arithmetic (SLAYER-aligned timesteps, the runtime's default): with
``FixedT`` every decision comes at output step T, and with offset 0 the
monitor's output step is the sample's local Lava step, so sample j is played
at Lava steps j*T + 1 .. (j+1)*T, the switch happens at the end of step
(j+1)*T, and the monitor pauses the runtime in the management phase of step
N*T. The sink writes step s into column (s - 1) % (N*T), so sample j's
output of local step t (1-based) is column j*T + t - 1, which is SLAYER's
``out[j, :, t - 1]`` (zero shift). The test suite checks this slicing against
:func:`lavacut.runtime.runner.run_single` (a fresh graph per sample).

What is known about exactness: see :func:`explain_exactness`.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lavacut.util import LavacutError

__all__ = ["VerifyResult", "verify_export", "compare_spikes", "explain_exactness", "EXACTNESS_FACTS"]

#: What the team knows about Lava fixed_pt vs SLAYER exactness (see
#: :func:`explain_exactness`).
EXACTNESS_FACTS = (
    "cuba Dense and strided cuba Conv layers (with Flatten) are bit exact: SLAYER's forward in eval mode "
    "equals Lava fixed_pt (PyLifModelBitAcc) spike for spike, output at zero shift (delay_shift=True).",
    "Lava's current u is a 24-bit register that WRAPS (v saturates); SLAYER computes in float and does "
    "neither, so weights/inputs large enough to push |u| past 2**23 - 1 (or |a_in| past the int16 range) "
    "break exactness. lavacut.train.networks.fixed_point_ranges measures the headroom.",
    "weights: netx casts the file's weights to int; the SLAYER rebuild divides them by 64 and its 8-bit "
    "quantisation rounds to EVEN integers in [-256, 254], so odd or out-of-range integers in a foreign "
    "file make the rebuilt SLAYER net differ from what Lava runs.",
    "graded spikes (output_message_bits / input_message_bits) and non-binary input are not supported: "
    "netx casts unary input spikes to bool, SLAYER would weight graded values.",
    "eval mode only: dropout in train mode makes SLAYER stochastic.",
    "not loadable by netx at all: pool, average, concat, convT, unpool; lavacut's runtime also refuses "
    "netx Input blocks with neurons and LIFReset neurons. Axonal delays (DelayDense) and recurrent layers "
    "load in netx but lavacut rebuilds no SLAYER net for them, so they are not verified here.",
)


# --------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------

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

    ``lava_out`` / ``slayer_out``: the (N, K, T) uint8 spike trains compared.
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
    reference: str = "rebuilt from the file (net_from_export)"
    lava_timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
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
        return {"path": self.path, "split": self.split, "n_samples": self.n_samples,
                "n_identical": self.n_identical, "agreement_rate": self.agreement_rate,
                "horizon": self.horizon, "num_classes": self.num_classes, "backend": self.backend,
                "reference": self.reference, "lava_wall_s": self.lava_wall_s,
                "slayer_wall_s": self.slayer_wall_s, "lava_timings": dict(self.lava_timings),
                "mismatching_indices": [s["index"] for s in self.mismatches]}

    def format(self) -> str:
        """A table: one line per sample for <= 20 samples, else one line per
        mismatching sample; then a summary line (and notes)."""
        rows = self.samples if self.n_samples <= 20 else self.mismatches
        lines = [f"{self.path}: Lava ({self.backend}, fixed_pt) vs SLAYER ({self.reference}), "
                 f"{self.split} split, K={self.num_classes}, T={self.horizon}"]
        if rows:
            lines.append(f"{'sample':>7} {'label':>6} {'identical':>10} {'first step':>11} "
                         f"{'neuron':>7} {'lava spikes':>12} {'slayer spikes':>14}")
            for s in rows:
                lines.append(f"{s['index']:>7} {s['label']:>6} {'yes' if s['identical'] else 'NO':>10} "
                             f"{'-' if s['first_step'] is None else s['first_step']:>11} "
                             f"{'-' if s['first_neuron'] is None else s['first_neuron']:>7} "
                             f"{s['lava_spikes']:>12} {s['slayer_spikes']:>14}")
        lt = self.lava_timings
        lines.append(f"{self.n_identical}/{self.n_samples} samples identical ({100 * self.agreement_rate:.2f}%)"
                     f"; Lava {self.lava_wall_s:.2f} s (compile {lt.get('compile_s', 0):.2f}, run "
                     f"{lt.get('run_s', 0):.2f}, readout {lt.get('readout_s', 0):.2f}), SLAYER "
                     f"{self.slayer_wall_s:.2f} s")
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
        raise LavacutError(f"cannot compare spike trains of shapes {a.shape} (Lava) and {b.shape} (SLAYER); "
                           f"both must be (N, K, T)")
    labels = np.full(len(a), -1) if labels is None else np.asarray(labels).reshape(-1)
    out = []
    for j in range(len(a)):
        diff = a[j] != b[j]                       # (K, T)
        if diff.any():
            steps = np.flatnonzero(diff.any(axis=0))
            t0 = int(steps[0])
            first_step, first_neuron = t0 + 1, int(np.flatnonzero(diff[:, t0])[0])
        else:
            first_step = first_neuron = None
        out.append({"index": j, "label": int(labels[j]), "identical": first_step is None,
                    "first_step": first_step, "first_neuron": first_neuron,
                    "lava_spikes": int(a[j].sum()), "slayer_spikes": int(b[j].sum())})
    return out


# --------------------------------------------------------------------------
# the two engines
# --------------------------------------------------------------------------

def slayer_output(net, frames: np.ndarray, batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """SLAYER eval-mode forward of ``frames`` (N, C, H, W, T): output spikes
    (N, K, T) uint8. The net's train/eval mode is restored afterwards."""
    import torch
    from tqdm import tqdm

    was_training = net.training
    net.eval()
    outs = []
    try:
        with torch.no_grad():
            for lo in tqdm(range(0, len(frames), batch_size), desc="SLAYER", unit="batch",
                           disable=not progress, leave=False, file=sys.stderr):
                x = torch.from_numpy(np.asarray(frames[lo:lo + batch_size], dtype=np.float32))
                y = net(x, record=False) if _takes_record(net) else net(x)
                y = y[0] if isinstance(y, tuple) else y
                outs.append(y.detach().cpu().numpy())
    finally:
        net.train(was_training)
    y = np.concatenate(outs)
    if y.size and not np.isin(y, (0, 1)).all():
        raise LavacutError("the SLAYER net produced non-binary output (graded spikes); verify compares "
                           "binary spike trains only")
    return y.astype(np.uint8)


def _takes_record(net) -> bool:
    import inspect

    try:
        return "record" in inspect.signature(net.forward).parameters
    except (TypeError, ValueError):
        return False


def lava_output(path, frames: np.ndarray, backend: str = "cpu", progress: bool = False
                ) -> tuple[np.ndarray, dict[str, float]]:
    """All samples of ``frames`` (N, C, H, W, T) through ONE Lava graph for
    their full T steps; returns the output spikes (N, K, T) uint8
    (SLAYER-aligned: [:, :, t - 1] is local Lava step t) and timings."""
    from lava.proc.io.sink import RingBuffer as Sink

    from lavacut.measure.policies import FixedT
    from lavacut.runtime.graph import build_split_graph
    from lavacut.runtime.runner import LavaSession, make_run_cfg

    timings: dict[str, float] = {}
    run_cfg = make_run_cfg(backend)              # raises early when loihi2 is missing
    t0 = time.perf_counter()
    g = build_split_graph(path, frames, FixedT(), halt=False, loihi2=(backend == "loihi2"))
    N, T, K = g.num_samples, g.horizon, g.num_classes
    if g.offset != 0:
        raise LavacutError(f"internal: expected SLAYER-aligned timesteps (offset 0), got offset {g.offset}")
    sink = Sink(shape=(K,), buffer=N * T)
    if g.adapters:          # loihi2: record on the host side of the output adapter
        g.adapters[-1].out.connect(sink.a_in)
    else:
        g.net.out.connect(sink.a_in)
    timings["build_s"] = time.perf_counter() - t0
    mon = g.monitor
    with LavaSession(mon, run_cfg) as session:
        timings["compile_s"], timings["init_s"] = session.compile_s, session.init_s
        t0 = time.perf_counter()
        session.run_until_pause()                # the monitor pauses after sample N, at step N*T
        timings["run_s"] = time.perf_counter() - t0
        if progress:
            print(f"lavacut verify: {N} samples, {N * T} Lava steps in {timings['run_s']:.2f} s",
                  file=sys.stderr)
        t0 = time.perf_counter()
        n_done = int(np.asarray(mon.n_done.get()).reshape(-1)[0])
        last_step = int(np.asarray(mon.last_step.get()).reshape(-1)[0])
        data = np.asarray(sink.data.get())       # (K, N*T), element by element
        timings["readout_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
    timings["stop_s"] = time.perf_counter() - t0
    if n_done != N or last_step != N * T:
        raise LavacutError(f"step bookkeeping broken: the monitor made {n_done} of {N} decisions, the last "
                           f"at Lava step {last_step}, expected step N*T = {N * T}")
    if data.shape != (K, N * T):
        raise LavacutError(f"internal: sink returned shape {data.shape}, expected {(K, N * T)}")
    if data.size and not np.isin(data, (0, 1)).all():
        raise LavacutError("the Lava output is not binary (graded spikes); verify compares binary spikes")
    # column j*T + t - 1 is sample j, local step t
    out = data.reshape(K, N, T).transpose(1, 0, 2).astype(np.uint8)
    return np.ascontiguousarray(out), timings


# --------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------

def _check_frames(frames: np.ndarray, input_shape, path) -> None:
    got = tuple(int(s) for s in frames.shape[1:4])
    want = tuple(int(s) for s in input_shape)
    if frames.ndim != 5 or got != want:
        raise LavacutError(f"{path}: input shape mismatch: the network input is (C, H, W) = {want} but the data "
                           f"set frames are {got} (frames array {tuple(frames.shape)}, (N, C, H, W, T)); "
                           f"use a data set / framing that matches (cfg=...)")
    if frames.shape[-1] < 1:
        raise LavacutError("framing produced no timesteps")


def verify_export(path, samples: int = 200, split: str = "test", cfg=None, backend: str = "cpu",
                  progress: bool = True, reference_net=None) -> VerifyResult:
    """Run the first ``samples`` samples of ``split`` through Lava and SLAYER
    and compare their output spike trains exactly.

    Parameters
    ----------
    path : NetX file (a lavacut export, or a foreign NetX file with ``cfg``).
    samples : how many samples (the first ones of the split; all of them if
        the split is smaller, with a note). Must be >= 1.
    split : "train" or "test".
    cfg : a :class:`lavacut.config.RunConfig` giving the data set and framing
        (default: the export's stored training config; needed for files
        without lavacut metadata).
    backend : "cpu" (Loihi2SimCfg fixed_pt). "loihi2" builds the graph with
        embedded-io adapters and is untested (needs lava-loihi).
    progress : progress output on stderr.
    reference_net : compare against this SLAYER net instead of the one
        rebuilt from the file (e.g. the trained net before export, to check
        the export itself). Called as ``net(x)`` / ``net(x, record=False)``
        on (N, C, H, W, T) float input, in eval mode (its mode is restored).

    Errors (LavacutError): samples <= 0, unknown split, frames whose (C, H, W)
    differ from the network input (the message names both shapes); files
    that are not NetX raise from the loaders unchanged.
    """
    from lavacut.data.sources import load_split
    from lavacut.measure.evaluate import data_config_for

    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples <= 0:
        raise LavacutError(f"samples must be a positive integer, got {samples!r}")
    if split not in ("train", "test"):
        raise LavacutError(f"unknown split {split!r} (train or test)")
    if backend not in ("cpu", "loihi2"):
        raise LavacutError(f"unknown backend {backend!r}; choose cpu or loihi2")
    import lavacut.runtime  # noqa: F401  (lets Lava fix 'fork' although tqdm made an mp lock)

    path = Path(path)
    t0 = time.perf_counter()
    if reference_net is None:
        from lavacut.export.exporter import net_from_export

        net, meta = net_from_export(path)
        reference = "rebuilt from the file (net_from_export)"
    else:
        from lavacut.export.netx_file import read_metadata

        net, meta = reference_net, read_metadata(path)
        reference = f"reference_net ({type(reference_net).__name__})"
    rebuild_s = time.perf_counter() - t0
    cfg = data_config_for(meta, cfg)
    data = load_split(cfg, split, progress=progress)
    notes: list[str] = []
    n_avail = len(data.labels)
    if samples > n_avail:
        notes.append(f"asked for {samples} samples, the {split} split has {n_avail}: verified all of them")
    frames = np.asarray(data.frames[:samples])
    labels = np.asarray(data.labels[:samples]).reshape(-1)
    spec = getattr(net, "spec", None)
    if spec is not None and getattr(spec, "input_shape", None) is not None:
        _check_frames(frames, spec.input_shape, path)
    elif frames.ndim != 5:
        raise LavacutError(f"frames must be (N, C, H, W, T), got shape {frames.shape}")

    t0 = time.perf_counter()
    slayer_out = slayer_output(net, frames, progress=progress)
    slayer_wall = rebuild_s + time.perf_counter() - t0

    t0 = time.perf_counter()
    lava_out, timings = lava_output(path, frames, backend=backend, progress=progress)
    lava_wall = time.perf_counter() - t0
    if slayer_out.shape != lava_out.shape:
        raise LavacutError(f"output shapes differ: Lava {lava_out.shape}, SLAYER {slayer_out.shape} (N, K, T)")

    per_sample = compare_spikes(lava_out, slayer_out, labels)
    n_ok = sum(s["identical"] for s in per_sample)
    N = len(per_sample)
    if n_ok < N:
        with _suppress_lavacut_errors(notes):
            notes += explain_exactness(path, frames=frames[[s["index"] for s in per_sample
                                                             if not s["identical"]]], net=net)
    return VerifyResult(path=str(path), n_samples=N, n_identical=n_ok, agreement_rate=n_ok / N,
                        samples=per_sample, lava_wall_s=lava_wall, slayer_wall_s=slayer_wall,
                        backend=backend, horizon=int(lava_out.shape[-1]), num_classes=int(lava_out.shape[1]),
                        split=split, reference=reference, lava_timings=timings, notes=notes,
                        lava_out=lava_out, slayer_out=slayer_out)


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

def explain_exactness(path, frames: np.ndarray | None = None, net=None) -> list[str]:
    """Explain (change nothing) why Lava and SLAYER could differ on ``path``.

    What is known (lava-nc 0.10.0, lava-dl 0.6.0, Lava fixed_pt vs SLAYER in
    eval mode):

    - cuba Dense and strided cuba Conv layers (with Flatten) are bit exact,
      output at zero shift (SLAYER's delay_shift=True models the one-step
      delay of each Lava synapse).
    - Lava's current ``u`` is 24-bit and WRAPS (``v`` saturates, ``a_in`` is
      int16); SLAYER does neither, so huge weights (or dense input) that push
      ``|u|`` past 2**23 - 1 break exactness.
    - Weights: netx casts the file's weights to int; the SLAYER rebuild
      quantises weight/64 to even integers in [-256, 254]. Odd or
      out-of-range integers in a file make the rebuild differ from Lava.
    - Graded spikes / graded input are not supported (netx casts unary input
      spikes to bool); train mode (dropout) is stochastic.
    - Pool/average/concat/convT/unpool do not load in netx; delays and
      recurrent layers are not rebuilt in SLAYER by lavacut.

    Returns notes (strings): per-layer facts read from the file, weight
    checks, and, if ``frames`` (N, C, H, W, T) are given, the fixed-point
    headroom measured on them with ``net`` (default: rebuilt from the file)
    via :func:`lavacut.train.networks.fixed_point_ranges`.
    """
    import h5py

    from lavacut.export.inspect import inspect_layers

    notes: list[str] = []
    layers = inspect_layers(path)
    with h5py.File(path, "r") as f:
        for L in layers:
            if L.type in ("input", "flatten"):
                if L.type == "input" and L.neuron:
                    notes.append(f"layer {L.index}: input layer with a neuron: lavacut's runtime refuses it "
                                 f"(no synapse); SLAYER rebuild not supported")
                continue
            if not L.supported:
                notes.append(f"layer {L.index} ({L.type}): {L.note}")
                continue
            kind = L.neuron.get("type", "?")
            if L.type in ("dense", "conv") and kind in ("CUBA", "LOIHI") and L.delays == "none":
                pass  # known exact
            else:
                notes.append(f"layer {L.index} ({L.type}, neuron {kind}, delays {L.delays}): not among the "
                             f"layer types known to be bit exact (cuba dense / strided cuba conv)")
            g = f["layer"][L.index]
            for key in ("weight", "weight_rec"):
                if key in g and hasattr(g[key], "shape"):
                    w = np.asarray(g[key][()], dtype=np.float64)
                    if not np.all(np.isfinite(w)):
                        notes.append(f"layer {L.index} {key}: NaN/inf weights")
                        continue
                    wi = np.trunc(w)
                    bad = (w != wi) | (wi % 2 != 0) | (wi < -256) | (wi > 254)
                    if bad.any():
                        notes.append(f"layer {L.index} {key}: {int(bad.sum())} weights are not even integers in "
                                     f"[-256, 254] (e.g. {w[bad].reshape(-1)[0]:g}); netx casts to int, the "
                                     f"SLAYER rebuild rounds to even integers: they compute differently")
            bits = L.neuron.get("messageBits", 0)
            if isinstance(bits, (int, float, np.integer)) and bits > 0:
                notes.append(f"layer {L.index}: neuron messageBits = {bits} (graded spikes): not supported")
    if frames is not None and len(frames):
        import torch

        from lavacut.train.networks import FIXED_POINT_LIMITS, fixed_point_ranges

        if net is None:
            from lavacut.export.exporter import net_from_export

            net, _ = net_from_export(path)
        try:
            ranges = fixed_point_ranges(net, torch.from_numpy(np.asarray(frames, dtype=np.float32)))
        except Exception as e:  # noqa: BLE001 - a reference net of another kind
            notes.append(f"fixed-point headroom not measured ({type(e).__name__}: {e})")
        else:
            over = []
            for i, r in enumerate(ranges):
                for k, lim in FIXED_POINT_LIMITS.items():
                    if r[k] > lim:
                        over.append(f"layer {i + 1} {k} reaches {r[k]} > {lim}")
            if over:
                notes.append("fixed-point overflow on these samples (Lava u wraps at 24 bits, v saturates, "
                             "a_in is int16; SLAYER does not): " + "; ".join(over))
            else:
                peak = max((r["current"] for r in ranges), default=0)
                notes.append(f"no fixed-point overflow on these samples (peak |u| {peak} <= "
                             f"{FIXED_POINT_LIMITS['current']}); if the file's layers are all known exact, "
                             f"suspect the reference net or the input, not Lava")
    return notes
