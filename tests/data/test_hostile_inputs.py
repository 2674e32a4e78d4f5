"""A third round of hostile user input (``--input`` frames, recordings and
folders): ``inspect`` and ``run`` agree on what a file is, and every input
either runs with the right numbers or is refused (exit 2) in one line naming
the file, field or shape at fault. Each case is a defect found by building
such inputs by hand."""

from __future__ import annotations

import numpy as np
import pytest
from event_files_testing import events
from lavacut_testing import REPO, run_cli, write_netx

from lavacut.data.framing import FramingConfig
from lavacut.data.user_input import InputShapeError, load_user_input

NET = REPO / "netx_exports" / "embedded_dense.net"  # input (2, 34, 34), classes 0..9, T = 30, Top-K calibrated
CUBA = {"type": "CUBA", "iDecay": 1024, "vDecay": 512, "vThMant": 80, "refDelay": 1, "gradedSpike": False}
RNG = np.random.default_rng(0)
GOOD = RNG.random((2, 2, 34, 34, 30)) < 0.05


def refused(r, *words):
    """Exit 2, one line naming each of ``words``, no traceback; returns the message after 'error: '."""
    assert r.returncode == 2, (r.returncode, r.stdout[-800:], r.stderr[-800:])
    assert "Traceback" not in r.stderr, r.stderr[-1500:]
    err = r.stderr.strip().splitlines()
    assert len(err) == 1, r.stderr
    for w in words:
        assert w in err[0], (w, err[0])
    return err[0].split("error: ", 1)[1]


def run(tmp_path, path, *more, net=NET, cmd="run"):
    return run_cli(cmd, net, "--input", path, "--samples", "2", "--report", tmp_path / "r.json", *more, check=False)


def flat_net(tmp_path, features=40):
    """A lava-dl style dense network without lavacut metadata: input (F,), its (C, H, W) unknown."""
    return write_netx(
        tmp_path / "flat.net",
        [
            {
                "type": "dense",
                "shape": np.array([2]),
                "inFeatures": features,
                "outFeatures": 2,
                "weight": np.full((2, features), 60.0),
                "neuron": CUBA,
            }
        ],
    )


# ------------------------------------------------------------ frames' axis order
def test_channels_last_frames_on_a_flat_network_refused_not_scrambled(tmp_path):
    """(N, H, W, C, T) frames whose sizes multiply out to a flat network's
    input were reshaped as (C, H, W): every feature in the wrong place."""
    chw = RNG.random((2, 2, 4, 5, 6)) < 0.5  # (N, C=2, H=4, W=5, T)
    np.save(tmp_path / "hwc.npy", chw.transpose(0, 2, 3, 1, 4))
    np.save(tmp_path / "one_hwc.npy", chw[0].transpose(1, 2, 0, 3))
    net = flat_net(tmp_path)
    refused(
        run(tmp_path, tmp_path / "hwc.npy", net=net), "hwc.npy", "(2, 4, 5, 2, 6)", "(N, H, W, C, T)", "(N, C, H, W, T)"
    )
    refused(run(tmp_path, tmp_path / "one_hwc.npy", net=net), "one_hwc.npy", "(H, W, C, T)", "(C, H, W, T)")
    # the documented order reads as its flattening, the same features as (N, F, T)
    np.save(tmp_path / "chw.npy", chw)
    s = load_user_input(tmp_path / "chw.npy", FramingConfig(), input_shape=(40,), progress=False)
    assert np.array_equal(s.frames, chw.reshape(2, 40, 6))
    out = run_cli("inspect", tmp_path / "hwc.npy").stdout
    assert "2 samples of (4, 5, 2) per step, T=6 steps" in out and "as polarities in (H, W, C) order" in out


@pytest.mark.parametrize(
    "case,shape",
    [
        ("channels last", (0, 2, 3, 1, 4)),  # (N, H, W, C, T)
        ("time first", (0, 4, 1, 2, 3)),  # (N, T, C, H, W)
    ],
)
def test_frames_in_another_axis_order_are_named_so(tmp_path, case, shape):
    np.save(tmp_path / "f.npy", GOOD.transpose(*shape))
    refused(run(tmp_path, tmp_path / "f.npy"), "f.npy", "in another order", "(N, C, H, W, T)", "time last")


def test_plain_event_table_is_told_to_be_a_structured_array(tmp_path):
    """Events saved as a plain (n, 4) int array were called frames that do not match."""
    np.save(tmp_path / "ev.npy", RNG.integers(0, 30, (50, 4)))
    for r in (run(tmp_path, tmp_path / "ev.npy"), run_cli("inspect", tmp_path / "ev.npy", check=False)):
        refused(r, "ev.npy", "(50, 4)", "structured array with fields x, y, t, p")


