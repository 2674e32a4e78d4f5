"""Real cameras, real labels, long recordings (issue 23's data side) and the
label checks of issue 22: recordings written as real .aedat4 (dv-processing)
and Prophesee .dat files, fitted with tonic's own transforms, run through
``lavacut`` on the shipped export ``embedded_dense`` (34x34x2, classes
"0".."9")."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from event_files_testing import events, structured, write_aedat4, write_dat
from lavacut_testing import DENSE as EXPORT, run_cli

from lavacut.config import ConfigError, load_config
from lavacut.data.events import make_events
from lavacut.data.fitting import plan_fit
from lavacut.data.framing import FramingConfig, frame_events
from lavacut.data.labels import MIN_CALIBRATION_SAMPLES, folder_labels
from lavacut.data.user_input import InputShapeError, LabelError, load_user_input
from lavacut.util import LavacutError

DIGITS = [str(k) for k in range(10)]
FC = FramingConfig(bin_us=10_000, T=30)
NET = (2, 34, 34)


def cam(n, w, h, seed):
    """Camera events starting at t = 0 (an .aedat4 reads back from its first event)."""
    ev = events(n=n, w=w, h=h, seed=seed)
    ev["t"] -= ev["t"][0]
    return ev


def fc(**kw) -> FramingConfig:
    return FramingConfig(bin_us=10_000, T=30, **kw)


def tonic_frames(ev, sensor, transforms, out_sensor):
    """Frames made the long way: tonic's transforms by hand, then framed on
    the network's sensor."""
    for t in transforms:
        ev = t(ev)
    return frame_events(ev, out_sensor, FC, source="expected")


# ----------------------------------------------------------------- framing.fit
def test_fit_none_refuses_a_camera_naming_both_sizes_and_the_set_that_fits(tmp_path):
    write_aedat4(tmp_path / "davis" / "r.aedat4", events(n=3000, w=320, h=240, seed=1), 320, 240)
    with pytest.raises(InputShapeError) as e:
        load_user_input(tmp_path / "davis", FC, input_shape=NET, progress=False)
    msg = str(e.value)
    assert "the camera is 320x240 (P=2, from the .aedat4 header)" in msg and "the network takes 34x34" in msg
    assert "--set framing.fit=crop+resize (centre-crops 240x240" in msg and "--set data.sensor=[W,H,P]" in msg
    assert "pass sensor=" not in msg  # the option that does not exist


def test_a_camera_header_beats_the_network_size(tmp_path):
    """A 320x240 recording whose events happen to lie in the top-left 34x34
    pixels was framed as if the camera were 34x34 (silently the corner of the
    scene): the header's size is the camera's, so it is refused, and
    framing.fit scales the whole field of view."""
    ev = events(n=2000, w=34, h=34, seed=2)
    write_aedat4(tmp_path / "corner.aedat4", ev, 320, 240)
    with pytest.raises(InputShapeError, match="the camera is 320x240"):
        load_user_input(tmp_path / "corner.aedat4", FC, input_shape=NET, progress=False)
    s = load_user_input(tmp_path / "corner.aedat4", fc(fit="resize"), input_shape=NET, progress=False)
    assert s.sensor_size == (320, 240, 2) and s.info["fit"]["scale"] == [34 / 320, 34 / 240]
    # a file with no header still takes the network's size when its events fit it
    np.save(tmp_path / "plain.npy", structured(ev))
    assert load_user_input(tmp_path / "plain.npy", FC, input_shape=NET, progress=False).sensor_size == (34, 34, 2)


def test_crop_resize_is_tonics_centre_crop_then_downsample(tmp_path):
    import tonic.transforms as tt

    ev = cam(20_000, 320, 240, seed=3)
    write_aedat4(tmp_path / "r.aedat4", ev, 320, 240)
    s = load_user_input(tmp_path / "r.aedat4", fc(fit="crop+resize"), input_shape=NET, progress=False)
    want = tonic_frames(
        ev,
        (320, 240, 2),
        [
            tt.CenterCrop(sensor_size=(320, 240, 2), size=(240, 240)),
            tt.Downsample(sensor_size=(240, 240, 2), target_size=(34, 34)),
        ],
        (34, 34, 2),
    )
    assert s.frames.shape == (1, 2, 34, 34, 30) and np.array_equal(s.frames[0], want)
    fit = s.info["fit"]
    assert fit["crop"] == [40, 0, 240, 240] and fit["scale"] == [34 / 240, 34 / 240]
    assert "uniform" in fit["note"] and "NON-UNIFORM" not in fit["note"] and s.notes[0] == fit["note"]


