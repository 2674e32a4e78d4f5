"""NIR graphs beyond feed-forward spiking chains (issue 23): a recurrent
self-loop (the NIR paper's braille shape: Input -> Affine -> CubaLIF with a
recurrent Affine back to its input -> Affine -> CubaLIF) and LI / CubaLI / I
voltage readouts. Checked against ``nir_reference.simulate`` (written from
NIR's equations, not lavacut's code) on dyadic parameters, so float and
fixed point agree bit for bit where Loihi's arithmetic allows.

No Lava Process is defined here (Lava executes this file while it looks for
ProcessModels).
"""

from __future__ import annotations

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from lavacut.export import nir as ng  # noqa: E402
from lavacut.export.nir import NirError  # noqa: E402
from lavacut_testing import run_cli  # noqa: E402
from nir_reference import simulate  # noqa: E402

DT = 1e-4


def _q(rng, *shape):
    return rng.integers(-8, 9, size=shape) * 0.25


def _cuba(n):
    return nir.CubaLIF(
        tau_syn=np.full(n, 2 * DT),
        tau_mem=np.full(n, 4 * DT),
        r=np.full(n, 4.0),
        v_leak=np.zeros(n),
        v_threshold=np.ones(n),
        w_in=np.full(n, 2.0),
    )


def _braille(seed=0, n_in=12, n_h=10, n_o=3, rec_bias=None):
    """Input -> fc_in -> lif1 (+ recurrent fc_rec) -> fc_out -> lif2 -> Output."""
    rng = np.random.default_rng(seed)
    rec = nir.Affine(weight=_q(rng, n_h, n_h), bias=np.zeros(n_h) if rec_bias is None else rec_bias)
    nodes = {
        "input": nir.Input(input_type=np.array([n_in])),
        "fc_in": nir.Linear(weight=_q(rng, n_h, n_in)),
        "lif1": _cuba(n_h),
        "fc_rec": rec,
        "fc_out": nir.Linear(weight=_q(rng, n_o, n_h)),
        "lif2": _cuba(n_o),
        "output": nir.Output(output_type=np.array([n_o])),
    }
    edges = [
        ("input", "fc_in"),
        ("fc_in", "lif1"),
        ("lif1", "fc_rec"),
        ("fc_rec", "lif1"),
        ("lif1", "fc_out"),
        ("fc_out", "lif2"),
        ("lif2", "output"),
    ]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT}, type_check=False)


def _frames(n_in, N=6, T=40, seed=1):
    return (np.random.default_rng(seed).random((N, n_in, 1, 1, T)) < 0.3).astype(np.float32)


def _run(net, x, voltage=False):
    import torch

    with torch.no_grad():
        return net(torch.from_numpy(np.asarray(x, dtype=np.float32)), voltage=voltage).numpy()


def _layers(path):
    import h5py

    with h5py.File(path, "r") as f:
        out = []
        for k in sorted((k for k in f["layer"] if k.isdigit()), key=int):
            g = f["layer"][k]
            out.append(
                {
                    "type": g["type"][0].decode(),
                    **{
                        n: np.asarray(g["neuron"][n][()]).item()
                        for n in ("iDecay", "vDecay", "vThMant")
                        if "neuron" in g and n in g["neuron"]
                    },
                    "keys": sorted(g.keys()),
                }
            )
        return out


# --------------------------------------------------------------------------
# recurrent
# --------------------------------------------------------------------------


def test_recurrent_graph_imports_as_a_recurrent_cuba_layer_exactly(tmp_path):
    g = _braille()
    net, meta = ng.from_nir(g)
    rep = meta["nir_import"]
    assert rep["lossless"] and rep["layers"][0]["recurrent"] == "fc_rec" and "recurrent" not in rep["layers"][1]
    assert "spec" not in meta  # beyond a NetSpec: net_from_export rebuilds it from the layers
    x = _frames(12)
    ours = _run(net, x)
    ref = simulate(g, x.reshape(6, 12, -1), synaptic_delay=1)
    assert ours.sum() > 50 and ref.sum() > 50
    np.testing.assert_array_equal(ours, ref)
    # NIR's instantaneous feed-forward synapses: the same spikes, 2 steps earlier (the loop is one step either way)
    np.testing.assert_array_equal(ours[..., 2:], simulate(g, x.reshape(6, 12, -1))[..., :-2])
    # without the loop the output changes: the recurrent weights are really used
    g2 = _braille()
    g2.nodes["fc_rec"].weight[:] = 0
    assert not np.array_equal(_run(ng.from_nir(g2)[0], x), ours)

    # through the CLI: a netx dense_rec layer (SLAYER cuba.Recurrent's export); the file's rebuild is the import's net
    src, out = tmp_path / "braille.nir", tmp_path / "braille.net"
    nir.write(src, g)
    r = run_cli("import", src, "-o", out)
    assert "recurrent fc_rec" in r.stdout and "cuba.Recurrent" in r.stdout
    kinds = _layers(out)
    assert [k["type"] for k in kinds] == ["input", "dense_rec", "dense"]
    assert "weight_rec" in kinds[1]["keys"] and kinds[1]["iDecay"] == 2048 and kinds[1]["vDecay"] == 1024
    from lavacut.export.rebuild.network import net_from_export
    from lavacut.export.netx.inspect import inspect_layers

    rebuilt, _ = net_from_export(out)
    np.testing.assert_array_equal(_run(rebuilt, x), ours)
    assert not any(L.verify_issue for L in inspect_layers(out))


