"""Two commands at once, and a hostile environment: the data cache
($LAVACUT_CACHE) unusable, the working folder deleted. Nothing is lost or
mixed (a calibration, a report and its CSV, a training folder), and what
cannot work exits 2 naming the path and the setting, before any work.

The concurrent writers are threads of this process: flock locks belong to
an open file, so two threads conflict exactly as two processes do.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from lavacut.cli import main
from lavacut_testing import DENSE, run_cli


def _in_threads(fn, n):
    errors = []

    def wrapped(i):
        try:
            fn(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_two_calibrations_of_one_export_at_once_lose_nothing(tmp_path):
    """Each calibration copies the export, adds its rules and replaces it:
    unlocked, the later replace dropped the other's rules."""
    from lavacut.export.validate import read_metadata, write_calibration

    net = tmp_path / "X.net"
    shutil.copyfile(DENSE, net)
    topk = read_metadata(net)["cutoff"]["topk"]

    def calibrate(i):
        for k in range(2):
            write_calibration(net, {f"topk_t{i}k{k}": {**topk, "eps": 0.01 * (i + 1)}})

    _in_threads(calibrate, 3)
    cutoff = read_metadata(net)["cutoff"]
    assert {f"topk_t{i}k{k}" for i in range(3) for k in range(2)} <= set(cutoff)
    assert cutoff["topk_t2k1"]["eps"] == pytest.approx(0.03) and cutoff["topk"] == topk
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.net"]  # no lock or temp file left


def test_two_commands_writing_one_report_never_mix_json_and_csv(tmp_path):
    """Unlocked, one run's JSON could end beside the other's CSV."""
    from lavacut.measure.reports import write_report

    path = tmp_path / "r.json"

    def rows(i):
        r = {"label": i, "t_c": 1 + i, "pred": i, "pred_full": i, "counts": [i, 0], "counts_full": [i, 0]}
        return [{"index": j, **r} for j in range(400 + 100 * i)]

    reports = [{"writer": i, "per_sample": rows(i)} for i in range(2)]
    for _ in range(12):
        start = threading.Barrier(2)
        _in_threads(lambda i, start=start: (start.wait(), write_report(reports[i], path, plots=False)), 2)
        writer = json.loads(path.read_text())["writer"]
        csv_rows = path.with_suffix(".samples.csv").read_text().splitlines()
        assert len(csv_rows) == 1 + 400 + 100 * writer  # the CSV of the run whose JSON is there
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.samples.csv"]


def test_a_second_training_into_a_busy_folder_is_refused(tmp_path):
    from lavacut.locks import exclusive_folder, folder_lock
    from lavacut.util import LavacutError

    run = tmp_path / "run"
    with exclusive_folder(run, "--out"):  # the first training, at work
        (run / "last.pt").write_bytes(b"the first run's")
        r = run_cli("train", "--out", run, "--set", "train.epochs=1", check=False)
        # the recipes' trainings (experiments, rcs-sweep) go through the same trainer
        from lavacut.config import load_config
        from lavacut.locks import FolderInUse
        from lavacut.train.trainer import train

        with pytest.raises(FolderInUse, match=f"run folder {run} is in use"):
            train(load_config(None), run, progress=False)
        # a report written into it waits its turn, for a while, then names the folder
        with pytest.raises(LavacutError, match=f"its folder {run} stayed locked by another lavacut command"):
            with folder_lock(run / "r.json", wait_s=0.1):
                pass
    assert r.returncode == 2, r.stderr
    assert f"--out {run} is in use by another lavacut command" in r.stderr
    assert sorted(p.name for p in run.iterdir()) == ["last.pt"] and "Traceback" not in r.stderr


