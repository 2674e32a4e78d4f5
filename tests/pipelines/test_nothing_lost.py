"""Nothing lost (issue 22): outputs never replace inputs, writes go only to
regular files or new paths, names stay in their folder, temp files of a
killed write are removed, shipped exports are read-only, non-regular inputs
are refused, bad option and config values exit 2 before any work, and a
signal is never swallowed.

Each row runs the real entry point (``lavacut.cli.main`` in this process, or
``python -m lavacut.cli`` where a hang or a signal is tested) and checks the
exit code, the one-line message and that every input's bytes are unchanged.
The DAMAGE and SILENT-WRONG rows fail on the code before issue 22.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lavacut.cli import main
from lavacut_testing import DENSE, quick_run, run_cli


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _main(argv, capsys) -> tuple[int, str]:
    """``lavacut ARGV`` in this process: (exit code, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return code, err


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """A copy of the shipped dense export, its NIR graph, a small labelled
    .npz for it, made once."""
    d = tmp_path_factory.mktemp("nothing-lost")
    shutil.copyfile(DENSE, d / "X.net")
    run_cli("export", d / "X.net", "--format", "nir", "-o", d / "g.nir")
    rng = np.random.default_rng(0)
    np.savez(
        d / "data.npz", frames=(rng.random((3, 2, 34, 34, 30)) < 0.05).astype(np.uint8), labels=np.array([0, 1, 2])
    )
    return d


@pytest.fixture
def work(files, tmp_path, monkeypatch) -> Path:
    """A fresh working folder with copies of the files; the hashes of the
    originals are checked after the test."""
    for f in files.iterdir():
        shutil.copyfile(f, tmp_path / f.name)
    monkeypatch.chdir(tmp_path)
    before = {f.name: _sha(f) for f in tmp_path.iterdir()}
    shipped = _sha(DENSE)
    yield tmp_path
    assert {f: _sha(tmp_path / f) for f in before} == before, "an input file was modified"
    assert _sha(DENSE) == shipped, "the shipped export was modified"


# ----------------------------------------------------------------------------- 1. outputs never replace inputs
SAME_PATH = [  # DAMAGE before issue 22: the output replaced the input (exit 0)
    (["run", "X.net", "--samples", "2", "--report", "X.net"], "--report X.net is the FILE X.net"),
    (["check", "X.net", "--report", "X.net"], "--report X.net is the FILE X.net"),
    (["evaluate", "X.net", "--samples", "2", "--report", "X.net"], "--report X.net is the FILE X.net"),
    (["verify", "X.net", "--samples", "2", "--report", "X.net"], "--report X.net is the FILE X.net"),
    (["export", "X.net", "--format", "nir", "-o", "X.net"], "-o X.net is the SOURCE X.net"),
    (["import", "g.nir", "-o", "g.nir", "--no-evaluate"], "-o g.nir is the FILE g.nir"),
    (
        ["run", "X.net", "--input", "data.npz", "--samples", "2", "--report", "data.npz"],
        "--report data.npz is the --input data.npz",
    ),
    # a sibling of the report: check writes its core map as REPORT.png, here the network itself
    (["check", "net.png", "--report", "net.json"], "--report's core map net.png is the FILE net.png"),
    # through a symlink, and a hard link (the same inode)
    (["run", "X.net", "--report", "link.json"], "--report link.json is the FILE X.net"),
    (["run", "X.net", "--report", "hard.net"], "--report hard.net is the FILE X.net"),
]


@pytest.mark.parametrize("argv,message", SAME_PATH, ids=[" ".join(r[0]) for r in SAME_PATH])
def test_an_output_never_replaces_an_input(work, capsys, argv, message):
    shutil.copyfile(work / "X.net", work / "net.png")
    (work / "link.json").symlink_to(work / "X.net")
    os.link(work / "X.net", work / "hard.net")
    sums = {p: _sha(p) for p in ("net.png", "X.net")}
    code, err = _main(argv, capsys)
    assert code == 2 and message in err and "an output never replaces an input" in err, err
    assert err.count("\n") == 1
    assert {p: _sha(p) for p in sums} == sums and (work / "link.json").is_symlink()


@pytest.mark.slow
def test_export_never_replaces_its_checkpoint(tmp_path_factory, tmp_path):
    run = quick_run(tmp_path_factory)
    ck = tmp_path / "ck.pt"
    shutil.copyfile(run / "best.pt", ck)
    before = _sha(ck)
    r = run_cli("export", ck, "-o", ck, check=False, cwd=tmp_path)
    assert r.returncode == 2 and f"-o {ck} is the SOURCE {ck}" in r.stderr, r.stderr
    assert _sha(ck) == before


# ----------------------------------------------------------------------------- 2. only regular files or new paths
def test_writes_go_only_to_a_regular_file_or_a_new_path(work, capsys):
    os.mkfifo(work / "fifo.json")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(work / "sock.json"))
    try:
        for target, kind in (("/dev/null", "a character device"), ("fifo.json", "a FIFO"), ("sock.json", "a socket")):
            code, err = _main(["check", "X.net", "--report", target], capsys)
            assert code == 2 and f"--report {target} is {kind}" in err, err
        code, err = _main(["verify", "X.net", "--report", "-"], capsys)
        assert code == 2 and "not to stdout" in err, err
    finally:
        sock.close()
    assert Path("/dev/null").is_char_device()
    import stat

    assert stat.S_ISFIFO(os.stat(work / "fifo.json").st_mode) and stat.S_ISSOCK(os.stat(work / "sock.json").st_mode)
    assert not (work / "-").exists()


