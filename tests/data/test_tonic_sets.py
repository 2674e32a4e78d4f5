"""lavacut.data.tonic_sets: the real N-MNIST recording, and fake data set trees
laid out as tonic 1.7 expects, read through tonic's own classes."""

from __future__ import annotations

import dataclasses
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from lavacut.data.events import EVENT_DTYPE, EventError
from lavacut.data.stream import make_stream
from lavacut.data.tonic_sets import (
    DATASETS,
    DataRootError,
    DatasetFilesMissing,
    EventFileError,
    StratifiedSplit,
    UnknownDatasetError,
    load_tonic_dataset,
    read_nmnist_file,
)
from lavacut.util import LavacutError

#: The real N-MNIST recording of tests/fixtures (its README says where it comes from).
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nmnist_sample.bin"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test in which tonic tries to download (tonic fetches with urlopen)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:1]}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture(scope="module")
def fixture_bytes() -> bytes:
    assert FIXTURE.is_file(), f"test recording missing: {FIXTURE}"
    return FIXTURE.read_bytes()


def nmnist_bytes(x, y, t, p) -> bytes:
    """Encode events as N-MNIST 5-byte records: x, y, p<<7 | t[22:16], t[15:8], t[7:0]."""
    x, y, t, p = (np.asarray(v, dtype=np.int64) for v in (x, y, t, p))
    raw = np.stack([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF], axis=1)
    return raw.astype(np.uint8).tobytes()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ------------------------------------------------------------ read_nmnist_file
def test_read_nmnist_file_real_recording():
    ev = read_nmnist_file(FIXTURE)
    assert ev.dtype == EVENT_DTYPE
    assert len(ev) == 4325 == FIXTURE.stat().st_size // 5  # no overflow records
    assert ev["x"].min() >= 0 and ev["x"].max() <= 33
    assert ev["y"].min() >= 0 and ev["y"].max() <= 33
    assert 0 <= ev["t"].min() and ev["t"].max() < 312_000  # 0..311 ms
    assert np.all(np.diff(ev["t"]) >= 0)
    assert 0 < ev["p"].sum() < len(ev)  # both polarities


def test_read_nmnist_file_truncated(tmp_path, fixture_bytes):
    bad = write(tmp_path / "cut.bin", fixture_bytes[:-2])
    with pytest.raises(EventFileError) as err:
        read_nmnist_file(bad)
    msg = str(err.value)
    assert str(bad) in msg and "truncated" in msg and "21623 bytes" in msg


def test_read_nmnist_file_empty(tmp_path):
    empty = write(tmp_path / "empty.bin", b"")
    with pytest.raises(EventFileError, match="empty") as err:
        read_nmnist_file(empty)
    assert str(empty) in str(err.value)


def test_read_nmnist_file_missing(tmp_path):
    with pytest.raises(EventFileError, match="no such"):
        read_nmnist_file(tmp_path / "absent.bin")


def test_read_nmnist_file_outside_sensor(tmp_path):
    f = write(tmp_path / "wide.bin", nmnist_bytes([5, 40], [3, 3], [10, 20], [1, 0]))
    with pytest.raises(EventError) as err:
        read_nmnist_file(f)
    msg = str(err.value)
    assert str(f) in msg and "x=40" in msg and "event 1" in msg


def test_read_nmnist_file_unsorted(tmp_path):
    f = write(tmp_path / "order.bin", nmnist_bytes([1, 2], [1, 2], [100, 50], [0, 1]))
    with pytest.raises(EventError, match="not sorted") as err:
        read_nmnist_file(f)
    assert str(f) in str(err.value)


# -------------------------------------------------------------------- registry
def test_registry():
    assert {"nmnist", "dvsgesture", "cifar10dvs", "ncaltech101"} <= set(DATASETS)
    spec = DATASETS["nmnist"]
    assert (spec.tonic_class_name, spec.sensor_size, spec.n_classes, spec.has_split) == (
        "NMNIST",
        (34, 34, 2),
        10,
        True,
    )
    assert not DATASETS["cifar10dvs"].has_split and not DATASETS["ncaltech101"].has_split
    for name, spec in DATASETS.items():
        assert spec.name == name and spec.expected_layout and spec.description
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.n_classes = 3


