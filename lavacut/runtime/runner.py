"""Host-side runner: compile a split once, run it sample after sample in Lava,
collect the cutoff decisions, and always release the runtime.

Public API
----------
- :func:`run_split` -- all samples of a split through one compiled graph
  (SampleSource -> NetX network -> CutoffMonitor), in ``"halt"`` mode (the
  monitor pauses the runtime at every decision, the host reads three scalars
  and resumes) or ``"stream"`` mode (no pause until the last sample; the
  decisions are logged on the graph and read once at the end). With
  ``rule=FixedT()`` every sample runs its full T steps: the baseline, measured
  the same way.
- :func:`run_single` -- one sample alone in a fresh graph for its full T
  steps (stock io.source/io.sink RingBuffers, none of lavacut's processes),
  output spikes (n, T) (SLAYER's flat order; an average readout's n neurons,
  not its K groups) with the network latency removed: column t - 1 is the
  output of output timestep t, i.e. what SLAYER's forward returns for the
  same input when its blocks run with ``delay_shift=False``. (SLAYER's default
  ``delay_shift=True`` delays each block by one step: its output at step t is
  this array's column t - 1 - D.) The reference for the isolation tests and
  for a verify command.
- :class:`LavaSession` -- context manager owning one Lava runtime: compile,
  start (children ignore SIGINT), run-until-pause, and a shutdown that works
  after success, exceptions (including a crashed ProcessModel, after which
  Lava's own ``stop()`` would block forever) and Ctrl-C.

Timing conventions (``RunResult``): ``compile_s`` is Lava's compile, ``init_s``
building the runtime (forking one OS process per Lava process), ``wall_s``
the running time of all samples including the per-sample host round trips
in halt mode but excluding compile, init and the final read of the decision
log (``readout_s``; Var.get moves one element per message).

Backends: ``"cpu"`` is Loihi2SimCfg(select_tag="fixed_pt") (netx has models
for fixed_pt only). ``"loihi2"`` builds the same graph with the source and
monitor on the host side of embedded-io spike adapters
(lava.proc.embedded_io.spike.PyToNxAdapter / NxToPyAdapter, the pattern of
lava-dl's netx tutorials) and Loihi2HwCfg. THE LOIHI 2 PATH IS UNTESTED ON
HARDWARE: it needs lava-loihi (Intel INRC, not public) and a Loihi 2 system;
whether RefPort writes from a host Python process into NeuroCore state (the
on-graph reset) and model-requested pauses (_req_pause) are honoured by the
hardware runtime is unknown (closed code). Without lava-loihi it raises
LavacutError naming what is missing.
"""
from __future__ import annotations

import contextlib
import importlib.util
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from lavacut.runtime.graph import (_lava_frame_layout, build_split_graph, connect_around, network_latency,
                                   open_network, state_vars, to_slayer_order)
from lavacut.util import LavacutError

MODES = ("halt", "stream")
BACKENDS = ("cpu", "loihi2")


# --------------------------------------------------------------------------
# Runtime lifetime
# --------------------------------------------------------------------------

def _actor_finished(actor) -> bool:
    if getattr(actor, "_is_done", False):
        return True
    try:
        return not actor.is_alive()
    except ValueError:  # closed
        return True


def shutdown_runtime(runtime, timeout: float = 20.0) -> list[str]:
    """Stop a Lava runtime whatever its state; returns problems met (empty
    when the ordinary ``stop()`` worked).

    Lava's ``Runtime.stop()`` talks to the runtime service and waits for its
    answer: after a ProcessModel raised, the service has exited and stop()
    would block forever (seen). So: when every actor is alive, run stop()
    in a helper thread with a timeout; then, in every case, join what is left,
    terminate (then kill) actors that did not exit, shut the shared-memory
    manager down, and mark the runtime stopped (its __del__ would call stop()
    again)."""
    problems: list[str] = []
    if runtime is None:
        return problems
    mi = getattr(runtime, "_messaging_infrastructure", None)
    actors = list(getattr(mi, "actors", None) or [])
    started = bool(getattr(runtime, "_is_started", False))
    if started and actors and not any(_actor_finished(a) for a in actors):
        err: list[BaseException] = []

        def _stop():
            try:
                runtime.stop()
            except BaseException as e:  # noqa: BLE001 - reported below
                err.append(e)

        th = threading.Thread(target=_stop, name="lavacut-stop", daemon=True)
        th.start()
        th.join(timeout)
        if th.is_alive():
            problems.append(f"Runtime.stop() did not return within {timeout:.0f} s")
        elif err:
            problems.append(f"Runtime.stop() raised {type(err[0]).__name__}: {err[0]}")
    elif started:
        problems.append("a Lava process had already exited; skipped Runtime.stop()")
    # Whatever happened above, leave no process and no shared memory behind.
    import multiprocessing as mp

    for a in actors:
        if not _actor_finished(a):
            with contextlib.suppress(Exception):
                mp.Process.join(a, 2.0)          # SystemProcess.join takes no timeout
        if not _actor_finished(a):
            problems.append(f"terminated Lava process {a.name} (pid {a.pid})")
            with contextlib.suppress(Exception):
                a.terminate()
                mp.Process.join(a, 2.0)
        if not _actor_finished(a):
            with contextlib.suppress(Exception):
                a.kill()
                mp.Process.join(a, 2.0)
        with contextlib.suppress(Exception):
            a.join()                             # closes it, collects its exception
    smm = getattr(mi, "smm", None) if mi is not None else None
    if smm is not None:
        with contextlib.suppress(Exception):
            smm.shutdown()
    wd = getattr(runtime, "_watchdog_manager", None)
    if wd is not None:
        with contextlib.suppress(Exception):
            wd.stop()
    runtime._is_started = False
    runtime._is_running = False
    return problems