def test_recurrent_bias_and_lif_loop(tmp_path):
    """A biased recurrent Affine into a LIF (current = input: the bias is a
    Loihi voltage bias) imports exactly."""
    rng = np.random.default_rng(3)
    n = 8
    lif = nir.LIF(tau=np.full(n, 4 * DT), r=np.full(n, 4.0), v_leak=np.zeros(n), v_threshold=np.ones(n))
    nodes = {
        "input": nir.Input(input_type=np.array([12])),
        "fc": nir.Linear(weight=_q(rng, n, 12)),
        "lif": lif,
        "rec": nir.Affine(weight=_q(rng, n, n), bias=rng.integers(-2, 3, n) * 0.25),
        "output": nir.Output(output_type=np.array([n])),
    }
    g = nir.NIRGraph(
        nodes=nodes,
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")],
        metadata={"dt": DT},
        type_check=False,
    )
    net, meta = ng.from_nir(g)
    x = _frames(12, seed=4)
    ours = _run(net, x)
    assert ours.sum() > 20
    np.testing.assert_array_equal(ours, simulate(g, x.reshape(6, 12, -1), synaptic_delay=1))
    assert meta["nir_import"]["layers"][0]["bias_mant"]


def _merge_graph():
    """lif2's spikes return to lif1 (a loop over two layers)."""
    g = _braille()
    nodes = dict(g.nodes)
    nodes["back"] = nir.Linear(weight=np.full((10, 3), 0.25))
    edges = [e for e in g.edges if e[1] != "output"] + [("lif2", "back"), ("back", "lif1"), ("lif2", "output")]
    edges = [e for e in edges if "fc_rec" not in e]
    nodes.pop("fc_rec")
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT}, type_check=False)


def _two_inputs_graph():
    """Two feed-forward inputs into one neuron node (a merge, not a loop)."""
    rng = np.random.default_rng(0)
    nodes = {
        "input": nir.Input(input_type=np.array([4])),
        "a": nir.Linear(weight=_q(rng, 3, 4)),
        "n0": _cuba(3),
        "b": nir.Linear(weight=_q(rng, 3, 3)),
        "c": nir.Linear(weight=_q(rng, 3, 4)),
        "n1": _cuba(3),
        "output": nir.Output(output_type=np.array([3])),
    }
    edges = [("input", "a"), ("a", "n0"), ("n0", "b"), ("b", "n1"), ("input", "c"), ("c", "n1"), ("n1", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT}, type_check=False)


@pytest.mark.parametrize(
    "graph, pattern",
    [
        (_merge_graph, r"node 'lif1' \(CubaLIF\) has 2 inputs \['fc_in', 'back'\].*recurrent self-loop"),
        (_two_inputs_graph, r"node 'input' \(Input\) feeds 2 nodes \['a', 'c'\]"),
    ],
)
def test_other_merges_are_refused_naming_the_nodes(graph, pattern):
    with pytest.raises(NirError, match=pattern):
        ng.from_nir(graph())


def test_recurrent_conv_layer_is_refused():
    g = _braille()
    nodes = dict(g.nodes)
    nodes["fc_rec"] = nir.Linear(weight=np.full((3, 10), 0.25))  # 10 -> 3: not a square recurrent weight
    g = nir.NIRGraph(nodes=nodes, edges=g.edges, metadata={"dt": DT}, type_check=False)
    with pytest.raises(NirError, match=r"a recurrent weight must be \(10, 10\)|takes 10 inputs"):
        ng.from_nir(g)


@pytest.mark.slow
def test_recurrent_import_runs_in_lava_identical_to_slayer(tmp_path):
    """The fused runtime (recurrent synapses) against the SLAYER rebuild:
    lavacut verify, every sample identical."""
    src, out, x = tmp_path / "braille.nir", tmp_path / "braille.net", tmp_path / "x.npy"
    nir.write(src, _braille(seed=5))
    np.save(x, _frames(12, N=12, seed=6).astype(np.uint8))
    run_cli("import", src, "-o", out)
    r = run_cli("verify", out, "--input", x, "--samples", "12")
    assert "12/12 samples identical (100.00%)" in r.stdout


# --------------------------------------------------------------------------
# voltage readouts
# --------------------------------------------------------------------------


