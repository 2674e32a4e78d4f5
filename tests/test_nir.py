"""NIR bridge (lavacut.export.nir_graph): lavacut -> NIR -> lavacut round
trips, graphs written by snnTorch, pooling, refusals, and an imported network
calibrated and run with the cutoff monitor in Lava.

No Lava Process is defined here (Lava executes this file while it looks for
ProcessModels).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from lavacut.export import nir_graph as ng  # noqa: E402
from lavacut.export.nir_graph import NirError  # noqa: E402

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

    from lavacut.train.networks import NetSpec, build_network

    if kind == "dense":
        spec = NetSpec(kind="dense", hidden=(40,), weight_scale=6.0, dropout=0.0, name="nir-dense")
    else:
        spec = NetSpec(kind="conv", conv_channels=(4, 6), conv_kernels=(5, 3), conv_strides=(2, 2),
                       conv_paddings=(2, 1), hidden=(24,), weight_scale=6.0, dropout=0.0, name="nir-conv")
    torch.manual_seed(seed)
    net = build_network(spec).eval()
    if kind == "dense":   # layers with their own decays (learn_decay nets have them): per-layer path
        with torch.no_grad():
            net.spiking_blocks[1].neuron.current_decay.fill_(512.0)
            net.spiking_blocks[1].neuron.voltage_decay.fill_(0.0)
    return net


def _meta_for(net, cutoff=None):
    from lavacut.config import RunConfig

    cfg = RunConfig()
    meta = {"name": net.spec.name, "dataset": "embedded", "data_seed": 0, "sensor_size": [34, 34, 2],
            "input_shape": list(net.spec.input_shape),
            "framing": {"bin_us": cfg.framing.bin_us, "T": cfg.framing.T, "downsample": 1.0, "denoise_us": 0},
            "classes": [str(i) for i in range(10)], "n_classes": 10, "latency_steps": net.latency,
            "spec": net.spec.to_dict(), "train_config": cfg.to_dict(), "accuracy": {"test_full_T_slayer": 0.5}}
    if cutoff:
        meta["cutoff"] = cutoff
        meta["default_policy"] = "topk"
    return meta


def _agreement(slayer_out, other, L):
    """Fraction of (neuron, step) entries equal, SLAYER shifted by its L-step latency."""
    return float(np.mean(slayer_out[..., L:] == other[..., :other.shape[-1] - L]))


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
    back = nir.read(path)                       # NIR's own type checks (type_check=True)
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
    print(f"\n{kind}: lavacut -> NIR -> lavacut, {len(frames)} embedded test samples: output spikes identical "
          f"({int(a.sum())} spikes)")
    # lossless import of a lavacut graph keeps data binding, accuracy and the cutoff calibration
    assert meta["dataset"] == "embedded" and meta["train_config"]["framing"]["T"] == T
    assert meta["cutoff"] == cutoff and meta["default_policy"] == "topk"
    assert meta["accuracy"] == {"test_full_T_slayer": 0.5}
    if kind == "dense":
        assert meta["layer_decays"] == [[1024, 123], [512, 0]]

    # a float simulation of the graph (NIR semantics, forward Euler) agrees up
    # to fixed-point rounding, L steps earlier (NIR synapses have no delay)
    ref = ng.reference_simulate(back, frames)
    agree = _agreement(a, ref, net.latency)
    print(f"{kind}: float reference simulation of the NIR graph vs SLAYER: {agree:.4f} of neuron-steps equal")
    assert agree > 0.97


def test_write_nir_from_checkpoint_and_export_then_import_nir(frames, tmp_path):
    from lavacut.config import RunConfig
    from lavacut.export.exporter import net_from_export
    from lavacut.export.netx_file import read_metadata, write_export
    from lavacut.train.checkpoint import save_checkpoint

    net = _small_net("dense", seed=3)
    cfg = RunConfig()
    ckpt = tmp_path / "best.pt"
    save_checkpoint(ckpt, {"model": net.state_dict(), "spec": net.spec.to_dict(), "config": cfg.to_dict(),
                           "epoch": 2, "best_val_acc": 0.25})
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
        if src == export:   # the calibration travels through NIR's metadata into the new export
            assert read_metadata(netx)["cutoff"] == cutoff and stored["default_policy"] == "topk"
        else:
            assert lc["checkpoint_epoch"] == 2 and stored["cutoff"] == {}
        assert stored["train_config"]["data"]["dataset"] == "embedded"
    # physical time: dt = the framing bin (10 ms); the graph stays exact
    out, graph = ng.write_nir(export, tmp_path / "bin.nir", dt="bin")
    assert float(graph.metadata["dt"]) == pytest.approx(0.01)
    np.testing.assert_allclose(graph.nodes["cuba0"].tau_syn, 0.01 / 0.25)
    np.testing.assert_array_equal(_slayer(ng.from_nir(out)[0], frames), ref)


# --------------------------------------------------------------------------
# graphs written by another library: snnTorch
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
        kw = dict(beta=torch.full((n,), 0.97), threshold=torch.ones(n), init_hidden=True,
                  reset_mechanism="zero", reset_delay=False, output=out)
        if neuron == "Synaptic":
            return snn.Synaptic(alpha=torch.full((n,), 0.75), **kw)
        return snn.Leaky(**kw)

    return torch.nn.Sequential(torch.nn.Flatten(), fc1, cell(32), fc2, cell(10, True))


def _snntorch_export(model, path):
    import torch
    pytest.importorskip("nirtorch")
    from snntorch.export_nir import export_to_nir

    graph = export_to_nir(model, torch.zeros(1, 2, 34, 34), ignore_dims=[0])
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
                o = model(torch.as_tensor(x[n:n + 1, ..., t], dtype=torch.float32))
                steps.append((o[0] if isinstance(o, tuple) else o)[0])
            outs.append(torch.stack(steps, -1))
    return torch.stack(outs).numpy().astype(np.int64)


@pytest.mark.parametrize("neuron", ["Synaptic", "Leaky"])
def test_import_snntorch_graph(neuron, frames, tmp_path):
    snn = pytest.importorskip("snntorch")
    model = _snntorch_model(neuron)
    path = tmp_path / f"snntorch_{neuron}.nir"
    graph = _snntorch_export(model, path)
    assert {type(n).__name__ for n in graph.nodes.values()} >= {"Flatten", "Linear",
                                                                "CubaLIF" if neuron == "Synaptic" else "LIF"}

    net, meta = ng.from_nir(path)
    rep = meta["nir_import"]
    assert rep["dt_source"].startswith("inferred") and abs(rep["dt"] - 1e-4) < 1e-9
    assert net.spec.kind == "dense" and net.spec.input_shape == (2, 34, 34)
    assert net.spec.layer_sizes() == [32, 10] and meta["dataset"] == "embedded"
    want_idecay = 1024 if neuron == "Synaptic" else 4096          # alpha 0.75; Leaky: current = input
    assert [L["iDecay"] for L in rep["layers"]] == [want_idecay] * 2
    assert [L["vDecay"] for L in rep["layers"]] == [123] * 2        # beta 0.97: 0.03 * 4096 = 122.9
    assert not rep["lossless"] and "quantised (lossy)" in ng.format_import_report(meta)
    q = [L["quantisation"]["rel_rms_error"] for L in rep["layers"]]

    x = frames.astype(np.float32)
    theirs = _snntorch_run(model, x)
    # lavacut's reading of the NIR semantics IS snnTorch's (float): bit-identical spikes
    np.testing.assert_array_equal(ng.reference_simulate(path, x), theirs)
    ours = _slayer(net, frames)
    assert theirs.sum() > 50 and ours.sum() > 50
    agree = _agreement(ours, theirs, net.latency)
    pred_ours = ours.sum(-1).argmax(1)
    pred_theirs = theirs[..., :-net.latency].sum(-1).argmax(1)
    print(f"\nsnntorch {snn.__version__} {neuron}: threshold {rep['threshold']}, weight rel. RMS quantisation "
          f"error {q[0]:.2e} / {q[1]:.2e}; SLAYER vs snnTorch: {agree:.4f} of neuron-steps equal, "
          f"predictions {np.mean(pred_ours == pred_theirs):.3f} equal")
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
            for t in range(x.shape[-1]):   # snnTorch maps NIR's Flatten(start_dim=0) to torch's: unbatched input
                o = model(torch.from_numpy(x[n, ..., t]))
                steps.append(o[0] if isinstance(o, tuple) else o)
            outs.append(torch.stack(steps, -1))
    theirs = torch.stack(outs).numpy().astype(np.int64)
    ours = _slayer(net, x)
    agree = _agreement(ours, theirs, net.latency)
    print(f"\nlavacut graph simulated by snnTorch vs SLAYER: {agree:.4f} of neuron-steps equal")
    assert agree > 0.99


# --------------------------------------------------------------------------
# pooling, IF neurons, grouped/dilated convolutions
# --------------------------------------------------------------------------

def _grid(rng, shape, lo=-8, hi=8):
    """Random weights on SLAYER's 8-bit grid (multiples of 2/64)."""
    return rng.integers(lo, hi + 1, size=shape) * 2 / 64


