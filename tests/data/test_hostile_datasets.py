"""Hostile tonic data set folders (N-MNIST, DVS Gesture, CIFAR10-DVS,
N-Caltech101 laid out by hand): a file tonic would label wrongly or choke
on is refused naming it, hidden files are skipped, a damaged recording is
an error naming it; the real tonic classes read everything that is kept."""

from __future__ import annotations

import numpy as np
import pytest
from event_files_testing import events, write_aedat4, write_nmnist
from lavacut_testing import DENSE as NET, run_cli

from lavacut.data.events import EventFileError
from lavacut.data.tonic_files import CIFAR10DVS_CLASSES, LayoutError
from lavacut.data.tonic_sets import TonicDatasetError, load_tonic_dataset


def ev34(n=100, seed=0):
    return events(n, w=34, h=34, seed=seed)


def nmnist(root, *rel):
    for k, r in enumerate(rel):
        write_nmnist(root / "NMNIST" / "Test" / r, ev34(seed=k))
    return root


def dvs(root, *rel):
    for r in rel:
        p = root / "DVSGesture" / "ibmGestureTest" / r
        p.parent.mkdir(parents=True, exist_ok=True)
        # tonic's preprocessed layout: rows (x, y, p, t in ms)
        np.save(p, np.array([[1, 2, 1, 0.5], [3, 4, 0, 1.5]], dtype=np.float64))
    return root


# (data set, files, words of the refusal)
LAYOUTS = {
    "nmnist folder 10 (tonic: class 0)": ("nmnist", ["1/a.bin", "10/b.bin"], ["10/b.bin", "class 0"]),
    "nmnist folder cat (tonic: ValueError)": ("nmnist", ["1/a.bin", "cat/b.bin"], ["cat/b.bin", "0 .. 9"]),
    "nmnist folder '3 copy'": ("nmnist", ["3 copy/a.bin"], ["3 copy/a.bin"]),
    "nmnist nested (tonic: class 5)": ("nmnist", ["1/a.bin", "3/sub5/b.bin"], ["sub5/b.bin", "directly under"]),
    "nmnist hidden folder (tonic: ValueError)": ("nmnist", ["1/a.bin", ".trash/b.bin"], [".trash", "hidden"]),
    "nmnist file at the split level": ("nmnist", ["1/a.bin", "b.bin"], ["Test/b.bin", "directly under"]),
    "dvsgesture folder without user": ("dvsgesture", ["led/0.npy"], ["led/0.npy", "user<NN>_<lighting>"]),
    "dvsgesture label 11": ("dvsgesture", ["user01_led/11.npy"], ["11.npy", "10.npy"]),
    "dvsgesture label x": ("dvsgesture", ["user01_led/x.npy"], ["x.npy"]),
}


@pytest.mark.parametrize("case", sorted(LAYOUTS))
def test_files_outside_tonic_layout_refused(tmp_path, case):
    name, files, words = LAYOUTS[case]
    (nmnist if name == "nmnist" else dvs)(tmp_path, *files)
    with pytest.raises(LayoutError) as e:
        load_tonic_dataset(name, tmp_path, split="test")
    for w in words:
        assert w in str(e.value)


def test_cifar10dvs_unknown_class_folder_refused(tmp_path):
    for cls in ("airplane", "kitten"):
        write_aedat4(tmp_path / "CIFAR10DVS" / cls / "0.aedat4", events(20, w=128, h=128), 128, 128)
    with pytest.raises(LayoutError, match="kitten/0.aedat4.*not 'kitten'"):
        load_tonic_dataset("cifar10dvs", tmp_path, split="test")


def test_cifar10dvs_classes_are_tonics():
    import tonic.datasets

    assert tuple(tonic.datasets.CIFAR10DVS.classes) == CIFAR10DVS_CLASSES


def test_through_the_cli_one_line_exit_2(tmp_path):
    """N-MNIST folder '10' was read by tonic as class 0 and run scored it (exit 0)."""
    nmnist(tmp_path, "1/a.bin", "10/b.bin")
    r = run_cli(
        "run", NET, "--set", "data.dataset=nmnist", "--set", f"data.root={tmp_path}", "--samples", "2",
        "--report", tmp_path / "r.json", check=False,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "10/b.bin" in r.stderr and "class 0" in r.stderr


def test_hidden_files_are_skipped(tmp_path):
    """macOS '._x.bin' resource forks beside each recording: tonic took them
    as samples (a 'timestamps not sorted' error on a file no one sees)."""
    nmnist(tmp_path, "1/a.bin", "2/b.bin")
    for p in ("1/._a.bin", "2/._b.bin"):
        (tmp_path / "NMNIST" / "Test" / p).write_bytes(b"\x00\x05\x16\x07" * 20)
    ds = load_tonic_dataset("nmnist", tmp_path, split="test")
    assert [p.split("Test/")[1] for p in map(str, ds.data)] == ["1/a.bin", "2/b.bin"]
    assert list(ds.targets) == [1, 2]
    ev, label = ds[1]
    assert label == 2 and len(ev) == 100


def test_stratified_split_empty_is_named(tmp_path):
    """One recording per class: the stratified test split is empty (it was a
    0-sample frames array refused later for its shape)."""
    write_nmnist(tmp_path / "NCALTECH101" / "Caltech101" / "cat" / "a.bin", events(50, w=200, h=150))
    write_nmnist(tmp_path / "NCALTECH101" / "Caltech101" / "dog" / "a.bin", events(50, w=200, h=150))
    with pytest.raises(TonicDatasetError, match="test split of ncaltech101 is empty"):
        load_tonic_dataset("ncaltech101", tmp_path, split="test")
    assert len(load_tonic_dataset("ncaltech101", tmp_path, split="train")) == 2


@pytest.mark.parametrize("content", [b"#!AER-DAT4.0\r\n" + bytes(50), b"#!AER-DAT4.0\r\n\x00\x00\x00\x00" + bytes(40)])
def test_cifar10dvs_corrupt_recording_named_not_a_panic(tmp_path, content, capfd):
    """tonic reads .aedat4 with the aedat decoder, whose Rust panic is a
    BaseException that passed every handler (and printed a Rust backtrace)."""
    for cls in ("airplane", "cat"):
        for k in range(3):
            (tmp_path / "CIFAR10DVS" / cls).mkdir(parents=True, exist_ok=True)
            (tmp_path / "CIFAR10DVS" / cls / f"{k}.aedat4").write_bytes(content)
    ds = load_tonic_dataset("cifar10dvs", tmp_path, split="test")
    with pytest.raises(EventFileError, match=r"CIFAR10DVS/airplane/\d.aedat4: corrupt AEDAT4"):
        ds[0]
    assert "panicked" not in capfd.readouterr().err