def test_resize_of_another_aspect_ratio_is_a_stated_non_uniform_scale(tmp_path):
    import tonic.transforms as tt

    ev = events(n=5000, w=78, h=42, seed=4)
    write_dat(tmp_path / "p.dat", ev, 78, 42)
    s = load_user_input(tmp_path / "p.dat", fc(fit="resize"), input_shape=NET, progress=False)
    want = tonic_frames(ev, (78, 42, 2), [tt.Downsample(sensor_size=(78, 42, 2), target_size=(34, 34))], (34, 34, 2))
    assert np.array_equal(s.frames[0], want)
    assert "NON-UNIFORM" in s.info["fit"]["note"] and "aspect ratio 13:7 becomes 1:1" in s.info["fit"]["note"]
    # crop+resize keeps the aspect ratio instead: a 42x42 centre box
    s2 = load_user_input(tmp_path / "p.dat", fc(fit="crop+resize"), input_shape=NET, progress=False)
    assert s2.info["fit"]["crop"] == [18, 0, 42, 42] and "NON-UNIFORM" not in s2.info["fit"]["note"]


def test_crop_centre_and_crop_box(tmp_path):
    import tonic.transforms as tt

    ev = cam(20_000, 320, 240, seed=5)
    write_aedat4(tmp_path / "r.aedat4", ev, 320, 240)
    s = load_user_input(tmp_path / "r.aedat4", fc(fit="crop"), input_shape=NET, progress=False)
    want = tonic_frames(ev, (320, 240, 2), [tt.CenterCrop(sensor_size=(320, 240, 2), size=(34, 34))], (34, 34, 2))
    assert np.array_equal(s.frames[0], want) and s.info["fit"]["crop"] == [143, 103, 34, 34]
    # a given box [x0, y0, w, h]: events inside it, moved to its origin
    s = load_user_input(tmp_path / "r.aedat4", fc(fit="crop", crop=(10, 20, 34, 34)), input_shape=NET, progress=False)
    m = (ev["x"] >= 10) & (ev["x"] < 44) & (ev["y"] >= 20) & (ev["y"] < 54)
    box = make_events(ev["x"][m] - 10, ev["y"][m] - 20, ev["t"][m], ev["p"][m])
    assert np.array_equal(s.frames[0], frame_events(box, (34, 34, 2), FC))
    # crop+resize of a given box: the box scaled
    s = load_user_input(
        tmp_path / "r.aedat4", fc(fit="crop+resize", crop=(100, 0, 120, 120)), input_shape=NET, progress=False
    )
    assert s.info["fit"]["crop"] == [100, 0, 120, 120] and s.info["fit"]["scale"] == [34 / 120, 34 / 120]
    with pytest.raises(
        LavacutError,
        match=r"framing.crop=\[300, 0, 34, 34\] reaches x=333, y=33, outside the "
        r"camera's 320x240",
    ):
        load_user_input(tmp_path / "r.aedat4", fc(fit="crop", crop=(300, 0, 34, 34)), input_shape=NET, progress=False)
    with pytest.raises(LavacutError, match="must be the network's 34x34; use framing.fit=crop\\+resize"):
        load_user_input(tmp_path / "r.aedat4", fc(fit="crop", crop=(0, 0, 50, 50)), input_shape=NET, progress=False)