def _if(shape, vth=1.0):
    return nir.IF(r=np.ones(shape), v_threshold=np.full(shape, vth))


def _chain_graph(*named, meta=None, type_check=True):
    nodes = dict(named)
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), metadata=meta or {},
                        type_check=type_check)


def _pool_graphs(rng):
    c = 3
    conv0 = nir.Conv2d(input_shape=(8, 8), weight=_grid(rng, (c, 2, 3, 3), 0, 16), stride=1, padding=1,
                       dilation=1, groups=1, bias=np.zeros(c))
    # SumPool -> Conv (no padding): merged into one strided convolution
    a = _chain_graph(
        ("input", nir.Input(input_type=np.array([2, 8, 8]))), ("conv0", conv0), ("if0", _if((c, 8, 8))),
        ("pool", nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))),
        ("conv1", nir.Conv2d(input_shape=(4, 4), weight=_grid(rng, (4, c, 3, 3), -4, 12), stride=1, padding=0,
                             dilation=1, groups=1, bias=np.zeros(4))),
        ("if1", _if((4, 2, 2))), ("flat", nir.Flatten(input_type={"input": np.array([4, 2, 2])}, start_dim=0)),
        ("fc", nir.Linear(weight=_grid(rng, (5, 16), -4, 12))), ("if2", _if((5,))),
        ("output", nir.Output(output_type=np.array([5]))))
    # SumPool alone before neurons (unit-weight diagonal convolution), then
    # SumPool -> Flatten -> Linear (one dense matrix); grouped + dilated conv
    # (nir 1.0.8's type inference ignores groups in Conv2d.input_type: no type check)
    b = _chain_graph(
        ("input", nir.Input(input_type=np.array([2, 8, 8]))),
        ("conv0", nir.Conv2d(input_shape=(8, 8), weight=_grid(rng, (4, 1, 3, 3), 0, 16), stride=1, padding=2,
                             dilation=2, groups=2, bias=np.zeros(4))),
        ("if0", _if((4, 8, 8))),
        ("pool0", nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))),
        ("if1", _if((4, 4, 4), vth=2.0)),
        ("pool1", nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))),
        ("flat", nir.Flatten(input_type={"input": np.array([4, 2, 2])}, start_dim=0)),
        ("fc", nir.Linear(weight=_grid(rng, (5, 16), -4, 12))), ("if2", _if((5,))),
        ("output", nir.Output(output_type=np.array([5]))), type_check=False)
    return a, b