class LavaSession:
    """Own one Lava runtime for the graph containing ``proc``.

    >>> with LavaSession(proc, run_cfg) as s:   # compiles and starts
    ...     s.run_until_pause()
    ...     value = proc.some_var.get()

    - children are forked with a SIGINT handler that does nothing but note
      it, so a Ctrl-C in a terminal (sent to the whole process group) does
      not kill them (dead children make Lava's stop() block forever); the
      host then stops them in order;
    - while the session is open, SIGINT raises KeyboardInterrupt in the host
      (also when the previous handler was something else); on exit the
      runtime is shut down with SIGINT ignored, the previous handler is
      restored, and the exception propagates.
    """

    def __init__(self, proc, run_cfg, stop_timeout: float = 20.0):
        self.proc = proc
        self.run_cfg = run_cfg
        self.stop_timeout = stop_timeout
        self.compile_s = 0.0
        self.init_s = 0.0
        self.problems: list[str] = []
        self._old_handler = None

    @property
    def runtime(self):
        return self.proc.runtime

    def __enter__(self) -> "LavaSession":
        main = threading.current_thread() is threading.main_thread()
        if main:
            self._old_handler = signal.getsignal(signal.SIGINT)
        try:
            t0 = time.perf_counter()
            exe = self.proc.compile(self.run_cfg)
            self.compile_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            deferred: list[int] = []
            if main:
                # The forked Lava processes inherit this handler: a Ctrl-C sent
                # to the whole process group only appends to a list there, so
                # they stay alive for the host's orderly stop. In the host it
                # defers a Ctrl-C during the fork to just after it.
                signal.signal(signal.SIGINT, lambda signum, frame: deferred.append(signum))
            try:
                self.proc.create_runtime(executable=exe)
            finally:
                if main:
                    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)
            self.init_s = time.perf_counter() - t0
            if deferred:
                raise KeyboardInterrupt
        except BaseException:
            self._close()
            raise
        return self

    def run_until_pause(self) -> None:
        """Run (RunContinuous) until a ProcessModel requests a pause.

        A pause requested on the last step of a RunSteps breaks Lava 0.10's
        runtime ("Got Wrong Response for Pause"); RunContinuous has no last
        step, so the monitor's pause is the only way this returns."""
        from lava.magma.core.run_conditions import RunContinuous

        with self._lava_errors():
            self.proc.run(RunContinuous())
            self.proc.wait()

    def run_steps(self, n: int) -> None:
        """Blocking RunSteps(n); only for graphs in which nothing pauses."""
        from lava.magma.core.run_conditions import RunSteps

        with self._lava_errors():
            self.proc.run(RunSteps(num_steps=int(n), blocking=True))

    @contextlib.contextmanager
    def _lava_errors(self):
        """Lava reports a crashed ProcessModel as RuntimeError("1 Exception(s)
        occurred. See output above") and logs the traceback at INFO level
        only; re-raise it with the tracebacks of the failed processes."""
        try:
            yield
        except RuntimeError as e:
            mi = getattr(self.proc.runtime, "_messaging_infrastructure", None)
            tbs = []
            for a in list(getattr(mi, "actors", None) or []):
                with contextlib.suppress(Exception):
                    exc = a.exception
                    if exc:
                        tbs.append(str(exc[1] if isinstance(exc, tuple) else exc))
            if tbs:
                raise LavacutError("a Lava process failed:\n" + "\n".join(tbs)) from e
            raise

    def _close(self) -> None:
        main = threading.current_thread() is threading.main_thread()
        if main:
            signal.signal(signal.SIGINT, signal.SIG_IGN)   # no second Ctrl-C mid-cleanup
        try:
            self.problems += shutdown_runtime(self.proc.runtime, self.stop_timeout)
        finally:
            if main:
                signal.signal(signal.SIGINT, self._old_handler
                              if self._old_handler is not None else signal.default_int_handler)

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._close()
        if self.problems and exc_type is None:
            print("lavacut: runtime shutdown: " + "; ".join(self.problems), file=sys.stderr)
        return False


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