# --------------------------------------------------------- fake tonic layouts
def test_nmnist_fake_tree_read_by_tonic(tmp_path, fixture_bytes):
    import tonic.datasets

    root = tmp_path / "data"
    write(root / "NMNIST" / "Train" / "3" / "00001.bin", fixture_bytes)
    write(root / "NMNIST" / "Train" / "7" / "00002.bin", nmnist_bytes([0, 33], [1, 2], [5, 900], [1, 0]))
    write(root / "NMNIST" / "Test" / "5" / "00003.bin", fixture_bytes)

    train = load_tonic_dataset("nmnist", root)
    assert type(train.dataset) is tonic.datasets.NMNIST
    assert not {"_check_exists", "download"} & set(vars(train.dataset))  # shadowing removed
    assert train.source_of(1).endswith("00002.bin")
    assert len(train) == 2 and train.targets == [3, 7]
    events, label = train[0]
    assert label == 3
    reference = read_nmnist_file(FIXTURE)
    for f in "xytp":
        np.testing.assert_array_equal(events[f], reference[f].astype(np.int64))
    events, label = train[1]
    assert label == 7 and list(events["x"]) == [0, 33] and list(events["t"]) == [5, 900]

    test = load_tonic_dataset("nmnist", root, split="test", transform=lambda ev: ev[:10])
    assert len(test) == 1
    events, label = test[0]
    assert label == 5 and len(events) == 10
    assert not any(root.glob("NMNIST/*.zip"))  # nothing fetched


@pytest.mark.parametrize(
    "content, expected",
    [
        (lambda b: b[:-2], "truncated recording: 21623 bytes"),
        (lambda b: b"", "empty file (0 bytes)"),
        (lambda b: nmnist_bytes([40], [1], [5], [1]), "outside the sensor"),
    ],
)
def test_nmnist_tree_bad_file_named(tmp_path, fixture_bytes, content, expected):
    """A damaged recording in a tonic tree is blamed on its file, whatever
    tonic's own reader would raise."""
    from lavacut.config import FramingConfig
    from lavacut.data.framing import frame_dataset

    root = tmp_path / "data"
    write(root / "NMNIST" / "Train" / "3" / "00001.bin", fixture_bytes)
    bad = write(root / "NMNIST" / "Train" / "4" / "00002.bin", content(fixture_bytes))
    ds = load_tonic_dataset("nmnist", root)
    with pytest.raises(EventError) as err:
        frame_dataset(ds, FramingConfig(), progress=False)
    assert str(bad) in str(err.value) and expected in str(err.value)


def test_dvsgesture_fake_tree_read_by_tonic(tmp_path):
    root = tmp_path
    folder = root / "DVSGesture" / "ibmGestureTrain" / "user01_fluorescent"
    folder.mkdir(parents=True)
    # tonic 1.7's preprocessed gestures: one (N, 4) array per sample, columns
    # x, y, p, t in ms; the file name is the label.
    np.save(folder / "4.npy", np.array([[1, 2, 0, 0], [127, 3, 1, 7]], dtype=np.int64))
    np.save(folder / "10.npy", np.array([[5, 6, 1, 2]], dtype=np.int64))

    ds = load_tonic_dataset("dvsgesture", root)
    assert len(ds) == 2 and ds.users == [1, 1]
    assert ds.data == sorted(ds.data) and ds.targets == [10, 4]  # file-path order
    by_label = {label: events for events, label in (ds[i] for i in range(len(ds)))}
    events = by_label[4]
    assert list(events["x"]) == [1, 127] and list(events["t"]) == [0, 7000]  # ms -> us
    assert list(events["p"]) == [False, True]

    with pytest.raises(DatasetFilesMissing, match="ibmGestureTest"):
        load_tonic_dataset("dvsgesture", root, split="test")


def make_ncaltech_tree(root: Path, per_class: dict[str, int]) -> None:
    for category, n in per_class.items():
        for i in range(n):
            # offset recordings: tonic shifts each to start at x=0, y=0
            write(
                root / "NCALTECH101" / "Caltech101" / category / f"image_{i + 1:04d}.bin",
                nmnist_bytes([50 + i, 60, 200], [20, 21 + i, 150], [0, 10 * i + 5, 999], [1, 0, 1]),
            )


