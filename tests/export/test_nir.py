"""NIR bridge (lavacut.export.nir): lavacut -> NIR -> lavacut round trips,
graphs written by snnTorch and nirtorch (pooling before padded convolutions,
leak and bias, one output neuron, a time step to pass with --dt), refusals,
and imported networks run in Lava.

Exactness is checked against ``nir_reference.simulate`` (forward Euler,
written from NIR's equations); the graphs with exact checks keep weights,
biases and decays on dyadic grids, so float and fixed point agree bit for bit.

No Lava Process is defined here (Lava executes this file while it looks for
ProcessModels).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from lavacut.export import nir as ng  # noqa: E402
from lavacut.export.nir import NirError  # noqa: E402
from lavacut_testing import run_cli  # noqa: E402
from nir_reference import simulate  # noqa: E402

N_SAMPLES = 24
# snnTorch 1.0's exporter calls nirtorch's deprecated extract_nir_graph
pytestmark = pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning")


# --------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frames(embedded_test):
    """The first embedded test samples framed with lavacut's defaults:
    bool (N, 2, 34, 34, 30)."""
    from lavacut.config import RunConfig
    from lavacut.data.framing import frame_events

    cfg = RunConfig().framing
    fr = [frame_events(embedded_test[i][0], embedded_test.sensor_size, cfg) for i in range(N_SAMPLES)]
    return np.stack(fr)


def _slayer(net, x):
    import torch

    net.eval()
    with torch.no_grad():
        out, _ = net(torch.as_tensor(np.asarray(x), dtype=torch.float32), record=False)
    return out.numpy().astype(np.int64)


def _small_net(kind, seed=0):
    import torch

    from lavacut.train.netspec import NetSpec
    from lavacut.train.networks import build_network

    if kind == "dense":
        spec = NetSpec(kind="dense", hidden=(40,), weight_scale=6.0, dropout=0.0, name="nir-dense")
    else:
        spec = NetSpec(
            kind="conv",
            conv_channels=(4, 6),
            conv_kernels=(5, 3),
            conv_strides=(2, 2),
            conv_paddings=(2, 1),
            hidden=(24,),
            weight_scale=6.0,
            dropout=0.0,
            name="nir-conv",
        )
    torch.manual_seed(seed)
    net = build_network(spec).eval()
    if kind == "dense":  # layers with their own decays (learn_decay nets have them): per-layer path
        with torch.no_grad():
            net.spiking_blocks[1].neuron.current_decay.fill_(512.0)
            net.spiking_blocks[1].neuron.voltage_decay.fill_(0.0)
    return net


def _meta_for(net, cutoff=None):
    from lavacut.config import RunConfig

    cfg = RunConfig()
    meta = {
        "name": net.spec.name,
        "dataset": "embedded",
        "data_seed": 0,
        "sensor_size": [34, 34, 2],
        "input_shape": list(net.spec.input_shape),
        "framing": {"bin_us": cfg.framing.bin_us, "T": cfg.framing.T, "downsample": 1.0, "denoise_us": 0},
        "classes": [str(i) for i in range(10)],
        "n_classes": 10,
        "latency_steps": net.latency,
        "spec": net.spec.to_dict(),
        "train_config": cfg.to_dict(),
        "accuracy": {"test_full_T_slayer": 0.5},
    }
    if cutoff:
        meta["cutoff"] = cutoff
        meta["default_policy"] = "topk"
    return meta


def _agreement(slayer_out, other, L):
    """Fraction of (neuron, step) entries equal, SLAYER shifted by its L-step latency."""
    return float(np.mean(slayer_out[..., L:] == other[..., : other.shape[-1] - L]))


def _write(g, path):
    nir.write(path, g)
    return path


def _export_meta(path) -> dict:
    """The lavacut metadata of a .net file, as written."""
    import h5py

    with h5py.File(path, "r") as f:
        return json.loads(f["lavacut"].attrs["meta"])


def _load_export(path):
    """The SLAYER network a .net file holds: its NetSpec attribute, the
    layers' integer weights / 64 and decays."""
    import h5py
    import torch

    from lavacut.export.slayer_hdf5 import read_spec_from_hdf5
    from lavacut.train.networks import build_network

    net = build_network(read_spec_from_hdf5(path))
    with h5py.File(path, "r") as f, torch.no_grad():
        groups = [f["layer"][k] for k in sorted(f["layer"], key=int) if "weight" in f["layer"][k]]
        for b, g in zip(net.spiking_blocks, groups, strict=True):
            w = b.synapse.weight
            w.copy_(torch.from_numpy(g["weight"][()].astype(np.float32) / 64).reshape(w.shape))
            b.neuron.current_decay.fill_(float(g["neuron/iDecay"][()]))
            b.neuron.voltage_decay.fill_(float(g["neuron/vDecay"][()]))
    return net.eval()


def _binary(shape, T, n=4, p=0.3, seed=0):
    return (np.random.default_rng(seed).random((n, *shape, T)) < p).astype(np.float32)


