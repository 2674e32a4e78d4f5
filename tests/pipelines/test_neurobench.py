"""NeuroBench's own metrics on a lavacut SLAYER net, against values worked
out by hand on a 3-2-2 relay network, and in ``lavacut evaluate``'s report."""

import numpy as np
import pytest


def _relay_net():
    """3 inputs -> 2 hidden -> 2 outputs. Decays 1 and threshold 0.5 make
    every neuron spike exactly at the steps its weighted input is >= 1:
    h0 = in0, h1 = in1 or in2; out0 = h0, out1 = h1 (each block's output is
    delayed one step by SLAYER's delay_shift)."""
    import torch

    from lavacut.train.netspec import NetSpec
    from lavacut.train.networks import build_network

    spec = NetSpec(
        kind="dense",
        input_shape=(1, 1, 3),
        hidden=(2,),
        n_classes=2,
        threshold=0.5,
        current_decay=1.0,
        voltage_decay=1.0,
        dropout=0.0,
        weight_norm=False,
    )
    net = build_network(spec)
    w1 = torch.tensor([[1.0, 0, 0], [0, 1, 1]])
    w2 = torch.tensor([[1.0, 0], [0, 1]])
    with torch.no_grad():
        net.blocks[0].synapse.weight.copy_(w1.reshape(net.blocks[0].synapse.weight.shape))
        net.blocks[1].synapse.weight.copy_(w2.reshape(net.blocks[1].synapse.weight.shape))
    return net.eval()


def _frames():
    x = np.zeros((2, 1, 1, 3, 5), np.float32)  # (N, C, H, W, T)
    x[0, 0, 0, 0, [0, 1]] = 1  # sample A: in0 at 0, 1; in1 at 2; in2 at 2, 3
    x[0, 0, 0, 1, 2] = 1
    x[0, 0, 0, 2, [2, 3]] = 1
    x[1, 0, 0, 2, [0, 1, 2]] = 1  # sample B: in2 at 0, 1, 2
    return x


def test_relay_net_spikes_as_worked_out():
    from lavacut.train.inference import forward

    out, hidden = forward(_relay_net(), _frames(), record=True)
    np.testing.assert_array_equal(hidden[0][0], [[1, 1, 0, 0, 0], [0, 0, 1, 1, 0]])
    np.testing.assert_array_equal(hidden[0][1], [[0, 0, 0, 0, 0], [1, 1, 1, 0, 0]])
    np.testing.assert_array_equal(out[0], [[0, 0, 1, 1, 0], [0, 0, 0, 0, 1]])
    np.testing.assert_array_equal(out[1], [[0, 0, 0, 0, 0], [0, 0, 1, 1, 1]])


def test_neurobench_metrics_match_hand_computed_values():
    from lavacut.cutoff.synops import count_ops
    from lavacut.train.inference import forward
    from lavacut.train.networks import nonzero_fan_outs
    from lavacut.measure.neurobench import neurobench_metrics

    net, x = _relay_net(), _frames()
    labels = np.array([0, 0])  # A predicts 0 (right), B predicts 1 (wrong)
    t_c = np.array([3, 5])
    out, hidden = forward(net, x, record=True)
    inputs, outputs = [x.reshape(2, 3, 5)] + hidden, hidden + [out]
    fo = nonzero_fan_outs(net)
    assert [f.tolist() for f in fo] == [[1, 1, 1], [1, 1]]  # one nonzero weight leaves each input
    ops = {
        "full": count_ops(fo, inputs, [2, 2], outputs, np.array([5, 5])).synops.mean(),
        "cutoff": count_ops(fo, inputs, [2, 2], outputs, t_c).synops.mean(),
    }
    # full: A 5 input + 4 hidden spikes, B 3 + 3; cutoff: A to step 3 4 + 3 (h1's spike at step 3
    # counted at emission), B 6
    assert (ops["full"], ops["cutoff"]) == (7.5, 6.5)

    r = neurobench_metrics(net, x, labels, t_c, layer_inputs=inputs, outputs=outputs, lavacut_synops=ops)
    full, cut = r["full_T"], r["cutoff"]
    # 10 weights, 5 zero
    assert full["ConnectionSparsity"] == cut["ConnectionSparsity"] == 0.5
    # float32: weights 6 + 4, per layer current and voltage decay (2 x 2) and
    # SLAYER's current and voltage state buffers at their initial size (2 x 2)
    assert full["Footprint"] == cut["Footprint"] == 4 * (10 + 4 + 4)
    # A: layer 1 gets 5 input spikes along 1 nonzero synapse each, layer 2
    # the 4 hidden spikes (all inside T after the one-step delay): 9; B: 3 + 3
    assert full["SynapticOperations"]["Effective_ACs"] == 7.5
    assert full["SynapticOperations"]["Effective_MACs"] == 0
    assert full["SynapticOperations"]["Dense"] == (3 * 2 + 2 * 2) * 5
    # A cut at 3: layer 1 4 spikes, layer 2 sees h0 at 1, 2 (h1 at 2 arrives at 3): 6; B 6
    assert cut["SynapticOperations"]["Effective_ACs"] == 6.0
    assert cut["SynapticOperations"]["Dense"] == (10 * 3 + 10 * 5) / 2
    # spikes of both layers: full T, one batch: (4 + 3) + (3 + 3) of 40 -> 27/40;
    # cutoff: batch A (3 steps) 4 of 12, batch B 6 of 20, weighted by batch size
    assert full["ActivationSparsity"] == pytest.approx(27 / 40)
    assert cut["ActivationSparsity"] == pytest.approx(0.5 * 8 / 12 + 0.5 * 14 / 20)
    assert full["ClassificationAccuracy"] == cut["ClassificationAccuracy"] == 0.5
    assert cut["mean_cutoff_step"] == 4.0
    assert r["missing"] == {}

    cf, cc = r["cross_check"]["full_T"], r["cross_check"]["cutoff"]
    assert r["cross_check"]["fan_outs_match_neurobench"]
    # full T: no spike is delayed past T, so lavacut and NeuroBench agree exactly
    assert cf["lavacut_synops"] == cf["neurobench_Effective_ACs"] == 7.5
    assert cf["relative_difference"] == 0.0 and cf["agree_within_1pct"] and cf["within_1pct"]
    assert cf["explained"] == {"synaptic_delays": 0.0, "not_seen_by_neurobench": 0.0, "lavacut_recounted": 7.5}
    # cutoff: the only difference is A's h1 spike at step 3 (t_c), counted by lavacut at emission and
    # delivered after the cut; the recount on the delayed inputs equals NeuroBench's
    assert cc["explained"] == {"synaptic_delays": 0.5, "not_seen_by_neurobench": 0.0, "lavacut_recounted": 6.0}
    assert cc["lavacut_synops"] - cc["explained"]["synaptic_delays"] == cc["neurobench_Effective_ACs"]
    assert cc["recounted_relative_difference"] == 0.0 and cc["within_1pct"]
    assert cc["relative_difference"] == pytest.approx(0.5 / 6.5) and not cc["agree_within_1pct"]