def test_fit_settings_are_checked_when_the_config_is_read():
    assert load_config(overrides=["framing.fit=crop+resize", "framing.crop=[40, 0, 240, 240]"]).framing.crop == (
        40,
        0,
        240,
        240,
    )
    with pytest.raises(ConfigError, match="framing.fit must be none, crop, resize or crop\\+resize"):
        load_config(overrides=["framing.fit=stretch"])
    with pytest.raises(LavacutError, match="needs fit='crop' or 'crop\\+resize'"):
        load_config(overrides=["framing.crop=[0, 0, 34, 34]"])
    with pytest.raises(LavacutError, match="both scale the sensor"):
        load_config(overrides=["framing.fit=resize", "framing.downsample=0.5"])
    with pytest.raises(LavacutError, match="crop must be \\[x0, y0, w, h\\]"):
        load_config(overrides=["framing.fit=crop", "framing.crop=[0, 0, 34]"])
    # a box the size of the network needs no scale; the same size needs no plan at all
    assert plan_fit("crop+resize", (0, 0, 34, 34), (320, 240, 2), (34, 34), "x").resize is False
    assert plan_fit("resize", None, (34, 34, 2), (34, 34), "x") is None


# ----------------------------------------------------------------- labels by name
def _class_folders(root, names, w=34, h=34):
    for k, name in enumerate(names):
        (root / name).mkdir(parents=True)
        np.save(root / name / "r.npy", structured(events(n=500, w=w, h=h, seed=10 + k)))
    return root


def test_numeric_folders_are_the_networks_class_indices(tmp_path):
    """Folders 3/ and 5/ were labels 0 and 1 (ImageFolder order): a recording
    in 5/ that the network calls 5 was scored wrong."""
    _class_folders(tmp_path, ["3", "5"])
    s = load_user_input(tmp_path, FC, input_shape=NET, classes=DIGITS, n_classes=10, progress=False)
    assert s.labels.tolist() == [3, 5] and s.classes == DIGITS
    assert s.info["label_mapping"] == {"rule": "by class name", "map": {"3": 3, "5": 5}}


def test_named_folders_match_class_names_or_are_refused_unless_mapped(tmp_path):
    classes = ["cat", "dog", "bird"]
    _class_folders(tmp_path / "a", ["bird", "cat"])
    s = load_user_input(tmp_path / "a", FC, input_shape=NET, classes=classes, n_classes=3, progress=False)
    assert s.labels.tolist() == [2, 0] and s.classes == classes
    _class_folders(tmp_path / "d", ["background", "cars"])
    with pytest.raises(LabelError) as e:
        load_user_input(tmp_path / "d", FC, input_shape=NET, classes=DIGITS, n_classes=10, progress=False)
    assert (
        "class folders 'background', 'cars' name none of the network's classes (0, 1, 2, 3, 4, 5, 6, 7, 8, "
        "9)" in str(e.value)
    ) and "--set 'data.label_map={background=N, cars=N}'" in str(e.value)
    s = load_user_input(
        tmp_path / "d",
        FC,
        input_shape=NET,
        classes=DIGITS,
        n_classes=10,
        progress=False,
        label_map={"cars": 3, "background": "0"},
    )
    assert s.labels.tolist() == [0, 3]
    assert s.info["label_mapping"]["rule"] == "by class name, data.label_map for background, cars"
    for bad, match in (
        ({"cars": 12, "background": 0}, "maps 'cars' to 12, outside the network's 10 classes"),
        ({"cars": "truck", "background": 0}, "neither a class index nor one of the network's"),
        ({"cars": 1, "background": 0, "bikes": 2}, "names 'bikes', not a class folder here"),
    ):
        with pytest.raises(LabelError, match=match):
            load_user_input(
                tmp_path / "d", FC, input_shape=NET, classes=DIGITS, n_classes=10, progress=False, label_map=bad
            )