def test_sumpool_and_if_graphs_convert_exactly(tmp_path):
    from lavacut.export.exporter import net_from_export

    rng = np.random.default_rng(0)
    x = (rng.random((16, 2, 8, 8, 20)) < 0.3)
    for i, g in enumerate(_pool_graphs(rng)):
        net, meta = ng.from_nir(g)
        rep = meta["nir_import"]
        assert rep["dt_source"].startswith("no time constants")
        assert [L["iDecay"] for L in rep["layers"]] == [4096] * 3 and [L["vDecay"] for L in rep["layers"]] == [0] * 3
        assert rep["lossless"] and rep["threshold"] == 1.0
        assert meta["dataset"] is None and "train_config" not in meta   # 2x8x8 matches no data set
        if i == 0:
            assert net.spec.conv_kernels == (3, 6) and net.spec.conv_strides == (1, 2)
        else:
            assert net.spec.conv_kernels == (5, 2) and net.spec.conv_strides == (1, 2)
        ours = _slayer(net, x)
        ref = ng.reference_simulate(g, x)
        assert ours.sum() > 20
        # IF neurons with unit current decay: integer arithmetic, no rounding: exact
        np.testing.assert_array_equal(ours[..., net.latency:], ref[..., :-net.latency])
        # and the NetX export of the imported network holds the same network
        path = tmp_path / f"pool{i}.net"
        ng.import_nir(_write(g, tmp_path / f"pool{i}.nir"), path, evaluate=False)
        back, _ = net_from_export(path)
        np.testing.assert_array_equal(_slayer(back, x), ours)


