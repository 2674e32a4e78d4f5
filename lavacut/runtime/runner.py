"""Host-side runner: compile a split once, run it sample after sample in Lava
and collect the cutoff decisions.

- :func:`run_split` -- all samples through one compiled graph (SampleSource
  -> NetX network -> CutoffMonitor), in ``"halt"`` mode (the monitor pauses
  the runtime at every decision, the host reads one packed 4-element Var and
  resumes) or ``"stream"`` mode (decisions logged on the graph, read once at
  the end; with ``progress`` the monitor also pauses every ~5 % of the split
  so a progress bar shows the samples decided -- not one round trip per
  sample). ``rule=FixedT()`` runs every sample its full T steps: the baseline.
  ``models="fast"`` (default) runs the network as one fused Lava process
  (:mod:`lavacut.runtime.procs.fused`) reset by the switch message;
  ``workers=N`` shards the split (:mod:`lavacut.runtime.workers`).
- :func:`run_single` -- one sample alone in a fresh graph (stock io
  RingBuffers, none of lavacut's processes): the reference for the
  isolation tests.

Timing (``RunResult``): ``compile_s`` Lava's compile, ``init_s`` forking the
runtime, ``wall_s`` all samples including halt mode's host round trips but
not the final read of the decision log (``readout_s``).
"""

from __future__ import annotations

import sys
import time
from typing import Callable

import numpy as np

from lavacut.runtime.frames import lava_frame_layout, to_slayer_order
from lavacut.runtime.graph import build_split_graph, connect_around, network_latency, state_vars
from lavacut.runtime.network import open_network
from lavacut.runtime.lanes import check_lanes, lane_schedule
from lavacut.runtime.result import RunResult, progress_bar
from lavacut.runtime.session import BACKENDS, LavaSession, make_run_cfg
from lavacut.runtime.workers import run_sharded
from lavacut.util import LavacutError

MODES = ("halt", "stream")


# --------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------


def _get_int(var) -> int:
    return int(np.asarray(var.get()).reshape(-1)[0])