def test_without_class_names_numbers_are_indices_and_names_keep_folder_order():
    assert folder_labels(["3", "5"], None, 10, None, "x")[0] == [3, 5]
    labels, classes, mapping = folder_labels(["cars", "people"], None, 10, None, "x")
    assert labels == [0, 1] and mapping["rule"] == "folder order" and classes[:3] == ["cars", "people", "2"]
    with pytest.raises(LabelError, match="mix numbers \\('3'\\) and names \\('cars'\\)"):
        folder_labels(["3", "cars"], None, 10, None, "x")
    with pytest.raises(LabelError, match="class folder '12' is class 12, but the network has 10 outputs"):
        folder_labels(["3", "12"], None, 10, None, "x")
    with pytest.raises(LabelError, match="3 class folders for a network with 2 outputs"):
        folder_labels(["a", "b", "c"], None, 2, None, "x")
    with pytest.raises(ConfigError, match="data.label_map must be a table"):
        load_config(overrides=["data.label_map=[1, 2]"])
    assert load_config(overrides=['data.label_map={cars=3, "my bikes"="4"}']).data.label_map == {
        "cars": 3,
        "my bikes": "4",
    }


# ----------------------------------------------------------------- .npz labels (issue 22)
def test_npz_labels_and_classes_must_fit_the_networks_outputs(tmp_path):
    frames = np.zeros((3, 2, 34, 34, 5), dtype=np.uint8)

    def load(**arrays):
        np.savez(tmp_path / "d.npz", frames=frames, **arrays)
        return load_user_input(tmp_path / "d.npz", FC, input_shape=NET, classes=DIGITS, n_classes=10)

    for labels in ([1, 15, 99], np.array([1, 2, 2**64 - 1], dtype=np.uint64)):
        with pytest.raises(LabelError):
            load(labels=np.asarray(labels))
    with pytest.raises(
        LabelError, match="2 labels outside the network's 10 classes \\(valid 0..9; found \\[15, 99\\]\\)"
    ):
        load(labels=np.array([1, 15, 99]))
    with pytest.raises(LabelError, match="label 18446744073709551615 is not a class index"):
        load(labels=np.array([1, 2, 2**64 - 1], dtype=np.uint64))
    for n in (3, 12):
        with pytest.raises(LabelError, match=f"'classes' holds {n} names but the network has 10 outputs"):
            load(labels=np.array([0, 1, 2]), classes=np.array([str(k) for k in range(n)]))
    # the network's names in another order: labels renumbered by name
    s = load(labels=np.array([0, 1, 2]), classes=np.array(DIGITS[::-1]))
    assert s.labels.tolist() == [9, 8, 7] and s.classes == DIGITS
    assert s.info["label_mapping"]["rule"] == "by class name"


# ----------------------------------------------------------------- long recordings
def _long(seed=20, t_max=590_000):
    return events(n=4000, w=34, h=34, t_max=t_max, seed=seed)


def test_windows_cut_a_recording_into_consecutive_samples(tmp_path):
    ev = _long()
    (tmp_path / "7").mkdir()
    np.save(tmp_path / "7" / "long.npy", structured(ev))
    s = load_user_input(tmp_path, fc(slicing="windows"), input_shape=NET, classes=DIGITS, n_classes=10, progress=False)
    assert len(s) == 2 and s.t0_us.tolist() == [0, 300_000] and s.labels.tolist() == [7, 7]
    assert s.recordings == [str(tmp_path / "7" / "long.npy")] * 2
    for k in range(2):
        m = (ev["t"] >= k * 300_000) & (ev["t"] < (k + 1) * 300_000)
        part = make_events(ev["x"][m], ev["y"][m], ev["t"][m] - k * 300_000, ev["p"][m])
        assert np.array_equal(s.frames[k], frame_events(part, (34, 34, 2), FC))
    assert s.info["windows"] == {"n_recordings": 1, "n_windows": 2, "window_ms": 300.0}


def test_the_default_window_says_what_it_left_out(tmp_path):
    """A 590 ms recording framed as 30 x 10 ms lost its second half without a word."""
    for name, ev in (("long.npy", _long()), ("short.npy", _long(seed=21, t_max=250_000))):
        np.save(tmp_path / name, structured(ev))
    s = load_user_input(tmp_path, FC, input_shape=NET, progress=False)
    last = _long()["t"][-1]
    assert len(s) == 2 and s.info["left_out"]["n_longer"] == 1 and s.info["left_out"]["n_recordings"] == 2
    assert s.notes == [
        (
            f"1 of 2 recordings are longer than the 300 ms window (T x bin_us): "
            f"{(last + 1) / 1000 - 300:.0f} ms of {(last + 1) / 1000:.0f} ms left out of long.npy; "
            f"--set framing.slicing=windows runs them as a stream of windows"
        )
    ]