# --------------------------------------------------------------------------
# lavacut -> NIR -> lavacut
# --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_round_trip_gives_identical_spikes(kind, frames, tmp_path):
    net = _small_net(kind)
    T = frames.shape[-1]
    cutoff = {"topk": {"policy": "topk", "beta": list(np.linspace(1.0, 5.0, T)), "eps": 0.02}}
    graph = ng.to_nir(net, _meta_for(net, cutoff))
    path = tmp_path / f"{kind}.nir"
    nir.write(path, graph)
    back = nir.read(path)  # NIR's own type checks (type_check=True)
    types = {type(n).__name__ for n in back.nodes.values()}
    assert types == ({"Input", "Flatten", "Linear", "CubaLIF", "Output"} | ({"Conv2d"} if kind == "conv" else set()))
    assert float(back.metadata["dt"]) == ng.DEFAULT_DT and back.metadata["dt_unit"] == "s"
    lc = ng.lavacut_metadata(back)
    assert lc["name"] == net.spec.name and lc["cutoff"]["topk"]["beta"] == cutoff["topk"]["beta"]
    # the exact mapping: (dt/tau_syn) w_in = 1, (dt/tau_mem) r = 1, thresholds/weights as in SLAYER
    for i, b in enumerate(net.spiking_blocks):
        node = back.nodes[f"cuba{i}"]
        du, dv = int(b.neuron.cx_current_decay) / 4096, int(b.neuron.cx_voltage_decay) / 4096
        np.testing.assert_allclose(ng.DEFAULT_DT / node.tau_syn, du, rtol=1e-12)
        np.testing.assert_allclose(ng.DEFAULT_DT / node.tau_syn * node.w_in, 1.0, rtol=1e-12)
        np.testing.assert_allclose(ng.DEFAULT_DT / node.tau_mem * node.r, 1.0, rtol=1e-12)
        if dv:
            np.testing.assert_allclose(ng.DEFAULT_DT / node.tau_mem, dv, rtol=1e-12)
        assert np.all(node.v_threshold == b.neuron.threshold) and not node.v_leak.any() and not node.v_reset.any()

    net2, meta = ng.from_nir(path)
    rep = meta["nir_import"]
    assert rep["lossless"] and rep["threshold"] == net.spec.threshold
    assert rep["dt_source"].startswith("graph metadata")
    assert net2.spec.kind == kind and net2.spec.layer_sizes() == net.spec.layer_sizes()
    a, b = _slayer(net, frames), _slayer(net2, frames)
    assert a.sum() > 50, "the test network must spike"
    np.testing.assert_array_equal(a, b)
    print(
        f"\n{kind}: lavacut -> NIR -> lavacut, {len(frames)} embedded test samples: output spikes identical "
        f"({int(a.sum())} spikes)"
    )
    # a graph lavacut wrote binds its own data set: data binding, accuracy and cutoff calibration are kept
    assert meta["dataset"] == "embedded" and meta["train_config"]["framing"]["T"] == T
    assert meta["cutoff"] == cutoff and meta["default_policy"] == "topk"
    assert meta["accuracy"] == {"test_full_T_slayer": 0.5}
    if kind == "dense":
        assert meta["layer_decays"] == [[1024, 123], [512, 0]]

    # a float simulation of the graph (NIR semantics, forward Euler) agrees up
    # to fixed-point rounding, L steps earlier (NIR synapses have no delay)
    ref = simulate(back, frames)
    agree = _agreement(a, ref, net.latency)
    print(f"{kind}: float reference simulation of the NIR graph vs SLAYER: {agree:.4f} of neuron-steps equal")
    assert agree > 0.97


def test_write_nir_from_checkpoint_and_export_then_import_nir(frames, tmp_path):
    from lavacut.config import RunConfig
    from lavacut.export.rebuild.network import net_from_export
    from lavacut.export.validate import read_metadata, write_export
    from lavacut.train.checkpoint import save_checkpoint

    net = _small_net("dense", seed=3)
    cfg = RunConfig()
    ckpt = tmp_path / "best.pt"
    save_checkpoint(
        ckpt,
        {
            "model": net.state_dict(),
            "spec": net.spec.to_dict(),
            "config": cfg.to_dict(),
            "epoch": 2,
            "best_val_acc": 0.25,
        },
    )
    T = cfg.framing.T
    cutoff = {"topk": {"policy": "topk", "beta": [2.0] * T, "eps": 0.05}}
    export = tmp_path / "src.net"
    write_export(net, export, _meta_for(net), cutoff=cutoff, default_policy="topk")

    ref = _slayer(net, frames)
    for src in (ckpt, export):
        out, graph = ng.write_nir(src, tmp_path / f"{src.stem}.nir")
        g = nir.read(out)
        assert set(g.nodes) == set(graph.nodes)
        lc = ng.lavacut_metadata(g)
        assert lc["spec"]["hidden"] == [40] and lc["framing"]["T"] == T
        netx, meta = ng.import_nir(out, tmp_path / f"{src.stem}_imported.net", evaluate=False)
        back, stored = net_from_export(netx)
        np.testing.assert_array_equal(_slayer(back, frames), ref)
        if src == export:  # the calibration travels through NIR's metadata into the new export
            assert read_metadata(netx)["cutoff"] == cutoff and stored["default_policy"] == "topk"
        else:
            assert lc["checkpoint_epoch"] == 2 and stored["cutoff"] == {}
        assert stored["train_config"]["data"]["dataset"] == "embedded"
    # physical time: dt = the framing bin (10 ms); the graph stays exact
    out, graph = ng.write_nir(export, tmp_path / "bin.nir", dt="bin")
    assert float(graph.metadata["dt"]) == pytest.approx(0.01)
    np.testing.assert_allclose(graph.nodes["cuba0"].tau_syn, 0.01 / 0.25)
    np.testing.assert_array_equal(_slayer(ng.from_nir(out)[0], frames), ref)


def test_biased_network_round_trips_through_nir(tmp_path):
    """A network with voltage biases (as NIR imports make) is written with
    v_leak = bias * tau_mem / dt and comes back with the same integers."""
    import torch

    from lavacut.train.netspec import NetSpec
    from lavacut.train.networks import build_network

    spec = NetSpec(
        kind="conv",
        input_shape=(2, 8, 8),
        n_classes=3,
        conv_channels=(3,),
        conv_kernels=(3,),
        conv_strides=(2,),
        conv_paddings=(1,),
        hidden=(5,),
        dropout=0.0,
        weight_norm=False,
        weight_scale=10.0,
        threshold=1.0,
        layer_bias=((0.25, -0.5, 0.0), (), (1 / 64, 0.0, -2.0)),
    )
    torch.manual_seed(1)
    net = build_network(spec).eval()
    with torch.no_grad():
        net.spiking_blocks[1].neuron.voltage_decay.fill_(0.0)  # bias with dv = 0 on another layer
    graph = ng.to_nir(net)
    back, meta = ng.from_nir(_write(graph, tmp_path / "b.nir"))
    assert meta["nir_import"]["lossless"] and back.spec.layer_bias == spec.layer_bias
    x = _binary((2, 8, 8), 16, n=6, p=0.4)
    ours = _slayer(net, x)
    assert ours.sum() > 10
    np.testing.assert_array_equal(_slayer(back, x), ours)


# --------------------------------------------------------------------------
# graphs written by another library: snnTorch (dense, CubaLIF / LIF)
# --------------------------------------------------------------------------


def _snntorch_model(neuron, seed=0):
    """Flatten -> Linear(2312, 32) -> neuron -> Linear(32, 10) -> neuron,
    with reset to zero right after a spike (reset_delay=False: the NIR
    semantics; snnTorch's default resets one step later). Per-neuron
    parameter vectors: snnTorch 1.0 exports scalar ones with shape (), which
    nir 1.0.8's type inference rejects."""
    import torch

    snn = pytest.importorskip("snntorch")

    torch.manual_seed(seed)
    fc1, fc2 = torch.nn.Linear(2312, 32, bias=False), torch.nn.Linear(32, 10, bias=False)
    gain = (6.0, 2.0) if neuron == "Synaptic" else (30.0, 8.0)
    with torch.no_grad():
        fc1.weight.mul_(gain[0])
        fc2.weight.mul_(gain[1])

    def cell(n, out=False):
        kw = dict(
            beta=torch.full((n,), 0.97),
            threshold=torch.ones(n),
            init_hidden=True,
            reset_mechanism="zero",
            reset_delay=False,
            output=out,
        )
        if neuron == "Synaptic":
            return snn.Synaptic(alpha=torch.full((n,), 0.75), **kw)
        return snn.Leaky(**kw)

    return torch.nn.Sequential(torch.nn.Flatten(), fc1, cell(32), fc2, cell(10, True))