def _write(g, path):
    nir.write(path, g)
    return path


def test_rescaling_and_folding_of_thresholds():
    """Per-neuron thresholds and r fold into the weights; off-grid weights are
    rescaled to use the 8-bit range and the quantisation error is reported."""
    rng = np.random.default_rng(1)
    w0 = rng.normal(0, 0.05, (6, 20))
    w1 = rng.normal(0, 0.3, (3, 6))
    vth0 = rng.uniform(0.5, 2.0, 6)
    g = _chain_graph(
        ("input", nir.Input(input_type=np.array([20]))), ("fc0", nir.Linear(weight=w0)),
        ("lif0", nir.LIF(tau=np.full(6, 0.01), r=np.full(6, 10.0), v_leak=np.zeros(6), v_threshold=vth0)),
        ("fc1", nir.Affine(weight=w1, bias=np.zeros(3))),
        ("lif1", nir.LIF(tau=np.full(3, 0.01), r=np.full(3, 10.0), v_leak=np.zeros(3), v_threshold=np.ones(3))),
        ("output", nir.Output(output_type=np.array([3]))))
    net, meta = ng.from_nir(g)
    rep = meta["nir_import"]
    assert rep["dt"] == pytest.approx(1e-3) and rep["layers"][0]["vDecay"] == round(0.1 * 4096)
    th = rep["threshold"]
    assert th * 64 == int(th * 64)
    W = [b.neuron.quantize_8bit(b.synapse.weight).detach().numpy().reshape(b.synapse.weight.shape[:2])
         for b in net.spiking_blocks]
    assert max(np.abs(W[0]).max(), np.abs(W[1]).max()) > 3.5          # the 8-bit range is used
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
        tau_syn=np.full(n, 4e-4) if tau_syn is None else tau_syn, tau_mem=np.full(n, 1e-2), r=np.full(n, 100.0),
        v_leak=np.zeros(n), v_threshold=np.ones(n), w_in=np.full(n, 4.0))
    md = {"dt": 1e-4}
    return {
        "unsupported": (_chain_graph(inp, ("fc", lin(3, 4)), ("readout", nir.LI(
            tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3))), out(3), meta=md),
            r"node 'readout' has type LI"),
        "shapes": (_chain_graph(inp, ("fc0", lin(3, 4)), ("cuba0", cuba(3)), ("fc1", lin(2, 5)), ("cuba1", cuba(2)),
                                out(2), meta=md, type_check=False),
                   r"node 'fc1' \(Linear\): its weight takes 5 inputs but the node before it outputs shape \(3,\)"),
        "heterogeneous tau": (_chain_graph(inp, ("fc", lin(3, 4)), ("neurons", cuba(3, np.array([4e-4, 4e-4, 2e-3]))),
                                           out(3), meta=md),
                              r"node 'neurons' \(CubaLIF\): heterogeneous per-neuron tau_syn"),
        "bias": (_chain_graph(inp, ("dense", nir.Affine(weight=np.full((3, 4), 0.25), bias=np.array([0, 0.5, 0]))),
                              ("cuba", cuba(3)), out(3), meta=md),
                 r"node 'dense' \(Affine\): nonzero bias"),
        "v_leak": (_chain_graph(inp, ("fc", lin(3, 4)), ("lif", nir.LIF(tau=np.full(3, 1e-2), r=np.full(3, 100.0),
                                                                        v_leak=np.full(3, 0.1),
                                                                        v_threshold=np.ones(3))), out(3), meta=md),
                   r"node 'lif' \(LIF\): v_leak must be 0"),
        "pool then padded conv": (_chain_graph(
            ("input", nir.Input(input_type=np.array([1, 6, 6]))),
            ("c0", nir.Conv2d(input_shape=(6, 6), weight=np.ones((2, 1, 3, 3)) / 32, stride=1, padding=1,
                              dilation=1, groups=1, bias=np.zeros(2))), ("if0", _if((2, 6, 6))),
            ("pool", nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))),
            ("c1", nir.Conv2d(input_shape=(3, 3), weight=np.ones((2, 2, 3, 3)) / 32, stride=1, padding=1,
                              dilation=1, groups=1, bias=np.zeros(2))), ("if1", _if((2, 3, 3))),
            ("flat", nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=0)),
            ("fc", nir.Linear(weight=np.ones((2, 18)) / 32)), ("if2", _if((2,))), out(2)),
            r"node 'c1' pads its input \(1, 1\) and follows 'pool'"),
        "dt unknown": (_chain_graph(inp, ("fc", lin(3, 4)), ("lif", nir.LIF(tau=np.full(3, 1e-2), r=np.ones(3),
                                                                           v_leak=np.zeros(3),
                                                                           v_threshold=np.ones(3))), out(3)),
                       r"cannot infer the time step"),
    }