# ----------------------------------------------------------------- command line, shipped export
@pytest.fixture(scope="module")
def digits():
    """Test samples of the embedded set the export gets right at full T: the
    first of class 3 and of class 5 (events and frames)."""
    from lavacut.data.sources import open_dataset
    from lavacut.export.artifact import Export
    from lavacut.train.inference import forward

    export = Export.open(EXPORT)
    cfg = export.config()
    data = export.frames(cfg, "test", 80, progress=False)
    pred = forward(export.slayer_net(), data.frames).sum(-1).argmax(1)
    ds = open_dataset(cfg.data, "test", progress=False)
    out = {}
    for y in (3, 5):
        i = next(i for i in range(80) if data.labels[i] == y and pred[i] == y)
        out[y] = (ds[i][0], data.frames[i])
    return out


def _on_davis(ev):
    """A 34x34 digit drawn on a 320x240 camera so that crop+resize (240x240
    centre box, scale 34/240) gives back exactly its pixels: each pixel to
    the centre of its 240/34-wide block. An event at t = 0 outside the box
    (the crop drops it) keeps the time origin, as .aedat4 counts from the
    first event."""
    x = 40 + np.floor((ev["x"] + 0.5) * 240 / 34).astype(np.int64)
    y = np.floor((ev["y"] + 0.5) * 240 / 34).astype(np.int64)
    return make_events(np.r_[0, x], np.r_[0, y], np.r_[0, ev["t"]], np.r_[False, ev["p"]])


@pytest.mark.slow
def test_cli_camera_recordings_labelled_by_class_name_score_right(tmp_path, digits):
    """320x240 .aedat4 recordings of a 3 and a 5 in folders 3/ and 5/:
    crop+resize gives the network its own frames back, and the folders are
    its classes 3 and 5 (today: refused, and labels 0 and 1)."""
    for y, (ev, _) in digits.items():
        write_aedat4(tmp_path / "davis" / str(y) / f"digit{y}.aedat4", _on_davis(ev), 320, 240)
    r = run_cli(
        "evaluate",
        EXPORT,
        "--input",
        tmp_path / "davis",
        "--set",
        "framing.fit=crop+resize",
        "--no-neurobench",
        "--report",
        tmp_path / "ev.json",
    )
    rep = json.loads((tmp_path / "ev.json").read_text())
    assert [(row["label"], row["pred_full"]) for row in rep["per_sample"]] == [(3, 3), (5, 5)]
    assert rep["accuracy_full"] == 1.0 and rep["label_mapping"] == {"rule": "by class name", "map": {"3": 3, "5": 5}}
    assert rep["fit"]["crop"] == [40, 0, 240, 240] and "centre crop 240x240" in r.stdout
    assert "labels    by class name: 3 -> 3, 5 -> 5" in r.stdout
    # the same decisions as the export's own frames of those samples
    np.savez(tmp_path / "f.npz", frames=np.stack([f for _, f in digits.values()]).astype(np.uint8))
    run_cli("evaluate", EXPORT, "--input", tmp_path / "f.npz", "--report", tmp_path / "f.json")
    own = json.loads((tmp_path / "f.json").read_text())["per_sample"]
    assert [row["counts_full"] for row in rep["per_sample"]] == [row["counts_full"] for row in own]
    # a folder naming no class: refused before any work, unless mapped
    shutil.copytree(tmp_path / "davis" / "5", tmp_path / "davis" / "cars")
    r = run_cli(
        "evaluate",
        EXPORT,
        "--input",
        tmp_path / "davis",
        "--set",
        "framing.fit=crop+resize",
        "--report",
        tmp_path / "no.json",
        check=False,
    )
    assert r.returncode == 2 and "class folder 'cars' names none of the network's classes" in r.stderr
    assert not (tmp_path / "no.json").exists()
    run_cli(
        "evaluate",
        EXPORT,
        "--input",
        tmp_path / "davis",
        "--set",
        "framing.fit=crop+resize",
        "--set",
        "data.label_map={cars=5}",
        "--report",
        tmp_path / "map.json",
    )
    rep = json.loads((tmp_path / "map.json").read_text())
    assert [row["label"] for row in rep["per_sample"]] == [3, 5, 5] and rep["accuracy_full"] == 1.0


