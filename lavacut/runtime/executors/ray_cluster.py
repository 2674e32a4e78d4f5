"""The ``ray`` executor: every task a Ray task, at most ``workers`` in flight.

Cluster: ``address`` (``--ray-address``), else ``RAY_ADDRESS``: lavacut
joins that cluster and only disconnects at the end (it never stops a cluster
it joined). Neither given: ``ray.init(address="local")`` starts a Ray on this
machine for the command, stopped by ``ray.shutdown()`` at the end (``local``,
not Ray's default lookup, so that lavacut never joins a cluster by accident).
An address is checked before Ray is asked (:func:`check_address`,
:func:`probe_address`; Ray retries a dead one for minutes) and Ray's own
connect is bounded (:func:`_bounded_connect`).

Lava inside Ray: each task runs in a FRESH Ray worker process
(``max_calls=1``: the worker exits after its task). A Lava graph forks one
process per Lava process and keeps /dev/shm segments; long-lived processes
leak across graphs (lava#260, #336), so one graph per process is the safe
unit. Ray's workers are non-daemonic and use the fork start method Lava
sets, which ran Lava graphs unchanged here (Ray 2.60). The fork happens from
a multi-threaded worker (gRPC threads), which can hang in principle (ray
#22909); Lava forks before its own threads start and the task's main thread
holds no Ray lock at that point; not seen in the tests.

Files travel as bytes (no shared filesystem assumed): each ``"file"``
argument is put in Ray's object store once per executor (while its size and
mtime stay the same) and written to a temporary folder on the worker's
node; a ``"dir"`` goes the same way, once per job, and comes back as bytes
(the files the task wrote), written on the driver (:func:`write_dir`).
A numpy array argument (a shard's frames) is put once per executor too,
keyed by its memory: ``run``'s full-T and cutoff passes over the same
frames ship them once (the driver must not change an array in place
between two jobs of one executor).

Stopping: on a failed task, an exception or Ctrl-C/SIGTERM in the driver,
every pending task is cancelled with a KeyboardInterrupt raised in it
(``ray.cancel(force=False)``) so that its Lava session stops its runtime and
segments in order; a task still running after ``timeout`` s is killed
(``force=True``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback

import numpy as np

from lavacut.runtime.executors import Executor, Task, failure, read_dir, start_order, task_bar, write_dir
from lavacut.runtime.session import stop_signals
from lavacut.util import LavacutError, Terminated, freeze_loaded, import_slayer


_NO_RAY = "--executor ray needs Ray: pip install 'lavacut[ray]' (ray==2.60.0)"


def _ray():
    try:
        import ray
    except ImportError:
        raise LavacutError(_NO_RAY) from None
    return ray


def check_ray() -> None:
    """Ray is installed, found without importing it (before any work; the
    import is left to :meth:`RayExecutor._connect`, see :func:`_bounded_connect`)."""
    if sys.modules.get("ray", False) is None or ("ray" not in sys.modules and importlib.util.find_spec("ray") is None):
        raise LavacutError(_NO_RAY)


def _run_task(fn, kwargs: dict, ship: dict, *blobs):
    """Runs on a Ray worker: write the shipped files, call ``fn``, read the
    ``"dir"`` arguments back. Returns (status, value, dirs, node id)."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    import_slayer()  # the stack every task loads (torch, Lava); the worker runs this task only
    freeze_loaded()
    tmp = tempfile.mkdtemp(prefix="lavacut-task-")
    try:
        kwargs = dict(kwargs)
        for key, (kind, name, idx) in ship.items():
            if kind == "array":
                kwargs[key] = blobs[idx]
                continue
            target = os.path.join(tmp, key, name)
            if kind == "file":
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as f:
                    f.write(blobs[idx])
            else:
                os.makedirs(target, exist_ok=True)
                write_dir(target, blobs[idx])
            kwargs[key] = target
        try:
            status, value = "ok", fn(**kwargs)
        except KeyboardInterrupt:
            status, value = "interrupted", "KeyboardInterrupt"
        except LavacutError as e:
            status, value = "bad-input", str(e)
        except BaseException as e:  # noqa: BLE001 - reported to the driver
            status, value = "error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
        # only what the task wrote: a folder several tasks share (an exports folder) must not come back stale
        dirs = {
            key: {
                rel: f
                for rel, f in read_dir(kwargs[key]).items()
                if rel not in blobs[idx] or blobs[idx][rel][0] != f[0]
            }
            for key, (kind, _, idx) in ship.items()
            if kind == "dir"
        }
        return status, value, dirs, node
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, workers: int = 1, address: str | None = None, timeout: float = 30.0):
        super().__init__(workers, address)
        if address:
            check_address(address)  # before any work: a typo is not found after an hour of training
        self.timeout = timeout
        self._connected = False
        self._said_cpus = False  # the note on more workers than the cluster's CPUs, once
        self.started_cluster = False
        self._puts: dict[tuple, tuple] = {}  # what this executor put in the object store: key -> (source, ref)

    def _connect(self):
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        address = None if address == "local" else address
        with _bounded_connect(address):
            ray = _ray()
        if ray.is_initialized():  # a caller's own connection: used, left as it is
            return ray
        where = f"the Ray cluster at {address} (--ray-address / RAY_ADDRESS)" if address else "a local Ray"
        if address:
            probe_address(address)  # its form too (check_address)
        try:
            with _bounded_connect(address):
                ray.init(
                    address=address or "local",
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                    configure_logging=True,
                )
        except (ConnectionError, RuntimeError, ValueError) as e:
            with contextlib.suppress(Exception):
                ray.shutdown()  # whatever a half-made connection left
            hint = f"; {_JOIN_HINT}" if address else ""
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise LavacutError(f"could not start or join {where}: {first}{hint}") from None
        self._connected, self.started_cluster = True, address is None
        # a task needs a CPU: on a cluster of none (a head started with --num-cpus=0 and no
        # worker node yet) Ray would queue them forever
        if address and not ray.cluster_resources().get("CPU", 0):
            self.close()
            raise LavacutError(
                f"{where} has no CPU to run a task on: add a node (`ray start --address {address}`) "
                f"or give another cluster"
            )
        return ray

    def close(self) -> None:
        self._puts.clear()
        if self._connected:
            # a local Ray lavacut started is stopped; a joined cluster is only disconnected from
            _ray().shutdown()
            self._connected = False

    def map(
        self, tasks: list[Task], progress: bool = True, desc: str = "tasks", unit: str = "task", on_result=None
    ) -> list:
        ray = self._connect()
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if min(self.workers, len(tasks)) > cpus and not self._said_cpus:  # Ray queues the rest without a word
            self._said_cpus = True
            print(
                f"lavacut: note: the Ray cluster has {cpus} CPU(s) and --workers is {self.workers}: "
                f"{cpus} task(s) run at a time, the others wait for a free CPU",
                file=sys.stderr,
            )
        remote = ray.remote(max_calls=1, num_cpus=1, max_retries=0)(_run_task)  # fresh process per task
        dirs: dict[str, object] = {}  # one object per shipped folder in this job
        calls = []
        for t in tasks:
            ship, refs = {}, []
            for key, kind in t.files.items():
                path = os.fspath(t.kwargs[key])
                if kind == "dir":
                    if path not in dirs:
                        dirs[path] = ray.put(read_dir(path))
                    ref = dirs[path]
                else:
                    st = os.stat(path)
                    ref = self._put(ray, ("file", path, st.st_size, st.st_mtime_ns), path, _read_file)
                ship[key] = (kind, os.path.basename(path.rstrip("/")) or key, len(refs))
                refs.append(ref)
            for key, value in t.kwargs.items():
                if isinstance(value, np.ndarray) and key not in ship:
                    ship[key] = ("array", None, len(refs))
                    refs.append(self._put(ray, _array_key(value), value, lambda a: a))
            calls.append((t, {k: v for k, v in t.kwargs.items() if k not in ship}, ship, refs))
        results: list = [None] * len(tasks)
        self.placements = [""] * len(tasks)
        pending: dict = {}  # object ref -> task index
        todo = start_order(tasks)
        bar = task_bar(tasks, progress, desc, unit)
        try:
            with _stop_signals_raise():
                while todo or pending:
                    while todo and len(pending) < self.workers:
                        i = todo.pop(0)
                        t, kwargs, ship, refs = calls[i]
                        pending[remote.remote(t.fn, kwargs, ship, *refs)] = i
                    done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                    for ref in done:
                        i = pending.pop(ref)
                        try:
                            status, value, dirs, node = ray.get(ref)
                        except ray.exceptions.RayError as e:  # the worker died, the node was lost
                            raise failure(tasks[i], "error", f"{type(e).__name__}: {e}") from None
                        self.placements[i] = node
                        for key, files in dirs.items():
                            write_dir(tasks[i].kwargs[key], files)
                        self._deliver(tasks, i, status, value, results, on_result, bar)
        finally:
            if bar is not None:
                bar.close()
            if pending:
                self._cancel(ray, pending, tasks)
        return results

    def _put(self, ray, key: tuple, source, load):
        """``load(source)`` in the object store, once per executor: the
        source is kept so that its key (a path's size and mtime, an array's
        memory) means the same data while the ref is cached."""
        if key not in self._puts:
            self._puts[key] = (source, ray.put(load(source)))
        return self._puts[key][1]

    def _cancel(self, ray, pending: dict, tasks: list[Task]) -> None:
        """KeyboardInterrupt into every pending task, then kill what is left;
        the folders of the tasks that stopped in time still come back (an
        interrupted training's last.pt: the sweep resumes from it)."""
        refs = list(pending)
        for ref in refs:
            try:
                ray.cancel(ref, force=False)
            except Exception:  # noqa: BLE001 - already finished
                pass
        deadline = time.monotonic() + self.timeout
        left = list(refs)
        while left and time.monotonic() < deadline:
            _, left = ray.wait(left, num_returns=len(left), timeout=min(1.0, deadline - time.monotonic()))
        for ref in left:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001
                pass
        for ref in set(refs) - set(left):
            try:
                _, _, dirs, _ = ray.get(ref, timeout=5.0)
            except Exception:  # noqa: BLE001 - cancelled before it could answer
                continue
            for key, files in dirs.items():
                write_dir(tasks[pending[ref]].kwargs[key], files)


