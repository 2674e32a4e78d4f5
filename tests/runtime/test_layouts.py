"""NetX layouts lavacut did not write, in Lava and in the SLAYER rebuild.

Small files written here with lava-dl SLAYER blocks (their export_hdf5, a
'layer' group like lavacut's) and h5py edits: an input layer with neurons,
an average readout, conv outputs, axonal delays (per output, per synapse,
per input), per-layer thresholds and decays with odd weights and biases, a
recurrent layer, and sigma-delta files that must be refused naming the layer.
Each runnable layout: lavacut's multi-sample graph (run_split, halt and
stream; lava_output) against the SLAYER rebuild (verify), every sample, and
against the first two samples each alone in a fresh stock-netx graph
(run_single), spike for spike. Then
the stock .net files of the lava-dl wheel through the CLI. No Lava Process
is defined here.
"""

from __future__ import annotations

import json
import os
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from lavacut_testing import brute_conv_fan_out, descendants, new_shm, run_cli

from lavacut.cutoff.rules import FixedT, TopKGap, cutoff
from lavacut.util import LavacutError

T, N = 16, 6
#: the lava-dl wheel installs its own test suite (a top-level package 'tests') with stock NetX files
WHEEL = Path(sysconfig.get_paths()["purelib"]) / "tests" / "lava" / "lib" / "dl" / "netx"


def _np(th, cd, vd):
    return {"threshold": th, "current_decay": cd, "voltage_decay": vd, "tau_grad": 1, "scale_grad": 1}


# per-layer neuron parameter sets (decays: multiples of 1/4096, thresholds of 1/64, so they read back exactly)
A, B, C = _np(1.0, 0.25, 0.03125), _np(0.75, 0.5, 0.125), _np(1.25, 1.0, 0.0)


# --------------------------------------------------------------------------
# writing files
# --------------------------------------------------------------------------


def _write(path, blocks, in_shape, input_group=True, average=0, edit=None):
    """Export SLAYER blocks as a NetX 'layer' group (one forward first: the
    neuron shapes), optionally after an input group without neurons (the
    frame shape), with an average readout of ``average`` groups, then
    ``edit(layer_group)``."""
    import h5py
    import torch

    with torch.no_grad():
        x = torch.zeros((1,) + tuple(in_shape) + (2,))
        for b in blocks:
            x = b(x)
    with h5py.File(path, "w") as f:
        lay = f.create_group("layer")
        groups = [lay.create_group(str(i)) for i in range(len(blocks) + int(input_group) + int(bool(average)))]
        if input_group:
            groups[0].create_dataset("type", (1,), "S10", [b"input"])
            groups[0].create_dataset("shape", data=np.array(in_shape))
        for g, b in zip(groups[int(input_group) :], blocks):
            b.export_hdf5(g)
        if average:  # SLAYER's Average.export_hdf5 is broken (reads self.neuron): as ntidigits.net
            groups[-1].create_dataset("type", (1,), "S10", [b"average"])
            groups[-1].create_dataset("shape", data=np.array([average, 1, 1]))
        if edit is not None:
            edit(lay)
    return str(path)


def _replace(g, name, data):
    if name in g:
        del g[name]
    g.create_dataset(name, data=data)


