"""Helpers shared by the test files (a plain module, not a package: lava-dl
installs a top-level package named ``tests``). pytest puts this folder on
sys.path, so test files ``from lavacut_testing import ...``."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from lavacut.util import descendant_pids as descendants  # noqa: F401 (the tests import it from here)

REPO = Path(__file__).resolve().parents[1]
QUICK = REPO / "sims" / "quick.toml"


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


def run_cli(*args, cwd=REPO, check=True, env=None):
    """``lavacut ARGS`` through the real entry point (``lavacut.cli.main``,
    what the console script calls) in this process, from folder ``cwd``
    with ``env`` added to the environment; returns a CompletedProcess with
    the exit code and what the command and its forked Lava processes wrote
    to stdout / stderr. With ``check`` a non-zero exit fails with the end
    of its output. In-process saves a Python start and the lava/torch
    imports (seconds each) per call; tests about the process itself
    (signals, hangs, orphans, a fresh interpreter) use :func:`run_cli_process`."""
    from lavacut.cli import main
    from lavacut.progress import set_quiet

    argv = [str(a) for a in args]
    old_cwd, old_env = os.getcwd(), dict(os.environ)
    try:
        os.chdir(cwd)
        os.environ.update(env or {})
        with _captured_fds() as read:
            try:
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


def run_cli_process(*args, cwd=REPO, check=True, env=None, timeout=None):
    """``python -m lavacut.cli ARGS`` in a subprocess (for what only a
    process shows: exit on a signal, a hang cut by ``timeout``, children,
    a fresh interpreter); with ``check`` a non-zero exit fails with the
    end of its output."""
    r = subprocess.run(
        [sys.executable, "-m", "lavacut.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        timeout=timeout,
    )
    if check and r.returncode != 0:
        raise AssertionError(f"lavacut {args[0]} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def quick_run(tmp_path_factory) -> Path:
    """The session's quick training run (sims/quick.toml, 2 epochs, through
    the CLI), made once in the session's base temp folder."""
    base = tmp_path_factory.getbasetemp()
    run = base / "quick-run"
    if not (run / "metrics.json").is_file():
        r = run_cli("train", "-c", QUICK, "--set", "train.epochs=2", "--out", run)
        (base / "quick-run.log").write_text(r.stdout + r.stderr)
    return run


def quick_export(tmp_path_factory) -> Path:
    """The quick run exported once through the CLI."""
    base = tmp_path_factory.getbasetemp()
    run = quick_run(tmp_path_factory)
    net = base / "quick-export" / "quick.net"
    if not net.is_file():
        r = run_cli("export", run / "best.pt", "-o", net)
        (base / "quick-export.log").write_text(r.stdout + r.stderr)
    return net


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
