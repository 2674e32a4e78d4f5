"""One Lava runtime's life: compile, start (children ignore SIGINT),
run until the graph pauses, and a shutdown that works after success,
exceptions (including a crashed ProcessModel, after which Lava's own
``stop()`` blocks forever) and Ctrl-C. Also the run configuration per
backend: ``"cpu"`` is Loihi2SimCfg(select_tag="fixed_pt") (netx has models
for fixed_pt only); ``"loihi2"`` is Loihi2HwCfg and needs Intel's closed
lava-loihi (UNTESTED on hardware: whether RefPort writes into NeuroCore
state and model-requested pauses are honoured there is unknown).
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import sys
import threading
import time

from threadpoolctl import threadpool_limits

from lavacut.util import LavacutError, Terminated

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
                mp.Process.join(a, 2.0)  # SystemProcess.join takes no timeout
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
            a.join()  # closes it, collects its exception
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

    - children are forked with SIGINT and SIGTERM handlers that do nothing
      but note them, so a Ctrl-C in a terminal or a SIGTERM to the whole
      process group does not kill them (dead children make Lava's stop()
      block forever); the host then stops them in order;
    - while the session is open, SIGINT raises KeyboardInterrupt and SIGTERM
      :class:`lavacut.util.Terminated` (a KeyboardInterrupt) in the host
      (also when the previous handler was something else); on exit the
      runtime is shut down with both ignored, the previous handlers are
      restored, and the exception propagates.
    """

    def __init__(self, proc, run_cfg, stop_timeout: float = 20.0):
        self.proc = proc
        self.run_cfg = run_cfg
        self.stop_timeout = stop_timeout
        self.compile_s = 0.0
        self.init_s = 0.0
        self.problems: list[str] = []
        self._old_handlers: dict = {}
        self._blas = None  # threadpoolctl's limits while the session is open

    @property
    def runtime(self):
        return self.proc.runtime

    def __enter__(self) -> "LavaSession":
        main = threading.current_thread() is threading.main_thread()
        if main:
            self._old_handlers = {sig: signal.getsignal(sig) for sig in stop_signals()}
        try:
            # one BLAS thread per library in the host and in the Lava processes it
            # forks (inherited), until the session closes: the processes already
            # share the cores, and OpenBLAS's idle threads spin-wait (a fused dense
            # step on a loaded 2-core machine: 17 ms with two threads, 0.5 ms with one)
            self._blas = threadpool_limits(1, user_api="blas")
            t0 = time.perf_counter()
            _memoize_model_search()
            exe = self.proc.compile(self.run_cfg)
            self.compile_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            deferred: list[int] = []
            if main:
                # The forked Lava processes inherit this handler: a Ctrl-C sent
                # to the whole process group only appends to a list there, so
                # they stay alive for the host's orderly stop. In the host it
                # defers a Ctrl-C during the fork to just after it.
                for sig in self._old_handlers:
                    signal.signal(sig, lambda signum, frame: deferred.append(signum))
            try:
                self.proc.create_runtime(executable=exe)
            finally:
                if main:
                    for sig in self._old_handlers:
                        signal.signal(sig, _raise_keyboard_interrupt)
            self.init_s = time.perf_counter() - t0
            if deferred:
                _raise_keyboard_interrupt(deferred[0], None)
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
            for sig in self._old_handlers:
                signal.signal(sig, signal.SIG_IGN)  # no second Ctrl-C / SIGTERM mid-cleanup
        try:
            self.problems += shutdown_runtime(self.proc.runtime, self.stop_timeout)
        finally:
            if self._blas is not None:
                self._blas.restore_original_limits()
                self._blas = None
            if main:
                for sig in self._old_handlers:
                    old = self._old_handlers.get(sig)
                    signal.signal(
                        sig,
                        old
                        if old is not None
                        else (signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL),
                    )

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._close()
        if self.problems and exc_type is None:
            print("lavacut: runtime shutdown: " + "; ".join(self.problems), file=sys.stderr)
        return False