# ------------------------------------------------ inspect checks frames as run does
def _frames(tmp_path, name, frames, **arrays):
    path = tmp_path / name
    np.savez(path, frames=frames, **arrays) if name.endswith(".npz") else np.save(path, frames)
    return path


BAD_FRAMES = {
    # name: (file name, frames, npz arrays, words of the refusal)
    "255 counts": ("f.npy", GOOD.astype(np.uint8) * 255, {}, ["138 values other than 0/1"]),
    "infinite": ("f.npy", np.where(GOOD, np.inf, 0.0), {}, ["138 infinite values"]),
    "no samples": ("f.npy", GOOD[:0], {}, ["(0, 2, 34, 34, 30)", "no samples"]),
    "string labels": ("f.npz", GOOD, {"labels": np.array(["0", "1"])}, ["labels have type <U1"]),
    "float labels": ("f.npz", GOOD, {"labels": np.array([0.0, 1.0])}, ["labels have type float64"]),
    "negative label": ("f.npz", GOOD, {"labels": np.array([-1, 1])}, ["negative labels"]),
    "3 labels for 2 samples": ("f.npz", GOOD, {"labels": np.array([0, 1, 2])}, ["labels have shape (3,)"]),
    "one-hot labels": ("f.npz", GOOD, {"labels": np.eye(10, dtype=int)[[0, 1]]}, ["labels have shape (2, 10)"]),
    "integer classes": ("f.npz", GOOD, {"classes": np.arange(10)}, ["classes must be", "strings"]),
}


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
def test_inspect_refuses_frames_as_run_does(tmp_path, case):
    """inspect described bad frames (exit 0) that run then refused."""
    name, frames, arrays, words = BAD_FRAMES[case]
    if "counts" in case or "infinite" in case:  # counted on the first sample's 138 spikes only
        frames = frames.copy()
        frames[1] = 0
        words = [w.replace("138", str(int(GOOD[0].sum()))) for w in words]
    path = _frames(tmp_path, name, frames, **arrays)
    a = refused(run_cli("inspect", path, check=False), str(path), *words)
    b = refused(run(tmp_path, path), str(path), *words)
    assert a == b


def test_inspect_states_the_layout_run_reads(tmp_path):
    path = _frames(tmp_path, "f.npz", GOOD, labels=np.array([3, 4]))
    out = run_cli("inspect", path).stdout
    assert "frames: 2 samples of (2, 34, 34) per step, T=30 steps, as (N, C, H, W, T)" in out


# --------------------------------------------------- T other than the calibration's
@pytest.mark.parametrize("T", [10, 60])
def test_frames_of_another_T_than_the_calibration_name_the_file(tmp_path, T):
    """'topk: beta has 30 entries but the network runs T=10 steps' named neither the file nor a way out."""
    np.save(tmp_path / "f.npy", np.concatenate([GOOD, GOOD], -1)[..., :T])
    refused(
        run(tmp_path, tmp_path / "f.npy"),
        "f.npy",
        f"frames of T={T} steps",
        "a --policy without per-step thresholds (confidence, entropy, fixed)",
    )
    refused(run(tmp_path, tmp_path / "f.npy", cmd="evaluate"), "f.npy", f"frames of T={T} steps")


def test_frames_of_another_T_run_with_a_rule_without_per_step_thresholds(tmp_path):
    np.save(tmp_path / "f.npy", GOOD[..., :10])
    assert run(tmp_path, tmp_path / "f.npy", "--policy", "confidence").returncode == 0


def test_load_user_input_shape_error_type(tmp_path):
    np.save(tmp_path / "f.npy", GOOD.transpose(0, 2, 3, 1, 4))
    with pytest.raises(InputShapeError, match="another order"):
        load_user_input(tmp_path / "f.npy", FramingConfig(), input_shape=(2, 34, 34), progress=False)


# ------------------------------------------------------------------ recordings
def ev34(n=300, seed=0):
    return events(n, w=34, h=34, seed=seed)


def _as(dtype, ev, **cols):
    """``ev`` re-typed into the structured ``dtype`` (fields by name), with columns replaced."""
    a = np.zeros(len(ev), dtype=dtype)
    for f in a.dtype.names:
        if f in ev.dtype.names:
            a[f] = ev[f]
    for f, v in cols.items():
        a[f] = v
    return a