def _leaky(shape, beta=0.5, out=False):
    """snnTorch Leaky with per-neuron parameters and NIR's reset (see _snntorch_model)."""
    import torch

    snn = pytest.importorskip("snntorch")

    return snn.Leaky(
        beta=torch.full(shape, beta),
        threshold=torch.ones(shape),
        init_hidden=True,
        reset_mechanism="zero",
        reset_delay=False,
        output=out,
    )


def _snntorch_export(model, path, input_shape=(2, 34, 34)):
    import torch

    pytest.importorskip("nirtorch")
    from snntorch.export_nir import export_to_nir

    graph = export_to_nir(model, torch.zeros(1, *input_shape), ignore_dims=[0])
    nir.write(path, graph)
    return graph


def _snntorch_run(model, x):
    """Step an snnTorch model through (N, C, H, W, T) frames, one sample at a time."""
    import torch

    outs = []
    with torch.no_grad():
        for n in range(len(x)):
            for m in model.modules():
                if hasattr(m, "reset_hidden"):
                    m.reset_hidden()
            steps = []
            for t in range(x.shape[-1]):
                o = model(torch.as_tensor(x[n : n + 1, ..., t], dtype=torch.float32))
                steps.append((o[0] if isinstance(o, tuple) else o)[0])
            outs.append(torch.stack(steps, -1))
    return torch.stack(outs).numpy().astype(np.int64)


@pytest.mark.parametrize("neuron", ["Synaptic", "Leaky"])
def test_import_snntorch_graph(neuron, frames, tmp_path):
    snn = pytest.importorskip("snntorch")
    model = _snntorch_model(neuron)
    path = tmp_path / f"snntorch_{neuron}.nir"
    graph = _snntorch_export(model, path)
    assert {type(n).__name__ for n in graph.nodes.values()} >= {
        "Flatten",
        "Linear",
        "CubaLIF" if neuron == "Synaptic" else "LIF",
    }

    net, meta = ng.from_nir(path)
    rep = meta["nir_import"]
    assert rep["dt_source"].startswith("inferred") and abs(rep["dt"] - 1e-4) < 1e-9
    assert net.spec.kind == "dense" and net.spec.input_shape == (2, 34, 34)
    assert net.spec.layer_sizes() == [32, 10]
    # never bound silently: no data set, framing or accuracy without --config / --set
    assert meta["dataset"] is None and meta["framing"] is None and meta["train_config"] is None
    assert meta["sensor_size"] is None and meta["accuracy"] is None
    assert "data set: unknown" in ng.format_import_report(meta)
    bound = ng.from_nir(path, overrides=["data.dataset=embedded"])[1]
    assert bound["dataset"] == "embedded" and bound["framing"]["T"] == 30 and bound["accuracy"] == {}
    want_idecay = 1024 if neuron == "Synaptic" else 4096  # alpha 0.75; Leaky: current = input
    assert [L["iDecay"] for L in rep["layers"]] == [want_idecay] * 2
    assert [L["vDecay"] for L in rep["layers"]] == [123] * 2  # beta 0.97: 0.03 * 4096 = 122.9
    assert not rep["lossless"] and "quantised (lossy)" in ng.format_import_report(meta)
    q = [L["quantisation"]["rel_rms_error"] for L in rep["layers"]]

    x = frames.astype(np.float32)
    theirs = _snntorch_run(model, x)
    # lavacut's reading of the NIR semantics IS snnTorch's (float): bit-identical spikes
    np.testing.assert_array_equal(simulate(nir.read(path), x), theirs)
    ours = _slayer(net, frames)
    assert theirs.sum() > 50 and ours.sum() > 50
    agree = _agreement(ours, theirs, net.latency)
    pred_ours = ours.sum(-1).argmax(1)
    pred_theirs = theirs[..., : -net.latency].sum(-1).argmax(1)
    print(
        f"\nsnntorch {snn.__version__} {neuron}: threshold {rep['threshold']}, weight rel. RMS quantisation "
        f"error {q[0]:.2e} / {q[1]:.2e}; SLAYER vs snnTorch: {agree:.4f} of neuron-steps equal, "
        f"predictions {np.mean(pred_ours == pred_theirs):.3f} equal"
    )
    assert agree > 0.95
    assert np.mean(pred_ours == pred_theirs) >= 0.9


def test_lavacut_graph_runs_in_snntorch(frames, tmp_path):
    """The other direction: snnTorch's own importer reads a lavacut graph
    (it hard-codes dt = 1e-4, lavacut's default) and reproduces SLAYER's
    spikes, L steps earlier, up to fixed-point rounding."""
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    from snntorch.import_nir import import_from_nir

    net = _small_net("dense", seed=1)
    path = tmp_path / "lavacut.nir"
    nir.write(path, ng.to_nir(net, _meta_for(net)))
    model = import_from_nir(nir.read(path))
    x = frames[:12].astype(np.float32)
    outs = []
    import torch

    with torch.no_grad():
        for n in range(len(x)):
            for m in model.modules():
                if hasattr(m, "reset_hidden"):
                    m.reset_hidden()
                if hasattr(m, "syn") and hasattr(m, "mem"):
                    m.syn, m.mem = torch.zeros_like(m.syn), torch.zeros_like(m.mem)
            steps = []
            for t in range(x.shape[-1]):  # snnTorch maps NIR's Flatten(start_dim=0) to torch's: unbatched input
                o = model(torch.from_numpy(x[n, ..., t]))
                steps.append(o[0] if isinstance(o, tuple) else o)
            outs.append(torch.stack(steps, -1))
    theirs = torch.stack(outs).numpy().astype(np.int64)
    ours = _slayer(net, x)
    agree = _agreement(ours, theirs, net.latency)
    print(f"\nlavacut graph simulated by snnTorch vs SLAYER: {agree:.4f} of neuron-steps equal")
    assert agree > 0.99


# --------------------------------------------------------------------------
# pooling, IF neurons, grouped/dilated convolutions, thresholds
# --------------------------------------------------------------------------