def _memoize_model_search() -> None:
    """Lava's compiler finds a Process's ProcessModels by executing afresh
    every module in the Process's folder and in its package's sibling
    folders, for every Process of every compile (lava 0.10: ~37 ms a
    Process, most of a graph's compile time, measured). The answer for a
    Process class stays while its files do: searched once per class and
    process here. Classes of ``__main__`` (a script or notebook may define
    models later) are searched each time, as Lava does."""
    from lava.magma.compiler.compiler_graphs import ProcGroupDiGraphs

    search = ProcGroupDiGraphs._find_proc_models
    if hasattr(search, "lava_search"):
        return
    found: dict[type, list] = {}

    def memoized(proc):
        cls = type(proc)
        if cls.__module__ == "__main__":
            return search(proc)
        if cls not in found:
            found[cls] = search(proc)
        return list(found[cls])

    memoized.lava_search = search  # Lava's own, uncached
    ProcGroupDiGraphs._find_proc_models = staticmethod(memoized)


def stop_signals() -> tuple[int, ...]:
    """The signals that stop a session in order: Ctrl-C, SIGTERM from a job
    manager, and SIGHUP when the terminal closes, unless the process was
    started to outlive it (``nohup``: SIGHUP ignored, and left so)."""
    hup = () if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN else (signal.SIGHUP,)
    return (signal.SIGINT, signal.SIGTERM, *hup)


@contextlib.contextmanager
def stop_signals_raise():
    """While the block runs, Ctrl-C and SIGTERM raise in the host, as inside a
    :class:`LavaSession`, also when the process inherited them ignored (a
    background job of a non-interactive shell); the handlers are restored
    after. For hosts that wait on Lava processes they do not own a session of
    (the sharded workers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.getsignal(sig) for sig in stop_signals()}
    for sig in old:
        signal.signal(sig, _raise_keyboard_interrupt)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def _raise_keyboard_interrupt(signum, frame):
    raise Terminated(signum) if signum != signal.SIGINT else KeyboardInterrupt


# --------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------


def require_loihi2() -> None:
    """Raise LavacutError unless the Loihi 2 stack is importable."""
    from lava.utils import loihi

    missing = []
    if not loihi.is_installed():
        missing.append(
            "lava-loihi (lava.utils.loihi.is_installed() is False: module lava.utils.loihi2_profiler not found)"
        )
    if importlib.util.find_spec("lava.proc.embedded_io") is None:
        missing.append("lava.proc.embedded_io (the PyToNxAdapter/NxToPyAdapter spike adapters shipped with lava-loihi)")
    if missing:
        raise LavacutError(
            "backend 'loihi2' is not available: missing " + "; ".join(missing) + ". "
            "lava-loihi is Intel's closed extension (INRC members) and also needs the "
            "Loihi 2 compiler and a Loihi 2 system reachable through SLURM or an "
            "ethernet host (lava.utils.loihi.use_slurm_host / use_ethernet_host). "
            "Use backend='cpu' (Loihi2SimCfg, fixed_pt) here."
        )


#: "fast": the network as ONE fused Lava process where its layers allow it
#: (lavacut.runtime.procs.fused), else netx's graph with the fast models;
#: "fast-procs": netx's graph with the fast per-process models; "stock":
#: netx's graph with Lava's own fixed_pt models. All spike-exact.
MODELS = ("fast", "fast-procs", "stock")


def fast_model_map() -> dict:
    """{Lava Process class: lavacut's fast bit-exact ProcessModel} for the
    processes netx builds (Dense, DelayDense, Conv, LIF at fixed_pt; see
    :mod:`lavacut.runtime.procs.fast_models`)."""
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.lif.process import LIF

    from lavacut.runtime.procs.fast_models import FastConvModel, FastDelayDenseModel, FastDenseModel, FastLifModel

    return {Dense: FastDenseModel, DelayDense: FastDelayDenseModel, Conv: FastConvModel, LIF: FastLifModel}


def make_run_cfg(backend: str, models: str = "fast"):
    """The run config of a backend. ``models`` (see :data:`MODELS`):
    ``"fast"`` / ``"fast-procs"`` select lavacut's vectorised ProcessModels
    (spike-exact with the stock ones; CPU only), ``"stock"`` Lava's own
    fixed_pt models."""
    if models not in MODELS:
        raise LavacutError(f"unknown models {models!r}; choose one of {', '.join(MODELS)}")
    if backend == "cpu":
        from lava.magma.core.run_configs import Loihi2SimCfg

        exceptions = fast_model_map() if models != "stock" else None
        return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=exceptions)
    if backend == "loihi2":
        require_loihi2()
        from lava.magma.core.run_configs import Loihi2HwCfg

        return Loihi2HwCfg()  # the network runs on NeuroCores: ``models`` only concerns the CPU simulation
    raise LavacutError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