def _readout_graph(kind, n_in=12, n_h=8, n_o=3, seed=0, tau=8 * DT):
    rng = np.random.default_rng(seed)
    ro = {
        "LI": lambda: nir.LI(tau=np.full(n_o, tau), r=np.full(n_o, 8.0), v_leak=np.zeros(n_o)),
        "CubaLI": lambda: nir.CubaLI(
            tau_syn=np.full(n_o, 2 * DT),
            tau_mem=np.full(n_o, tau),
            r=np.full(n_o, 8.0),
            v_leak=np.zeros(n_o),
            w_in=np.full(n_o, 2.0),
        ),
        "I": lambda: nir.I(r=np.full(n_o, 1e4)),
    }[kind]()
    nodes = {
        "input": nir.Input(input_type=np.array([n_in])),
        "fc_in": nir.Linear(weight=_q(rng, n_h, n_in)),
        "lif1": nir.LIF(tau=np.full(n_h, 4 * DT), r=np.full(n_h, 4.0), v_leak=np.zeros(n_h), v_threshold=np.ones(n_h)),
        "fc_out": nir.Linear(weight=_q(rng, n_o, n_h)),
        "readout": ro,
        "output": nir.Output(output_type=np.array([n_o])),
    }
    order = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])), metadata={"dt": DT}, type_check=False)


@pytest.mark.parametrize("kind, i_decay, v_decay", [("LI", 4096, 512), ("CubaLI", 2048, 512), ("I", 4096, 0)])
def test_readout_graph_imports_as_a_voltage_layer(kind, i_decay, v_decay, tmp_path):
    g = _readout_graph(kind)
    src, out = tmp_path / f"{kind}.nir", tmp_path / f"{kind}.net"
    nir.write(src, g)
    _, meta = ng.import_nir(src, out)  # in-process (the CLI import is tested with the recurrent graph)
    assert "voltage readout" in ng.format_import_report(meta)
    layers = _layers(out)
    # SLAYER cuba.Affine's export: a dense layer whose threshold Lava's 24-bit voltage never reaches
    assert [L["type"] for L in layers] == ["input", "dense", "dense"]
    assert layers[-1]["vThMant"] == (1 << 18) - 1 and (layers[-1]["vThMant"] << 6) >= 1 << 23
    assert (layers[-1]["iDecay"], layers[-1]["vDecay"]) == (i_decay, v_decay)
    assert layers[1]["vThMant"] < 1 << 17
    from lavacut.export.netx.inspect import inspect_layers

    assert "voltage readout" in inspect_layers(out)[-1].run_issue or not inspect_layers(out)[-1].run_issue

    # the SLAYER model's output voltage is the graph's (times the reported scale), up to Loihi's rounding of
    # each decay toward zero (none for I)
    from lavacut.export.rebuild.slayer import NetxRebuild

    net = NetxRebuild(out, check=False)  # the file's SLAYER rebuild (``run`` of voltage readouts: issue 23)
    L = meta["nir_import"]["layers"][-1]
    assert L["readout"] == "voltage"
    x = _frames(12)
    ours = _run(net, x, voltage=True)
    ref = simulate(g, x.reshape(6, 12, -1), synaptic_delay=1) * L["voltage_scale"]
    assert np.abs(ref).max() > 5
    dv, du = v_decay / 4096, i_decay / 4096
    bound = 0 if v_decay == 0 else (1 / dv + (0 if du == 1 else 1 / (du * dv))) / 4096
    assert np.abs(ours - ref).max() <= bound + 1e-9
    if kind == "I":
        np.testing.assert_array_equal(ours, ref)
    # the engines read the voltage: the rebuild's output is v's per-step change, whose running sum is v
    assert net.readout == "voltage"
    np.testing.assert_array_equal(np.cumsum(_run(net, x), axis=-1) / 4096.0, ours)


def test_readout_refusals():
    with pytest.raises(NirError, match=r"'readout' \(LI\): its voltage decay dt/tau = 1e-05 rounds to 0/4096"):
        ng.from_nir(_readout_graph("LI", tau=DT * 1e5))
    with pytest.raises(NirError, match=r"'readout' \(LI\): voltage decay dt/tau_mem = 2 > 1"):
        ng.from_nir(_readout_graph("LI", tau=DT / 2))
    g = _readout_graph("LI")  # a readout in the middle
    nodes = dict(g.nodes)
    nodes["fc2"], nodes["lif2"] = nir.Linear(weight=np.full((2, 3), 0.25)), _cuba(2)
    nodes["output"] = nir.Output(output_type=np.array([2]))
    order = ["input", "fc_in", "lif1", "fc_out", "readout", "fc2", "lif2", "output"]
    g = nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])), metadata={"dt": DT}, type_check=False)
    with pytest.raises(NirError, match=r"node 'readout' \(LI\) is a non-spiking readout followed by 'fc2'"):
        ng.from_nir(g)