def _grid(rng, shape, lo=-8, hi=8):
    """Random weights on SLAYER's 8-bit grid (multiples of 2/64)."""
    return rng.integers(lo, hi + 1, size=shape) * 2 / 64


def _if(shape, vth=1.0):
    return nir.IF(r=np.ones(shape), v_threshold=np.full(shape, vth))


def _chain_graph(*named, meta=None, type_check=True):
    nodes = dict(named)
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), metadata=meta or {}, type_check=type_check)


def _pool_graphs(rng):
    c = 3
    conv0 = nir.Conv2d(
        input_shape=(8, 8),
        weight=_grid(rng, (c, 2, 3, 3), 0, 16),
        stride=1,
        padding=1,
        dilation=1,
        groups=1,
        bias=np.zeros(c),
    )
    # SumPool -> Conv (no padding): merged into one strided convolution
    a = _chain_graph(
        ("input", nir.Input(input_type=np.array([2, 8, 8]))),
        ("conv0", conv0),
        ("if0", _if((c, 8, 8))),
        ("pool", nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))),
        (
            "conv1",
            nir.Conv2d(
                input_shape=(4, 4),
                weight=_grid(rng, (4, c, 3, 3), -4, 12),
                stride=1,
                padding=0,
                dilation=1,
                groups=1,
                bias=np.zeros(4),
            ),
        ),
        ("if1", _if((4, 2, 2))),
        ("flat", nir.Flatten(input_type={"input": np.array([4, 2, 2])}, start_dim=0)),
        ("fc", nir.Linear(weight=_grid(rng, (5, 16), -4, 12))),
        ("if2", _if((5,))),
        ("output", nir.Output(output_type=np.array([5]))),
    )
    # SumPool alone before neurons (unit-weight diagonal convolution), then
    # SumPool -> Flatten -> Linear (one dense matrix); grouped + dilated conv
    # (nir 1.0.8's type inference ignores groups in Conv2d.input_type: no type check)
    b = _chain_graph(
        ("input", nir.Input(input_type=np.array([2, 8, 8]))),
        (
            "conv0",
            nir.Conv2d(
                input_shape=(8, 8),
                weight=_grid(rng, (4, 1, 3, 3), 0, 16),
                stride=1,
                padding=2,
                dilation=2,
                groups=2,
                bias=np.zeros(4),
            ),
        ),
        ("if0", _if((4, 8, 8))),
        ("pool0", nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))),
        ("if1", _if((4, 4, 4), vth=2.0)),
        ("pool1", nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))),
        ("flat", nir.Flatten(input_type={"input": np.array([4, 2, 2])}, start_dim=0)),
        ("fc", nir.Linear(weight=_grid(rng, (5, 16), -4, 12))),
        ("if2", _if((5,))),
        ("output", nir.Output(output_type=np.array([5]))),
        type_check=False,
    )
    return a, b