def _layouts():
    """name -> (builder(path) -> path, frame shape, K classes, verify expected possible)."""
    import torch

    from lavacut.util import import_slayer

    cuba = import_slayer().block.cuba

    def input_conv(p):
        torch.manual_seed(1)
        return _write(
            p,
            [
                cuba.Input(A, weight=1.5, bias=0.25),
                cuba.Conv(B, 2, 3, 3, padding=1, weight_scale=3),
                cuba.Flatten(),
                cuba.Dense(C, 60, 4, weight_scale=3),
            ],
            (2, 4, 5),
            input_group=False,
        )

    def input_dense(p):
        torch.manual_seed(1)
        return _write(
            p,
            [
                cuba.Input(B, weight=2.0, bias=-0.25),
                cuba.Dense(A, 20, 8, weight_scale=4),
                cuba.Dense(C, 8, 3, weight_scale=3),
            ],
            (20,),
            input_group=False,
        )

    def average(p):
        torch.manual_seed(2)
        return _write(
            p, [cuba.Dense(A, 20, 12, weight_scale=4), cuba.Dense(B, 12, 12, weight_scale=3)], (20,), average=4
        )

    def conv_out(p):
        torch.manual_seed(3)
        return _write(
            p,
            [
                cuba.Conv(A, 2, 3, 3, stride=2, padding=1, weight_scale=4),
                cuba.Conv(B, 3, 2, 3, padding=1, weight_scale=3),
            ],
            (2, 6, 8),
        )

    def conv_avg(p):
        torch.manual_seed(4)
        return _write(
            p,
            [
                cuba.Conv(A, 2, 3, 3, stride=2, padding=1, weight_scale=4),
                cuba.Conv(B, 3, 4, 3, padding=1, weight_scale=3),
            ],
            (2, 6, 8),
            average=4,
        )

    def delays(p):
        torch.manual_seed(5)
        blocks = [
            cuba.Dense(A, 20, 16, weight_scale=4, delay=True),
            cuba.Dense(B, 16, 10, weight_scale=3),
            cuba.Dense(C, 10, 4, weight_scale=3),
        ]
        blocks[0].delay.init = True  # per output neuron, as SLAYER exports them
        blocks[0].delay.delay.data = torch.arange(16, dtype=torch.float32) % 7
        rng = np.random.default_rng(5)

        def edit(lay):
            _replace(lay["2"], "delay", rng.integers(0, 5, (10, 16)).astype(np.float32))  # per synapse
            _replace(lay["3"], "delay", rng.integers(0, 4, 10).astype(np.float32))  # per input
            _replace(lay["1"], "bias", rng.integers(-20, 30, 16).astype(np.float32))

        return _write(p, blocks, (20,), edit=edit)

    def per_layer(p):
        torch.manual_seed(6)
        rng = np.random.default_rng(6)

        def edit(lay):  # odd integer weights: netx clips/truncates them, SLAYER's 8-bit step would move them
            _replace(lay["1"], "weight", (2 * rng.integers(-128, 128, (12, 20)) + 1).astype(np.float32))
            _replace(lay["2"], "weight", (2 * rng.integers(-8, 13, (8, 12)) + 1).astype(np.float32))
            _replace(lay["3"], "weight", (2 * rng.integers(-6, 21, (4, 8)) + 1).astype(np.float32))
            _replace(lay["3"], "bias", np.array([3.0, -2.0, 0.0, 5.0], np.float32))

        return _write(
            p, [cuba.Dense(A, 20, 12), cuba.Dense(_np(0.5, 0.0, 1.0), 12, 8), cuba.Dense(B, 8, 4)], (20,), edit=edit
        )

    def recurrent(p):
        torch.manual_seed(7)
        return _write(p, [cuba.Recurrent(A, 20, 10, weight_scale=4), cuba.Dense(B, 10, 4, weight_scale=3)], (20,))

    return {
        "input_conv": (input_conv, (2, 4, 5), 4, True),
        "input_dense": (input_dense, (20,), 3, True),
        "average": (average, (20,), 4, True),
        "conv_out": (conv_out, (2, 6, 8), 24, True),
        "conv_avg": (conv_avg, (2, 6, 8), 4, True),
        "delays": (delays, (20,), 4, True),
        "per_layer": (per_layer, (20,), 4, True),
        "recurrent": (recurrent, (20,), 4, True),
    }


LAYOUTS = list(_layouts())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("layouts")
    return {
        name: (build(d / f"{name}.net"), shape, K, verify) for name, (build, shape, K, verify) in _layouts().items()
    }


