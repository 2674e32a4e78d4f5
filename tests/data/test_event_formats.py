"""lavacut.data.formats: the table of event file formats. The built-in
formats, identification by suffix checked against the content (the same for
the folder check, the read and describe), and the worked example of
docs/extending.md: a format defined here, in one module, read as a folder
through the normal user-input path."""

from __future__ import annotations

import numpy as np
import pytest
from event_files_testing import events, structured, write_dat, write_evt2

from lavacut.data import formats
from lavacut.data.formats import EventFormat, Recording
from lavacut.data.formats.base import structured_to_events
from lavacut.data.framing import FramingConfig, frame_events
from lavacut.data.input_errors import RecordingError, UnsupportedFileError
from lavacut.data.user_input import load_user_input

FC = FramingConfig(bin_us=10_000, T=30)


# ---------------------------------------------------------- the worked example
def read_csv(path) -> Recording:
    """One event per line, "x,y,t,p" (integers, t in microseconds)."""
    try:
        cols = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as e:
        raise RecordingError(f"{path}: not a CSV of x,y,t,p integer rows ({e})") from e
    if cols.shape[1] != 4:
        raise RecordingError(f"{path}: {cols.shape[1]} columns, expected 4 (x,y,t,p)")
    arr = np.zeros(len(cols), dtype=[("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")])
    arr["x"], arr["y"], arr["t"], arr["p"] = cols.T
    ev, one_d = structured_to_events(arr, str(path))  # the checks every format shares
    return Recording(path, ev, None, one_d)


CSV = EventFormat("csv_xytp", "x,y,t,p text rows", (".csv",), read_csv)


@pytest.fixture
def csv_format():
    formats.register(CSV)
    try:
        yield CSV
    finally:
        formats.unregister(CSV.name)


def write_csv(path, ev):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = np.stack([ev[f].astype(np.int64) for f in "xytp"], axis=1)
    np.savetxt(path, rows, fmt="%d", delimiter=",")
    return path


def test_a_format_registered_in_one_module_reads_a_folder_through_user_input(tmp_path, csv_format):
    known = {"left": [events(seed=1), events(seed=2, n=300)], "right": [events(seed=3)]}
    for cls, evs in known.items():
        for i, ev in enumerate(evs):
            write_csv(tmp_path / cls / f"r{i}.csv", ev)
    split = load_user_input(tmp_path, FC, sensor=(20, 16, 2), progress=False)
    flat = [ev for evs in known.values() for ev in evs]
    assert split.classes == ["left", "right"] and split.labels.tolist() == [0, 0, 1]
    for i, ev in enumerate(flat):
        assert np.array_equal(split.frames[i], frame_events(ev, (20, 16, 2), FC)), f"sample {i}"
    assert ".csv (x,y,t,p text rows)" in formats.supported()
    # its errors reach the user as any format's do: one line naming the file
    (tmp_path / "right" / "bad.csv").write_text("1,2,3\n")
    with pytest.raises(RecordingError, match=r"bad.csv: 3 columns, expected 4"):
        load_user_input(tmp_path, FC, progress=False)


def test_the_registered_format_is_gone_after_unregister(tmp_path):
    write_csv(tmp_path / "r.csv", events())
    assert formats.by_suffix(".csv") is None
    with pytest.raises(UnsupportedFileError, match=r"r.csv: unsupported file type '.csv'"):
        load_user_input(tmp_path, FC, progress=False)