# --------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------

def require_loihi2() -> None:
    """Raise LavacutError unless the Loihi 2 stack is importable."""
    from lava.utils import loihi

    missing = []
    if not loihi.is_installed():
        missing.append("lava-loihi (lava.utils.loihi.is_installed() is False: module "
                       "lava.utils.loihi2_profiler not found)")
    if importlib.util.find_spec("lava.proc.embedded_io") is None:
        missing.append("lava.proc.embedded_io (the PyToNxAdapter/NxToPyAdapter spike "
                       "adapters shipped with lava-loihi)")
    if missing:
        raise LavacutError(
            "backend 'loihi2' is not available: missing " + "; ".join(missing) + ". "
            "lava-loihi is Intel's closed extension (INRC members) and also needs the "
            "Loihi 2 compiler and a Loihi 2 system reachable through SLURM or an "
            "ethernet host (lava.utils.loihi.use_slurm_host / use_ethernet_host). "
            "Use backend='cpu' (Loihi2SimCfg, fixed_pt) here.")


def make_run_cfg(backend: str):
    if backend == "cpu":
        from lava.magma.core.run_configs import Loihi2SimCfg

        return Loihi2SimCfg(select_tag="fixed_pt")
    if backend == "loihi2":
        require_loihi2()
        from lava.magma.core.run_configs import Loihi2HwCfg

        return Loihi2HwCfg()
    raise LavacutError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------

@dataclass
class RunResult:
    """Decisions and timings of one split run in Lava."""

    t_c: np.ndarray                 # (N,) 1-based output step of the decision
    pred: np.ndarray                # (N,) argmax Y(t_c), -1 if no spike yet
    counts: np.ndarray              # (N, K) Y(t_c)
    labels: np.ndarray | None       # (N,), None for unlabelled input
    wall_s: float                   # running time of all samples
    wall_s_per_sample: list | None  # halt mode: per-sample run + host read
    lava_steps: int                 # Lava steps to the last decision = sum(t_c + offset)
    latency: int                    # D, synapse layers between input and output
    offset: int                     # steps per sample before output step 1 (D if frame-aligned, else 0)
    horizon: int                    # T
    backend: str
    mode: str
    compile_s: float
    init_s: float = 0.0
    readout_s: float = 0.0
    rule: dict = field(default_factory=dict)
    output_layout: str = ""         # how outputs became the K classes counted ("" = plain 1-D output layer)

    @property
    def num_samples(self) -> int:
        return int(len(self.t_c))

    @property
    def accuracy(self) -> float | None:
        if self.labels is None or not len(self.labels):
            return None
        return float(np.mean(self.pred == self.labels))

    @property
    def mean_tc(self) -> float:
        return float(np.mean(self.t_c)) if len(self.t_c) else float("nan")

    @property
    def step_s(self) -> float:
        """Wall-clock per Lava step (including the per-sample switch cost)."""
        return self.wall_s / max(self.lava_steps, 1)

    def summary(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items()
             if k not in ("t_c", "pred", "counts", "labels", "wall_s_per_sample")}
        d.update(num_samples=self.num_samples, accuracy=self.accuracy,
                 mean_tc=self.mean_tc, step_s=self.step_s)
        return d


# --------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------

def _get_int(var) -> int:
    return int(np.asarray(var.get()).reshape(-1)[0])


