"""Hostile recordings through the real CLI (in process): every malformed
file is a one-line error naming the file and the field at fault (exit 2),
never an internal error (exit 3) or a traceback, and ``inspect`` and ``run``
give the same answer on what a file is. Each case is a defect found by
building such files by hand (the fixes' tests), plus the categories around
them that already held."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from event_files_testing import events, write_aedat4, write_dat, write_evt2, write_nmnist
from lavacut_testing import REPO, run_cli

from lavacut.data.framing import FramingConfig
from lavacut.data.labels import folder_labels
from lavacut.data.user_input import UserInputError, load_user_input

NET = REPO / "netx_exports" / "embedded_dense.net"  # input (2, 34, 34), classes 0..9, T = 30


def ev34(n=100):
    return events(n, w=34, h=34)


def fields(names_types, n=10):
    a = np.zeros(n, dtype=names_types)
    if "t" in a.dtype.names and a.dtype["t"].shape == ():
        a["t"] = np.arange(n) * 1000
    return a


def refused(r, *words):
    """Exit 2, one line naming each of ``words``, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stdout[-800:], r.stderr[-800:])
    assert "Traceback" not in r.stderr and "panicked" not in r.stderr, r.stderr[-1500:]
    err = r.stderr.strip().splitlines()
    assert len(err) == 1, r.stderr
    for w in words:
        assert w in err[0], (w, err[0])
    return err[0]


def run(tmp_path, path, *more):
    return run_cli("run", NET, "--input", path, "--samples", "2", "--report", tmp_path / "r.json", *more, check=False)