@pytest.mark.slow
def test_cli_a_long_recording_runs_as_a_stream_of_windows(tmp_path, digits):
    """A 3 then a 5, 300 ms apart, in one recording: windows give one
    decision each, with its offset, latency and idle share (run on Lava)."""
    e3, e5 = digits[3][0], digits[5][0]
    e3, e5 = e3[e3["t"] < 300_000], e5[e5["t"] < 300_000]  # what a 300 ms window frames of each
    ev = np.concatenate([e3, make_events(e5["x"], e5["y"], e5["t"] + 300_000, e5["p"])])
    np.save(tmp_path / "stream.npy", structured(ev))
    r = run_cli(
        "run",
        EXPORT,
        "--input",
        tmp_path / "stream.npy",
        "--policy",
        "confidence",
        "--param",
        "eps=0.05",
        "--set",
        "framing.slicing=windows",
        "--report",
        tmp_path / "w.json",
    )
    rep = json.loads((tmp_path / "w.json").read_text())
    rows = rep["per_sample"]
    assert [row["t0_us"] for row in rows] == [0, 300_000] and [row["pred_full"] for row in rows] == [3, 5]
    for row in rows:
        assert row["latency_ms"] == 10 * row["t_c"] and row["idle_share"] == pytest.approx((30 - row["t_c"]) / 30)
    assert rep["windows"]["n_windows"] == 2 and rep["windows"]["mean_latency_ms"] == pytest.approx(
        np.mean([row["latency_ms"] for row in rows])
    )
    assert "windows   2 windows of 300 ms from 1 recording: decision after" in r.stdout
    with open(tmp_path / "w.samples.csv") as f:
        csv_rows = list(csv.DictReader(f))
    assert [int(c["t0_us"]) for c in csv_rows] == [0, 300_000] and csv_rows[0]["recording"].endswith("stream.npy")
    # the default window: the second digit is left out, and said so
    r = run_cli("evaluate", EXPORT, "--input", tmp_path / "stream.npy", "--report", tmp_path / "d.json")
    assert "1 of 1 recordings are longer than the 300 ms window" in r.stdout
    assert json.loads((tmp_path / "d.json").read_text())["left_out"]["n_longer"] == 1


def test_cli_npz_labels_outside_the_classes_and_tiny_calibration_sets_are_refused(tmp_path):
    frames = np.zeros((3, 2, 34, 34, 30), dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", frames=frames, labels=np.array([1, 15, 99]))
    r = run_cli("run", EXPORT, "--input", tmp_path / "bad.npz", "--report", tmp_path / "r.json", check=False)
    assert r.returncode == 2 and "2 labels outside the network's 10 classes" in r.stderr
    np.savez(tmp_path / "three.npz", frames=frames, labels=np.array([0, 1, 2]), classes=np.array(["a", "b", "c"]))
    r = run_cli("run", EXPORT, "--input", tmp_path / "three.npz", "--report", tmp_path / "r.json", check=False)
    assert r.returncode == 2 and "'classes' holds 3 names but the network has 10 outputs" in r.stderr
    # one labelled sample cannot calibrate: refused, the file untouched
    net = tmp_path / "mine.net"
    shutil.copy(EXPORT, net)
    before = net.read_bytes()
    np.savez(tmp_path / "one.npz", frames=frames[:1], labels=np.array([4]))
    r = run_cli("calibrate", net, "--input", tmp_path / "one.npz", check=False)
    assert r.returncode == 2 and f"calibration needs at least {MIN_CALIBRATION_SAMPLES} labelled samples" in r.stderr
    assert net.read_bytes() == before