# ----------------------------------------------------------------------------- 3. names stay inside their folder
def test_names_stay_inside_their_folder(work, capsys):
    (work / "a" / "b").mkdir(parents=True)
    os.chdir(work / "a" / "b")
    for argv, message in (
        (["export", "../../X.net", "--format", "nir", "--name", "../../x"], "--name '../../x' must be a plain name"),
        (["import", "../../g.nir", "--name", "../x", "--no-evaluate"], "--name '../x' must be a plain name"),
        (["export", "../../X.net", "--format", "nir", "--name", ""], "--name must not be empty"),
        (["import", "../../g.nir", "--name", "n" * 201, "--no-evaluate"], "--name is 201 bytes long; at most 200"),
        (["train", "--set", "name=../../y"], "name '../../y' must be a plain name"),
    ):
        code, err = _main(argv, capsys)
        assert code == 2 and message in err, (argv, err)
    assert sorted(p.name for p in work.rglob("*") if p.suffix in (".nir", ".net")) == ["X.net", "g.nir"]
    assert not (work / "a" / "b" / "runs").exists()


def test_a_report_name_too_long_fails_before_any_work(work, capsys):
    """A 248-character report name: REPORT_tradeoff.png would be 256 bytes.
    Before issue 22 it failed after the whole evaluation."""
    name = "r" * 243 + ".json"
    t = time.time()
    code, err = _main(["evaluate", "X.net", "--report", name], capsys)
    assert code == 2 and "--report" in err and "longer than the 255 a file system takes" in err, err
    assert time.time() - t < 20


def test_atomic_write_of_a_long_name(tmp_path):
    """The temp file's name is shortened: a 250-byte target name writes."""
    from lavacut.util import atomic_write_text

    target = tmp_path / ("r" * 245 + ".json")
    atomic_write_text(target, "{}\n")
    assert target.read_text() == "{}\n" and [p.name for p in tmp_path.iterdir()] == [target.name]


# ----------------------------------------------------------------------------- 4. temp files of a killed write
def test_the_next_write_removes_a_killed_writes_temp_file(tmp_path):
    target = tmp_path / "out.net"
    code = (
        "import sys, time\nfrom lavacut.util import atomic_path\n"
        f"with atomic_path({str(target)!r}, suffix='.net') as tmp:\n"
        "    tmp.write_bytes(b'half'); print(tmp, flush=True); time.sleep(60)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    tmp = Path(p.stdout.readline().strip())
    assert tmp.is_file() and f".{p.pid}." in tmp.name
    p.kill()  # kill -9: nothing cleans up
    p.wait()
    p.stdout.close()
    assert tmp.is_file()
    live = tmp_path / f".out.net.{os.getppid()}.abcdefgh.net"  # a live writer's: kept
    live.write_bytes(b"busy")
    fresh = tmp_path / ".out.net.ijklmnop.tmp"  # no pid, fresh: kept
    fresh.write_bytes(b"?")
    old = tmp_path / ".out.net.qrstuvwx.tmp"  # no pid, an hour old: removed
    old.write_bytes(b"?")
    os.utime(old, (time.time() - 3600,) * 2)
    other = tmp_path / ".out.net.1.json.99999999.abcdefgh.tmp"  # another target's: kept
    other.write_bytes(b"?")
    from lavacut.util import atomic_write_bytes

    atomic_write_bytes(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, live.name, fresh.name, other.name])


