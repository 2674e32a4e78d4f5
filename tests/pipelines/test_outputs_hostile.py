"""Hostile outputs, the third round: an output that is an input reached
another way (the --config file, a file inside the --input folder, a hard
link), a dangling symlink, a trailing '/', names and paths too long for the
file system, two outputs of one command that coincide. Each is refused with
exit 2 and one line naming the path, before any work, and nothing in the
folder changes (bytes, mtimes, no new entry). A symlink to an existing file
is written through: the link stays.

Every row runs the real entry point (``lavacut.cli.main``) in this process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from lavacut.cli import main
from lavacut_testing import DENSE

LONG_DIR = "d" * 300
DEEP = "/".join(["d" * 250] * 17)


def _state(root: Path) -> dict:
    """Every entry under ``root``: its kind, bytes and mtime (links not followed)."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = os.lstat(p)
        data = p.read_bytes() if p.is_file() and not p.is_symlink() else os.readlink(p) if p.is_symlink() else b""
        out[str(p.relative_to(root))] = (st.st_mode, st.st_mtime_ns, data)
    return out


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    shutil.copyfile(DENSE, tmp_path / "X.net")
    (tmp_path / "c.toml").write_text("[run]\nsamples = 2\n")
    os.link(tmp_path / "c.toml", tmp_path / "hard.toml")
    (tmp_path / "recs").mkdir()
    np.save(tmp_path / "recs" / "a.npy", np.zeros((3, 2, 34, 34, 30), dtype=np.uint8))
    (tmp_path / "recs" / "labels.toml").write_text("[data]\nlabel_map = {a = 0}\n")
    (tmp_path / "dangling.json").symlink_to("nowhere/r.json")
    (tmp_path / "loop.json").symlink_to("loop.json")
    (tmp_path / "a_file").write_text("x")
    monkeypatch.chdir(tmp_path)
    return tmp_path


CASES = [
    # an output that is an input reached another way
    ("run X.net -c c.toml --report c.toml", "--report c.toml is the --config c.toml"),
    ("run X.net -c c.toml --report hard.toml", "--report hard.toml is the --config c.toml"),
    ("import c.toml -c c.toml -o c.toml --no-evaluate", "-o c.toml is the --config c.toml"),
    (
        "run X.net --input recs --report recs/labels.toml",
        "--report recs/labels.toml is inside the --input folder recs",
    ),
    # paths that are not a file to write
    ("run X.net --samples 2 --report dangling.json", "--report dangling.json is a symlink to nowhere/r.json"),
    ("run X.net --samples 2 --report loop.json", "--report loop.json is a symlink to loop.json"),
    ("run X.net --samples 2 --report out/", "--report out/ ends in '/', which names a folder"),
    ("export X.net --format nir -o out/", "-o out/ ends in '/', which names a folder"),
    ("data --json out/", "--json out/ ends in '/'"),
    ("evaluate X.net --samples 2 --report a_file/r.json", "--report a_file/r.json: a_file is a file, not a folder"),
    ("check X.net --report a_file/x/r.json", "a_file is a file, not a folder"),
    # names and paths the file system does not take (ENAMETOOLONG after the work, before)
    (f"run X.net --samples 2 --report {LONG_DIR}/r.json", "--report: the name dddd"),
    (f"train --out {LONG_DIR}", "--out: the name dddd"),
    (f"export X.net --format nir -o {DEEP}/g.nir", "more than the 3896 lavacut writes to"),
    # two outputs of one command that coincide
    ("check X.net --report r.png", "--report's core map r.png and --report r.png are the same file"),
    ("data --json a.png --plot a.png", "--plot a.png and --json a.png are the same file"),
]


@pytest.mark.parametrize("argv,message", CASES, ids=[c[0][:60] for c in CASES])
def test_a_hostile_output_is_refused_and_nothing_changes(work, capsys, argv, message):
    before = _state(work)
    try:
        code = main(argv.split())
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert err.count("\n") == 1, err
    assert _state(work) == before