I8 = [("x", "<i8"), ("y", "<i8"), ("t", "<i8"), ("p", "<i8")]
SAME_EVENTS = {
    # name: tonic's events written another way that means the same
    "polarity -1/1": lambda ev: _as(I8, ev, p=np.where(ev["p"], 1, -1)),
    "polarity bool": lambda ev: _as([("x", "<u2"), ("y", "<u2"), ("t", "<u8"), ("p", "?")], ev),
    "fields t, p, x, y": lambda ev: _as([("t", "<i8"), ("p", "<i1"), ("x", "<i4"), ("y", "<i4")], ev),
    "an extra field": lambda ev: _as(I8 + [("size", "<f4")], ev, size=1.5),
    "x, y, t as whole floats": lambda ev: _as([("x", "<f4"), ("y", "<f4"), ("t", "<f8"), ("p", "<f4")], ev),
    "int64 fields": lambda ev: _as(I8, ev),
}


@pytest.mark.parametrize("case", sorted(SAME_EVENTS))
def test_event_encodings_that_mean_the_same_frame_the_same(tmp_path, case):
    ev = ev34()
    ev["t"] = ev["t"] // 2000 * 2000  # timestamps repeat, as a camera's do
    assert len(np.unique(ev["t"])) < len(ev) and ev["p"].any() and not ev["p"].all()
    np.save(tmp_path / "ref.npy", ev)
    np.save(tmp_path / "alt.npy", SAME_EVENTS[case](ev))
    fc = FramingConfig()
    ref = load_user_input(tmp_path / "ref.npy", fc, input_shape=(2, 34, 34), progress=False)
    alt = load_user_input(tmp_path / "alt.npy", fc, input_shape=(2, 34, 34), progress=False)
    assert ref.frames.sum() > 100 and np.array_equal(alt.frames, ref.frames)


