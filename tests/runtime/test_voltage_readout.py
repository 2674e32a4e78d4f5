"""Voltage readouts: Intel's mnist.net (lava-dl's test wheel) ends in a dense
layer without neurons (SLAYER's Affine readout; netx makes it a non-leaky
integrator that never spikes). The cutoff reads its voltages: Y(t) = v(t),
torch (the SLAYER rebuild, in Lava's integers) and Lava (the fused network
sending v) agree exactly, every stop rule works on them, and the command
line runs it. Before issue 23 the file was refused ("it never spikes")."""

import json
import shutil
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from lavacut_testing import run_cli, write_netx

from lavacut.cutoff.rules import TopKGap, cumulative_counts, cutoff

WHEEL = Path(sysconfig.get_paths()["purelib"]) / "tests" / "lava" / "lib" / "dl" / "netx"
MNIST = WHEEL / "mnist.net"
T = 10


@pytest.fixture
def mnist(tmp_path):
    return Path(shutil.copy(MNIST, tmp_path / "mnist.net"))


def _digits(n, seed=0):
    """Digit-like frames of mnist.net's 784 inputs: scikit-learn's 8x8
    digits upsampled to 24x24 in a 28x28 image, the lit pixels spiking
    every step (the network was trained on MNIST: accuracy is not the point)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    idx = np.random.default_rng(seed).permutation(len(d.target))[:n]
    img = np.zeros((n, 28, 28))
    img[:, 2:26, 2:26] = np.kron(d.images[idx] / 16.0, np.ones((3, 3)))
    frames = np.repeat((img > 0.4).reshape(n, 1, 28, 28, 1), T, axis=-1).astype(np.uint8)
    return frames, d.target[idx]


def test_mnist_net_is_a_voltage_readout(mnist):
    from lavacut.export.artifact import Export
    from lavacut.export.netx.inspect import readout_of
    from lavacut.runtime.layout import net_layout

    export = Export.open(mnist)
    assert export.readout == readout_of(export.layers) == "voltage" and export.num_classes == 10
    assert export.input_shape == (784,)
    last = export.layers[-1]
    assert last.run_issue == last.verify_issue == "" and last.role.startswith("voltage readout")
    layout = net_layout(mnist)
    assert layout.readout == "voltage" and "voltage readout (layer 3)" in layout.note


def test_a_hidden_layer_that_never_spikes_is_still_refused(tmp_path):
    from lavacut.export.artifact import Export
    from lavacut.runtime.layout import net_layout
    from lavacut.util import LavacutError

    cuba = {"type": "CUBA", "iDecay": 1024, "vDecay": 512, "vThMant": 80, "refDelay": 1, "gradedSpike": False}
    path = write_netx(
        tmp_path / "silent_hidden.net",
        [
            {"type": "dense", "shape": np.array([3]), "weight": np.ones((3, 2)) * 50},  # no neurons
            {"type": "dense", "shape": np.array([2]), "weight": np.ones((2, 3)) * 50, "neuron": cuba},
        ],
    )
    assert Export.open(path).readout == "spike counts"
    with pytest.raises(LavacutError, match="layer 0 .*never spikes"):
        net_layout(path)


def test_the_rebuild_integrates_the_readout_in_lavas_integers(mnist):
    """netx's integrator: u += a << 6 without decay, v = u. The rebuild's
    voltage is 64 x the running sum of the readout's integer input, which
    is Lava's weights times the previous layer's spikes one step earlier."""
    from lavacut.export.artifact import Export
    from lavacut.export.netx.layers.blocks import lava_dense_weights
    from lavacut.train.inference import forward
    import h5py

    net = Export.open(mnist).slayer_net()
    frames, _ = _digits(3)
    inc, hidden = forward(net, frames, record=True)
    assert inc.dtype == np.int64 and inc.shape == (3, 10, T)
    v = cumulative_counts(inc)
    with h5py.File(mnist) as f:
        w = lava_dense_weights(np.asarray(f["layer/3/weight"][()]), "layer 3")
    prev = hidden[-1].astype(np.int64)  # layer 2's spikes (N, 512, T)
    a = np.einsum("ki,nit->nkt", w, np.concatenate([np.zeros_like(prev[..., :1]), prev[..., :-1]], -1))
    assert np.array_equal(v, 64 * np.cumsum(a, axis=-1))
    assert np.abs(v).max() > 0


def test_a_stop_rule_fires_on_voltages():
    """Y(t) = v(t), not a running sum of v: the increments' running sum."""
    v = np.array([[[0, 5, 40, 90, 90], [0, 10, 20, 30, 95]]])  # (N=1, K=2, T=5)
    inc = np.diff(v, axis=-1, prepend=0)
    t_c, pred = cutoff(TopKGap(beta=np.full(5, 30.0)), inc)
    assert (t_c[0], pred[0]) == (4, 0)  # gap 60 at t = 4
    t_c, pred = cutoff(TopKGap(beta=np.full(5, 100.0)), inc)
    assert (t_c[0], pred[0]) == (5, 1)  # never: at T class 1 leads (95 > 90)


