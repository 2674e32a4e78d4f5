"""Bad input on the command line: one table, input -> exit code and message.

Every row runs the real ``lavacut`` entry point (``lavacut.cli.main``) in
this process on real bad files, and checks the exit code, a one-line message
that names the file, field or option at fault, and that no traceback is
printed. The inputs are those a hostile but fair user tried (issue 12) plus
the --input arrays and folders and NIR graphs of the bring-your-own issue.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from lavacut.cli import main
from lavacut_testing import DENSE, signal_during_lava


def _edit_layer(path: Path, layer: str, name: str, fn) -> None:
    with h5py.File(path, "a") as f:
        g = f["layer"][layer]
        value = fn(np.asarray(g[name][()], dtype=np.float64))
        del g[name]
        g[name] = value


def _nmnist_bytes(x, y, t, p) -> bytes:
    x, y, t, p = (np.asarray(v, dtype=np.uint64) for v in (x, y, t, p))
    word = (x << np.uint64(32)) | (y << np.uint64(24)) | (p << np.uint64(23)) | t
    return b"".join(int(w).to_bytes(5, "big") for w in word)


@pytest.fixture(scope="module")
def bad(tmp_path_factory, nmnist_sample) -> Path:
    """A folder of bad inputs, made once."""
    d = tmp_path_factory.mktemp("bad")
    for name in ("nan.net", "inf_bias.net", "nan_vth.net", "modified.net", "big_weight.net"):
        shutil.copyfile(DENSE, d / name)
    _edit_layer(d / "nan.net", "1", "weight", lambda w: np.where(np.arange(w.size).reshape(w.shape) == 7, np.nan, w))
    with h5py.File(d / "inf_bias.net", "a") as f:
        f["layer"]["2"]["bias"] = np.full(10, np.inf)
    _edit_layer(d / "nan_vth.net", "1/neuron", "vThMant", lambda v: np.float64(np.nan))
    _edit_layer(d / "modified.net", "1", "weight", lambda w: w + 2 * (np.arange(w.size).reshape(w.shape) == 0))
    _edit_layer(d / "big_weight.net", "2", "weight", lambda w: w * 100)
    (d / "text.net").write_text("not a network\n")
    (d / "folder.net").mkdir()
    (d / "empty.pt").write_bytes(b"")
    (d / "text.pt").write_text("not a checkpoint\n")
    (d / "bad.toml").write_text("[train\nepochs = 3\n")
    (d / "a_file").write_text("x")
    # --input: arrays of the wrong shape or with NaN, a folder with a truncated recording
    np.save(d / "shape.npy", np.zeros((4, 2, 8, 8, 30), dtype=bool))
    nan_frames = np.zeros((3, 2, 34, 34, 30))
    nan_frames[1, 0, 5, 3, 2] = np.nan
    np.save(d / "nan_frames.npy", nan_frames)
    rec = nmnist_sample.read_bytes()
    (d / "recs" / "0").mkdir(parents=True)  # folders named by class (issue 23: labels by name)
    (d / "recs" / "1").mkdir(parents=True)
    (d / "recs" / "0" / "a.bin").write_bytes(rec)
    (d / "recs" / "1" / "b.bin").write_bytes(rec[:-3])
    # a tonic N-MNIST tree with one truncated and one out-of-sensor recording
    for split, cls, name, data in (
        ("Train", "3", "a.bin", rec),
        ("Train", "4", "cut.bin", rec[:-2]),
        ("Test", "3", "a.bin", rec),
        ("Test", "5", "wide.bin", _nmnist_bytes([40], [1], [5], [1])),
    ):
        (d / "nm" / "NMNIST" / split / cls).mkdir(parents=True, exist_ok=True)
        (d / "nm" / "NMNIST" / split / cls / name).write_bytes(data)
    # NIR: a node type lavacut cannot map, and a file that is not NIR
    graph = nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([4])),
        nir.Linear(weight=np.full((3, 4), 0.25)),
        nir.Delay(delay=np.ones(3)),
        nir.Output(output_type=np.array([3])),
    )
    graph.metadata = {"dt": 1e-3}
    nir.write(d / "delay.nir", graph)
    (d / "text.nir").write_text("not nir\n")
    return d


NAN = "layer 1 weight contains NaN or infinite values"
MODIFIED = "modified after export"
CASES = [
    # ---- NetX files with bad numbers, or changed after export
    ("nan weights: run", "run {d}/nan.net --samples 2", 2, NAN),
    ("nan weights: evaluate", "evaluate {d}/nan.net --samples 2", 2, NAN),
    ("nan weights: calibrate", "calibrate {d}/nan.net", 2, NAN),
    ("nan weights: export nir", "export {d}/nan.net --format nir -o {d}/out/x.nir", 2, NAN),
    ("nan weights: verify", "verify {d}/nan.net --samples 2", 2, NAN),
    ("nan weights: inspect flags", "inspect {d}/nan.net", 1, "PROBLEM: " + NAN),
    ("inf bias: run", "run {d}/inf_bias.net --samples 2", 2, "layer 2 bias contains NaN or infinite"),
    ("nan threshold: run", "run {d}/nan_vth.net --samples 2", 2, "layer 1 neuron vThMant is NaN or infinite"),
    ("nan threshold: inspect", "inspect {d}/nan_vth.net", 1, "PROBLEM: layer 1 neuron vThMant is NaN"),
    (
        "weights beyond 8 bits",
        "evaluate {d}/big_weight.net --samples 2",
        2,
        r"layer 2 weight has values in \[.*\], outside the 8-bit weight mantissa range",
    ),
    ("modified: run", "run {d}/modified.net --samples 2", 2, MODIFIED + r".*--accept-modified"),
    ("modified: evaluate", "evaluate {d}/modified.net --samples 2", 2, MODIFIED),
    ("modified: calibrate", "calibrate {d}/modified.net", 2, MODIFIED),
    ("modified: inspect flags", "inspect {d}/modified.net", 1, "PROBLEM: the layers were modified after export"),
    ("not HDF5", "run {d}/text.net --samples 2", 2, r"text.net: not an HDF5 file"),
    ("folder as .net", "run {d}/folder.net", 2, r"folder.net is a folder; give a NetX .net file"),
    ("missing .net", "evaluate {d}/missing.net", 2, r"missing.net: no such file"),
    # ---- stop-rule parameters: typed and range-checked before any Lava process starts
    (
        "param not a number",
        "run {net} --policy confidence --param eps=abc --samples 2",
        2,
        r"eps must be a number, got 'abc'",
    ),
    ("param out of range", "run {net} --policy confidence --param eps=-1 --samples 2", 2, r"eps must be in"),
    ("param unknown", "run {net} --param foo=1 --samples 2", 2, r"has no parameter\(s\) foo"),
    (
        "topk eps without its beta",
        "evaluate {net} --param eps=0.123 --samples 2",
        2,
        r"calibrated for eps=0\.\d+; for eps=0.123 run 'lavacut calibrate .* --eps 0.123'",
    ),
    ("fixed T beyond the horizon", "run {net} --policy fixed --param T=99 --samples 2", 2, r"T"),
    ("unknown policy", "run {net} --policy bogus", 2, r"invalid choice: 'bogus'"),
    ("negative samples: run", "run {net} --samples -3", 2, r"argument --samples: must be an integer >= 0, got -3"),
    ("negative samples: evaluate", "evaluate {net} --samples -3", 2, r"--samples: must be an integer >= 0, got -3"),
    ("negative samples: verify", "verify {net} --samples -3", 2, r"--samples: must be an integer >= 0, got -3"),
    ("samples not a number", "run {net} --samples abc", 2, r"--samples: must be an integer >= 0, got 'abc'"),
    # ---- checkpoints and output paths (checked before the measuring starts)
    ("0-byte checkpoint", "export {d}/empty.pt -o {d}/out/e.net", 2, r"empty.pt is an empty file \(0 bytes\)"),
    ("text checkpoint", "export {d}/text.pt -o {d}/out/t.net", 2, r"text.pt cannot be read as a lavacut checkpoint"),
    ("missing checkpoint", "export {d}/none.pt", 2, r"checkpoint .*none.pt does not exist"),
    ("export into a folder", "export {d}/empty.pt -o {d}", 2, r"is a folder; give a file name"),
    ("export below a file", "export {d}/empty.pt -o {d}/a_file/x.net", 2, r"a_file is a file, not a folder"),
    (
        "report below a file",
        "evaluate {net} --samples 2 --report {d}/a_file/r.json",
        2,
        r"--report .*a_file is a file, not a folder",
    ),
    # ---- configs and data sets
    ("bad TOML", "evaluate {net} --config {d}/bad.toml", 2, r"bad.toml"),
    ("missing config", "train --config {d}/none.toml", 2, r"none.toml"),
    ("unknown config key", "train --set train.epoks=3", 2, r"epoks"),
    ("bad config value", "train --set train.epochs=x", 2, r"train.epochs must be an integer, got 'x'"),
    ("config value out of range", "train --set train.epochs=0", 2, r"train.epochs must be at least 1, got 0"),
    ("negative learning rate", "train --set optim.lr=-1", 2, r"optim.lr must be positive, got -1.0"),
    ("unknown run mode", "run {net} --set run.mode=fast", 2, r"run.mode must be halt or stream, got 'fast'"),
    ("calibration target out of range", "calibrate {net} --eps 2", 2, r"argument --eps: must be in \[0, 1\), got 2"),
    (
        "confidence out of range",
        "calibrate {net} --risk-delta 0.01 --risk-confidence 1.5",
        2,
        r"argument --risk-confidence: must be in \(0, 1\), got 1.5",
    ),
    ("unknown data set", "data --set data.dataset=mnist3d", 2, r"unknown data set 'mnist3d'"),
    (
        "data set files missing",
        "data --set data.dataset=nmnist --set data.root={d}/nowhere",
        2,
        r"(?s)nowhere.*--set data.download=true",
    ),
    (
        "truncated N-MNIST file: train",
        "train --set data.dataset=nmnist --set data.root={d}/nm --out {d}/runs/r",
        2,
        r"NMNIST/Train/4/cut.bin: truncated recording: 21623 bytes",
    ),
    (
        "out-of-sensor N-MNIST file: data",
        "data --set data.dataset=nmnist --set data.root={d}/nm --plot {d}/out/s.png --index 1",
        2,
        r"NMNIST/Test/5/wide.bin: event 0 has x=40 outside the sensor",
    ),
    # ---- your own data (--input)
    ("--input missing", "evaluate {net} --input {d}/nothing", 2, r"nothing: no such file or folder"),
    (
        "--input wrong shape",
        "evaluate {net} --input {d}/shape.npy",
        2,
        r"shape.npy: frames \(4, 2, 8, 8, 30\) do not match the network input \(2, 34, 34\)",
    ),
    ("--input NaN frames", "evaluate {net} --input {d}/nan_frames.npy", 2, r"nan_frames.npy.*(NaN|finite)"),
    (
        "--input truncated file in a folder",
        "evaluate {net} --input {d}/recs --set data.sensor=[34,34,2]",
        2,
        r"recs/1/b.bin: truncated recording",
    ),
    # ---- NIR graphs
    ("NIR unsupported node", "import {d}/delay.nir -o {d}/out/delay.net --no-evaluate", 2, r"node .* has type Delay"),
    ("not a NIR file", "import {d}/text.nir -o {d}/out/t.net --no-evaluate", 2, r"text.nir"),
    # ---- usage
    ("no command", "", 2, r""),
    ("unknown command", "frobnicate", 2, r"invalid choice: 'frobnicate'"),
]


@pytest.mark.parametrize("case, argv, code, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad, tmp_path, monkeypatch, capsys, case, argv, code, message):
    monkeypatch.chdir(tmp_path)  # nothing may be written where the test runs
    args = argv.format(d=bad, net=DENSE).split()
    try:
        rc = main(args)
    except SystemExit as exc:  # argparse's usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    text = out + err
    assert rc == code, f"{case}: exit {rc}, expected {code}\n{text[-2000:]}"
    assert "Traceback" not in text
    import re

    assert re.search(message, text), f"{case}: message {message!r} not in\n{text[-2000:]}"
    if code == 2 and argv:
        errors = [line for line in err.splitlines() if "error" in line]
        assert errors, f"{case}: no error line on stderr:\n{err}"
    assert not any(tmp_path.iterdir()), f"{case}: wrote {list(tmp_path.iterdir())}"
    assert not (bad / "runs").exists(), "a failed train left its run folder"


@pytest.mark.parametrize("command", ["run", "evaluate"])
def test_a_bad_stop_rule_is_named_before_the_data_loads(command, tmp_path, monkeypatch, capsys):
    """A data set's frames have framing.T steps, so the stop rule is checked
    before they load: an empty cache stays empty."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("LAVACUT_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    for args, message in (
        (["--policy", "confidence", "--param", "eps=abc"], "eps must be a number, got 'abc'"),
        (["--policy", "topk", "--param", "eps=0.2"], "lavacut calibrate"),  # stale per-step thresholds
    ):
        assert main([command, str(DENSE), *args, "--samples", "2"]) == 2
        assert message in capsys.readouterr().err
    assert not cache.exists() or not any(cache.rglob("*")), sorted(cache.rglob("*"))