def _cache_cases(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    return {
        "a file": (afile, "it is a file, not a folder"),
        "below a file": (afile / "sub" / "cache", f"{afile} is a file, not a folder"),
        "cannot be created": (Path("/proc/lavacut-cache"), "cannot create the folder"),
        "not writable": (Path("/proc"), "cannot write in the folder"),
    }


@pytest.mark.parametrize("case", ["a file", "below a file", "cannot be created", "not writable"])
def test_an_unusable_cache_folder_exits_2_naming_it_and_the_setting(tmp_path, case):
    cache, message = _cache_cases(tmp_path)[case]
    r = run_cli("data", check=False, env={"LAVACUT_CACHE": str(cache)})
    assert r.returncode == 2, r.stderr
    assert f"data cache {cache} ($LAVACUT_CACHE): {message}" in r.stderr
    assert "set LAVACUT_CACHE to a writable folder" in r.stderr and "Traceback" not in r.stderr


def test_a_folder_in_place_of_a_cache_file_is_named_before_building(tmp_path):
    """It made the rename at the end of the 15 s build fail."""
    from lavacut.data.embedded import EmbeddedBuildConfig, cache_paths

    data, _ = cache_paths(EmbeddedBuildConfig(), tmp_path)
    data.mkdir()
    r = run_cli("data", check=False, env={"LAVACUT_CACHE": str(tmp_path)})
    assert r.returncode == 2, r.stderr
    assert f"data cache {data} ($LAVACUT_CACHE): is a folder, not a cache file; remove it" in r.stderr
    assert "building it again" not in r.stderr and "unusable" not in r.stderr


def test_a_cache_that_cannot_be_written_after_framing_keeps_the_frames(tmp_path, caplog):
    from lavacut.data.events import EVENT_DTYPE
    from lavacut.data.framing import FramingConfig, load_framed

    root = tmp_path / "cache"
    root.mkdir()
    ev = np.zeros(3, dtype=EVENT_DTYPE)
    ev["x"], ev["t"], ev["p"] = [1, 2, 3], [0, 10_000, 20_000], 1

    class Vanishing:  # its cache folder is replaced by a file while it is framed
        sensor_size = (34, 34, 2)

        def __len__(self):
            return 2

        def __getitem__(self, i):
            if root.is_dir():
                shutil.rmtree(root)
                root.write_text("not a folder")
            return ev, i

    fs = load_framed(Vanishing(), "vanishing", "test", FramingConfig(T=3), progress=False, root=root)
    assert fs.frames.shape == (2, 2, 34, 34, 3) and fs.frames[:, 1, 0].sum() == 6
    assert "framed cache" in caplog.text and "not written" in caplog.text


def test_a_deleted_working_folder_exits_2_naming_it(tmp_path, monkeypatch, capsys):
    """Torch's import aborted (MKL FATAL ERROR) in a deleted folder."""
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert main(["run", str(DENSE), "--samples", "2"]) == 2
    err = capsys.readouterr().err
    assert f"the working folder {gone} was deleted; cd to an existing folder" in err
    # deleted while a command ran: its write at a relative path (reports/run.json) says why it failed
    from lavacut.cli import _os_error_message

    msg = _os_error_message(FileNotFoundError(2, "No such file or directory", "reports"))
    assert msg == f"reports: No such file or directory (the working folder {gone} was deleted while lavacut ran)"


def test_reports_as_a_file_refuses_the_default_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("reports").write_text("mine")
    r = run_cli("evaluate", DENSE, "--samples", "2", check=False)
    assert r.returncode == 2 and "--report reports/evaluate.json: reports is a file, not a folder" in r.stderr
    assert Path("reports").read_text() == "mine" and os.listdir(tmp_path) == ["reports"]


def test_commands_framing_into_one_cache_at_once_read_whole_files_only(tmp_path):
    """Writers replace the cache files atomically (same bytes), a cleaner
    removes them: every reader gets the right frames, never a half file."""
    from lavacut.data.events import EVENT_DTYPE
    from lavacut.data.framing import FramingConfig, load_framed

    ev = np.zeros(40, dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = np.arange(40) % 34, np.arange(40) // 2, np.arange(40) * 1000, 1

    class Data(list):
        sensor_size = (34, 34, 2)

    data = Data((ev, i % 3) for i in range(12))
    cfg = FramingConfig(T=8, bin_us=5000)
    want = load_framed(data, "shared", "test", cfg, progress=False, root=tmp_path / "ref").frames

    def frame(i):
        for k in range(6):
            if i == 0 and k % 2:  # a cleaner: the next reader builds again
                for p in tmp_path.glob("framed_*"):
                    p.unlink(missing_ok=True)
            fs = load_framed(data, "shared", "test", cfg, progress=False, root=tmp_path)
            assert np.array_equal(fs.frames, want)

    _in_threads(frame, 4)
    frame(1)  # what is left is a whole, valid cache (or none)
    assert all(p.name.startswith("framed_shared_test_") for p in tmp_path.glob("*") if p.is_file())


@pytest.mark.parametrize("damage", ["truncated data", "garbage meta", "meta of another file"])
def test_a_damaged_framed_cache_is_framed_again_with_a_note(tmp_path, caplog, damage):
    from lavacut.data.events import EVENT_DTYPE
    from lavacut.data.framing import FramingConfig, load_framed

    ev = np.zeros(5, dtype=EVENT_DTYPE)
    ev["x"], ev["t"], ev["p"] = [1, 2, 3, 4, 5], [0, 4000, 8000, 12000, 16000], 1

    class Data(list):
        sensor_size = (34, 34, 2)

    data, cfg = Data([(ev, 0), (ev[:2], 1)]), FramingConfig(T=4, bin_us=5000)
    want = load_framed(data, "d", "test", cfg, progress=False, root=tmp_path).frames
    (npz,) = tmp_path.glob("framed_*.npz")
    meta = npz.with_suffix(".json")
    (tmp_path / "junk.bin").write_bytes(b"\0" * 10)  # a stranger's file in the folder: left alone
    if damage == "truncated data":
        npz.write_bytes(npz.read_bytes()[:100])
    elif damage == "garbage meta":
        meta.write_text("{not json")
    else:
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "sha256": "0" * 64}))
    caplog.clear()
    fs = load_framed(data, "d", "test", cfg, progress=False, root=tmp_path)
    assert np.array_equal(fs.frames, want) and f"framed cache {npz} is unusable" in caplog.text
    caplog.clear()
    assert np.array_equal(load_framed(data, "d", "test", cfg, progress=False, root=tmp_path).frames, want)
    assert not caplog.text and (tmp_path / "junk.bin").read_bytes() == b"\0" * 10  # rewritten whole