def _frames(shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((N,) + tuple(shape) + (T,)) < rng.uniform(0.1, 0.5, (N,) + (1,) * (len(shape) + 1))
    x[1] = 0  # an all-zero sample: only biases drive the network
    return x


def _sdnn_files(d):
    """A pure sigma-delta file (refused at layer 0) and a cuba net with a
    sigma-delta layer 2."""
    import torch

    from lavacut.util import import_slayer

    sl = import_slayer()
    p = {
        "threshold": 0.1,
        "tau_grad": 0.5,
        "scale_grad": 1,
        "requires_grad": False,
        "shared_param": True,
        "activation": torch.nn.functional.relu,
    }
    torch.manual_seed(0)
    pure = _write(
        d / "sdnn.net",
        [sl.block.sigma_delta.Input(p), sl.block.sigma_delta.Dense(p, 20, 6), sl.block.sigma_delta.Output(p, 6, 3)],
        (20,),
        input_group=False,
    )
    mixed = _write(
        d / "mixed.net", [sl.block.cuba.Dense(A, 20, 6, weight_scale=3), sl.block.sigma_delta.Dense(p, 6, 3)], (20,)
    )
    return {"0": pure, "2": mixed}


def _group_sums(spikes, K):
    from lavacut.cutoff.rules import group_sums

    return group_sums(spikes, K) if spikes.shape[1] != K else spikes


# --------------------------------------------------------------------------
# fast: inspection, refusals, rebuild structure (no Lava runtime)
# --------------------------------------------------------------------------


def test_inspect_shows_neurons_and_what_lavacut_handles(files, tmp_path):
    from lavacut.export.netx.inspect import inspect_layers
    from lavacut.export.inspect_report import format_inspection

    layers = inspect_layers(files["input_conv"][0])
    assert [(L.type, L.neuron_type, L.run_issue) for L in layers] == [
        ("input", "CUBA", ""),
        ("conv", "CUBA", ""),
        ("flatten", "", ""),
        ("dense", "CUBA", ""),
    ]
    assert layers[0].transform == (96, 16) and layers[0].threshold == 1.0 and layers[0].current_decay == 0.25
    assert (layers[1].threshold, layers[1].voltage_decay) == (0.75, 0.125) and layers[3].current_decay == 1.0
    text = format_inspection(files["per_layer"][0])
    assert "0.5 [32]" in text and "0 [0]" in text and "1 [4096]" in text and "CANNOT" not in text
    avg = inspect_layers(files["average"][0])[-1]
    assert not avg.supported and not avg.run_issue and "k*3 .. k*3+2 of layer 2" in avg.role
    rec = inspect_layers(files["recurrent"][0])[1]
    assert not rec.run_issue and not rec.verify_issue  # the rebuild runs cuba.Recurrent layers
    sd = _sdnn_files(tmp_path)
    text = format_inspection(sd["2"])
    assert "2     dense      run and verify: CANNOT: neuron type SDNN" in text
    assert "1     dense      run: ok" in text


def test_sdnn_and_readouts_refused_before_any_lava_process(tmp_path, files):
    from lavacut.export.rebuild.network import net_from_export
    from lavacut.runtime.record import lava_output
    from lavacut.runtime.runner import run_single, run_split

    before = descendants()
    x = _frames((20,))
    for layer, path in _sdnn_files(tmp_path).items():
        for call in (
            lambda: run_split(path, x, None, FixedT(), progress=False),
            lambda: run_single(path, x[0]),
            lambda: lava_output(path, x),
            lambda: net_from_export(path),
        ):
            with pytest.raises(
                LavacutError,
                match=rf"layer {layer} has type '\w+', neuron SDNN: .*sigma-delta.*"
                rf"lavacut runs CUBA",
            ):
                call()
    assert descendants() == before


def test_rebuild_structure_and_fan_outs(files):
    """net_from_export rebuilds what a NetSpec cannot express; its nonzero
    fan-outs count every synapse with a nonzero weight in the file (conv:
    brute force over kernel taps)."""
    import h5py

    from lavacut.export.rebuild.network import net_from_export
    from lavacut.export.rebuild.slayer import NetxRebuild
    from lavacut.train.networks import nonzero_fan_outs

    for name in ("input_conv", "average", "conv_out", "delays", "per_layer", "recurrent"):
        net, meta = net_from_export(files[name][0])
        assert isinstance(net, NetxRebuild) and meta is None, name
    net, _ = net_from_export(files["input_conv"][0])
    assert net.latency == 2 and net.readout_groups == 0 and net.input_shape == (2, 4, 5)
    fan_outs = nonzero_fan_outs(net)
    assert [len(f) for f in fan_outs] == [40, 40, 60]
    np.testing.assert_array_equal(fan_outs[0], 1)
    with h5py.File(files["input_conv"][0], "r") as f:
        wc = np.asarray(f["layer/1/weight"][()]).reshape(3, 2, 3, 3)
        wd = np.asarray(f["layer/3/weight"][()]).reshape(4, 60)
    assert (wc == 0).any() and (wd == 0).any()  # the 8-bit quantisation zeroed some weights
    np.testing.assert_array_equal(fan_outs[2], (wd != 0).sum(axis=0))
    # conv 3x3, stride 1, padding 1 on 4x5 -> 3 channels: nonzero taps in range per input
    np.testing.assert_array_equal(fan_outs[1], brute_conv_fan_out(wc, (2, 4, 5), 1, 1)[0])
    assert net_from_export(files["average"][0])[0].readout_groups == 4


# --------------------------------------------------------------------------
# slow: Lava, one graph for many samples == fresh graphs == SLAYER rebuild
# --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", LAYOUTS)
def test_layout_lava_vs_fresh_graphs_vs_slayer(files, name):
    from lavacut.export.rebuild.network import net_from_export
    from lavacut.runtime.record import lava_output
    from lavacut.runtime.runner import run_single, run_split
    from lavacut.train.inference import forward

    path, shape, K, can_verify = files[name]
    x = _frames(shape, seed=len(name))
    one = lava_output(path, x)[0]  # one graph for the N samples, every state reset between them
    assert one.sum() > 0 and one.shape[::2] == (N, T), name
    # each sample alone in a fresh stock-netx graph: two are enough to show a state left over
    # from sample 0 in sample 1 (SLAYER below takes every sample alone, all N of them)
    single = np.stack([run_single(path, xi) for xi in x[:2]])
    np.testing.assert_array_equal(one[:2], single)
    sums = _group_sums(one, K)  # (N, K, T) what the monitor counts
    if can_verify:
        net, _ = net_from_export(path)
        np.testing.assert_array_equal(forward(net, x, readout=False), one)  # SLAYER == Lava at zero shift
        np.testing.assert_array_equal(forward(net, x), sums)  # the torch engine counts groups too
    for mode in ("halt", "stream"):
        res = run_split(path, x, None, FixedT(), mode=mode, progress=False)
        np.testing.assert_array_equal(res.counts, sums.sum(-1))  # counts_full == group sums
        assert (res.t_c == T).all() and res.counts.shape == (N, K)
    # a rule that cuts samples at different steps: each sample as if alone
    rule = TopKGap(beta=np.zeros(T))  # fires on the first unique leader
    res = run_split(path, x, None, rule, mode="stream", progress=False)
    tc, pred = cutoff(rule, sums)
    np.testing.assert_array_equal(res.t_c, tc)
    np.testing.assert_array_equal(res.pred, pred)
    np.testing.assert_array_equal(res.counts, np.cumsum(sums, -1)[np.arange(N), :, res.t_c - 1])
    assert res.lava_steps == int(res.t_c.sum()) and len(set(res.t_c.tolist())) > 1, res.t_c
    if name in ("conv_out", "conv_avg", "average"):
        assert ("flattened" in res.output_layout) == name.startswith("conv")
        assert ("average readout" in res.output_layout) == name.endswith(("avg", "average"))
    else:
        assert res.output_layout == ""
    if name == "conv_avg":  # C-order groups are the channels: output k = c*12 + h*4 + w
        np.testing.assert_array_equal(sums, one.reshape(N, 4, 12, T).sum(2))
    if name == "input_conv":  # the transform's bias (0.25) drives the input neurons on zero frames
        assert single[1].sum() > 0


@pytest.mark.slow
def test_frame_aligned_input_neurons(files):
    """frame_aligned offset D counts synapse layers only: input neurons add no step."""
    from lavacut.runtime.runner import run_single, run_split

    path, shape, K, _ = files["input_dense"]
    x = _frames(shape, seed=3)[:3]
    fa = np.stack([run_single(path, xi, frame_aligned=True) for xi in x])
    res = run_split(path, x, None, FixedT(), mode="stream", progress=False, frame_aligned=True)
    assert res.latency == 2 and res.offset == 2
    np.testing.assert_array_equal(res.counts, fa.sum(-1))
    plain = np.stack([run_single(path, xi) for xi in x])
    np.testing.assert_array_equal(fa[..., : T - 2], plain[..., 2:])


# --------------------------------------------------------------------------
# slow: the stock NetX files of the lava-dl wheel, through the CLI
# --------------------------------------------------------------------------

STOCK = {  # file -> (frame shape, T, refused at layer / None)
    "tiny.net": ((3, 16, 16), 10, None),
    "gts/ntidigits/ntidigits.net": ((1, 1, 64), 30, None),
    "gts/pilotnet_lif/network.net": ((3, 66, 200), 3, None),
    "mnist.net": ((784,), 10, None),  # a voltage readout (issue 23): runs, verify compares v
    "gts/pilotnet_sdnn/network.net": ((3, 33, 100), 3, "0"),
    "gts/pilotnet_sdnn/square_network.net": ((3, 33, 33), 3, "0"),
}


def test_the_wheel_ships_these_net_files():
    found = {str(p.relative_to(WHEEL)) for p in WHEEL.rglob("*.net")}
    assert set(STOCK) <= found, found


@pytest.mark.slow
@pytest.mark.parametrize("name", list(STOCK))
def test_stock_wheel_file_run_and_verify(tmp_path, name):
    shape, steps, refused = STOCK[name]
    rng = np.random.default_rng(0)
    frames = tmp_path / "frames.npy"
    np.save(frames, rng.random((3,) + shape + (steps,)) < 0.25)
    shm = set(os.listdir("/dev/shm"))
    report = tmp_path / "run.json"
    r = run_cli("run", WHEEL / name, "--input", frames, "--samples", "3", "--report", report, check=False)
    v = run_cli("verify", WHEEL / name, "--input", frames, check=False)
    for out in (r, v):
        assert "Traceback" not in out.stderr, out.stderr[-2000:]
    if refused is not None:
        for out, what in ((r, "run"), (v, "verify")):
            assert out.returncode == 2 and f"layer {refused} has type" in out.stderr, out.stderr[-1500:]
            assert f"'lavacut {what}' cannot handle it" in out.stderr
        assert ("SDNN" in r.stderr) == ("sdnn" in name)
    else:
        assert r.returncode == 0, r.stderr[-2000:]
        rep = json.loads(report.read_text())
        assert rep["n_samples"] == 3 and rep["T"] == steps and rep["policy"] == "fixed"
        assert rep["readout"] == ("voltage" if name == "mnist.net" else "spike counts")
        assert v.returncode == 0 and "3/3 samples identical" in v.stdout, v.stdout[-2000:] + v.stderr[-2000:]
    leaked = new_shm(shm)
    assert not leaked, f"/dev/shm entries left behind: {sorted(leaked)}"


@pytest.mark.slow
def test_no_process_or_shared_memory_left(files, tmp_path):
    from lavacut.runtime.record import lava_output
    from lavacut.runtime.runner import run_split

    path, shape, _, _ = files["input_conv"]
    x = _frames(shape)
    run_split(path, x[:2], None, FixedT(), mode="stream", progress=False)  # warm: the resource tracker
    procs, shm = descendants(), set(os.listdir("/dev/shm"))
    run_split(path, x, None, TopKGap(beta=np.full(T, 1.0)), mode="halt", progress=False)
    lava_output(files["average"][0], _frames((20,)))
    with pytest.raises(LavacutError):
        run_split(_sdnn_files(tmp_path)["2"], _frames((20,)), None, FixedT(), progress=False)
    assert descendants() - procs == set()
    leaked = new_shm(shm)
    assert not leaked, f"/dev/shm entries left behind: {sorted(leaked)}"