def test_files_are_unchanged_by_failed_commands(bad):
    """A refused file is never rewritten (calibrate stores into the .net)."""
    before = (bad / "modified.net").read_bytes()
    assert main(["calibrate", str(bad / "modified.net")]) == 2
    assert (bad / "modified.net").read_bytes() == before


def test_internal_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys, tmp_path):
    """An unexpected exception (a bug) exits 3 with one line, and --debug
    re-raises it. The bug is injected into the real inspect pipeline."""
    import lavacut.pipelines.stages as stages

    def broken(path):
        raise ZeroDivisionError("injected bug")

    monkeypatch.setattr(stages, "format_inspection", broken)
    assert main(["inspect", str(DENSE)]) == 3
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: injected bug" in err and "--debug" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ZeroDivisionError):
        main(["inspect", str(DENSE), "--debug"])


@pytest.mark.slow
def test_sigterm_stops_lava_like_ctrl_c(tmp_path):
    """SIGTERM during a Lava run: exit 143, a one-line message, no Lava
    process or /dev/shm segment left, no report written."""
    # one lane: the run must still be going when the signal comes (32 lanes finish 300 samples in 1 s)
    args = ("run", DENSE, "--samples", 300, "--mode", "stream", "--lanes", 1, "--report", tmp_path / "r.json")
    r, left, leaked = signal_during_lava(*args, cwd=tmp_path, settle=2.0)
    assert r.returncode == 128 + signal.SIGTERM, (r.stdout[-2000:], r.stderr[-2000:])
    assert "terminated (SIGTERM)" in r.stderr and "Traceback" not in r.stderr
    assert not left, f"processes left behind: {left}"
    assert not leaked, f"/dev/shm entries left behind: {sorted(leaked)}"
    assert not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_a_closing_terminal_stops_lava_unless_nohup(tmp_path):
    """SIGHUP to the whole process group (the terminal closed, e.g. a dropped
    ssh session): exit 129, no Lava process or /dev/shm segment left, no
    report. Under nohup (SIGHUP ignored) the same run goes on and reports."""
    args = ("run", DENSE, "--samples", 300, "--mode", "stream", "--lanes", 1, "--report", tmp_path / "r.json")
    r, left, leaked = signal_during_lava(*args, cwd=tmp_path, settle=1.0, sig=signal.SIGHUP, group=True)
    assert r.returncode == 128 + signal.SIGHUP, (r.stdout[-2000:], r.stderr[-2000:])
    assert "terminated (SIGHUP)" in r.stderr and "Traceback" not in r.stderr
    assert not left and not leaked, (left, sorted(leaked))
    assert not (tmp_path / "r.json").exists()
    args = (*args[:3], 40, *args[4:])
    r, left, leaked = signal_during_lava(*args, cwd=tmp_path, settle=0.2, sig=signal.SIGHUP, group=True, nohup=True)
    assert r.returncode == 0 and "terminated" not in r.stderr, r.stderr[-2000:]
    assert len(json.loads((tmp_path / "r.json").read_text())["per_sample"]) == 40
    assert not left and not leaked, (left, sorted(leaked))