def run_split(
    net_path,
    frames,
    labels,
    rule,
    mode: str = "halt",
    backend: str = "cpu",
    T: int | None = None,
    progress: bool = True,
    on_sample: Callable[[int, int, int], None] | None = None,
    frame_aligned: bool = False,
    models: str = "fast",
    workers: int = 1,
    lanes: int = 1,
    executor=None,
    address: str | None = None,
) -> RunResult:
    """Run every sample of a split through one compiled Lava graph.

    Parameters
    ----------
    net_path : NetX .net / .h5 file of CUBA layers (layouts, refusals:
        :mod:`lavacut.runtime.layout`; ``RunResult.output_layout``): a path,
        an opened ``Export`` (its layers are not read again) or an
        :class:`~lavacut.runtime.network.OpenedNetwork` (netx's Network too:
        one read of the file for several runs).
    frames : (N, C, H, W, T) or (N, C*H*W, T) binary frames (bool or 0/1),
        features in C, H, W order; transposed to netx's (W, H, C) for conv
        inputs (see :mod:`lavacut.runtime.graph`).
    labels : (N,) integer labels or None (only stored, for ``accuracy``).
    rule : a :class:`lavacut.cutoff.rules.StopRule`; ``FixedT()`` gives the
        full-T baseline run.
    mode : "halt" (pause at each decision; per-sample wall times) or
        "stream" (one pause at the end).
    backend : "cpu" or "loihi2" (untested on hardware; see module doc).
    T : horizon (default: frames.shape[-1]).
    progress : print a progress bar (halt) or a summary line (stream) to stderr.
    on_sample : halt mode only: called as on_sample(index, t_c, pred) after
        each decision (exceptions propagate; the runtime is still stopped).
    frame_aligned : count output steps from the response to frame 1 (see
        :func:`lavacut.runtime.graph.build_split_graph`); default False:
        SLAYER's timesteps, t_c Lava steps per sample.
    models : "fast" (the default: the network as one fused Lava process,
        reset by the monitor's switch message; netx's graph with the fast
        models where a layer is of a kind it does not run), "fast-procs"
        (netx's graph with lavacut's fast per-process models) or "stock"
        (Lava's fixed_pt models); all spike-exact. See
        :func:`lavacut.runtime.session.make_run_cfg`.
    workers : shard the split over this many worker processes, each with its
        own compiled graph (:mod:`lavacut.runtime.workers`); results merged in
        sample order, decisions identical to one graph.
    lanes : samples side by side, each with its own cutoff, a lane refilled
        the step after it decides: in the fused network (``models="fast"``)
        an axis of its state, with netx's graph (``"stock"``,
        ``"fast-procs"``) copies of the whole graph in one runtime;
        decisions identical to ``lanes=1``, results in sample order. Halt
        mode pauses once per decision (``wall_s_per_sample`` then holds the
        time between pauses, not a sample's run time). With workers, each
        worker runs ``lanes`` lanes.
    executor : where the shards run (:mod:`lavacut.runtime.executors`): a
        name ("local", the default: forked here; "ray": Ray tasks, even for
        one shard) or an open executor; ``address``: Ray's cluster.
    """
    if mode not in MODES:
        raise LavacutError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if backend not in BACKENDS:
        raise LavacutError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    run_cfg = make_run_cfg(backend, models)  # raises early when loihi2 is missing
    frames = np.asarray(frames)
    labels = None if labels is None else np.asarray(labels).reshape(-1)
    if labels is not None and len(labels) != frames.shape[0]:
        raise LavacutError(f"{frames.shape[0]} samples but {len(labels)} labels")
    if frames.shape[0] == 0:
        raise LavacutError("no samples to run")
    if int(workers) < 1:
        raise LavacutError(f"workers must be >= 1, got {workers}")
    lanes = check_lanes(lanes, fused=(models == "fast"), loihi2=(backend == "loihi2"))
    remote = getattr(executor, "name", executor) not in (None, "local")
    if (int(workers) > 1 and frames.shape[0] > 1) or remote:
        if on_sample is not None:
            raise LavacutError("on_sample (a per-decision callback) needs workers=1 and the local executor")
        # a remote executor ships the file itself to its tasks; forked workers inherit the opened network
        src = getattr(net_path, "path", net_path) if remote else net_path
        return run_sharded(
            run_split,
            src,
            frames,
            labels,
            rule,
            workers=int(workers),
            progress=progress,
            executor=executor,
            address=address,
            mode=mode,
            backend=backend,
            T=T,
            frame_aligned=frame_aligned,
            models=models,
            lanes=lanes,
        )
    N = frames.shape[0]
    # stream mode: a pause every ~5 % of the split for the progress bar (not per sample)
    every = max(1, -(-N // 20)) if (progress and mode == "stream") else 0
    g = build_split_graph(
        net_path,
        frames,
        rule,
        halt=(mode == "halt"),
        horizon=T,
        loihi2=(backend == "loihi2"),
        frame_aligned=frame_aligned,
        fused=(models == "fast"),
        progress_every=every,
        lanes=lanes,
    )
    mon, N = g.monitor, g.num_samples
    per_sample: list[float] | None = [] if mode == "halt" else None

    with LavaSession(mon, run_cfg) as session:
        t_start = time.perf_counter()
        if mode == "halt":
            bar = progress_bar(N, progress)
            try:
                for j in range(N):
                    t0 = time.perf_counter()
                    session.run_until_pause()
                    n_done, tc, pred, _, index = (int(v) for v in np.asarray(mon.last_packed.get()).reshape(-1))
                    per_sample.append(time.perf_counter() - t0)  # one packed read per decision
                    if n_done != j + 1:
                        raise LavacutError(
                            f"monitor paused after {n_done} decisions, expected {j + 1} (unexpected pause)"
                        )
                    if on_sample is not None:
                        on_sample(index, tc, pred)
                    if bar is not None:
                        bar.update(1)
            finally:
                if bar is not None:
                    bar.close()
        elif every:
            bar = progress_bar(N, progress)
            try:
                done = 0
                while done < N:
                    session.run_until_pause()
                    n_done = _get_int(mon.n_done)
                    if n_done <= done:
                        raise LavacutError(f"monitor paused after {n_done} decisions without progress")
                    if bar is not None:
                        bar.update(n_done - done)
                    done = n_done
            finally:
                if bar is not None:
                    bar.close()
        else:
            session.run_until_pause()
        wall = time.perf_counter() - t_start
        n_done = _get_int(mon.n_done)
        if n_done != N:
            raise LavacutError(f"monitor stopped after {n_done} of {N} samples")
        t0 = time.perf_counter()
        t_c = np.asarray(mon.log_tc.get()).astype(np.int64).reshape(N)
        pred = np.asarray(mon.log_pred.get()).astype(np.int64).reshape(N)
        counts = np.asarray(mon.log_counts.get()).astype(np.int64).reshape(N, g.num_classes)
        lava_steps = _get_int(mon.last_step)
        readout = time.perf_counter() - t0
    expected = int(lane_schedule(t_c, g.offset, g.lanes).max())  # one lane: sum(t_c + offset)
    if lava_steps != expected:  # S_{j+1} = S_j + offset + t_c, S_0 = 1 (per lane)
        raise LavacutError(
            f"step bookkeeping broken: the last decision came at Lava step "
            f"{lava_steps}, expected {expected} (sum(t_c + offset) over each lane's samples)"
        )
    if progress and mode == "stream":
        print(
            f"lavacut: {N} samples, {lava_steps} Lava steps in {wall:.2f} s (stream"
            + (f", {g.lanes} lanes)" if g.lanes > 1 else ")"),
            file=sys.stderr,
        )
    return RunResult(
        t_c=t_c,
        pred=pred,
        counts=counts,
        labels=labels,
        wall_s=wall,
        models=models,
        wall_s_per_sample=per_sample,
        lava_steps=lava_steps,
        latency=g.latency,
        offset=g.offset,
        horizon=g.horizon,
        backend=backend,
        mode=mode,
        compile_s=session.compile_s,
        init_s=session.init_s,
        readout_s=readout,
        rule=rule.params(),
        output_layout=g.output_note,
        lanes=g.lanes,
    )


def run_single(
    net_path,
    frames_one_sample,
    T: int | None = None,
    backend: str = "cpu",
    frame_aligned: bool = False,
    models: str = "stock",
) -> np.ndarray:
    """One sample alone in a fresh graph for its full T steps.

    ``frames_one_sample``: (C, H, W, T) or (C*H*W, T) binary. Returns the
    output spikes (n, T) int64 (stock io RingBuffers; order and average
    readouts: module doc): by default column t - 1 is Lava step t, identical
    to SLAYER's forward (zero shift). With ``frame_aligned`` it runs T + D
    steps (zero frames after frame T) and drops the first D (latency
    removed), matching SLAYER with delay_shift=False. ``models`` defaults to
    Lava's stock ProcessModels: this is the reference."""
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    run_cfg = make_run_cfg(backend, models)
    x = np.asarray(frames_one_sample)[None]
    net, layout, inp = open_network(net_path, backend == "loihi2")
    if layout.readout == "voltage":
        raise LavacutError(
            f"{net_path}: run_single records output spikes; a voltage readout never spikes "
            f"(use lavacut.runtime.record.lava_output)"
        )
    in_shape = tuple(int(s) for s in inp.shape)
    out_shape = tuple(int(s) for s in net.out.shape)
    D = network_latency(net) if frame_aligned else 0
    state_vars(net)  # same supported-layer checks as run_split
    lay = lava_frame_layout(x, in_shape)[0]  # (T, F)
    if T is None:
        T = lay.shape[0]
    if not 1 <= T <= lay.shape[0]:
        raise LavacutError(f"T={T} outside 1..{lay.shape[0]} frames")
    if lay.size and (lay.min() < 0 or lay.max() > 1):
        raise LavacutError("frames must be binary spikes (0/1)")
    w, b = layout.input_transform or (1, 0)  # input neurons: frame * weight + bias, as SampleSource
    data = np.full(in_shape + (T + D,), b, dtype=np.int32)
    data[..., :T] = np.moveaxis(lay[:T].astype(np.int32).reshape((T,) + in_shape), 0, -1) * w + b
    src = Source(data=data)
    sink = Sink(shape=out_shape, buffer=T + D)
    connect_around(net, src.s_out, sink.a_in, backend == "loihi2", inp=inp)
    with LavaSession(sink, run_cfg) as session:
        session.run_steps(T + D)
        out = to_slayer_order(np.asarray(sink.data.get()), out_shape)
    return out[:, D : D + T].astype(np.int64)