def test_sumpool_and_if_graphs_convert_exactly(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((16, 2, 8, 8, 20)) < 0.3
    for i, g in enumerate(_pool_graphs(rng)):
        net, meta = ng.from_nir(g)
        rep = meta["nir_import"]
        assert rep["dt_source"].startswith("no time constants")
        assert [L["iDecay"] for L in rep["layers"]] == [4096] * 3 and [L["vDecay"] for L in rep["layers"]] == [0] * 3
        assert rep["lossless"] and rep["threshold"] == 1.0
        assert meta["dataset"] is None and meta["train_config"] is None  # 2x8x8 matches no data set
        if i == 0:
            assert net.spec.conv_kernels == (3, 6) and net.spec.conv_strides == (1, 2)
        else:
            assert net.spec.conv_kernels == (5, 2) and net.spec.conv_strides == (1, 2)
        ours = _slayer(net, x)
        ref = simulate(g, x, dt=1.0)
        assert ours.sum() > 20
        # IF neurons with unit current decay: integer arithmetic, no rounding: exact
        np.testing.assert_array_equal(ours[..., net.latency :], ref[..., : -net.latency])
        # and the NetX export of the imported network holds the same network
        path = tmp_path / f"pool{i}.net"
        ng.import_nir(_write(g, tmp_path / f"pool{i}.nir"), path, evaluate=False)
        np.testing.assert_array_equal(_slayer(_load_export(path), x), ours)


def test_rescaling_and_folding_of_thresholds():
    """Per-neuron thresholds and r fold into the weights; off-grid weights are
    rescaled to use the 8-bit range and the quantisation error is reported."""
    rng = np.random.default_rng(1)
    w0 = rng.normal(0, 0.05, (6, 20))
    w1 = rng.normal(0, 0.3, (3, 6))
    vth0 = rng.uniform(0.5, 2.0, 6)
    g = _chain_graph(
        ("input", nir.Input(input_type=np.array([20]))),
        ("fc0", nir.Linear(weight=w0)),
        ("lif0", nir.LIF(tau=np.full(6, 0.01), r=np.full(6, 10.0), v_leak=np.zeros(6), v_threshold=vth0)),
        ("fc1", nir.Affine(weight=w1, bias=np.zeros(3))),
        ("lif1", nir.LIF(tau=np.full(3, 0.01), r=np.full(3, 10.0), v_leak=np.zeros(3), v_threshold=np.ones(3))),
        ("output", nir.Output(output_type=np.array([3]))),
    )
    net, meta = ng.from_nir(g)
    rep = meta["nir_import"]
    assert rep["dt"] == pytest.approx(1e-3) and rep["layers"][0]["vDecay"] == round(0.1 * 4096)
    th = rep["threshold"]
    assert th * 64 == int(th * 64)
    W = [
        b.neuron.quantize_8bit(b.synapse.weight).detach().numpy().reshape(b.synapse.weight.shape[:2])
        for b in net.spiking_blocks
    ]
    assert max(np.abs(W[0]).max(), np.abs(W[1]).max()) > 3.5  # the 8-bit range is used
    np.testing.assert_allclose(W[0], w0 * 0.1 * 10 / vth0[:, None] * th, atol=1 / 64 + 1e-9)
    assert all(L["quantisation"]["rel_rms_error"] < 0.05 for L in rep["layers"])
    assert ng.from_nir(g, threshold=1.0)[1]["nir_import"]["threshold"] == 1.0


# --------------------------------------------------------------------------
# refusals: each names the node
# --------------------------------------------------------------------------


def _bad_graphs():
    inp = ("input", nir.Input(input_type=np.array([4])))
    out = lambda n: ("output", nir.Output(output_type=np.array([n])))  # noqa: E731
    lin = lambda o, i: nir.Linear(weight=np.full((o, i), 0.25))  # noqa: E731
    cuba = lambda n, tau_syn=None: nir.CubaLIF(  # noqa: E731
        tau_syn=np.full(n, 4e-4) if tau_syn is None else tau_syn,
        tau_mem=np.full(n, 1e-2),
        r=np.full(n, 100.0),
        v_leak=np.zeros(n),
        v_threshold=np.ones(n),
        w_in=np.full(n, 4.0),
    )
    md = {"dt": 1e-4}
    return {
        "unsupported": (
            _chain_graph(inp, ("fc", lin(3, 4)), ("delay", nir.Delay(delay=np.ones(3))), out(3), meta=md),
            r"node 'delay' has type Delay: axonal delays",
        ),
        "shapes": (
            _chain_graph(
                inp,
                ("fc0", lin(3, 4)),
                ("cuba0", cuba(3)),
                ("fc1", lin(2, 5)),
                ("cuba1", cuba(2)),
                out(2),
                meta=md,
                type_check=False,
            ),
            r"node 'fc1' \(Linear\): its weight takes 5 inputs but the node before it outputs shape \(3,\)",
        ),
        "heterogeneous tau": (
            _chain_graph(inp, ("fc", lin(3, 4)), ("neurons", cuba(3, np.array([4e-4, 4e-4, 2e-3]))), out(3), meta=md),
            r"node 'neurons' \(CubaLIF\): heterogeneous per-neuron tau_syn",
        ),
        "bias into a decaying current": (
            _chain_graph(
                inp,
                ("dense", nir.Affine(weight=np.full((3, 4), 0.25), bias=np.array([0, 0.5, 0]))),
                ("cuba", cuba(3)),
                out(3),
                meta=md,
            ),
            r"node\(s\) \['dense'\] add a constant \(bias\) to the input of node 'cuba' \(CubaLIF\), whose synaptic "
            r"current integrates it",
        ),
        "v_leak off Loihi's bias grid": (
            _chain_graph(
                inp,
                ("fc", lin(3, 4)),
                (
                    "lif",
                    nir.LIF(
                        tau=np.full(3, 1e-2), r=np.full(3, 100.0), v_leak=np.full(3, 0.1234567), v_threshold=np.ones(3)
                    ),
                ),
                out(3),
                meta=md,
            ),
            r"node 'lif' \(LIF\): bias/v_threshold in \[0.00123457, 0.00123457\]: the constant input per step .* "
            r"cannot be Loihi's bias exactly",
        ),
        "v_reset": (
            _chain_graph(
                inp,
                ("fc", lin(3, 4)),
                (
                    "lif",
                    nir.LIF(
                        tau=np.full(3, 1e-2),
                        r=np.full(3, 100.0),
                        v_leak=np.zeros(3),
                        v_reset=np.full(3, 0.1),
                        v_threshold=np.ones(3),
                    ),
                ),
                out(3),
                meta=md,
            ),
            r"node 'lif' \(LIF\): v_reset must be 0",
        ),
        "pool then padded conv, input not covered": (
            _chain_graph(
                ("input", nir.Input(input_type=np.array([1, 7, 7]))),
                (
                    "c0",
                    nir.Conv2d(
                        input_shape=(7, 7),
                        weight=np.ones((2, 1, 3, 3)) / 32,
                        stride=1,
                        padding=1,
                        dilation=1,
                        groups=1,
                        bias=np.zeros(2),
                    ),
                ),
                ("if0", _if((2, 7, 7))),
                (
                    "pool",
                    nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
                ),
                (
                    "c1",
                    nir.Conv2d(
                        input_shape=(3, 3),
                        weight=np.ones((2, 2, 3, 3)) / 32,
                        stride=1,
                        padding=1,
                        dilation=1,
                        groups=1,
                        bias=np.zeros(2),
                    ),
                ),
                ("if1", _if((2, 3, 3))),
                ("flat", nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=0)),
                ("fc", nir.Linear(weight=np.ones((2, 18)) / 32)),
                ("if2", _if((2,))),
                out(2),
            ),
            r"node 'c1' pads its input \(1, 1\) and follows 'pool' \(SumPool2d, kernel \(2, 2\), stride \(2, 2\).*"
            r"do not cover the input \(rows: 7 input rows",
        ),
        "dt unknown": (
            _chain_graph(
                inp,
                ("fc", lin(3, 4)),
                ("lif", nir.LIF(tau=np.full(3, 1e-2), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3))),
                out(3),
            ),
            r"cannot infer the time step .*--dt SECONDS",
        ),
    }


@pytest.mark.parametrize("case", list(_bad_graphs()))
def test_bad_graphs_are_refused_naming_the_node(case, tmp_path):
    graph, pattern = _bad_graphs()[case]
    with pytest.raises(NirError, match=pattern):
        ng.from_nir(graph)
    with pytest.raises(NirError, match=pattern):  # the same through a file
        ng.from_nir(_write(graph, tmp_path / "bad.nir"))


def test_branches_and_bad_files_are_refused(tmp_path):
    lin = nir.Linear(weight=np.full((3, 4), 0.25))
    cuba = nir.IF(r=np.ones(3), v_threshold=np.ones(3))
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([4])),
            "a": lin,
            "b": nir.Linear(weight=np.full((3, 4), 0.25)),
            "n": cuba,
            "output": nir.Output(output_type=np.array([3])),
        },
        edges=[("input", "a"), ("input", "b"), ("a", "n"), ("b", "n"), ("n", "output")],
        type_check=False,
    )
    with pytest.raises(NirError, match=r"node 'input' \(Input\) feeds 2 nodes"):
        ng.from_nir(g)
    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(NirError, match="not a NIR graph"):
        ng.from_nir(junk)
    with pytest.raises(NirError, match="no such file"):
        ng.from_nir(tmp_path / "absent.nir")
    # explicit data binding that does not fit the input shape
    from lavacut.train.netspec import NetSpec
    from lavacut.train.networks import build_network

    net = build_network(NetSpec(kind="dense", input_shape=(2, 8, 8), hidden=(4,), dropout=0.0))
    with pytest.raises(NirError, match=r"does not match data set 'embedded'"):
        ng.from_nir(ng.to_nir(net), overrides=["data.dataset=embedded"])