def test_ncaltech101_stratified_split(tmp_path):
    make_ncaltech_tree(tmp_path, {"ant": 5, "airplanes": 10, "brain": 1})
    train = load_tonic_dataset("ncaltech101", tmp_path, split="train")
    test = load_tonic_dataset("ncaltech101", tmp_path, split="test")
    assert isinstance(train.dataset, StratifiedSplit) and isinstance(test.dataset, StratifiedSplit)
    assert train.sensor_size == (240, 180, 2)
    assert train.classes == ["airplanes", "ant", "brain"]  # sorted folder names
    # 20 % of each class held out (at least 1 when a class has 2+ samples)
    assert sorted(test.targets) == [0, 0, 1]
    assert sorted(train.targets) == [0] * 8 + [1] * 4 + [2]
    assert set(train.indices).isdisjoint(test.indices)
    assert len(train) + len(test) == len(train.base) == 16
    again = load_tonic_dataset("ncaltech101", tmp_path, split="test")
    assert again.indices == test.indices  # deterministic

    events, label = test[0]
    assert label == test.targets[0] and isinstance(label, int)
    assert events["x"].min() == 0 and events["y"].min() == 0  # tonic's re-basing

    stream = make_stream(train, segment_us=1000)  # plays through the view
    assert len(stream) == 13 and stream.boundaries_us[-1] == 13_000


# ------------------------------------------------------------------ bad input
def test_unknown_dataset_lists_known():
    with pytest.raises(UnknownDatasetError) as err:
        load_tonic_dataset("mnist-dvs", "/nonexistent")
    msg = str(err.value)
    assert "mnist-dvs" in msg and all(name in msg for name in DATASETS)


def test_root_is_a_file(tmp_path):
    f = write(tmp_path / "data.zip", b"x")
    with pytest.raises(DataRootError) as err:
        load_tonic_dataset("nmnist", f)
    assert str(f) in str(err.value) and "is a file" in str(err.value)


def test_bad_split(tmp_path):
    with pytest.raises(LavacutError, match="split"):
        load_tonic_dataset("nmnist", tmp_path, split="validation")


@pytest.mark.parametrize(
    "name, searched",
    [
        ("nmnist", Path("NMNIST") / "Train"),
        ("ncaltech101", Path("NCALTECH101") / "Caltech101"),
        ("cifar10dvs", Path("CIFAR10DVS")),
    ],
)
def test_missing_files_message(tmp_path, name, searched):
    with pytest.raises(DatasetFilesMissing) as err:
        load_tonic_dataset(name, tmp_path)
    msg = str(err.value)
    assert msg.startswith(name)
    assert str(tmp_path / searched) in msg
    for line in DATASETS[name].expected_layout.splitlines():
        assert line in msg
    assert "download=True" in msg
    assert not (tmp_path / DATASETS[name].tonic_class_name).exists()  # nothing created


def test_missing_files_hints(tmp_path):
    # the archive was downloaded but never unpacked
    write(tmp_path / "NMNIST" / "train.zip", b"PK")
    with pytest.raises(DatasetFilesMissing, match="not unpacked"):
        load_tonic_dataset("nmnist", tmp_path)
    # the data root points at the class folder itself
    with pytest.raises(DatasetFilesMissing, match="CONTAINS NMNIST"):
        load_tonic_dataset("nmnist", tmp_path / "NMNIST")


def test_tonic_alone_would_download_a_partial_tree(tmp_path, fixture_bytes):
    """Why lavacut checks files itself: tonic 1.7's NMNIST wants train.zip and
    10,000 .bin files, else it downloads. Also proves the network guard works."""
    import tonic.datasets

    write(tmp_path / "NMNIST" / "Train" / "3" / "00001.bin", fixture_bytes)
    with pytest.raises(AssertionError, match="network access attempted"):
        tonic.datasets.NMNIST(str(tmp_path))
    assert len(load_tonic_dataset("nmnist", tmp_path)) == 1
