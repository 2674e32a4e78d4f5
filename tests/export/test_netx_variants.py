"""The third round of hostile networks: layer and neuron variants stock
``lava.lib.dl.netx.hdf5.Network`` accepts, and fields that contradict the
weights, through the real ``lavacut`` entry point on 2 embedded samples.
Each file either runs and ``verify`` finds Lava equal to SLAYER spike for
spike, or inspect, check, run and verify all refuse it naming the layer and
field (inspect and check exit 1, run and verify 2); never exit 3, never a
number computed from a field netx ignores."""

from __future__ import annotations

import json

import numpy as np
import pytest
from lavacut_testing import run_cli, write_netx

N_IN = 2 * 34 * 34  # the embedded data's (P, H, W) per step
CUBA = {"type": b"CUBA", "iDecay": 1024, "vDecay": 123, "vThMant": 80, "refDelay": 1, "gradedSpike": False}
EMBEDDED = ("--set", "data.dataset=embedded", "--samples", "2")


def _inp(shape):
    return {"type": "input", "shape": np.array(shape)}


def _dense(n_out, n_in, seed=0, neuron=None, **fields):
    w = np.random.default_rng(seed).integers(-20, 21, (n_out, n_in)).astype(np.float32)
    d = {"type": "dense", "shape": np.array([n_out]), "inFeatures": n_in, "outFeatures": n_out, "weight": w}
    if neuron is not False:
        d["neuron"] = {**CUBA, **(neuron or {})}
    return {**d, **fields}