#: what to do when a cluster's address does not work
_JOIN_HINT = (
    "give the GCS address HOST:PORT that `ray start --head` printed (port 6379 by default) of a running "
    "cluster, and RAY_AUTH_TOKEN if it uses token authentication, or leave --ray-address and RAY_ADDRESS "
    "unset to start a Ray here"
)
#: seconds: a TCP connection to the address; then Ray's own connect (Ray retries ~20 x 35 s by default)
PROBE_TIMEOUT = 3.0
CONNECT_TIMEOUT = 5


def check_address(address: str) -> tuple[str, int] | None:
    """``address`` as Ray joins it: ``local``/``auto`` (None) or HOST:PORT,
    else a :class:`LavacutError` naming it (no Ray needed)."""
    if address in ("local", "auto"):
        return None
    bad = f"Ray address {address!r} (--ray-address / RAY_ADDRESS)"
    if "://" in address:
        scheme = address.split("://", 1)[0]
        raise LavacutError(
            f"{bad}: lavacut joins a cluster by its GCS address HOST:PORT, not a {scheme}:// "
            f"(Ray Client or dashboard) address; {_JOIN_HINT}"
        )
    host, sep, port = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [IPv6]:PORT
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise LavacutError(f"{bad}: not HOST:PORT with a port in 1..65535; {_JOIN_HINT}")
    return host, int(port)