def test_metadata_json_survives_nir_write_read(tmp_path):
    net = _small_net("dense")
    meta = _meta_for(net, {"topk": {"policy": "topk", "beta": [1.5] * 30}})
    meta["odd"] = {"none": None, "nested": [1, 2.5, "x"]}
    p = _write(ng.to_nir(net, meta, dt=0.01), tmp_path / "m.nir")
    g = nir.read(p)
    lc = ng.lavacut_metadata(g)
    assert lc["odd"] == meta["odd"] and lc["cutoff"] == meta["cutoff"]
    assert lc["nir_export"]["dt"] == 0.01 and float(g.metadata["frame_s"]) == pytest.approx(0.01)
    assert json.loads(json.dumps(lc))  # plain JSON
    node = g.nodes["cuba0"]
    assert int(node.metadata["iDecay"]) == 1024 and int(node.metadata["vThMant"]) == 80
    np.testing.assert_allclose(node.tau_syn, 0.01 / 0.25)


# --------------------------------------------------------------------------
# issue 10: graphs third-party tools write, imported through the CLI
# --------------------------------------------------------------------------
# Weights on a 1/4 grid, decays 1/2, T <= 10: every value is a dyadic
# rational both in float and in Loihi's fixed point, so the comparison with
# the reference simulation is exact. snnTorch computes its parameters in
# float32: the reference infers dt = tau / r (float32 1e-4) as lavacut does.


def _quarter(rng, shape, lo=-8, hi=8, step=0.25):
    return rng.integers(lo, hi + 1, size=shape) * step


def _nirtorch(model, mapping, input_shape, path):
    """A torch model through nirtorch.torch_to_nir with ``mapping`` (module
    type -> NIR node), the Input typed, types inferred, written with nir."""
    nirtorch = pytest.importorskip("nirtorch")
    g = nirtorch.torch_to_nir(model, mapping, type_check=False)
    inp = next(n for n in g.nodes.values() if isinstance(n, nir.Input))
    inp.input_type = {"input": np.array(input_shape)}
    inp.output_type = {"output": np.array(input_shape)}
    g.infer_types()
    nir.write(path, g)
    return nir.read(path)


def _torch_modules():
    """Stand-in torch modules a third-party library would define, and their NIR mapping."""
    import torch

    class Neurons(torch.nn.Module):  # a neuron layer; the NIR node is the mapping's
        def __init__(self, node):
            super().__init__()
            self.node = node

    class SumPool(torch.nn.Module):
        def __init__(self, k):
            super().__init__()
            self.k = k

    def conv(c):
        return nir.Conv2d(
            input_shape=None,
            weight=c.weight.detach().numpy().astype(np.float64),
            stride=c.stride,
            padding=c.padding,
            dilation=c.dilation,
            groups=c.groups,
            bias=np.zeros(c.out_channels) if c.bias is None else c.bias.detach().numpy(),
        )

    def affine(m):
        w = m.weight.detach().numpy().astype(np.float64)
        return nir.Linear(weight=w) if m.bias is None else nir.Affine(weight=w, bias=m.bias.detach().numpy())

    mapping = {
        Neurons: lambda m: m.node,
        torch.nn.Conv2d: conv,
        torch.nn.Linear: affine,
        SumPool: lambda p: nir.SumPool2d(
            kernel_size=np.array([p.k] * 2), stride=np.array([p.k] * 2), padding=np.array([0, 0])
        ),
        torch.nn.Flatten: lambda f: nir.Flatten(input_type=None, start_dim=0),
    }
    return Neurons, SumPool, mapping


def _set(module, w, b=None):
    import torch

    with torch.no_grad():
        module.weight.copy_(torch.as_tensor(w))
        if b is not None:
            module.bias.copy_(torch.as_tensor(b))
    return module


def _cli_import(src, out, *args):
    r = run_cli("import", src, "-o", out, *args)
    return r.stdout, _export_meta(out), _load_export(out)


def _assert_exact(net, graph, x, dt=None):
    """The imported network's output spikes equal the reference simulation
    of the graph with Loihi's one-step synapses; without bias also NIR's
    instantaneous reading, L steps later."""
    ours = _slayer(net, x)
    ref = simulate(graph, x, dt=dt, synaptic_delay=1)
    assert ours.sum() > 5, "the test graph must spike"
    np.testing.assert_array_equal(ours, ref)
    if not any(net.spec.layer_bias):
        L = net.latency
        np.testing.assert_array_equal(ours[..., L:], simulate(graph, x, dt=dt)[..., :-L])
    return ours