def test_a_symlink_to_a_file_is_written_through(work, capsys):
    """Before: the atomic rename replaced the user's link by a regular file
    (and calibrate of a linked .net left the real file uncalibrated)."""
    (work / "other.json").write_text("{}")
    (work / "link.json").symlink_to(work / "other.json")
    from lavacut.util import atomic_write_text

    atomic_write_text(work / "link.json", '{"a": 1}\n')
    assert (work / "link.json").is_symlink() and (work / "other.json").read_text() == '{"a": 1}\n'
    assert sorted(p.name for p in work.iterdir() if p.name.startswith(".")) == []


# ----------------------------------------------------------------------------- interrupted writes
@pytest.mark.parametrize("failure,code", [("crash", 3), ("sigterm", 143)])
def test_calibrate_interrupted_mid_write_keeps_the_old_file(work, capsys, monkeypatch, failure, code):
    """calibrate stores into FILE: a crash (a bug) or SIGTERM while the new
    file is being written leaves FILE as it was and no temp file beside it."""
    import lavacut.export.netx.file as netx_file
    from lavacut.util import Terminated

    rng = np.random.default_rng(1)
    frames = (rng.random((20, 2, 34, 34, 30)) < 0.08).astype(np.uint8)
    np.savez(work / "cal.npz", frames=frames, labels=np.arange(20) % 10)
    real = netx_file._write_cutoff

    def half_written(g, *a, **kw):
        real(g, *a, **kw)  # the calibration is in the temp copy: now the process dies
        raise Terminated(15) if failure == "sigterm" else RuntimeError("injected crash mid-write")

    monkeypatch.setattr(netx_file, "_write_cutoff", half_written)
    before = _state(work)
    code_ = main(["calibrate", "X.net", "--input", "cal.npz"])
    err = capsys.readouterr().err
    assert code_ == code, err
    assert _state(work) == before, "X.net changed or a temp file was left"


# ----------------------------------------------------------------------------- numbers in reports
def _strict(path: Path) -> dict:
    def refuse(token):
        raise AssertionError(f"{path} holds {token}: not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_reports_are_strict_json_and_a_nan_is_refused(tmp_path):
    """Python's json writes NaN/Infinity by default (invalid JSON); a report
    holding one is refused with its key, nothing written."""
    from lavacut.util import atomic_write_json

    for value, key in ((float("nan"), "a.b[1]"), (np.float32("inf"), "a.b[1]")):
        with pytest.raises(ValueError, match=re.escape(key) + " is NaN or infinite"):
            atomic_write_json(tmp_path / "r.json", {"a": {"b": [1.0, value]}, "n": 2})
    assert not any(tmp_path.iterdir())


def test_zero_synops_and_samples_beyond_the_input(work, capsys):
    """Silent input frames: 0 synaptic ops at the cutoff and at full T. The
    ratio was 0 / max(0, 1e-12) = 0.0 (and full / 1e-12, some 1e17, for a
    silent start): now null. --samples 5 on 2 samples said nothing; now the
    report says so and n_samples is what ran."""
    np.savez(work / "zeros.npz", frames=np.zeros((2, 2, 34, 34, 30), np.uint8), labels=np.array([0, 1]))
    code = main(
        ["evaluate", "X.net", "--input", "zeros.npz", "--samples", "5", "--no-neurobench", "--report", "e.json"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    rep = _strict(work / "e.json")
    assert rep["n_samples"] == 2 and len(rep["per_sample"]) == 2
    assert rep["input_notes"] == ["--samples 5: zeros.npz has 2; ran all 2"] and "ran all 2" in out
    ops = rep["operations"]
    assert ops["synops_full_mean"] == ops["synops_cutoff_mean"] == 0 and ops["synops_ratio"] is None
    assert "(no op up to the cutoff)" in out


def test_no_validation_hold_out_is_no_figure_not_minus_one():
    """train.val_fraction = 0: metrics.json had val_acc NaN (not JSON) and
    best_val_acc -1.0, and the export's accuracy.best_val -1.0; now null."""
    from lavacut.train.checkpoint import best_val

    assert [best_val({"best_val_acc": v}) for v in (-1.0, float("nan"), None, 0.75)] == [None, None, None, 0.75]
    assert best_val({}) is None