# ----------------------------------------------------------- structured .npy
def _subarray(tmp):
    a = np.zeros(10, dtype=[("x", "<i8", (2,)), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
    a["t"] = np.arange(10)
    return a


def _uint64_t(tmp):
    a = fields([("x", "<i8"), ("y", "<i8"), ("t", "<u8"), ("p", "<i8")])
    a["t"] = np.arange(10, dtype=np.uint64) + np.uint64(2**63)  # wraps negative in an int64 cast
    return a


def _float_t_huge(tmp):
    a = fields([("x", "<f8"), ("y", "<f8"), ("t", "<f8"), ("p", "<f8")])
    a["t"] = np.arange(10) * 1e20
    return a


def _subarray_p(tmp):
    a = np.zeros(10, dtype=[("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8", (3,))])
    a["t"] = np.arange(10)
    return a


def _negative_x(tmp):
    a = fields([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
    a["x"] = -1
    return a


def _polarity_2(tmp):
    a = fields([("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
    a["p"] = [0, 2] * 5
    return a


def _fractional_x(tmp):
    a = fields([("x", "<f8"), ("y", "<f8"), ("t", "<f8"), ("p", "<f8")])
    a["x"] = 0.5
    return a


STRUCTURED = {
    # name: (array builder, words the error names)
    "sub-array field x": (_subarray, ["field x", "values per event"]),
    "sub-array field p": (_subarray_p, ["field p", "values per event"]),
    "uint64 t past 2**63": (_uint64_t, ["field t", "2**62"]),
    "float t past int64": (_float_t_huge, ["field t", "2**62"]),
    "empty": (lambda tmp: ev34(0), ["no events"]),
    "unsorted t": (lambda tmp: ev34()[::-1].copy(), ["not sorted"]),
    "negative x": (_negative_x, ["field x", "-1"]),
    "polarity 2": (_polarity_2, ["field p", "[0, 2]"]),
    "no t field": (lambda tmp: fields([("x", "<i8"), ("y", "<i8"), ("ts", "<i8"), ("p", "<i8")]), ["lacks", "(s) t "]),
    "fractional x": (_fractional_x, ["field x", "non-integer"]),
}


@pytest.mark.parametrize("case", sorted(STRUCTURED))
def test_structured_npy_refused_in_one_line(tmp_path, case):
    build, words = STRUCTURED[case]
    path = tmp_path / "rec.npy"
    np.save(path, build(tmp_path))
    refused(run_cli("inspect", path, check=False), str(path), *words)
    refused(run(tmp_path, path), str(path), *words)


# ------------------------------------------------------------------ AEDAT4
def _aedat4_variants(tmp_path):
    good = write_aedat4(tmp_path / "good.aedat4", ev34(), 34, 34).read_bytes()
    (hlen,) = struct.unpack("<i", good[14:18])
    body = 18 + hlen
    rng = np.random.default_rng(0)
    return {
        "header length 0": good[:14] + struct.pack("<i", 0) + good[18:],
        "garbage header": good[:18] + rng.integers(0, 256, hlen, dtype=np.uint8).tobytes() + good[body:],
        "zeroed packets": good[:body] + bytes(len(good) - body),
        "magic only": b"#!AER-DAT4.0\r\n" + bytes(50),
    }


@pytest.mark.parametrize("case", ["header length 0", "garbage header", "zeroed packets", "magic only"])
def test_corrupt_aedat4_is_an_error_not_a_rust_panic(tmp_path, case):
    """The aedat decoder panics (pyo3 PanicException, a BaseException that
    escaped the CLI's handler with a Rust backtrace) on damaged flatbuffers."""
    path = tmp_path / "bad.aedat4"
    path.write_bytes(_aedat4_variants(tmp_path)[case])
    refused(run_cli("inspect", path, check=False), str(path), "AEDAT4")
    refused(run(tmp_path, path), str(path), "AEDAT4")


# ----------------------------------------------------- what a file is: one answer
def _misnamed(tmp_path, case):
    if case == "npy named .bin":
        np.save(tmp_path / "x.npy", ev34())
        return (tmp_path / "x.npy").rename(tmp_path / "x.bin"), "x.npy"
    if case == "aedat4 named .npy":
        return write_aedat4(tmp_path / "x.aedat4", ev34(), 34, 34).rename(tmp_path / "x.npy"), "x.aedat4"
    if case == "aedat4 named .bin":
        return write_aedat4(tmp_path / "x.aedat4", ev34(), 34, 34).rename(tmp_path / "x.bin"), "x.aedat4"
    if case == "raw named .dat":
        return write_evt2(tmp_path / "x.raw", ev34(), 34, 34).rename(tmp_path / "x.dat"), "x.raw"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["npy named .bin", "aedat4 named .npy", "aedat4 named .bin", "raw named .dat"])
def test_misnamed_file_same_answer_from_inspect_and_run(tmp_path, case):
    path, rename = _misnamed(tmp_path, case)
    a = refused(run_cli("inspect", path, check=False), str(path), rename)
    b = refused(run(tmp_path, path), str(path), rename)
    assert a.split(": ", 1)[1] == b.split(": ", 1)[1]  # the same message after "lavacut CMD: error"


def test_misnamed_file_in_a_folder_is_named(tmp_path):
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "a.npy", ev34())
    np.save(tmp_path / "x.npy", ev34())
    (tmp_path / "x.npy").rename(tmp_path / "d" / "b.bin")
    refused(run(tmp_path, tmp_path / "d"), "b.bin", "rename it b.npy")


# --------------------------------------------------- Prophesee header sizes
@pytest.mark.parametrize("fmt", ["dat", "raw"])
@pytest.mark.parametrize("size", [(0, 0), (34, 0)])
def test_prophesee_header_sensor_not_positive_refused(tmp_path, fmt, size):
    path = (write_dat if fmt == "dat" else write_evt2)(tmp_path / f"r.{fmt}", ev34(), *size)
    refused(run_cli("inspect", path, check=False), str(path), "header declares the sensor")
    refused(run(tmp_path, path), str(path), "header declares the sensor")


def test_dat_header_malformed_geometry_refused(tmp_path):
    good = write_dat(tmp_path / "g.dat", ev34()).read_bytes()
    path = tmp_path / "r.dat"
    path.write_bytes(b"% geometry abcx\n" + good)  # was silently ignored: framed on a guessed sensor
    refused(run_cli("inspect", path, check=False), str(path), "geometry abcx")


def test_dat_header_valid_geometry_still_read(tmp_path):
    path = write_dat(tmp_path / "g.dat", ev34(), 34, 34, geometry=True)
    r = run_cli("inspect", path)
    assert "34 x 34 x 2 (declared in the file's header)" in r.stdout


# ----------------------------------------------------------- class folders
@pytest.mark.parametrize("name", ["²", "٣", "3²"])
def test_non_ascii_digit_class_folder_is_not_a_class_number(tmp_path, name):
    """'²'.isdigit() is True but int('²') raised (exit 3); '٣' (Arabic-Indic
    three) was silently class 3. Both now name no class: refused, with the
    label_map hint."""
    for d in (name, "0"):
        (tmp_path / "in" / d).mkdir(parents=True)
        np.save(tmp_path / "in" / d / "a.npy", ev34())
    refused(run(tmp_path, tmp_path / "in"), name, "data.label_map")
    with pytest.raises(UserInputError, match="data.label_map"):
        folder_labels([name, "0"], None, 10, None, "in")  # no class names: numbers and names mixed


def test_non_ascii_digit_class_folder_mapped_by_label_map(tmp_path):
    for d in ("²", "0"):
        (tmp_path / "in" / d).mkdir(parents=True)
        np.save(tmp_path / "in" / d / "a.npy", ev34())
    r = run(tmp_path, tmp_path / "in", "--set", 'data.label_map={"²"=2}')
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["label_mapping"]["map"] == {"0": 0, "²": 2}


# ------------------------------------------------------------- paths
def test_non_utf8_file_name_runs_and_is_reported_by_its_bytes(tmp_path):
    """A file name that is not UTF-8 crashed the per-sample CSV (exit 3)."""
    name = os.fsdecode(b"rec\xff\xfe.npy")
    np.save(tmp_path / name, ev34())
    r = run(tmp_path, tmp_path / name)
    assert r.returncode == 0, r.stderr
    csv = (tmp_path / "r.samples.csv").read_bytes()
    assert b"rec\xff\xfe.npy" in csv


# ------------------------------------------------------------ sizes and memory
def test_windows_over_a_bogus_long_recording_refused_before_allocating(tmp_path):
    """One event at t = 2**40 us (12.7 days) cut into 300 ms windows: 3.7
    million windows, a 237 GiB allocation (MemoryError, exit 3)."""
    ev = ev34()
    ev["t"][-1] = 2**40
    np.save(tmp_path / "long.npy", ev)
    refused(run(tmp_path, tmp_path / "long.npy", "--set", "framing.slicing=windows"), "long.npy", "GiB", "windows")


def test_huge_T_refused_before_allocating(tmp_path):
    np.save(tmp_path / "r.npy", ev34())
    refused(run(tmp_path, tmp_path / "r.npy", "--set", "framing.T=99999999999"), "r.npy", "GiB", "framing.T")


def test_events_in_a_corner_of_the_network_input_are_stated(tmp_path):
    """A 10x10 recording framed on the 34x34 network input: the report says
    which sensor and from where, and a note says the events fill a corner."""
    np.save(tmp_path / "small.npy", events(300, w=10, h=10))
    r = run(tmp_path, tmp_path / "small.npy")
    assert r.returncode == 0, r.stderr
    assert "reach only 10x10" in r.stdout and "framing.fit=resize" in r.stdout
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["sensor"] == {"size": [34, 34, 2], "from": "the network input", "events_extent": [10, 10]}
    assert any("reach only 10x10" in n for n in rep["input_notes"])


def test_full_extent_recording_has_no_corner_note(tmp_path):
    np.save(tmp_path / "full.npy", ev34(300))
    s = load_user_input(tmp_path / "full.npy", FramingConfig(), input_shape=(2, 34, 34), progress=False)
    assert s.info["sensor"]["from"] == "the network input" and not s.notes


@pytest.mark.parametrize("sensor", [[34, 34, 3], [34, 5]])
def test_sensor_with_more_than_two_polarities_refused(tmp_path, sensor):
    np.save(tmp_path / "r.npy", ev34())
    refused(run(tmp_path, tmp_path / "r.npy", "--set", f"data.sensor={sensor}"), "data.sensor", "P (polarities)")
    with pytest.raises(UserInputError, match="P"):
        load_user_input(tmp_path / "r.npy", FramingConfig(), sensor=tuple(sensor), progress=False)


def test_missing_symlink_target_in_folder_named(tmp_path):
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "a.npy", ev34())
    (tmp_path / "d" / "b.npy").symlink_to(tmp_path / "gone.npy")
    refused(run(tmp_path, tmp_path / "d"), str(Path(tmp_path / "d" / "b.npy")), "no such file")


def test_mixed_formats_folder_reads_each(tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    np.save(d / "a.npy", ev34())
    write_nmnist(d / "b.bin", ev34())
    write_dat(d / "c.dat", ev34(), 34, 34)
    s = load_user_input(d, FramingConfig(), input_shape=(2, 34, 34), progress=False)
    assert len(s) == 3 and s.frames[0].sum() == s.frames[1].sum() == s.frames[2].sum() > 0


# ------------------------------------------------------------- crops and .npz
def test_crop_that_leaves_a_recording_no_event_refused(tmp_path):
    """Events in rows 0..33 of a camera declared 34x1000, centre-cropped to
    rows 483..516: every frame was empty and run reported its decisions."""
    np.save(tmp_path / "r.npy", ev34())
    r = run(tmp_path, tmp_path / "r.npy", "--set", "framing.fit=crop+resize", "--set", "data.sensor=[34,1000,2]")
    refused(r, "r.npy", "all 100 events", "outside")


def test_crop_states_the_share_of_events_it_leaves_out(tmp_path):
    np.save(tmp_path / "r.npy", events(100, w=40, h=40))
    s = load_user_input(tmp_path / "r.npy", FramingConfig(fit="crop"), input_shape=(2, 34, 34), progress=False)
    ev = np.load(tmp_path / "r.npy")
    x0, y0, w, h = s.info["fit"]["crop"]  # the centre of the events' extent
    outside = int((~((ev["x"] >= x0) & (ev["x"] < x0 + w) & (ev["y"] >= y0) & (ev["y"] < y0 + h))).sum())
    assert outside > 0 and s.info["fit"]["events_outside_crop"] == outside
    assert f"leaves out {outside} of 100 events" in s.notes[0] == s.info["fit"]["note"]


def test_inspect_describes_an_npz_of_frames_as_run_reads_it(tmp_path):
    """run --input takes an .npz of frames; inspect called it an unsupported file type."""
    path = tmp_path / "f.npz"
    np.savez(path, frames=np.zeros((2, 2, 34, 34, 30), bool), labels=np.array([0, 1]))
    r = run_cli("inspect", path)
    assert "frames archive" in r.stdout and "frames: bool, shape (2, 2, 34, 34, 30)" in r.stdout
    assert run(tmp_path, path).returncode == 0
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04garbage")
    assert (
        refused(run_cli("inspect", bad, check=False), str(bad), "corrupt").split(": ", 1)[1]
        == refused(run(tmp_path, bad), str(bad)).split(": ", 1)[1]
    )


def test_one_d_recording_on_a_two_d_network_refused(tmp_path):
    """A cochlea's x, t, p recording on the 34x34 network was offered a
    'centre-crop 1x1 then scale to 34x34' fit."""
    a = fields([("x", "<i8"), ("t", "<i8"), ("p", "<i8")], n=50)
    a["x"] = np.arange(50) % 40
    np.save(tmp_path / "cochlea.npy", a)
    refused(run(tmp_path, tmp_path / "cochlea.npy"), "cochlea.npy", "1-D recording", "(2, 34, 34)")


@pytest.mark.parametrize("case", ["npy named .bin", "aedat4 named .npy"])
def test_check_on_a_misnamed_recording_gives_inspects_answer(tmp_path, case):
    """check said 'not an HDF5 file' where inspect and run say what the file holds."""
    path, rename = _misnamed(tmp_path, case)
    a = refused(run_cli("inspect", path, check=False), rename)
    b = refused(run_cli("check", path, "--report", tmp_path / "c.json", check=False), rename)
    assert a.split(": ", 1)[1] == b.split(": ", 1)[1]


@pytest.mark.parametrize("kind", ["frames array (.npy)", "frames archive (.npz)"])
def test_check_on_frames_names_them_frames(tmp_path, kind):
    """check called a frames .npy an event recording and an .npz 'not an HDF5 file'."""
    frames = np.zeros((1, 2, 34, 34, 30), bool)
    path = tmp_path / ("f.npy" if ".npy" in kind else "f.npz")
    np.save(path, frames) if ".npy" in kind else np.savez(path, frames=frames)
    refused(run_cli("check", path, "--report", tmp_path / "c.json", check=False), f"is a {kind}, not a network")


def test_fifo_in_an_event_folder_named_not_read(tmp_path):
    """A named pipe among the recordings: identify opened it to sniff its
    head and the run hung."""
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "a.npy", ev34())
    os.mkfifo(tmp_path / "d" / "b.npy")
    refused(run(tmp_path, tmp_path / "d"), "b.npy", "FIFO")


@pytest.mark.parametrize("w,f", [(35, 0.5), (195, 0.5), (1, 0.5), (128, 0.3)])
def test_downsample_keeps_the_edge_pixel(tmp_path, w, f):
    """tonic's Downsample puts pixel W-1 at int((W-1) * f), one past int(W * f)
    frames for an odd W: an IndexError (exit 3) on the event at the edge."""
    from lavacut.data.events import make_events
    from lavacut.data.framing import frame_events

    ev = make_events([0, w - 1], [0, w - 1], [0, 1000], [True, True])
    fc = FramingConfig(downsample=f)
    frames = frame_events(ev, (w, w, 2), fc)
    edge = int((w - 1) * f)
    assert frames.shape[1:3] == (edge + 1, edge + 1) and frames[1, edge, edge, 0] and frames[1, 0, 0, 0]
    np.save(tmp_path / "r.npy", ev)
    assert load_user_input(tmp_path / "r.npy", fc, progress=False).frames.sum() == frames.sum() == (2 if w > 1 else 1)


def test_report_inside_the_input_folder_refused(tmp_path):
    """The report written among the recordings: the next run on the folder
    read r.json as a recording (and a report named b.npy would be one)."""
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "a.npy", ev34())
    for name in ("r.json", "b.npy"):
        r = run_cli("run", NET, "--input", tmp_path / "d", "--report", tmp_path / "d" / name, check=False)
        refused(r, "inside the --input folder")
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["a.npy"]