def _units(ev, unit):
    if unit == "milliseconds":
        return _as(I8, ev, t=ev["t"] // 1000)
    if unit == "whole seconds as floats":
        return _as([("x", "<i8"), ("y", "<i8"), ("t", "<f8"), ("p", "<i8")], ev, t=np.round(ev["t"] / 1e6))
    return _as(I8, ev, t=7000)  # all equal


@pytest.mark.parametrize("unit", ["milliseconds", "whole seconds as floats", "all equal"])
def test_timestamps_in_another_unit_refused(tmp_path, unit):
    """A recording with t in ms (290 'us' long) or whole seconds ran with every event in the first of T
    frames: a decision on one frame, reported as a normal run."""
    path = tmp_path / "r.npy"
    np.save(path, _units(ev34(), unit))
    refused(run(tmp_path, path), "r.npy", "one 10000 us bin", "microseconds")
    refused(run(tmp_path, path, "--set", "framing.slicing=windows"), "r.npy", "one 10000 us bin")
    if unit == "milliseconds":  # a recording really this short: the bin width that spreads it
        s = load_user_input(path, FramingConfig(bin_us=10), input_shape=(2, 34, 34), progress=False)
        assert s.frames[0, ..., 10:].any() and not s.notes


def test_one_short_recording_in_a_folder_is_said(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    np.save(d / "a.npy", ev34())
    np.save(d / "b.npy", _units(ev34(seed=1), "milliseconds"))
    s = load_user_input(d, FramingConfig(), input_shape=(2, 34, 34), progress=False)
    assert any("1 of 2 recordings lie in one 10000 us bin" in n and "b.npy" in n for n in s.notes)
    assert s.frames[1, ..., 1:].sum() == 0 < s.frames[1, ..., 0].sum()


def test_bins_slicing_of_a_recording_without_duration_refused(tmp_path):
    np.save(tmp_path / "r.npy", _units(ev34(), "all equal"))
    refused(run(tmp_path, tmp_path / "r.npy", "--set", "framing.slicing=bins"), "r.npy", "in one bin", "t=7000")


def test_the_same_recording_twice_is_said(tmp_path):
    """A copy (or a link) of a recording ran as another sample without a word, also in another class."""
    d = tmp_path / "d"
    for c in ("3", "5"):
        (d / c).mkdir(parents=True)
    np.save(d / "3" / "a.npy", ev34())
    np.save(d / "5" / "b.npy", ev34(seed=1))
    (d / "5" / "a_link.npy").symlink_to(d / "3" / "a.npy")
    s = load_user_input(d, FramingConfig(), input_shape=(2, 34, 34), classes=[str(i) for i in range(10)])
    (note,) = [n for n in s.notes if "repeat" in n]
    assert "1 of 3 recordings repeat another's events (a_link.npy = a.npy)" in note
    assert "classes '3' and '5': at most one label is right" in note
    assert s.labels.tolist() == [3, 5, 5] and np.array_equal(s.frames[0], s.frames[1])


# --------------------------------------------------------------------- folders
def test_fewer_class_folders_than_outputs_by_folder_order_is_said(tmp_path):
    """Without class names, folders 'a', 'c' became 0, 1: a split holding 'a', 'b', 'c' numbers 'c' 2, silently."""
    for c in ("a", "c"):
        (tmp_path / c).mkdir()
        np.save(tmp_path / c / "r.npy", events(300, w=4, h=5, seed=ord(c)))
    s = load_user_input(tmp_path, FramingConfig(), input_shape=(40,), n_classes=3, progress=False)
    assert s.labels.tolist() == [0, 1]
    assert any("2 class folders for the network's 3 outputs, numbered by sorted name (a=0, c=1)" in n for n in s.notes)


def test_a_data_set_root_with_split_folders_is_named_so(tmp_path):
    for split in ("train", "test"):
        (tmp_path / "root" / split / "3").mkdir(parents=True)
        np.save(tmp_path / "root" / split / "3" / "r.npy", ev34())
    refused(
        run(tmp_path, tmp_path / "root"),
        "folder inside class folder",
        "split folders (test, train)",
        "--input " + str(tmp_path / "root" / "test"),
    )


def test_inspect_says_what_run_will_refuse_of_a_recording_in_one_bin(tmp_path):
    np.save(tmp_path / "r.npy", _units(ev34(), "milliseconds"))
    out = run_cli("inspect", tmp_path / "r.npy").stdout.splitlines()
    assert out[3].startswith("note: all 300 events lie within t=0..") and "one 10000 us bin" in out[3]
    np.save(tmp_path / "ok.npy", ev34())
    assert "note:" not in run_cli("inspect", tmp_path / "ok.npy").stdout


def test_a_singleton_last_axis_flattens_the_same_either_way(tmp_path):
    x = RNG.random((2, 40, 1, 1, 6)) < 0.5  # (N, F, 1, 1, T), as NIR tests write flat frames
    np.save(tmp_path / "x.npy", x)
    s = load_user_input(tmp_path / "x.npy", FramingConfig(), input_shape=(40,), progress=False)
    assert np.array_equal(s.frames, x.reshape(2, 40, 6))


def test_a_data_set_with_timestamps_in_ms_refused(tmp_path):
    """An N-MNIST folder written with t in ms ran every sample as one frame (exit 0)."""
    from event_files_testing import write_nmnist

    for k, c in enumerate(("1", "2")):
        write_nmnist(tmp_path / "NMNIST" / "Test" / c / "a.bin", _units(ev34(seed=k), "milliseconds"))
    r = run_cli(
        "run", NET, "--set", "data.dataset=nmnist", "--set", f"data.root={tmp_path}", "--samples", "2",
        "--report", tmp_path / "r.json", check=False,
    )  # fmt: skip
    refused(r, " test: every sample", "first 10000 us bin", "1/a.bin", "microseconds")


@pytest.mark.parametrize("arrays", ["x, y, t, p", "events"])
def test_events_in_an_npz_are_told_where_events_go(tmp_path, arrays):
    ev = ev34()
    cols = {f: ev[f] for f in "xytp"} if arrays != "events" else {"events": ev}
    np.savez(tmp_path / "e.npz", **cols)
    for r in (run(tmp_path, tmp_path / "e.npz"), run_cli("inspect", tmp_path / "e.npz", check=False)):
        refused(r, "e.npz", f"holds {arrays}", "a .npy of one recording")


def test_timedelta_timestamps_read_in_their_unit(tmp_path):
    ev = ev34()
    np.save(tmp_path / "us.npy", ev)
    np.save(tmp_path / "ns.npy", _as([("x", "<i8"), ("y", "<i8"), ("t", "m8[ns]"), ("p", "<i8")], ev, t=ev["t"] * 1000))
    fc = FramingConfig()
    a, b = (load_user_input(tmp_path / n, fc, input_shape=(2, 34, 34), progress=False) for n in ("us.npy", "ns.npy"))
    assert np.array_equal(a.frames, b.frames) and a.frames.sum() > 100


def test_calibrating_on_frames_of_another_T_refused_naming_them(tmp_path):
    """calibrate on 10-step frames failed in the validation of its temporary file
    ('.net.1234.xyz.net: conformal: q has 10 entries but the network runs T=30 steps')."""
    import shutil

    net = tmp_path / "mine.net"
    shutil.copy(NET, net)
    net.chmod(0o644)
    before = net.read_bytes()
    np.savez(tmp_path / "c.npz", frames=np.zeros((20, 2, 34, 34, 10), bool), labels=np.arange(20) % 10)
    r = run_cli("calibrate", net, "--input", tmp_path / "c.npz", check=False)
    refused(r, "c.npz", "frames of T=10 steps", "runs T=30 steps", "calibrate on frames of 30 steps")
    assert net.read_bytes() == before