def _conv_net(k=(3, 3), s=(2, 2), p=(0, 0), d=(1, 1), g=1, cout=4, hw=None, **fields):
    """input (2, 34, 34) -> conv (kernel k, stride s, padding p, dilation
    d, groups g) -> flatten -> dense 10; ``fields`` replace the conv
    layer's datasets (None drops one)."""
    out = [(34 + 2 * pi - di * (ki - 1) - 1) // si + 1 for ki, si, pi, di in zip(k, s, p, d)]
    hw = hw or out
    w = (np.random.default_rng(0).integers(-8, 9, (cout, 2 // g, *k)) * 2).astype(np.float32)
    conv = {
        "type": "conv",
        "shape": np.array([cout, *hw]),
        "inChannels": 2,
        "outChannels": cout,
        "kernelSize": np.array(k),
        "stride": np.array(s),
        "padding": np.array(p),
        "dilation": np.array(d),
        "groups": g,
        "weight": w,
        "neuron": CUBA,
        **fields,
    }
    n = cout * out[0] * out[1]
    return [
        _inp([2, 34, 34]),
        {k: v for k, v in conv.items() if v is not None},
        {"type": "flatten", "shape": np.array([n])},
        _dense(10, n, seed=1),
    ]


def _cli(*args):
    r = run_cli(*args, check=False)
    assert r.returncode != 3 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return r


#: variants netx builds that lavacut runs: verify must find Lava == SLAYER (the average and voltage
#: readouts: tests/runtime/test_layouts.py, tests/runtime/test_voltage_readout.py)
RUNS = {
    # groups 2, dilation 2, padding 1, stride 1, a bias per channel, a 3x5 kernel
    "conv_groups_dilation_padding_bias": _conv_net(
        k=(3, 5), s=(1, 2), p=(1, 0), d=(2, 1), g=2, bias=np.array([3.0, -2.0, 0.0, 5.0])
    ),
    # per-synapse (2-D) axonal delays, a per-neuron bias, LOIHI neurons (netx runs them as CUBA)
    "dense_synapse_delays_bias_loihi": [
        _inp([N_IN]),
        _dense(
            16,
            N_IN,
            neuron={"type": b"LOIHI"},
            delay=np.random.default_rng(2).integers(0, 4, (16, N_IN)).astype(np.float32),
            bias=np.arange(16, dtype=np.float32),
        ),
        _dense(10, 16, delay=np.arange(16, dtype=np.float32) % 3),  # per-input delays
    ],
    # a recurrent layer with odd weight mantissas: the rebuild rounded them to even ones (0/2 identical)
    "dense_rec_odd_weights": [
        _inp([N_IN]),
        _dense(
            16,
            N_IN,
            type="dense_rec",
            weight_rec=np.random.default_rng(3).integers(-10, 10, (16, 16)).astype(np.float32),
        ),
        _dense(10, 16),
    ],
}


@pytest.mark.parametrize("name", list(RUNS))
def test_a_variant_netx_builds_runs_and_verifies_spike_for_spike(tmp_path, name):
    path = write_netx(tmp_path / f"{name}.net", RUNS[name])
    r = _cli("inspect", path)
    assert r.returncode == 0 and r.stdout.rstrip().endswith("would run: yes"), r.stdout
    assert _cli("check", path, "--report", tmp_path / "check.json").returncode == 0
    r = _cli("verify", path, *EMBEDDED, "--report", tmp_path / "verify.json")
    assert r.returncode == 0 and "2/2 samples identical" in r.stdout, r.stdout + r.stderr


#: files every command refuses: (layers, the words naming layer and field); structure problems of the validator
REFUSED = {
    "conv_kernelSize_contradicts_weight": (
        _conv_net(kernelSize=np.array([5, 5])),
        "layer/1/kernelSize: [5, 5], but the weight's kernels are (3, 3) (netx ignores kernelSize and uses the weight)",
    ),
    "conv_inChannels_contradicts_weight": (
        _conv_net(inChannels=3),
        "layer/1/inChannels: 3, but the weight reads (x groups) 2 (netx ignores inChannels",
    ),
    "conv_shape_not_what_the_kernel_makes": (
        _conv_net(hw=(15, 15)),
        "layer/1/shape: [4, 15, 15], but a 3x3 kernel (stride (2, 2), padding (0, 0), dilation (1, 1)) over "
        "the layer before of shape [2, 34, 34] makes [4, 16, 16]",
    ),
    "conv_groups_zero": (_conv_net(groups=0), "layer/1/groups: 0 does not divide the weight's 4 output channels"),
    "conv_stride_zero": (_conv_net(stride=np.array([0, 0])), "layer/1/stride: [0, 0], not positive"),
    "conv_without_groups": (_conv_net(groups=None), "layer/1/groups: missing (netx reads stride, padding, dilation"),
    "dense_inFeatures_contradicts_weight": (
        [_inp([N_IN]), _dense(16, N_IN, inFeatures=100), _dense(10, 16)],
        "layer/1/inFeatures: 100, but the weight (16, 2312) has 2312 (netx ignores inFeatures and uses the weight)",
    ),
    "flatten_shape_contradicts_the_layer_before": (
        [*_conv_net()[:2], {"type": "flatten", "shape": np.array([999])}, _conv_net()[3]],
        "layer/2/shape: [999], but it flattens the layer before of shape [4, 16, 16] (1024 values)",
    ),
    "neuron_group_without_type": (
        [_inp([N_IN]), _dense(16, N_IN), {**_dense(10, 16, neuron=False), "neuron": {"vThMant": 80}}],
        "layer/2/neuron: no 'type' dataset (netx reads the neuron type)",
    ),
    "dense_outFeatures_contradicts_shape": (
        [_inp([N_IN]), _dense(16, N_IN), _dense(10, 16, outFeatures=12)],
        "layer/2/outFeatures: 12, but the weight (10, 16) has 10",
    ),
}

#: layers lavacut cannot run exactly (netx builds them, or fails in its own words): inspect's
#: CANNOT, run's and verify's refusal; check passes the Loihi 2 rules and says so, or fails with these words
CANNOT = {
    "conv_after_a_flat_input": (
        [_inp([N_IN]), *_conv_net()[1:]],
        "a conv layer after a flat input layer of shape (2312,) (netx needs (C, H, W))",
        "error [layer_type] layer 1: a conv layer without a (C, H, W) input before it",
    ),
    "input_weight_without_input_neurons": (
        [{**_inp([N_IN]), "weight": 200, "bias": 50}, _dense(10, N_IN)],
        "an input weight/bias without input neurons: netx ignores them and feeds the frames unscaled",
        None,
    ),
    "refractory_period": (
        [_inp([N_IN]), _dense(16, N_IN, neuron={"refDelay": 5}), _dense(10, 16)],
        "neuron refDelay 5: netx ignores it",
        None,
    ),
    "sigma_delta": (
        [_inp([N_IN]), _dense(16, N_IN, neuron={"type": b"SDNN"}), _dense(10, 16)],
        "neuron type SDNN: sigma-delta neurons send graded messages",
        None,
    ),
    "graded_flag_without_message_bits": (
        [_inp([N_IN]), _dense(16, N_IN, neuron={"gradedSpike": True}), _dense(10, 16)],
        "gradedSpike is set but messageBits is 0, so netx would send binary spikes",
        None,
    ),
    "graded_spikes": (
        [_inp([N_IN]), _dense(16, N_IN, neuron={"messageBits": 3}), _dense(10, 16)],
        "graded spikes (gradedSpike / messageBits)",
        None,
    ),
}


@pytest.mark.parametrize("name", list(REFUSED) + list(CANNOT))
def test_a_variant_is_refused_alike_by_inspect_check_run_and_verify(tmp_path, name):
    """One answer naming the layer and field: inspect's verdict and exit
    status (1: 'would run: no'), check's (a PROBLEM fails it; a layer only
    lavacut cannot run passes the Loihi 2 rules and says lavacut refuses
    it), run's and verify's refusal (2), before any Lava process starts."""
    layers, words, check_words = REFUSED[name] + ("",) if name in REFUSED else CANNOT[name]
    at = 0 if name.startswith("input") else 1  # the layer a CANNOT names (REFUSED words name theirs)
    path = write_netx(tmp_path / f"{name}.net", layers)
    before = path.read_bytes()
    r = _cli("inspect", path)
    assert r.returncode == 1 and words in r.stdout and r.stdout.rstrip().splitlines()[-1].startswith("would run: no")
    r = _cli("check", path, "--report", tmp_path / "check.json")
    if name in REFUSED:
        assert r.returncode == 1 and f"error [structure] {words}" in r.stdout, r.stdout
    elif check_words:
        assert r.returncode == 1 and check_words in r.stdout, r.stdout
    else:
        said = [line for line in r.stdout.splitlines() if line.startswith(f"lavacut run / verify: no (layer {at} (")]
        assert r.returncode == 0 and len(said) == 1 and words in said[0], r.stdout
    for cmd in ("run", "verify"):
        r = _cli(cmd, path, *EMBEDDED, "--report", tmp_path / f"{cmd}.json")
        errors = [line for line in r.stderr.splitlines() if "error" in line]
        assert r.returncode == 2 and len(errors) == 1 and errors[0].startswith(f"lavacut {cmd}: error: {path}: ")
        assert words in errors[0] and (name in REFUSED or f"layer {at} has type" in errors[0])
        assert not (tmp_path / f"{cmd}.json").exists()
    assert path.read_bytes() == before


def test_outputs_beyond_the_data_classes_are_said_once_and_reported(tmp_path):
    """20 outputs on the 10 classes of the embedded data: outputs 10..19
    stand for no label; the run says so once and its report counts the
    decisions that fell there (each scored wrong)."""
    path = write_netx(tmp_path / "wide.net", [_inp([N_IN]), _dense(16, N_IN), _dense(20, 16, seed=1)])
    report = tmp_path / "run.json"
    r = _cli("run", path, *EMBEDDED, "--report", report)
    assert r.returncode == 0, r.stderr
    words = "the network has 20 outputs but the data 10 classes: outputs 10..19 stand for no label"
    assert r.stdout.count(words) == 1, r.stdout
    rep = json.loads(report.read_text())
    extra = rep["unlabelled_outputs"]
    preds = [s["pred"] for s in rep["per_sample"]]
    assert (extra["outputs"], extra["classes"]) == (20, 10) and extra["note"].startswith(words)
    assert extra["decided_cutoff"] == sum(p >= 10 for p in preds)
    assert extra["decided_full"] == sum(s["pred_full"] >= 10 for s in rep["per_sample"])
    # every decision on an unlabelled output is scored wrong
    assert rep["accuracy_cutoff"] <= 1 - extra["decided_cutoff"] / len(preds)