@pytest.mark.slow
def test_torch_and_lava_agree_on_the_voltages_exactly(mnist):
    from lavacut.export.artifact import Export
    from lavacut.runtime.record import lava_output
    from lavacut.train.inference import forward

    frames, _ = _digits(4)
    v_torch = cumulative_counts(forward(Export.open(mnist).slayer_net(), frames))
    v_lava, _ = lava_output(mnist, frames)
    assert v_lava.dtype == np.int64 and np.array_equal(v_lava, v_torch)
    assert len(np.unique(v_lava)) > 10  # real voltages, not spikes


@pytest.mark.slow
def test_command_line_calibrates_runs_and_verifies_mnist_net(mnist, tmp_path):
    frames, labels = _digits(200)
    # calibration needs 20 labelled samples and 2 of every class: 3 of each
    cal = np.concatenate([np.flatnonzero(labels == k)[:3] for k in range(10)])
    rest = np.setdiff1d(np.arange(len(labels)), cal)[:10]
    calib, test, raw = tmp_path / "calib.npz", tmp_path / "test.npz", tmp_path / "frames.npy"
    np.savez(calib, frames=frames[cal], labels=labels[cal])
    np.savez(test, frames=frames[rest], labels=labels[rest])
    np.save(raw, frames[rest[:4]])
    # uncalibrated: fixed T runs, the report says what the scores are
    r = run_cli("run", mnist, "--input", raw, "--report", tmp_path / "fixed.json")
    assert "readout   voltage" in r.stdout
    rep = json.loads((tmp_path / "fixed.json").read_text())
    assert rep["readout"] == "voltage" and rep["policy"] == "fixed"
    # a softmax of raw voltages needs a calibrated temperature
    r = run_cli("run", mnist, "--input", raw, "--policy", "confidence", "--report", tmp_path / "c.json", check=False)
    assert r.returncode == 2 and "not calibrated for confidence" in r.stderr
    run_cli("calibrate", mnist, "--input", calib)
    reports = {}
    for policy in ("topk", "confidence", "conformal"):
        out = tmp_path / f"{policy}.json"
        run_cli(
            "evaluate",
            mnist,
            "--input",
            test,
            "--engine",
            "lava",
            "--policy",
            policy,
            "--no-neurobench",
            "--report",
            out,
        )
        reports[policy] = rep = json.loads(out.read_text())
        assert rep["readout"] == "voltage" and rep["engines_agree"] and rep["full_T_matches_slayer"]
        assert rep["policy_params"].get("temperature", 1e9) > 100  # calibrated on the voltages' scale
    # Top-K on voltages stops some samples early
    assert min(s["t_c"] for s in reports["topk"]["per_sample"]) < T
    # the scores in the report are the voltages at the cutoff step (not a sum of them)
    from lavacut.export.artifact import Export
    from lavacut.train.inference import forward

    v = cumulative_counts(forward(Export.open(mnist, accept_modified=True).slayer_net(), frames[rest]))
    for s in reports["topk"]["per_sample"]:
        assert s["counts"] == v[s["index"], :, s["t_c"] - 1].tolist()
        assert s["counts_full"] == v[s["index"], :, -1].tolist()
    r = run_cli("verify", mnist, "--input", test, "--samples", "4", "--report", tmp_path / "verify.json")
    ver = json.loads((tmp_path / "verify.json").read_text())
    assert ver["n_identical"] == 4 and ver["readout"] == "voltage"
    assert "voltages v(t) compared exactly" in r.stdout