# ----------------------------------------------------------------------------- 5, 6. shipped exports
def test_shipped_exports_are_read_only(work, capsys):
    """DAMAGE before issue 22: `lavacut calibrate embedded_dense` from any
    folder rewrote the clone's tracked export."""
    for argv, message in (
        (["calibrate", "embedded_dense"], "is a shipped export of this clone"),
        (["calibrate", DENSE], "is a shipped export of this clone"),
        (["export", "X.net", "--format", "nir", "-o", DENSE], f"-o {DENSE} is a shipped export"),
        (["import", "g.nir", "-o", DENSE, "--no-evaluate"], f"-o {DENSE} is a shipped export"),
    ):
        code, err = _main(argv, capsys)
        assert code == 2 and message in err and "copy it first" in err and "cp " in err, (argv, err)
    from lavacut.shipped import is_shipped_export

    assert is_shipped_export(DENSE) and not is_shipped_export(work / "X.net")


def test_check_and_export_take_shipped_export_names(work, capsys):
    code, _ = _main(["check", "embedded_dense", "--report", "c.json"], capsys)
    assert code == 0 and json.loads((work / "c.json").read_text())
    code, err = _main(["export", "embedded_dense", "--format", "nir", "-o", "d.nir"], capsys)
    assert code == 0 and (work / "d.nir").is_file(), err


# ----------------------------------------------------------------------------- 7. non-regular inputs
@pytest.mark.parametrize(
    "argv,message",
    [
        (["run", "X.net", "--input", "fifo", "--samples", "1", "--report", "r.json"], "--input fifo is a FIFO"),
        (["run", "fifo", "--report", "r.json"], "FILE fifo is a FIFO"),
        (["inspect", "fifo"], "FILE fifo is a FIFO"),
        (["check", "fifo"], "FILE fifo is a FIFO"),
        (["calibrate", "X.net", "--input", "/dev/zero"], "--input /dev/zero is a character device"),
        (["import", "fifo"], "FILE fifo is a FIFO"),
    ],
    ids=["run --input fifo", "run fifo", "inspect fifo", "check fifo", "calibrate --input /dev/zero", "import fifo"],
)
def test_non_regular_inputs_are_refused(work, argv, message):
    """HANG before issue 22 (the timeout fails the test)."""
    os.mkfifo(work / "fifo")
    r = run_cli(*argv, cwd=work, check=False, timeout=60)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_the_hang_guard_cuts_a_blocking_open(tmp_path):
    """The guard the test above relies on: an open() of a FIFO that no one
    writes blocks, and the timeout cuts it."""
    from lavacut_testing import Hung, _alarm

    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(Hung, match="still running after 0.3 s"):
        with _alarm(0.3, "open fifo"):
            open(tmp_path / "fifo", "rb")  # noqa: SIM115 - never returns


# ----------------------------------------------------------------------------- 8. bad values exit 2, before work
BAD_VALUES = [
    (["run", "X.net", "--set", "net.threshold=nan"], "net.threshold must be a finite number, got nan"),
    (["run", "X.net", "--set", "net.conv_strides=[0]"], "net.conv_strides[0] must be at least 1, got 0"),
    (["run", "X.net", "--set", 'net.hidden=["a"]'], "net.hidden[0] must be an integer, got 'a'"),
    (["run", "X.net", "--set", "net.conv_channels=[0]"], "net.conv_channels[0] must be at least 1, got 0"),
    (["train", "--set", "net.dropout=abc"], "net.dropout must be a finite number, got 'abc'"),
    (["train", "--set", "framing.denoise_us=-5"], "framing.denoise_us must be 0 (none) or more, got -5"),
    (["train", "-c", "latin1.toml"], "latin1.toml: not UTF-8 text (byte 0xe9"),
    (["export", "X.net", "--format", "nir", "--dt", "abc"], "argument --dt: must be a number > 0, got 'abc'"),
    (["export", "X.net", "--format", "nir", "--dt", "0", "-o", "z.nir"], "argument --dt: must be a finite number > 0"),
    (
        ["export", "X.net", "--format", "nir", "--dt", "nan", "-o", "z.nir"],
        "argument --dt: must be a finite number > 0",
    ),
    (["import", "g.nir", "--dt", "abc"], "argument --dt: must be a number > 0, got 'abc'"),
    (["import", "g.nir", "--threshold", "nan"], "argument --threshold: must be a finite number > 0, got nan"),
    (["data", "--plot", "x.jpg"], "--plot x.jpg: give a .png (a strip of frames) or a .gif"),
    (["run", "X.net", "--workers", "0"], "argument --workers: must be in 1.."),
    (["run", "X.net", "--workers", "10000"], "argument --workers: must be in 1.."),
    (["evaluate", "X.net", "--workers", "10000"], "argument --workers: must be in 1.."),
    (["run", "X.net", "--set", "run.workers=10000"], "run.workers must be in 1.."),
    (["experiments", "--lava-samples", "-5"], "argument --lava-samples: must be an integer >= 0, got -5"),
    (
        ["run", "X.net", "--samples", "1", "--param", "name=x", "--report", "r.json"],
        "policy 'topk' has no parameter(s) name; it takes beta, confidence, delta, eps",
    ),
]


