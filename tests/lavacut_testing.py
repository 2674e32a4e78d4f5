"""Helpers shared by the test files (a plain module, not a package: lava-dl
installs a top-level package named ``tests``). pytest puts this folder on
sys.path, so test files ``from lavacut_testing import ...``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lavacut.util import descendant_pids as descendants  # noqa: F401 (the tests import it from here)

REPO = Path(__file__).resolve().parents[1]
QUICK = REPO / "sims" / "quick.toml"
DENSE = REPO / "netx_exports" / "embedded_dense.net"
#: keys every run and evaluate report has (docs/reports.md has them all)
RUN_REPORT_KEYS = frozenset(
    {"n_samples", "T", "policy", "policy_params", "accuracy_full", "accuracy_cutoff", "mean_t_cutoff"}
    | {"timestep_ratio", "wall_s_full", "wall_s_cutoff", "wall_ratio", "backend", "versions"}
)


@contextlib.contextmanager
def _captured_fds():
    """stdout and stderr of this process, its threads and the processes it
    forks (Lava's), at the file-descriptor level as a subprocess's pipes
    would take them; yields a function returning (stdout, stderr)."""
    files = [tempfile.TemporaryFile(mode="w+b") for _ in range(2)]
    streams = [io.TextIOWrapper(f, encoding="utf-8", errors="replace", line_buffering=True) for f in files]
    saved_fds, saved_streams = [os.dup(1), os.dup(2)], (sys.stdout, sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        for fd, f in ((1, files[0]), (2, files[1])):
            os.dup2(f.fileno(), fd)
        sys.stdout, sys.stderr = streams

        def read():
            texts = []
            for stream, f in zip(streams, files):
                stream.flush()
                f.seek(0)
                texts.append(f.read().decode("utf-8", "replace"))
            return tuple(texts)

        yield read
    finally:
        sys.stdout, sys.stderr = saved_streams
        for fd, saved in zip((1, 2), saved_fds):
            os.dup2(saved, fd)
            os.close(saved)
        for stream in streams:
            stream.close()


class Hung(BaseException):
    """An in-process command still running at its ``timeout`` (a BaseException:
    the CLI's own error handling must not turn it into an exit code)."""


@contextlib.contextmanager
def _alarm(timeout: float | None, what: str):
    """Raise :class:`Hung` in this thread after ``timeout`` seconds: SIGALRM
    interrupts a blocking system call too (an open() of a FIFO)."""
    if not timeout:
        yield
        return

    def hung(signum, frame):
        raise Hung(f"{what}: still running after {timeout} s")

    old = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_cli(*args, cwd=None, check=True, env=None, timeout=None):
    """``lavacut ARGS`` through the real entry point (``lavacut.cli.main``,
    what the console script calls) in this process, from folder ``cwd``
    (default: the test's working folder) with ``env`` added to the environment; returns a CompletedProcess with
    the exit code and what the command and its forked Lava processes wrote
    to stdout / stderr. With ``check`` a non-zero exit fails with the end
    of its output; a command still running after ``timeout`` seconds (a
    hang) fails the test with :class:`Hung`. In-process saves a Python start and the lava/torch
    imports (seconds each) per call; tests about the process itself
    (signals, orphans, a fresh interpreter) start ``python -m lavacut`` themselves."""
    from lavacut.cli import main
    from lavacut.progress import set_quiet

    argv = [str(a) for a in args]
    old_cwd, old_env = os.getcwd(), dict(os.environ)
    try:
        os.chdir(cwd or old_cwd)
        os.environ.update(env or {})
        with _captured_fds() as read:
            try:
                with _alarm(timeout, "lavacut " + " ".join(argv)):
                    code = main(argv)
            except SystemExit as exc:  # argparse: bad usage (2), --help / --version (0)
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
            out, err = read()
    finally:
        set_quiet(False)  # --quiet is process-wide state
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(old_env)
    r = subprocess.CompletedProcess(["lavacut", *argv], code, out, err)
    if check and r.returncode != 0:
        raise AssertionError(f"lavacut {args[0]} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


@contextlib.contextmanager
def _made_once(tmp_path_factory, name: str):
    """The folder ``name`` shared by the session (and by all its test workers
    under pytest-xdist, which give each worker a subfolder of one base);
    the block runs under a file lock, so one worker makes it while the
    others wait, and it sees what an earlier one made."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    with FileLock(str(base / f"{name}.lock")):
        yield base / name


def quick_run(tmp_path_factory) -> Path:
    """The session's quick training run (sims/quick.toml, 2 epochs, through
    the CLI), made once for the session."""
    with _made_once(tmp_path_factory, "quick-run") as run:
        if not (run / "metrics.json").is_file():
            r = run_cli("train", "-c", QUICK, "--set", "train.epochs=2", "--out", run)
            (run.parent / "quick-run.log").write_text(r.stdout + r.stderr)
    return run


def quick_export(tmp_path_factory) -> Path:
    """The quick run exported once through the CLI."""
    run = quick_run(tmp_path_factory)
    with _made_once(tmp_path_factory, "quick-export") as folder:
        net = folder / "quick.net"
        if not net.is_file():
            r = run_cli("export", run / "best.pt", "-o", net)
            (folder.parent / "quick-export.log").write_text(r.stdout + r.stderr)
    return net


def local_calibration(tmp_path_factory) -> tuple[Path, str]:
    """A copy of the shipped embedded_dense.net calibrated by ``lavacut
    calibrate --workers 1 --executor local`` in this process, made once for
    the session: the sharded calibrations (two local workers, two Ray nodes)
    are compared with it. Returns the calibrated copy and calibrate's stdout
    (the copy's path written as NET)."""
    import shutil

    with _made_once(tmp_path_factory, "calibrated-locally") as folder:
        net, out = folder / "w1.net", folder / "calibrate.out"
        if not out.is_file():
            folder.mkdir(exist_ok=True)
            shutil.copyfile(DENSE, net)
            r = run_cli("calibrate", net, "--workers", 1, "--executor", "local")
            out.write_text(r.stdout.replace(str(net), "NET"))
    return net, out.read_text()


def local_torch_evaluation(tmp_path_factory) -> dict:
    """``lavacut evaluate embedded_dense.net --engine torch --samples 150``
    (sweeps and NeuroBench included) by one local process, made once for
    the session: the sharded evaluations are compared with its report."""
    with _made_once(tmp_path_factory, "evaluated-locally") as folder:
        report = folder / "w1.json"
        if not report.is_file():
            args = ["evaluate", DENSE, "--engine", "torch", "--samples", 150, "--workers", 1, "--executor", "local"]
            run_cli(*args, "--report", report)
    return json.loads(report.read_text())


def shm_mapped_by_others() -> set[str]:
    """/dev/shm names mapped by other live processes (not leaks of ours)."""
    names = set()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/maps") as f:
                for line in f:
                    if "/dev/shm/" in line:
                        names.add(line.rsplit("/dev/shm/", 1)[1].split()[0])
        except OSError:
            continue
    return names


def new_shm(before: set[str], grace: float = 5.0) -> set[str]:
    """/dev/shm entries made since ``before`` that no other live process maps
    and that are still there after ``grace`` seconds: a leak. Another run on
    the machine (a second test worker) holds a segment unmapped only for the
    moment between making and mapping it, or unmapping and unlinking it."""
    deadline = time.monotonic() + grace
    while True:
        leaked = set(os.listdir("/dev/shm")) - before - shm_mapped_by_others()
        if not leaked or time.monotonic() > deadline:
            return leaked
        time.sleep(0.2)


class Hygiene:
    """What a test leaves behind: a snapshot of this process's children,
    /dev/shm and the SIGINT handler; :meth:`check` asserts nothing new."""

    def __init__(self):
        self.procs = descendants()
        self.shm = set(os.listdir("/dev/shm"))
        self.handler = signal.getsignal(signal.SIGINT)

    def check(self):
        left = descendants() - self.procs
        assert not left, f"child processes left behind: {sorted(left)}"
        leaked = new_shm(self.shm)
        assert not leaked, f"/dev/shm entries left behind: {sorted(leaked)}"
        assert signal.getsignal(signal.SIGINT) is self.handler, "the SIGINT handler was not restored"


def run_shard_failing(shard: dict, message: str, at: int = 2):
    """Run a shard task's Lava graph (``shard`` as lavacut.runtime.workers
    hands it to a worker) so that it fails with ``message`` at sample ``at``."""

    def boom(j, t_c, pred):
        if j == at:
            raise RuntimeError(message)

    return shard["run_split"](
        shard["net_path"], shard["frames"], shard["labels"], shard["rule"], mode="halt", progress=False, on_sample=boom
    )


def alive(pids) -> list[str]:
    """The processes of ``pids`` still running (zombies count as gone), with their command lines."""
    out = []
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().split(") ", 1)[1][0]
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
        except (OSError, IndexError):
            continue
        if state != "Z":
            out.append(f"{p} {cmd}")
    return out


def signal_during_lava(
    *args, cwd, settle: float, sig: int = signal.SIGTERM, group: bool = False, nohup: bool = False
) -> tuple[subprocess.CompletedProcess, list[str], set[str]]:
    """``lavacut ARGS`` as a process, sent ``sig`` ``settle`` seconds after its
    Lava runtime is up (``group``: to its whole process group, as a closing
    terminal sends SIGHUP; ``nohup``: started with SIGHUP ignored); returns its
    result, its children still alive 20 s later, and the /dev/shm entries it left."""
    shm = set(os.listdir("/dev/shm"))

    def nohup_() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    proc = subprocess.Popen(
        [sys.executable, "-m", "lavacut.cli", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=group,
        preexec_fn=nohup_ if nohup else None,
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline and len(descendants(proc.pid)) < 3 and proc.poll() is None:
            time.sleep(0.5)  # the Lava runtime is up: the source, network and monitor processes
        assert proc.poll() is None, proc.communicate()
        children = descendants(proc.pid)
        assert len(children) >= 3, "Lava never started"
        time.sleep(settle)
        os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # children exit on their own once stopped (the resource tracker when its pipe closes): allow a few seconds
    deadline = time.time() + 20
    while time.time() < deadline and alive(children):
        time.sleep(0.2)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), alive(children), new_shm(shm)


def tree_rss_kib(root: int | None = None) -> int:
    """Sum of VmRSS over ``root`` (default: this process) and its descendants."""
    root = root or os.getpid()
    total = 0
    for pid in {root} | descendants(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def write_netx(path, layers) -> Path:
    """A NetX file (no lavacut group) with the given layer groups: dicts of
    dataset name -> value; 'neuron' is a dict too, 'type' a string."""
    import h5py

    with h5py.File(path, "w") as f:
        lg = f.create_group("layer")
        for i, spec in enumerate(layers):
            g = lg.create_group(str(i))
            for k, v in spec.items():
                if k == "neuron":
                    n = g.create_group("neuron")
                    for nk, nv in v.items():
                        n.create_dataset(nk, data=nv)
                elif k == "type":
                    g.create_dataset("type", (1,), "S10", [v.encode("ascii")])
                else:
                    g.create_dataset(k, data=v)
    return Path(path)


def brute_conv_fan_out(w, in_shape, stride, padding, dilation=1, groups=1):
    """The reference nonzero fan-out of a conv layer: every (output channel,
    output position, kernel tap) with a nonzero weight, added to the input
    it lands on. ``w`` (C_out, C_in/groups, kH, kW); stride, padding and
    dilation ints or (y, x). Returns (fan-out flattened C-order, output
    shape (C_out, H_out, W_out))."""
    import numpy as np

    def pair(v):
        return (v, v) if np.isscalar(v) else tuple(v)

    (sy, sx), (py, px), (dy, dx) = pair(stride), pair(padding), pair(dilation)
    co, cig, kh, kw = w.shape
    ci, hi, wi = in_shape
    ho, wo = (hi + 2 * py - dy * (kh - 1) - 1) // sy + 1, (wi + 2 * px - dx * (kw - 1) - 1) // sx + 1
    fan = np.zeros((ci, hi, wi))
    for o in range(co):
        g = o // (co // groups)
        for cl in range(cig):
            for oy in range(ho):
                for ox in range(wo):
                    for ky in range(kh):
                        for kx in range(kw):
                            iy, ix = oy * sy - py + ky * dy, ox * sx - px + kx * dx
                            if 0 <= iy < hi and 0 <= ix < wi and w[o, cl, ky, kx] != 0:
                                fan[g * cig + cl, iy, ix] += 1
    return fan.reshape(-1), (co, ho, wo)


def without_timings(report):
    """A report without what differs between runs of the same computation."""
    if isinstance(report, dict):
        return {
            k: without_timings(v)
            for k, v in report.items()
            if not k.startswith("wall_") and k not in ("config", "versions", "workers")
        }
    if isinstance(report, list):
        return [without_timings(v) for v in report]
    return report