def run_split(net_path, frames, labels, rule, mode: str = "halt", backend: str = "cpu",
              T: int | None = None, progress: bool = True,
              on_sample: Callable[[int, int, int], None] | None = None,
              frame_aligned: bool = False) -> RunResult:
    """Run every sample of a split through one compiled Lava graph.

    Parameters
    ----------
    net_path : NetX .net / .h5 file of CUBA layers (layouts, refusals:
        :mod:`lavacut.runtime.graph`; ``RunResult.output_layout``).
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
    """
    if mode not in MODES:
        raise LavacutError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if backend not in BACKENDS:
        raise LavacutError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    run_cfg = make_run_cfg(backend)     # raises early when loihi2 is missing
    frames = np.asarray(frames)
    labels = None if labels is None else np.asarray(labels).reshape(-1)
    if labels is not None and len(labels) != frames.shape[0]:
        raise LavacutError(f"{frames.shape[0]} samples but {len(labels)} labels")
    if frames.shape[0] == 0:
        raise LavacutError("no samples to run")
    g = build_split_graph(net_path, frames, rule, halt=(mode == "halt"), horizon=T,
                          loihi2=(backend == "loihi2"), frame_aligned=frame_aligned)
    mon, N = g.monitor, g.num_samples
    per_sample: list[float] | None = [] if mode == "halt" else None

    with LavaSession(mon, run_cfg) as session:
        t_start = time.perf_counter()
        if mode == "halt":
            bar = _progress(N, progress)
            try:
                for j in range(N):
                    t0 = time.perf_counter()
                    session.run_until_pause()
                    n_done = _get_int(mon.n_done)
                    tc, pred = _get_int(mon.last_tc), _get_int(mon.last_pred)
                    per_sample.append(time.perf_counter() - t0)
                    if n_done != j + 1:
                        raise LavacutError(f"monitor paused after {n_done} decisions, "
                                           f"expected {j + 1} (unexpected pause)")
                    if on_sample is not None:
                        on_sample(j, tc, pred)
                    if bar is not None:
                        bar.update(1)
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
    if lava_steps != int(np.sum(t_c + g.offset)):  # S_{j+1} = S_j + offset + t_c, S_0 = 1
        raise LavacutError(f"step bookkeeping broken: the last decision came at Lava step "
                           f"{lava_steps}, expected sum(t_c + offset) = {int(np.sum(t_c + g.offset))}")
    if progress and mode == "stream":
        print(f"lavacut: {N} samples, {int(np.sum(t_c + g.offset))} Lava steps in "
              f"{wall:.2f} s (stream)", file=sys.stderr)
    return RunResult(t_c=t_c, pred=pred, counts=counts, labels=labels, wall_s=wall,
                     wall_s_per_sample=per_sample,
                     lava_steps=lava_steps, latency=g.latency, offset=g.offset,
                     horizon=g.horizon, backend=backend, mode=mode,
                     compile_s=session.compile_s, init_s=session.init_s,
                     readout_s=readout, rule=rule.params(), output_layout=g.output_note)


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, unit="sample", desc="lava", file=sys.stderr, leave=False)


def run_single(net_path, frames_one_sample, T: int | None = None, backend: str = "cpu",
               frame_aligned: bool = False) -> np.ndarray:
    """One sample alone in a fresh graph for its full T steps.

    ``frames_one_sample``: (C, H, W, T) or (C*H*W, T) binary. Returns the
    output spikes (n, T) int64 (stock io RingBuffers; order and average
    readouts: module doc): by default column t - 1 is Lava step t, identical
    to SLAYER's forward (zero shift). With ``frame_aligned`` it runs T + D
    steps (zero frames after frame T) and drops the first D (latency
    removed), matching SLAYER with delay_shift=False."""
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    run_cfg = make_run_cfg(backend)
    x = np.asarray(frames_one_sample)[None]
    net, layout, inp = open_network(net_path, backend == "loihi2")
    in_shape = tuple(int(s) for s in inp.shape)
    out_shape = tuple(int(s) for s in net.out.shape)
    D = network_latency(net) if frame_aligned else 0
    state_vars(net)  # same supported-layer checks as run_split
    lay = _lava_frame_layout(x, in_shape)[0]                     # (T, F)
    if T is None:
        T = lay.shape[0]
    if not 1 <= T <= lay.shape[0]:
        raise LavacutError(f"T={T} outside 1..{lay.shape[0]} frames")
    if lay.size and (lay.min() < 0 or lay.max() > 1):
        raise LavacutError("frames must be binary spikes (0/1)")
    w, b = layout.input_transform or (1, 0)     # input neurons: frame * weight + bias, as SampleSource
    data = np.full(in_shape + (T + D,), b, dtype=np.int32)
    data[..., :T] = np.moveaxis(lay[:T].astype(np.int32).reshape((T,) + in_shape), 0, -1) * w + b
    src = Source(data=data)
    sink = Sink(shape=out_shape, buffer=T + D)
    connect_around(net, src.s_out, sink.a_in, backend == "loihi2", inp=inp)
    with LavaSession(sink, run_cfg) as session:
        session.run_steps(T + D)
        out = to_slayer_order(np.asarray(sink.data.get()), out_shape)
    return out[:, D:D + T].astype(np.int64)