@pytest.mark.parametrize("argv,message", BAD_VALUES, ids=[" ".join(r[0]) for r in BAD_VALUES])
def test_bad_values_exit_2_before_any_work(work, capsys, argv, message):
    (work / "latin1.toml").write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    t = time.time()
    code, err = _main(argv, capsys)
    assert code == 2 and message in err, err
    assert time.time() - t < 60
    assert not (work / "z.nir").exists()
    assert not (work / "x.jpg").exists() and not (work / "runs").exists()


# ----------------------------------------------------------------------------- 9. --input and --split
def test_input_with_split_is_refused_and_reports_name_the_input(work, capsys):
    """SILENT-WRONG before issue 22: the report said split "train" and data
    set "embedded" for the user's own file."""
    code, err = _main(["run", "X.net", "--input", "data.npz", "--split", "train"], capsys)
    assert (
        code == 2
        and "--split train picks a split of the export's data set; --input data.npz is your own data: give one of them"
        in err
    ), err
    code, err = _main(["evaluate", "X.net", "--input", "data.npz", "--report", "e.json", "--no-neurobench"], capsys)
    assert code == 0, err
    rep = json.loads((work / "e.json").read_text())
    assert rep["split"] == "data.npz" and rep["dataset"] == "user input", (rep["split"], rep["dataset"])


# ----------------------------------------------------------------------------- 10. signals
@pytest.mark.parametrize("sig,code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_inside_a_weakref_callback_is_not_swallowed(tmp_path, sig, code):
    """Before issue 22 a signal handled while the garbage collector ran a
    weakref callback (import's accuracy pass: torch and tqdm objects) was
    printed as 'Exception ignored' and lost: exit 0, output written."""
    script = tmp_path / "cmd.py"
    script.write_text(f"""
import os, signal, sys, time, weakref
from pathlib import Path
import lavacut.cli as cli
import lavacut.cli.export as export_commands

def command(args):
    class Obj: pass
    o = Obj()
    def callback(_):
        os.kill(os.getpid(), signal.{sig})
        t = time.time()
        while time.time() - t < 0.5:
            pass            # the handler runs here, inside the callback
    weakref.finalize(o, callback, None)
    del o
    t = time.time()
    while time.time() - t < 3:
        pass                # the command's work goes on
    Path({str(tmp_path / "out.txt")!r}).write_text("written after the signal")
    return 0

export_commands.cmd_inspect = command
sys.exit(cli.main(["inspect", "x.net"]))
""")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == code, r.stderr
    assert not (tmp_path / "out.txt").exists() and "Exception ignored" not in r.stderr, r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_import_interrupted_in_its_accuracy_pass_writes_nothing(files, tmp_path, sig, code):
    """`lavacut import` stopped during the accuracy pass: the exit code of
    the other commands and no NetX file."""
    out = tmp_path / "imp.net"
    p = subprocess.Popen(
        [sys.executable, "-m", "lavacut.cli", "import", files / "g.nir", "-o", out],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    os.set_blocking(p.stderr.fileno(), False)
    seen, t0 = b"", time.time()
    while b"test accuracy" not in seen and p.poll() is None and time.time() - t0 < 600:
        seen += p.stderr.read() or b""
        time.sleep(0.05)
    p.send_signal(getattr(signal, sig))
    _, err = p.communicate(timeout=120)
    assert p.returncode == code, (seen + err).decode()[-2000:]
    assert not out.exists() and not list(tmp_path.glob(".imp.net.*")), list(tmp_path.iterdir())