@pytest.mark.parametrize("case", list(_bad_graphs()))
def test_bad_graphs_are_refused_naming_the_node(case, tmp_path):
    graph, pattern = _bad_graphs()[case]
    with pytest.raises(NirError, match=pattern):
        ng.from_nir(graph)
    with pytest.raises(NirError, match=pattern):     # the same through a file
        ng.from_nir(_write(graph, tmp_path / "bad.nir"))


def test_branches_and_bad_files_are_refused(tmp_path):
    lin = nir.Linear(weight=np.full((3, 4), 0.25))
    cuba = nir.IF(r=np.ones(3), v_threshold=np.ones(3))
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([4])), "a": lin, "b": nir.Linear(
        weight=np.full((3, 4), 0.25)), "n": cuba, "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "a"), ("input", "b"), ("a", "n"), ("b", "n"), ("n", "output")], type_check=False)
    with pytest.raises(NirError, match=r"node 'input' \(Input\) feeds 2 nodes"):
        ng.from_nir(g)
    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(NirError, match="not a NIR graph"):
        ng.from_nir(junk)
    with pytest.raises(NirError, match="no such file"):
        ng.from_nir(tmp_path / "absent.nir")
    # explicit data binding that does not fit the input shape
    from lavacut.train.networks import NetSpec, build_network
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
    assert json.loads(json.dumps(lc))          # plain JSON
    node = g.nodes["cuba0"]
    assert int(node.metadata["iDecay"]) == 1024 and int(node.metadata["vThMant"]) == 80
    np.testing.assert_allclose(node.tau_syn, 0.01 / 0.25)


# --------------------------------------------------------------------------
# Lava: an imported network calibrated and run with the cutoff monitor
# --------------------------------------------------------------------------

@pytest.mark.slow
def test_imported_snntorch_network_calibrates_and_runs_in_lava(frames, tmp_path):
    """snnTorch LIF graph -> lavacut import (CUBA with iDecay 4096: NetX du
    4095) -> calibrate on the embedded training split -> Lava fixed_pt with
    the cutoff monitor: decisions equal policies.cutoff on SLAYER spikes."""
    pytest.importorskip("snntorch")
    from lavacut.export.exporter import net_from_export
    from lavacut.measure.calibrate_export import calibrate_export
    from lavacut.measure.policies import TopKGap, cutoff, rule_from_params
    from lavacut.runtime.runner import run_split

    src = tmp_path / "lif.nir"
    _snntorch_export(_snntorch_model("Leaky", seed=2), src)
    netx, meta = ng.import_nir(src, tmp_path / "lif.net", evaluate=True)
    assert 0.0 <= meta["accuracy"]["test_full_T_slayer"] <= 1.0 and meta["accuracy"]["n_test"] > 300
    assert "fixed_point_ranges" in meta["nir_import"]
    print("\n" + ng.format_import_report(meta))
    calibrate_export(netx, progress=False)
    net, stored = net_from_export(netx)
    assert stored["default_policy"] == "topk" and "topk" in stored["cutoff"]

    x = frames[:6]
    labels = np.zeros(len(x), int)
    sp = _slayer(net, x)
    T = x.shape[-1]
    for rule in (rule_from_params(stored["cutoff"]["topk"]),
                 TopKGap(beta=np.r_[np.full(4, 99.0), np.full(T - 4, 1.0)])):   # fires early on most samples
        res = run_split(netx, x, labels, rule, mode="halt", progress=False)
        tc, pred = cutoff(rule, sp)
        np.testing.assert_array_equal(res.t_c, tc)
        np.testing.assert_array_equal(res.pred, pred)
        print(f"\nLava cutoff monitor on the imported network ({rule.name}): t_c {res.t_c.tolist()} == SLAYER")
    assert (tc < T).any()