@pytest.mark.slow
def test_netx_graph_reads_the_voltage_through_the_monitor_with_the_same_decisions(mnist):
    """models "stock" (Lava's own LIF, netx's integrator with du = iDecay - 1
    = -1) and "fast-procs": the monitor reads the readout's v by RefPort;
    decisions and Y(t_c) equal the fused network's and the torch engine's."""
    from lavacut.export.artifact import Export
    from lavacut.runtime.runner import run_split
    from lavacut.train.inference import forward

    frames, labels = _digits(4, seed=1)
    inc = forward(Export.open(mnist).slayer_net(), frames)
    v = cumulative_counts(inc)
    gaps = np.sort(v, axis=1)[:, -1] - np.sort(v, axis=1)[:, -2]
    rule = TopKGap(beta=np.full(T, float(np.median(gaps))))  # stops some samples early
    t_ref, p_ref = cutoff(rule, inc)
    assert t_ref.min() < T
    for models in ("fast", "stock", "fast-procs"):
        for mode in ("halt", "stream"):
            res = run_split(mnist, frames, labels, rule, mode=mode, models=models, progress=False)
            assert res.t_c.tolist() == t_ref.tolist() and res.pred.tolist() == p_ref.tolist(), (models, mode)
            assert res.counts.tolist() == [v[j, :, t - 1].tolist() for j, t in enumerate(t_ref)]


@pytest.mark.slow
def test_a_leaky_integrator_readout_with_bias_agrees_exactly(tmp_path):
    """The layout a NIR LI (leaky-integrator) output exports to: CUBA decays
    with a threshold above Lava's 24-bit voltage, and a bias. torch (integer
    rebuild) and Lava (fused, and netx's graph through the monitor) agree."""
    from lavacut.export.artifact import Export
    from lavacut.runtime.record import lava_output
    from lavacut.runtime.runner import run_split
    from lavacut.train.inference import forward

    cuba = {"type": "CUBA", "iDecay": 1024, "vDecay": 256, "vThMant": 80, "refDelay": 1, "gradedSpike": False}
    rng = np.random.default_rng(3)
    path = write_netx(
        tmp_path / "li_readout.net",
        [
            {
                "type": "dense",
                "shape": np.array([16]),
                "inFeatures": 12,
                "outFeatures": 16,
                "weight": rng.integers(-40, 120, (16, 12)).astype(float),
                "neuron": cuba,
            },
            {
                "type": "dense",
                "shape": np.array([3]),
                "inFeatures": 16,
                "outFeatures": 3,
                "weight": rng.integers(-60, 60, (3, 16)).astype(float),
                "bias": np.array([5.0, -3.0, 0.0]),
                "neuron": {**cuba, "vThMant": 1 << 17},
            },
        ],
    )
    export = Export.open(path)
    assert export.readout == "voltage"
    frames = (rng.random((3, 12, 15)) < 0.4).astype(np.uint8)
    inc = forward(export.slayer_net(), frames)
    v = cumulative_counts(inc)
    v_lava, _ = lava_output(path, frames)
    assert np.array_equal(v_lava, v) and np.abs(v).max() > 0
    assert not np.array_equal(v[..., 1:], np.cumsum(v, -1)[..., 1:])  # leaky, biased: not a plain sum
    rule = TopKGap(beta=np.full(15, float(np.median(np.abs(v)))))
    t_ref, p_ref = cutoff(rule, inc)
    res = run_split(path, frames, None, rule, models="stock", progress=False)
    assert res.t_c.tolist() == t_ref.tolist() and res.pred.tolist() == p_ref.tolist()