@pytest.fixture(scope="module")
def pool_graphs(tmp_path_factory):
    """(a) an snnTorch conv net with AvgPool2d before a padded Conv2d, and a
    nirtorch one with SumPool2d before a padded, biased Conv2d (IF neurons);
    plus the same SumPool graph on 7x7 (windows do not cover the input)."""
    import torch

    pytest.importorskip("snntorch")
    Neurons, SumPool, mapping = _torch_modules()
    d = tmp_path_factory.mktemp("pool")
    rng = np.random.default_rng(3)
    m = torch.nn.Sequential(
        _set(torch.nn.Conv2d(2, 4, 3, padding=1, bias=False), _quarter(rng, (4, 2, 3, 3))),
        _leaky((4, 8, 8)),
        torch.nn.AvgPool2d(2),
        _set(torch.nn.Conv2d(4, 4, 3, padding=1, bias=False), _quarter(rng, (4, 4, 3, 3), -4, 3, 1.0)),
        _leaky((4, 4, 4)),
        torch.nn.Flatten(),
        _set(torch.nn.Linear(64, 5, bias=False), _quarter(rng, (5, 64))),
        _leaky((5,), out=True),
    )
    _snntorch_export(m, d / "snntorch_avgpool.nir", (2, 8, 8))

    def sumpool_net(hw):
        return torch.nn.Sequential(
            _set(torch.nn.Conv2d(2, 3, 3, padding=1), _quarter(rng, (3, 2, 3, 3)), [0.25, -0.5, 0.0]),
            Neurons(_if((3, hw, hw))),
            SumPool(2),
            _set(torch.nn.Conv2d(3, 4, 3, padding=1), _quarter(rng, (4, 3, 3, 3), -6, 6), [0.0, 0.5, -0.25, 0.0]),
            Neurons(_if((4, hw // 2, hw // 2))),
            torch.nn.Flatten(),
            _set(torch.nn.Linear(4 * (hw // 2) ** 2, 3, bias=False), _quarter(rng, (3, 4 * (hw // 2) ** 2))),
            Neurons(_if((3,))),
        )

    _nirtorch(sumpool_net(8), mapping, (2, 8, 8), d / "nirtorch_sumpool.nir")
    _nirtorch(sumpool_net(7), mapping, (2, 7, 7), d / "nirtorch_sumpool_7x7.nir")
    return d, m


def test_pool_before_padded_conv_folds_exactly(pool_graphs, tmp_path):
    d, model = pool_graphs
    x = _binary((2, 8, 8), 10, n=5)
    src = d / "snntorch_avgpool.nir"
    graph = nir.read(src)
    np.testing.assert_array_equal(simulate(graph, x), _snntorch_run(model, x))  # the reference is snnTorch's
    text, meta, net = _cli_import(src, tmp_path / "avg.net")
    rep = meta["nir_import"]
    assert rep["lossless"] and [L["nodes"] for L in rep["layers"]] == [["0"], ["2", "3"], ["5", "6"]]
    assert net.spec.conv_kernels == (3, 6) and net.spec.conv_strides == (1, 2) and net.spec.conv_paddings == (1, 2)
    assert "2+3 merged into one convolution" in text
    ours = _assert_exact(net, graph, x)
    print(
        f"\nsnnTorch AvgPool2d -> padded Conv2d: one strided convolution (kernel 6, stride 2, padding 2); "
        f"{int(ours.sum())} output spikes equal the reference"
    )

    src = d / "nirtorch_sumpool.nir"
    text, meta, net = _cli_import(src, tmp_path / "sum.net")
    assert meta["nir_import"]["layers"][1]["bias_mant"] == [0, 32, -16, 0]  # Conv2d bias 0.5 -> 32/64
    assert net.spec.layer_bias == ((0.25, -0.5, 0.0), (0.0, 0.5, -0.25, 0.0), ())
    _assert_exact(net, nir.read(src), x, dt=1.0)

    r = run_cli("import", d / "nirtorch_sumpool_7x7.nir", "-o", tmp_path / "no.net", check=False)
    assert r.returncode != 0 and not (tmp_path / "no.net").exists()
    assert "pads its input (1, 1) and follows '_2' (SumPool2d" in r.stderr and "do not cover the input" in r.stderr


@pytest.fixture(scope="module")
def bias_graphs(tmp_path_factory):
    """(b) snnTorch Leaky layers fed by biased Linear layers, and a nirtorch
    graph of CubaLIF layers with v_leak (one with decaying current) and an
    Affine bias into a CubaLIF whose tau_syn = dt."""
    import torch

    pytest.importorskip("snntorch")
    Neurons, _, mapping = _torch_modules()
    d = tmp_path_factory.mktemp("bias")
    rng = np.random.default_rng(5)
    m = torch.nn.Sequential(
        torch.nn.Flatten(),
        _set(torch.nn.Linear(128, 16), _quarter(rng, (16, 128), -4, 4), _quarter(rng, 16, -2, 2)),
        _leaky((16,)),
        _set(torch.nn.Linear(16, 4), _quarter(rng, (4, 16)), [0.25, -0.25, 0.5, 0.0]),
        _leaky((4,), out=True),
    )
    _snntorch_export(m, d / "snntorch_affine.nir", (2, 8, 8))

    dt = 1e-4

    def cuba(n, tau_syn, v_leak):
        return nir.CubaLIF(
            tau_syn=np.full(n, tau_syn),
            tau_mem=np.full(n, 2 * dt),
            r=np.full(n, 2.0),
            w_in=np.full(n, tau_syn / dt),
            v_leak=np.asarray(v_leak, dtype=np.float64),
            v_threshold=np.ones(n),
            v_reset=np.zeros(n),
        )

    leak = _quarter(rng, 12, -2, 2)
    c = torch.nn.Sequential(
        _set(torch.nn.Conv2d(2, 3, 3, stride=2, padding=1, bias=False), _quarter(rng, (3, 2, 3, 3))),
        Neurons(cuba((3, 4, 4), 2 * dt, np.broadcast_to(np.array([0.5, 0.0, -0.25])[:, None, None], (3, 4, 4)))),
        torch.nn.Flatten(),
        _set(torch.nn.Linear(48, 12, bias=False), _quarter(rng, (12, 48))),
        Neurons(cuba(12, 2 * dt, leak)),
        _set(torch.nn.Linear(12, 4), _quarter(rng, (4, 12)), [0.5, 0.0, -0.25, 0.25]),
        Neurons(cuba(4, dt, np.zeros(4))),
    )
    _nirtorch(c, mapping, (2, 8, 8), d / "nirtorch_cubalif.nir")
    return d, m, leak


def test_leak_and_bias_map_to_loihi_bias_exactly(bias_graphs, tmp_path):
    d, model, leak = bias_graphs
    x = _binary((2, 8, 8), 10, n=5, p=0.25)
    src = d / "snntorch_affine.nir"
    graph = nir.read(src)
    np.testing.assert_array_equal(simulate(graph, x), _snntorch_run(model, x))
    text, meta, net = _cli_import(src, tmp_path / "affine.net")
    assert meta["nir_import"]["layers"][1]["bias_mant"] == [16, -16, 32, 0]  # Affine bias * 64
    assert "bias_mant" in text and "layer l integrates its bias" in text
    _assert_exact(net, graph, x)

    src = d / "nirtorch_cubalif.nir"
    graph = nir.read(src)
    text, meta, net = _cli_import(src, tmp_path / "cuba.net")
    rep = meta["nir_import"]
    assert [L["iDecay"] for L in rep["layers"]] == [2048, 2048, 4096] and rep["lossless"]
    # bias per step = dt/tau_mem * v_leak (per channel for the conv layer) and g * Affine bias
    assert net.spec.layer_bias == ((0.25, 0.0, -0.125), tuple(leak / 2), (0.5, 0.0, -0.25, 0.25))
    ours = _assert_exact(net, graph, x)
    print(
        f"\nCubaLIF v_leak / Affine bias -> Loihi bias_mant {rep['layers'][0]['bias_mant']}, ...: "
        f"{int(ours.sum())} output spikes equal the reference (one-step synapses)"
    )


def test_single_output_neuron_graph_runs_with_fixed_T(tmp_path):
    """(c) one output neuron: imported, marked as running with fixed T (and
    layers with their own beta: 0.5, then 0 = no voltage memory)."""
    import torch

    pytest.importorskip("snntorch")
    rng = np.random.default_rng(7)
    m = torch.nn.Sequential(
        torch.nn.Flatten(),
        _set(torch.nn.Linear(128, 8, bias=False), _quarter(rng, (8, 128))),
        _leaky((8,)),
        _set(torch.nn.Linear(8, 1, bias=False), _quarter(rng, (1, 8), 0, 8)),
        _leaky((1,), beta=0.0, out=True),
    )
    src = tmp_path / "one.nir"
    _snntorch_export(m, src, (2, 8, 8))
    text, meta, net = _cli_import(src, tmp_path / "one.net")
    assert meta["n_classes"] == 1 and meta["decision"] == "none (one output neuron: fixed T)"
    assert meta["classes"] == ["0"] and net.spec.n_classes == 1
    assert meta["layer_decays"] == [[4096, 2048], [4096, 4096]]
    assert "decision: none (one output neuron: fixed T)" in text
    _assert_exact(net, nir.read(src), _binary((2, 8, 8), 10, n=5, p=0.4))


def test_graph_without_inferable_dt_needs_dt(tmp_path):
    """(d) LIF with r = 1 (Norse's convention) and no dt metadata: the CLI
    says to pass --dt; with --dt the network equals the reference at that dt."""
    import torch

    Neurons, _, mapping = _torch_modules()
    rng = np.random.default_rng(9)
    lif = lambda n: nir.LIF(tau=np.full(n, 2e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))  # noqa
    m = torch.nn.Sequential(
        torch.nn.Flatten(),
        _set(torch.nn.Linear(128, 10, bias=False), _quarter(rng, (10, 128), -4, 4, 0.5)),
        Neurons(lif(10)),
        _set(torch.nn.Linear(10, 3, bias=False), _quarter(rng, (3, 10), -8, 8, 0.5)),
        Neurons(lif(3)),
    )
    src = tmp_path / "norse_like.nir"
    graph = _nirtorch(m, mapping, (2, 8, 8), src)
    r = run_cli("import", src, "-o", tmp_path / "x.net", check=False)
    assert r.returncode != 0 and "cannot infer the time step" in r.stderr and "--dt SECONDS" in r.stderr
    text, meta, net = _cli_import(src, tmp_path / "x.net", "--dt", "1e-3")
    assert meta["nir_import"]["dt"] == 1e-3 and meta["nir_import"]["dt_source"] == "given"
    assert [L["vDecay"] for L in meta["nir_import"]["layers"]] == [2048, 2048]
    _assert_exact(net, graph, _binary((2, 8, 8), 10, n=5), dt=1e-3)


def test_unbound_import_metadata_has_the_exporters_keys(pool_graphs, tmp_path):
    """An import without --config / --set: the native exporter's keys, data
    binding null, no accuracy."""
    d, _ = pool_graphs
    text, meta, _ = _cli_import(d / "snntorch_avgpool.nir", tmp_path / "u.net", "--name", "unbound")
    keys = {
        "name",
        "dataset",
        "data_seed",
        "sensor_size",
        "input_shape",
        "framing",
        "classes",
        "n_classes",
        "latency_steps",
        "spec",
        "train_config",
        "accuracy",
    }
    assert keys <= set(meta)
    assert {
        k: meta[k] for k in ("dataset", "data_seed", "sensor_size", "framing", "train_config", "accuracy")
    } == dict.fromkeys(("dataset", "data_seed", "sensor_size", "framing", "train_config", "accuracy"))
    assert meta["name"] == "unbound" and meta["input_shape"] == [2, 8, 8] and meta["n_classes"] == 5
    assert "data set: unknown" in text and "test accuracy" not in text


# --------------------------------------------------------------------------
# Lava
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_imported_pool_and_bias_networks_run_in_lava(pool_graphs, bias_graphs, tmp_path):
    """NetX loads the imported biases (bias_mant, bias_exp 6) and folded
    convolutions; Lava fixed_pt, several samples in one graph, equals SLAYER
    and the reference simulation spike for spike."""
    from lavacut.runtime.record import lava_output

    x = _binary((2, 8, 8), 10, n=4, p=0.3, seed=11)
    for src, dt in (
        (pool_graphs[0] / "nirtorch_sumpool.nir", 1.0),
        (bias_graphs[0] / "nirtorch_cubalif.nir", None),
        (bias_graphs[0] / "snntorch_affine.nir", None),
    ):
        out = tmp_path / f"{src.stem}.net"
        ng.import_nir(src, out, evaluate=False)
        ours = _slayer(_load_export(out), x)
        lava, _ = lava_output(out, x.astype(np.uint8))
        np.testing.assert_array_equal(lava, ours)
        np.testing.assert_array_equal(lava, simulate(nir.read(src), x, dt=dt, synaptic_delay=1))
        print(f"\n{src.name}: Lava fixed_pt == SLAYER == reference ({int(ours.sum())} spikes)")


@pytest.mark.slow
def test_imported_snntorch_network_calibrates_and_runs_in_lava(frames, tmp_path):
    """snnTorch LIF graph -> lavacut import bound to the embedded data set
    (CUBA with iDecay 4096: NetX du 4095) -> calibrate on the training split
    -> Lava fixed_pt with the cutoff monitor: decisions equal the stop rule
    on SLAYER spikes."""
    pytest.importorskip("snntorch")
    from lavacut.cutoff.rules import TopKGap, cutoff, rule_from_params
    from lavacut.export.rebuild.network import net_from_export
    from lavacut.pipelines.calibrate import calibrate_export
    from lavacut.pipelines.run import RunRequest
    from lavacut.runtime.runner import run_split

    src = tmp_path / "lif.nir"
    _snntorch_export(_snntorch_model("Leaky", seed=2), src)
    netx, meta = ng.import_nir(src, tmp_path / "lif.net", overrides=["data.dataset=embedded"], evaluate=True)
    assert 0.0 <= meta["accuracy"]["test_full_T_slayer"] <= 1.0 and meta["accuracy"]["n_test"] > 300
    assert "fixed_point_ranges" in meta["nir_import"]
    print("\n" + ng.format_import_report(meta))
    calibrate_export(RunRequest(netx), progress=False)
    net, stored = net_from_export(netx)
    assert stored["default_policy"] == "topk" and "topk" in stored["cutoff"]

    x = frames[:6]
    labels = np.zeros(len(x), int)
    sp = _slayer(net, x)
    T = x.shape[-1]
    for rule in (
        rule_from_params(stored["cutoff"]["topk"]),
        TopKGap(beta=np.r_[np.full(4, 99.0), np.full(T - 4, 1.0)]),
    ):  # fires early on most samples
        res = run_split(netx, x, labels, rule, mode="halt", progress=False)
        tc, pred = cutoff(rule, sp)
        np.testing.assert_array_equal(res.t_c, tc)
        np.testing.assert_array_equal(res.pred, pred)
        print(f"\nLava cutoff monitor on the imported network ({rule.name}): t_c {res.t_c.tolist()} == SLAYER")
    assert (tc < T).any()
