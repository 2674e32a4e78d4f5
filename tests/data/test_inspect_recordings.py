"""``lavacut inspect`` on event recordings (lavacut.data.formats.describe),
and one answer for inspect, check and run on what a file is."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from event_files_testing import events, structured, write_aedat4, write_dat, write_evt2, write_nmnist
from lavacut_testing import REPO

from lavacut.cli import main

EV = events(n=300, w=20, h=16)
DURATION_US = int(EV["t"][-1] - EV["t"][0])


def _inspect(capsys, path):
    code = main(["inspect", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_the_nmnist_sample(capsys, nmnist_sample):
    code, out, err = _inspect(capsys, nmnist_sample)
    assert code == 0, err
    assert out.splitlines() == [
        str(nmnist_sample),
        "event recording: N-MNIST (format nmnist_bin, recognised by its suffix)",
        "events: 4325, over 310.521 ms (310521 us)",
        "extent: 34 x 34 (largest coordinate + 1); polarities: 0, 1",
        "sensor: 34 x 34 x 2 (the format's convention)",
        f"run a network on it: lavacut run NET --input {nmnist_sample}",
    ]


def test_inspect_a_tonic_npy(tmp_path, capsys):
    path = tmp_path / "rec.npy"
    np.save(path, structured(EV))
    code, out, err = _inspect(capsys, path)
    assert code == 0, err
    assert "(format npy, recognised by its suffix and content)" in out
    assert f"events: 300, over {DURATION_US / 1000:.3f} ms ({DURATION_US} us)" in out
    assert f"extent: {int(EV['x'].max()) + 1} x {int(EV['y'].max()) + 1} " in out
    assert "polarities: 0, 1" in out and "sensor: not declared" in out

    np.save(path, structured(EV, one_d=True))  # a cochlea's x, t, p
    code, out, _ = _inspect(capsys, path)
    assert code == 0 and f"extent: {int(EV['x'].max()) + 1} (1-D: no y)" in out

    np.save(path, np.zeros((2, 34, 34, 10), np.uint8))  # frames, which run --input also takes
    code, out, _ = _inspect(capsys, path)
    assert code == 0 and "frames array (not events): uint8, shape (2, 34, 34, 10)" in out


@pytest.mark.parametrize(
    "name, write, described",
    [
        ("rec.bin", write_nmnist, "N-MNIST"),
        ("rec.dat", lambda p, ev: write_dat(p, ev, 64, 48), "Prophesee DAT"),
        ("rec.raw", lambda p, ev: write_evt2(p, ev, 64, 48), "Prophesee RAW, EVT 2.0"),
        ("rec.aedat4", lambda p, ev: write_aedat4(p, ev, 64, 48), "AEDAT4, iniVation DV"),
    ],
)
def test_inspect_each_format(tmp_path, capsys, name, write, described):
    path = write(tmp_path / name, EV)
    code, out, err = _inspect(capsys, path)
    assert code == 0, err
    assert f"event recording: {described} (format " in out and "events: 300, " in out
    if name != "rec.bin":  # the header declares the camera
        assert "sensor: 64 x 48 x 2 (declared in the file's header)" in out


def test_a_file_that_is_neither_is_refused_naming_what_inspect_reads(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    code, out, err = _inspect(capsys, path)
    assert code == 2 and not out
    assert "notes.txt: unsupported file type '.txt'; supported NetX networks (.net, HDF5), or event files: " in err
    assert all(s in err for s in (".aedat4", ".bin (N-MNIST)", ".npy", ".dat", ".raw"))


def test_inspect_check_and_run_agree_on_what_a_file_is(tmp_path, capsys, nmnist_sample, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for command in (["check"], ["run"], ["evaluate"]):
        assert main([*command, str(nmnist_sample)]) == 2
        err = capsys.readouterr().err
        assert f"FILE {nmnist_sample} is an event recording (N-MNIST), not a network" in err, command
        assert f"--input (lavacut run NET --input {nmnist_sample})" in err
    assert not (tmp_path / "reports").exists()
    # a NetX file is a network whatever its name: HDF5 content, not N-MNIST's .bin
    net = tmp_path / "dense.bin"
    shutil.copyfile(REPO / "netx_exports" / "embedded_dense.net", net)
    code, out, err = _inspect(capsys, net)
    assert code == 0 and "would run: yes" in out, err
    assert main(["check", str(net), "--report", str(tmp_path / "c.json")]) == 0, capsys.readouterr().err