def probe_address(address: str) -> None:
    """Something answers at ``address`` within :data:`PROBE_TIMEOUT` (Ray
    would retry an unreachable one for minutes). Ray replaces a loopback
    host by this machine's address: either may answer."""
    parsed = check_address(address)
    if parsed is None:
        return
    host, port = parsed
    hosts = [host]
    with contextlib.suppress(Exception):
        from ray._private.services import resolve_ip_for_localhost

        hosts.append(resolve_ip_for_localhost(host))
    errors = []
    for h in dict.fromkeys(hosts):
        try:
            socket.create_connection((h, port), timeout=PROBE_TIMEOUT).close()
            return
        except OSError as e:
            errors.append(e.strerror or type(e).__name__)
    raise LavacutError(f"no Ray cluster answers at {address} (--ray-address / RAY_ADDRESS): {errors[0]}; {_JOIN_HINT}")


@contextlib.contextmanager
def _bounded_connect(address: str | None):
    """Ray's connect to a cluster (an address that answers but is no Ray's,
    a token refused) in one attempt of ~3 x :data:`CONNECT_TIMEOUT` s
    instead of its 20 attempts of ~45 s. The retry count is read by ray.init;
    the GCS client's timeout when Ray is imported (so it is bounded only if
    lavacut imports Ray, here). The user's own settings win; restored
    afterwards, so that a Ray started here never sees them."""
    if not address:
        yield
        return
    env = {
        "RAY_gcs_server_port_wait_time_s": "1",
        "RAY_py_gcs_connect_timeout_s": str(CONNECT_TIMEOUT),
    }
    added = [k for k in env if k not in os.environ]
    os.environ.update({k: env[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


@contextlib.contextmanager
def _stop_signals_raise():
    """Ctrl-C and SIGTERM raise in the driver while it waits (as
    :func:`lavacut.runtime.session.stop_signals_raise`); Ray turns an
    exception raised by a signal handler inside ray.wait/get into a plain
    KeyboardInterrupt, so the signal is remembered and SIGTERM re-raised as
    :class:`~lavacut.util.Terminated` (exit 143, not 130)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum, frame):
        received.append(signum)
        raise Terminated(signum) if signum != signal.SIGINT else KeyboardInterrupt

    old = {sig: signal.getsignal(sig) for sig in stop_signals()}
    for sig in old:
        signal.signal(sig, handler)
    try:
        yield
    except KeyboardInterrupt as e:
        term = [s for s in received if s != signal.SIGINT]
        if term and not isinstance(e, Terminated):
            raise Terminated(term[0]) from None
        raise
    finally:
        for sig, h in old.items():
            signal.signal(sig, h if h is not None else signal.SIG_DFL)


def _array_key(a: np.ndarray) -> tuple:
    """An array's identity by its memory (a view of the same rows of the same frames is the same key)."""
    return ("array", a.__array_interface__["data"][0], a.shape, a.strides, a.dtype.str)


def _read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


#: registered in lavacut.runtime.executors.EXECUTORS
EXECUTOR = RayExecutor
