"""A third round of hostile user input (``--input`` frames, recordings and
folders): ``inspect`` and ``run`` agree on what a file is, and every input
either runs with the right numbers or is refused (exit 2) in one line naming
the file, field or shape at fault. Each case is a defect found by building
such inputs by hand."""

from __future__ import annotations

import numpy as np
import pytest
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
    refused(run(tmp_path, tmp_path / "f.npy"), "f.npy", f"frames of T={T} steps", "--policy fixed")
    refused(run(tmp_path, tmp_path / "f.npy", cmd="evaluate"), "f.npy", f"frames of T={T} steps")


def test_frames_of_another_T_run_with_a_rule_without_per_step_thresholds(tmp_path):
    np.save(tmp_path / "f.npy", GOOD[..., :10])
    assert run(tmp_path, tmp_path / "f.npy", "--policy", "confidence").returncode == 0


def test_load_user_input_shape_error_type(tmp_path):
    np.save(tmp_path / "f.npy", GOOD.transpose(0, 2, 3, 1, 4))
    with pytest.raises(InputShapeError, match="another order"):
        load_user_input(tmp_path / "f.npy", FramingConfig(), input_shape=(2, 34, 34), progress=False)