# --------------------------------------------------------------- the table
def test_built_in_formats_and_the_registry_refusals():
    assert list(formats.FORMATS) == ["aedat4", "nmnist_bin", "npy", "prophesee_dat", "prophesee_raw"]
    assert formats.by_suffix(".BIN").name == "nmnist_bin" and formats.by_suffix(".txt") is None
    assert ".bin (N-MNIST)" in formats.supported() and ".raw (Prophesee RAW, EVT 2.0)" in formats.supported()
    with pytest.raises(ValueError, match="'npy' is already registered"):
        formats.register(formats.FORMATS["npy"])
    with pytest.raises(ValueError, match=r"suffix \.bin is already read by 'nmnist_bin'"):
        formats.register(EventFormat("other_bin", "another .bin", (".bin",), read_csv))
    with pytest.raises(ValueError, match="lower case and start with a dot"):
        formats.register(EventFormat("nodot", "x", ("csv",), read_csv))
    assert "other_bin" not in formats.FORMATS and "nodot" not in formats.FORMATS


# ---------------------------------------------------------- identification
def test_a_file_named_for_another_format_is_refused_with_what_it_holds(tmp_path):
    np.save(tmp_path / "rec.npy", structured(events()))
    (tmp_path / "rec.npy").rename(tmp_path / "rec.dat")
    with pytest.raises(
        UnsupportedFileError,
        match=r"rec.dat: named .dat \(Prophesee DAT\) but it holds tonic structured events.*; "
        r"rename it rec.npy",
    ):
        formats.read(tmp_path / "rec.dat")
    dat = write_dat(tmp_path / "g.raw", events(), 64, 48, geometry=True)  # "% evt DAT" in its header
    with pytest.raises(UnsupportedFileError, match=r"g.raw: named .raw .* but it holds Prophesee DAT; rename it g.dat"):
        formats.identify(dat)
    assert formats.identify(write_evt2(tmp_path / "e.raw", events(), 64, 48)).name == "prophesee_raw"


def test_an_unknown_suffix_is_refused_with_a_hint_from_the_content(tmp_path):
    np.save(tmp_path / "rec.npy", structured(events()))
    (tmp_path / "rec.npy").rename(tmp_path / "rec.events")
    with pytest.raises(
        UnsupportedFileError,
        match=r"rec.events: unsupported file type '.events'; supported event "
        r"files: .*; its content is tonic structured .*: name it rec.npy",
    ):
        formats.identify(tmp_path / "rec.events")
    (tmp_path / "notes.txt").write_text("% a note, not a Prophesee header\n")
    with pytest.raises(UnsupportedFileError) as e:
        formats.identify(tmp_path / "notes.txt")
    assert "its content" not in str(e.value)


def test_the_folder_check_and_the_read_identify_alike(tmp_path):
    """A misnamed file in a folder is refused by the check before anything is
    read, with the message the read itself gives."""
    np.save(tmp_path / "ok.npy", structured(events()))
    np.save(tmp_path / "bad.npy", structured(events(seed=1)))
    (tmp_path / "bad.npy").rename(tmp_path / "bad.aedat4")
    with pytest.raises(UnsupportedFileError) as by_read:
        formats.read(tmp_path / "bad.aedat4")
    with pytest.raises(UnsupportedFileError) as by_folder:
        load_user_input(tmp_path, FC, progress=False)
    assert str(by_folder.value) == str(by_read.value)


def test_describe_a_recording(tmp_path, nmnist_sample):
    d = formats.describe(nmnist_sample)
    assert (d["format"], d["recognised_by"], d["events"], d["sensor"], d["sensor_from"]) == (
        "nmnist_bin",
        "suffix",
        4325,
        [34, 34, 2],
        "format",
    )
    ev = events(n=200, w=50, h=40)
    d = formats.describe(write_dat(tmp_path / "geo.dat", ev, 64, 48, geometry=True))
    assert (d["format"], d["recognised_by"], d["sensor"], d["sensor_from"]) == (
        "prophesee_dat",
        "suffix and content",
        [64, 48, 2],
        "header",
    )
    assert d["events"] == 200 and d["duration_us"] == int(ev["t"][-1] - ev["t"][0])
    assert d["extent"] == [int(ev["x"].max()) + 1, int(ev["y"].max()) + 1] and d["polarities"] == [0, 1]
