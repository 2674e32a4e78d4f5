"""lavacut.data.user_input: a user's own frames and event recordings, written
here as real files in every supported format and read back through the real
readers (tonic, aedat, numpy); framed results are compared, bit for bit, with
frame_events on the known events."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
from event_files_testing import events, structured, write_aedat4, write_dat, write_nmnist

from lavacut.config import load_config
from lavacut.data.events import make_events
from lavacut.data.framing import FramedSplit, FramingConfig, frame_events
from lavacut.data.tonic_sets import read_nmnist_file
from lavacut.data import user_input
from lavacut.data.user_input import (
    EmptyInputError,
    FrameValuesError,
    InputShapeError,
    LabelError,
    RecordingError,
    SensorError,
    UnsupportedFileError,
    UserInputError,
    load_user_input,
)
from lavacut.util import LavacutError

FC = FramingConfig(bin_us=10_000, T=30)


def framed(ev, sensor, fc=FC):
    return frame_events(ev, sensor, fc, source="expected")


# ----------------------------------------------------------------- .npy / .npz
def test_npy_one_sample_any_T(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((2, 5, 4, 7)) < 0.3
    np.save(tmp_path / "one.npy", x.astype(np.uint8))
    s = load_user_input(tmp_path / "one.npy", FC, input_shape=(2, 5, 4))
    assert s.frames.dtype == bool and s.frames.shape == (1, 2, 5, 4, 7)
    assert np.array_equal(s.frames[0], x)
    assert s.labels is None and s.classes is None and len(s) == 1
    assert s.framing.T == 7 and s.framing.bin_us == FC.bin_us  # its own T
    assert s.sensor_size == (4, 5, 2)
    assert load_user_input(tmp_path / "one.npy", FC).frames.shape == (1, 2, 5, 4, 7)


def test_npy_many_samples_float(tmp_path):
    x = np.random.default_rng(2).random((6, 1, 3, 3, 30)) < 0.5
    np.save(tmp_path / "many.npy", x.astype(np.float32))
    s = load_user_input(tmp_path / "many.npy", FC, input_shape=(1, 3, 3))
    assert s.frames.shape == (6, 1, 3, 3, 30) and np.array_equal(s.frames, x)
    assert s.framing == FC and s.source == str(tmp_path / "many.npy")


def test_flat_input_shape_flattens_c_h_w(tmp_path):
    x = np.random.default_rng(3).random((4, 2, 3, 5, 9)) < 0.4
    np.save(tmp_path / "f.npy", x)
    s = load_user_input(tmp_path / "f.npy", FC, input_shape=(30,))
    assert s.frames.shape == (4, 30, 9)
    # C, H, W order: element (c, h, w) lands at c*15 + h*5 + w
    assert np.array_equal(s.frames[:, 1 * 15 + 2 * 5 + 3], x[:, 1, 2, 3])
    np.save(tmp_path / "flat.npy", x.reshape(4, 30, 9))
    assert np.array_equal(load_user_input(tmp_path / "flat.npy", FC, input_shape=(30,)).frames, s.frames)
    np.save(tmp_path / "one.npy", x[0])
    assert np.array_equal(load_user_input(tmp_path / "one.npy", FC, input_shape=(30,)).frames[0], s.frames[0])


def test_npy_structured_is_one_recording(tmp_path):
    ev = events(seed=4)
    np.save(tmp_path / "rec.npy", structured(ev))
    s = load_user_input(tmp_path / "rec.npy", FC)
    assert s.sensor_size == (20, 16, 2)  # inferred: max x + 1, max y + 1, both polarities
    assert s.frames.shape == (1, 2, 16, 20, 30)
    assert np.array_equal(s.frames[0], framed(ev, (20, 16, 2)))
    # the network's (C, H, W) is the sensor when the events fit it
    s2 = load_user_input(tmp_path / "rec.npy", FC, input_shape=(2, 24, 24))
    assert s2.sensor_size == (24, 24, 2)
    assert np.array_equal(s2.frames[0], framed(ev, (24, 24, 2)))


def test_npz_with_labels_and_classes(tmp_path):
    x = np.random.default_rng(5).random((3, 2, 4, 4, 10)) < 0.5
    np.savez(tmp_path / "d.npz", frames=x, labels=np.array([2, 0, 1]), classes=np.array(["cat", "dog", "eel"]))
    s = load_user_input(tmp_path / "d.npz", FC, input_shape=(2, 4, 4))
    assert np.array_equal(s.frames, x)
    assert s.labels.tolist() == [2, 0, 1] and s.labels.dtype == np.int64
    assert s.classes == ["cat", "dog", "eel"]


def test_npz_without_labels(tmp_path):
    x = np.random.default_rng(6).random((3, 2, 4, 4, 10)) < 0.5
    np.savez_compressed(tmp_path / "d.npz", frames=x)
    s = load_user_input(tmp_path / "d.npz", FC)
    assert s.labels is None and s.classes is None and np.array_equal(s.frames, x)
    np.savez(tmp_path / "l.npz", frames=x, labels=np.array([5, 0, 9]))
    assert load_user_input(tmp_path / "l.npz", FC).labels.tolist() == [5, 0, 9]


# ------------------------------------------------------------- frame refusals
def test_shape_mismatch_names_both_shapes(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 28, 28, 30), dtype=bool))
    with pytest.raises(InputShapeError) as e:
        load_user_input(tmp_path / "x.npy", FC, input_shape=(2, 34, 34))
    assert str(tmp_path / "x.npy") in str(e.value)
    assert "frames (2, 28, 28, 30) do not match the network input (2, 34, 34) + (T,)" in str(e.value)
    with pytest.raises(InputShapeError, match=r"\(2, 28, 28, 30\) do not match the network input \(1000,\)"):
        load_user_input(tmp_path / "x.npy", FC, input_shape=(1000,))
    np.save(tmp_path / "y.npy", np.zeros((28, 30)))
    with pytest.raises(InputShapeError, match=r"expected \(C, H, W, T\)"):
        load_user_input(tmp_path / "y.npy", FC)


def test_non_binary_values_counted(tmp_path):
    x = np.zeros(2 * 3 * 4 * 5 * 6, dtype=np.float64)
    x[:12] = np.nan
    x[12:15] = -1.0
    x[15:55] = 0.5
    x[55:70] = 1.0
    np.save(tmp_path / "bad.npy", x.reshape(2, 3, 4, 5, 6))
    with pytest.raises(FrameValuesError) as e:
        load_user_input(tmp_path / "bad.npy", FC)
    msg = str(e.value)
    assert str(tmp_path / "bad.npy") in msg
    assert "12 NaN values, 3 negative values, 40 values other than 0/1" in msg
    np.save(tmp_path / "two.npy", np.full((1, 2, 2, 3), 2, dtype=np.int32))
    with pytest.raises(FrameValuesError, match=r"found 12 values other than 0/1 \(of 12\)"):
        load_user_input(tmp_path / "two.npy", FC)


def test_object_arrays_never_unpickled(tmp_path):
    obj = np.empty((1, 1, 1, 2), dtype=object)
    obj[...] = [[[[1, 0]]]]
    np.save(tmp_path / "obj.npy", obj, allow_pickle=True)
    with pytest.raises(UserInputError, match="object array"):
        load_user_input(tmp_path / "obj.npy", FC)
    np.savez(tmp_path / "obj.npz", frames=np.zeros((1, 1, 1, 1, 2)), classes=np.array(["a", 3], dtype=object))
    with pytest.raises(UserInputError, match="'classes' is an object array"):
        load_user_input(tmp_path / "obj.npz", FC)
    (tmp_path / "p.npy").write_bytes(pickle.dumps(np.zeros((1, 1, 1, 2))))
    with pytest.raises(RecordingError, match="not a NumPy .npy file"):
        load_user_input(tmp_path / "p.npy", FC)


def test_npz_key_errors(tmp_path):
    np.savez(tmp_path / "nf.npz", spikes=np.zeros((1, 1, 1, 1, 2)), labels=np.array([0]))
    with pytest.raises(UserInputError) as e:
        load_user_input(tmp_path / "nf.npz", FC)
    assert "no 'frames' array" in str(e.value) and "spikes, labels" in str(e.value)
    np.savez(tmp_path / "typo.npz", frames=np.zeros((1, 1, 1, 1, 2)), label=np.array([0]))
    with pytest.raises(UserInputError, match="unexpected key.*label"):
        load_user_input(tmp_path / "typo.npz", FC)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UserInputError, match="junk.npz"):
        load_user_input(tmp_path / "junk.npz", FC)


@pytest.mark.parametrize(
    "labels, classes, pattern",
    [
        (np.array([0, 1]), None, r"labels have shape \(2,\) but there are 3 samples"),
        (
            np.array([0, 3, 5]),
            np.array(["a", "b", "c"]),
            r"2 labels out of range of the 3 classes \(max label 5, valid 0..2\)",
        ),
        (np.array([0, -1, 1]), None, r"1 negative labels"),
        (np.array([0.0, 1.0, 1.0]), None, r"labels have type float64"),
        (np.array([0, 1, 1]), np.array(["a", "a"]), r"class name 'a' appears more than once"),
    ],
)
def test_label_refusals(tmp_path, labels, classes, pattern):
    arrays = {"frames": np.zeros((3, 1, 2, 2, 4), dtype=bool), "labels": labels}
    if classes is not None:
        arrays["classes"] = classes
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(LabelError, match=pattern) as e:
        load_user_input(tmp_path / "d.npz", FC)
    assert str(tmp_path / "d.npz") in str(e.value)


def test_argument_refusals(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 1, 2)))
    with pytest.raises(InputShapeError, match=r"\(C, H, W\) or flat \(F,\)"):
        load_user_input(tmp_path / "x.npy", FC, input_shape=(1, 1))
    with pytest.raises(SensorError, match="sensor must be"):
        load_user_input(tmp_path / "x.npy", FC, sensor=(0, 5, 2))
    with pytest.raises(UserInputError, match="no such file or folder"):
        load_user_input(tmp_path / "missing.npy", FC)
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(UnsupportedFileError, match=r"x.csv: unsupported file type '.csv'.*\.aedat4"):
        load_user_input(tmp_path / "x.csv", FC)


# ------------------------------------------------------ event folders by format
def check_folder(split, known, sensor, classes, labels, fc=FC):
    assert split.sensor_size == sensor
    assert split.classes == classes
    assert (split.labels is None) if labels is None else split.labels.tolist() == labels
    assert split.frames.shape == (len(known), *fc.input_shape(sensor), fc.T)
    for i, ev in enumerate(known):
        assert np.array_equal(split.frames[i], framed(ev, sensor, fc)), f"sample {i}"
    assert split.frames.any()


def test_folder_tonic_npy_classes(tmp_path, capsys):
    root = tmp_path / "user"
    known = {
        ("one", "b.npy"): events(seed=1),
        ("one", "a.npy"): events(seed=2),
        ("zero", "c.npy"): events(seed=3, w=18),
    }
    for (cls, name), ev in known.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        np.save(root / cls / name, structured(ev))
    (root / "one" / ".DS_Store").write_bytes(b"\0\1")  # hidden: skipped
    (root / "one" / "._a.npy").write_bytes(b"\0\1")  # macOS resource fork: skipped
    s = load_user_input(root, FC, progress=True)
    order = [("one", "a.npy"), ("one", "b.npy"), ("zero", "c.npy")]  # class, then file name
    check_folder(s, [known[k] for k in order], (20, 16, 2), ["one", "zero"], [0, 0, 1])
    assert s.source == str(root)
    assert "reading user" not in capsys.readouterr().err  # stderr is not a terminal: no bar (lavacut.progress)


def test_folder_1d_recordings(tmp_path):
    known = [events(seed=s, h=1, w=64) for s in (7, 8)]
    for i, ev in enumerate(known):
        np.save(tmp_path / f"{i}.npy", structured(ev, one_d=True))
    s = load_user_input(tmp_path, FC)
    check_folder(s, known, (64, 1, 2), None, None)
    s2 = load_user_input(tmp_path, FC, sensor=(70, 2), input_shape=(140,))
    assert s2.sensor_size == (70, 1, 2) and s2.frames.shape == (2, 140, 30)
    assert np.array_equal(s2.frames[1], framed(known[1], (70, 1, 2)).reshape(140, 30))
    one_pol = events(seed=9, h=1, w=64, polarities=(1,))
    np.save(tmp_path / "on.npy", structured(one_pol, one_d=True))
    assert load_user_input(tmp_path / "on.npy", FC).sensor_size == (64, 1, 1)


def test_folder_nmnist_bin_written(tmp_path):
    known = {"3": events(seed=10, w=34, h=34), "7": events(seed=11, w=34, h=34, n=900)}
    for cls, ev in known.items():
        write_nmnist(tmp_path / cls / "s0.bin", ev)
    s = load_user_input(tmp_path, FC, input_shape=(2312,))
    # numeric folder names are class indices (not ImageFolder's 0, 1)
    assert s.frames.shape == (2, 2312, 30) and s.labels.tolist() == [3, 7]
    for i, ev in enumerate(known.values()):
        assert np.array_equal(s.frames[i], framed(ev, (34, 34, 2)).reshape(2312, 30))


def test_folder_real_nmnist_fixture(tmp_path, nmnist_sample):
    for cls in ("five", "nine"):
        (tmp_path / cls).mkdir()
        shutil.copy(nmnist_sample, tmp_path / cls / "rec.bin")
    bins = FramingConfig(T=25, slicing="bins")
    s = load_user_input(tmp_path, bins, input_shape=(2, 34, 34))
    ev = read_nmnist_file(nmnist_sample)
    check_folder(s, [ev, ev], (34, 34, 2), ["five", "nine"], [0, 1], fc=bins)


def test_folder_aedat4_written_by_dv_processing(tmp_path):
    known = [events(seed=12, w=40, h=30, n=1500), events(seed=13, w=10, h=8, n=800)]
    for i, ev in enumerate(known):
        write_aedat4(tmp_path / f"r{i}.aedat4", ev, 40, 30)
    s = load_user_input(tmp_path, FC)
    # absolute (Unix-time) timestamps: a recording starts at its first event
    rel = [make_events(ev["x"], ev["y"], ev["t"] - ev["t"][0], ev["p"]) for ev in known]
    assert all(ev["t"][0] > 0 for ev in known) and all(r["t"][0] == 0 for r in rel)
    # the stream's resolution (40x30) is the sensor, though sample 1 reaches only 10x8
    check_folder(s, rel, (40, 30, 2), None, None)
    # the shift matters (the first event is at t=487 us): frames differ from framing t as is
    assert not np.array_equal(s.frames[0], framed(known[0], (40, 30, 2)))


def test_folder_prophesee_dat(tmp_path):
    known = [events(seed=14, w=50, h=40), events(seed=15, w=50, h=40, n=300)]
    write_dat(tmp_path / "a" / "x.dat", known[0], width=64, height=48)
    write_dat(tmp_path / "b" / "x.dat", known[1], width=64, height=48, ev_type=0x00)
    s = load_user_input(tmp_path, FC)
    check_folder(s, known, (64, 48, 2), ["a", "b"], [0, 1])  # sensor from the header
    write_dat(tmp_path / "nohead.dat", known[0])
    assert load_user_input(tmp_path / "nohead.dat", FC).sensor_size == (50, 40, 2)
    write_dat(tmp_path / "geo.dat", known[0], width=80, height=60, geometry=True)
    g = load_user_input(tmp_path / "geo.dat", FC)
    assert g.sensor_size == (80, 60, 2) and np.array_equal(g.frames[0], framed(known[0], (80, 60, 2)))


def test_sensor_rules(tmp_path):
    ev = events(seed=16, w=20, h=16)
    np.save(tmp_path / "r.npy", structured(ev))
    s = load_user_input(tmp_path, FC, sensor=(32, 32, 2))
    check_folder(s, [ev], (32, 32, 2), None, None)
    with pytest.raises(SensorError) as e:
        load_user_input(tmp_path, FC, sensor=(10, 16, 2))
    assert str(tmp_path / "r.npy") in str(e.value) and "events reach x=19" in str(e.value)
    with pytest.raises(SensorError, match="both polarities but the sensor"):
        load_user_input(tmp_path, FC, sensor=(20, 16, 1))
    # the network input is the sensor only when the events fit it
    write_nmnist(tmp_path / "n" / "a.bin", events(seed=17, w=34, h=34))
    with pytest.raises(
        InputShapeError,
        match=r"the camera is 34x34 \(P=2, from the .bin format\) but the network "
        r"takes 28x28 \(input \(2, 28, 28\)\); --set framing.fit=resize",
    ):
        load_user_input(tmp_path / "n", FC, input_shape=(2, 28, 28))
    # the network input wins over the size a format declares when the events fit it
    write_nmnist(tmp_path / "small" / "a.bin", small := events(seed=25, w=28, h=28))
    s3 = load_user_input(tmp_path / "small", FC, input_shape=(2, 28, 28))
    check_folder(s3, [small], (28, 28, 2), None, None)
    assert load_user_input(tmp_path / "small", FC).sensor_size == (34, 34, 2)
    # recordings that declare different sensors need an explicit one
    mixed = tmp_path / "mixed"
    write_nmnist(mixed / "a.bin", events(seed=18, w=10, h=10))
    write_dat(mixed / "b.dat", events(seed=19, w=10, h=10), width=64, height=48)
    with pytest.raises(SensorError, match="declare different sensors"):
        load_user_input(mixed, FC)
    assert load_user_input(mixed, FC, sensor=(16, 16, 2)).frames.shape == (2, 2, 16, 16, 30)


def test_memory_budget_rereads_same_frames(tmp_path, monkeypatch):
    known = [events(seed=s) for s in (20, 21, 22)]
    for i, ev in enumerate(known):
        np.save(tmp_path / f"{i}.npy", structured(ev))
    monkeypatch.setattr(user_input, "EVENT_MEMORY_BUDGET", 0)
    check_folder(load_user_input(tmp_path, FC), known, (20, 16, 2), None, None)


# ------------------------------------------------------- event-file refusals
def test_folder_refusals(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".hidden").write_text("x")
    with pytest.raises(EmptyInputError, match="empty folder"):
        load_user_input(tmp_path / "empty", FC)
    root = tmp_path / "classes"
    (root / "a").mkdir(parents=True)
    np.save(root / "a" / "r.npy", structured(events()))
    (root / "b").mkdir()
    with pytest.raises(EmptyInputError, match=r"class folder 'b' holds no event files"):
        load_user_input(root, FC)
    (root / "b" / "notes.txt").write_text("hi")
    with pytest.raises(UnsupportedFileError) as e:
        load_user_input(root, FC)
    assert str(root / "b" / "notes.txt") in str(e.value) and ".bin (N-MNIST)" in str(e.value)
    (root / "b" / "notes.txt").unlink()
    (root / "b" / "sub").mkdir()
    with pytest.raises(UserInputError, match="folder inside class folder"):
        load_user_input(root, FC)
    (root / "b" / "sub").rmdir()
    np.save(root / "loose.npy", structured(events()))
    with pytest.raises(UserInputError, match="both class subfolders"):
        load_user_input(root, FC)
    mix = tmp_path / "mix"
    mix.mkdir()
    np.save(mix / "a.npy", structured(events(h=1), one_d=True))
    np.save(mix / "b.npy", structured(events()))
    with pytest.raises(UserInputError, match="mixes 1-D recordings"):
        load_user_input(mix, FC)


def test_bad_event_files(tmp_path):
    ev = events(seed=23, w=34, h=34)
    cases = {}
    (tmp_path / "empty.bin").write_bytes(b"")
    cases["empty.bin"] = "empty file"
    write_nmnist(tmp_path / "trunc.bin", ev)
    (tmp_path / "trunc.bin").write_bytes((tmp_path / "trunc.bin").read_bytes()[:-2])
    cases["trunc.bin"] = "truncated recording"
    write_dat(tmp_path / "trunc.dat", ev, 34, 34)
    (tmp_path / "trunc.dat").write_bytes((tmp_path / "trunc.dat").read_bytes()[:-3])
    cases["trunc.dat"] = "not a multiple of the 8-byte record"
    (tmp_path / "nohead.dat").write_bytes(b"\x0c\x08" + bytes(16))
    cases["nohead.dat"] = "no '% ' header"
    write_dat(tmp_path / "noev.dat", ev[:0], 34, 34)
    cases["noev.dat"] = "recording has no events"
    (tmp_path / "junk.aedat4").write_bytes(b"hello world" * 10)
    cases["junk.aedat4"] = "corrupt or truncated AEDAT4"
    no_t = np.zeros(5, dtype=[("x", "<i2"), ("y", "<i2"), ("p", "?")])
    np.save(tmp_path / "no_t.npy", no_t)
    cases["no_t.npy"] = r"lacks field\(s\) t \(has x, y, p"
    np.save(tmp_path / "zero.npy", ev[:0])
    cases["zero.npy"] = "recording has no events"
    np.save(tmp_path / "trunc.npy", structured(ev))
    (tmp_path / "trunc.npy").write_bytes((tmp_path / "trunc.npy").read_bytes()[:-7])
    cases["trunc.npy"] = "corrupt or truncated .npy file"
    sec = np.zeros(3, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<f8"), ("p", "?")])
    sec["t"] = [0.0, 0.001, 0.002]  # seconds, not microseconds
    np.save(tmp_path / "sec.npy", sec)
    cases["sec.npy"] = "field t holds non-integer values"
    late = ev.copy()
    late["t"] += 10**9
    np.save(tmp_path / "late.npy", late)
    cases["late.npy"] = r"every event lies after the framing window \(first event at t=1000"
    unsorted = ev.copy()
    unsorted["t"] = unsorted["t"][::-1]
    np.save(tmp_path / "unsorted.npy", unsorted)
    cases["unsorted.npy"] = "timestamps not sorted"
    pol = np.zeros(3, dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])
    pol["p"] = [0, 1, 2]
    np.save(tmp_path / "pol.npy", pol)
    cases["pol.npy"] = r"field p takes values \[0, 1, 2\]"
    for name, pattern in cases.items():
        with pytest.raises(RecordingError, match=pattern) as e:
            load_user_input(tmp_path / name, FC)
        assert str(tmp_path / name) in str(e.value), name
        assert isinstance(e.value, LavacutError) and isinstance(e.value, ValueError)
    # a numeric .npy inside an event folder is not a recording
    (tmp_path / "f").mkdir()
    np.save(tmp_path / "f" / "frames.npy", np.zeros((1, 2, 2, 3)))
    with pytest.raises(RecordingError, match="not a structured event array"):
        load_user_input(tmp_path / "f", FC)


def test_truncated_aedat4(tmp_path):
    write_aedat4(tmp_path / "full.aedat4", events(seed=24, n=3000, w=40, h=30), 40, 30)
    raw = (tmp_path / "full.aedat4").read_bytes()
    (tmp_path / "half.aedat4").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(RecordingError, match="half.aedat4: corrupt or truncated AEDAT4"):
        load_user_input(tmp_path / "half.aedat4", FC)


# ------------------------------------------------------------ config, split
def test_data_config_sensor_and_framed_split_defaults():
    assert load_config(overrides=["data.sensor=[34, 34, 2]"]).data.sensor == [34, 34, 2]
    assert load_config().data.sensor is None
    fs = FramedSplit(np.zeros((3, 1, 1, 1, 2), bool), None, (1, 1, 1), FC)
    assert len(fs) == 3 and fs.classes is None and fs.source == ""


def test_atis_bin_larger_than_nmnist_is_not_forced_to_34x34(tmp_path):
    """N-Caltech101 stores its (up to 240x180) recordings in N-MNIST's .bin
    records: the sensor comes from the events or data.sensor, not 34x34."""
    ev = events(n=800, w=200, h=150, seed=3)
    write_nmnist(tmp_path / "caltech" / "a.bin", ev)
    split = load_user_input(tmp_path / "caltech", FC, progress=False)
    assert split.sensor_size == (200, 150, 2)
    assert np.array_equal(split.frames[0], framed(ev, (200, 150, 2)))
    split = load_user_input(tmp_path / "caltech", FC, sensor=(240, 180, 2), progress=False)
    assert split.sensor_size == (240, 180, 2) and split.frames.shape[1:4] == (2, 180, 240)