def test_without_labels_accuracy_is_missing():
    from lavacut.measure.neurobench import neurobench_metrics

    r = neurobench_metrics(_relay_net(), _frames(), None, np.array([5, 5]))
    assert "ClassificationAccuracy" in r["missing"] and "ClassificationAccuracy" not in r["full_T"]
    assert r["full_T"]["SynapticOperations"]["Effective_ACs"] == 7.5 and "cross_check" not in r


@pytest.mark.slow
def test_evaluate_reports_neurobench(tmp_path):
    from pathlib import Path

    from lavacut.pipelines.evaluate import evaluate_export
    from lavacut.pipelines.run import RunRequest

    export = Path(__file__).resolve().parents[2] / "netx_exports" / "embedded_dense.net"
    rep = evaluate_export(RunRequest(export, split="test", samples=24), progress=False, with_sweeps=False)
    nb = rep["neurobench"]
    assert "error" not in nb, nb
    for part in ("full_T", "cutoff"):
        assert {
            "Footprint",
            "ConnectionSparsity",
            "ActivationSparsity",
            "SynapticOperations",
            "ClassificationAccuracy",
        } <= set(nb[part])
        cc = nb["cross_check"][part]
        assert cc["within_1pct"] and cc["explained"]["not_seen_by_neurobench"] == 0.0
        key = "synops_full_mean" if part == "full_T" else "synops_cutoff_mean"
        assert cc["lavacut_synops"] == rep["operations"][key]
        # both count nonzero weights: what is left is the one-step synaptic delay
        assert cc["lavacut_synops"] - cc["explained"]["synaptic_delays"] == pytest.approx(
            cc["neurobench_Effective_ACs"], rel=0.01
        )
    assert nb["cross_check"]["fan_outs_match_neurobench"]
    assert nb["cross_check"]["full_T"]["agree_within_1pct"]
    assert nb["cutoff"]["ClassificationAccuracy"] == pytest.approx(rep["accuracy_cutoff"], abs=1e-6)
    ops = rep["operations"]
    lo, hi = ops["energy_uj_loihi2_range_cutoff_mean"]
    assert lo < hi == pytest.approx(ops["energy_uj_cutoff_mean"]) and ops["energy_figures"]["loihi2"]["source"]


def test_energy_figures_and_loihi2_range():
    from lavacut.cutoff.synops import ENERGY_FIGURES, ENERGY_SOURCE, count_ops

    x = np.zeros((1, 2, 4))
    x[0, 0, :2] = 1
    s = np.zeros((1, 3, 4))
    s[0, 1, 1] = 1
    ops = count_ops([np.array([3.0, 3.0])], [x], [3], [s], np.array([4]))
    loihi = (2 * 3 * 23.6 + (12 - 1) * 52.0 + 1 * 81.0) * 1e-6
    assert ops.energy_uj[0] == pytest.approx(loihi)
    lo, hi = ops.energy_uj_loihi2
    assert (lo[0], hi[0]) == (pytest.approx(0.25 * loihi), pytest.approx(loihi))
    assert ENERGY_FIGURES["loihi"]["published"] and not ENERGY_FIGURES["loihi2"]["published"]
    assert ENERGY_FIGURES["loihi2"]["synop_pj"] == [pytest.approx(5.9), 23.6]
    assert "Davies" in ENERGY_FIGURES["loihi"]["source"] and "unpublished" in ENERGY_SOURCE
