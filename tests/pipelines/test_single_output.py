"""Networks with one output, and outputs that never say anything: no stop
rule may invent savings. A one-output network runs fixed T under every
rule (said once, recorded in the report's ``cutoff``, no "x fewer"); an
adaptive rule never stops before Y(t) holds a decision (issue 23: every
sample of such a network stopped at t = 1 with no decision and the summary
printed "50x fewer timesteps")."""

import json

import numpy as np
import pytest
from lavacut_testing import run_cli, write_netx

from lavacut.cutoff.rules import RULES, Confidence, Conformal, Entropy, FixedT, TopKGap, applicable_rule, cutoff
from lavacut.cutoff.metrics import summarise

T = 12
CUBA = {"type": "CUBA", "iDecay": 1024, "vDecay": 512, "vThMant": 80, "refDelay": 1, "gradedSpike": False}


def _one_output_net(tmp_path):
    """Two inputs -> one CUBA LIF neuron (the smallest NIR-style graph)."""
    return write_netx(
        tmp_path / "two_neuron.net",
        [
            {
                "type": "dense",
                "shape": np.array([1]),
                "inFeatures": 2,
                "outFeatures": 1,
                "weight": np.array([[90.0, 40.0]]),
                "neuron": CUBA,
            }
        ],
    )


def _frames(tmp_path, n=4, seed=0, labels=True):
    rng = np.random.default_rng(seed)
    frames = (rng.random((n, 2, T)) < 0.5).astype(np.uint8)
    path = tmp_path / ("frames.npz" if labels else "frames.npy")
    if labels:
        np.savez(path, frames=frames, labels=np.zeros(n, np.int64))
    else:
        np.save(path, frames)
    return path


def test_every_adaptive_rule_needs_two_classes_and_falls_back_to_fixed_T():
    for name, cls in RULES.items():
        if name == "fixed":
            continue
        rule, note = applicable_rule(cls, 1)
        assert isinstance(rule, FixedT) and rule.t_stop is None
        assert note.startswith("fixed T: the network has 1 output, no stop rule applies")
    rule = Confidence(eps=0.1)
    assert applicable_rule(rule, 2) == (rule, None)


def test_a_silent_output_runs_to_T_under_every_adaptive_rule():
    """All-zero counts: a softmax over K = 2 equal scores is 0.5 > 1 - eps
    for eps = 0.6: on the code before issue 23 it stopped at t = 1 with no
    decision. (A negative Top-K beta, which did the same, is now refused as
    malformed: tests/export/test_validate.py.)"""
    silent = np.zeros((3, 2, T), np.uint8)
    late = silent.copy()
    late[:, 0, 7:] = 1  # the output speaks from step 8 on
    for rule in (Confidence(eps=0.6), Entropy(threshold=1.0), TopKGap(beta=np.zeros(T)), Conformal(q=np.full(T, 0.5))):
        t_c, pred = cutoff(rule, silent)
        assert t_c.tolist() == [T] * 3 and pred.tolist() == [-1] * 3, rule.name
        assert rule.stops(np.zeros(2), 1) is False
        t_c, pred = cutoff(rule, late)
        assert t_c.tolist() == [8] * 3 and pred.tolist() == [0] * 3, rule.name
        rep = summarise(rule, silent, np.zeros(3, np.int64))
        assert rep["timestep_ratio"] == 1.0 and rep["n_decided"] == 0
    # a static truncation stops where it is told, decision or not
    assert cutoff(FixedT(t_stop=3), silent)[0].tolist() == [3] * 3


def test_a_one_output_export_resolves_every_policy_to_fixed_T_and_prints_no_ratio(tmp_path, capsys):
    from lavacut.cutoff.metrics import termination_summary
    from lavacut.export.artifact import Export
    from lavacut.measure.reports import print_termination_summary

    export = Export.open(_one_output_net(tmp_path))
    assert export.num_classes == 1 and export.readout == "spike counts"
    for policy in ("topk", "confidence", "entropy", "conformal"):  # none calibrated: no parameters needed
        rule = export.rule(policy, None, T)
        assert isinstance(rule, FixedT) and export.cutoff_note.startswith("fixed T: the network has 1 output")
    assert isinstance(export.rule("fixed", None, T), FixedT) and export.cutoff_note is None
    export.rule("confidence", {"eps": 0.2}, T)
    t_c = np.full(4, T)
    rep = {
        **termination_summary(FixedT(), T, t_c, np.zeros(4, int), np.zeros(4, int), None),
        "cutoff": export.cutoff_note,
    }
    print_termination_summary(rep)
    out = capsys.readouterr().out
    assert out.count("no stop rule applies") == 1 and "fewer" not in out


@pytest.mark.slow
def test_run_of_a_one_output_network_is_fixed_T_said_once_without_a_ratio(tmp_path):
    net = _one_output_net(tmp_path)
    data = _frames(tmp_path, labels=False)
    for policy, extra in (("confidence", ["--param", "eps=0.2"]), ("topk", [])):
        report = tmp_path / f"{policy}.json"
        r = run_cli("run", net, "--input", data, "--policy", policy, *extra, "--report", report)
        out = r.stdout
        assert out.count("fixed T: the network has 1 output, no stop rule applies") == 1, out
        assert "x fewer" not in out and "not calibrated" not in r.stderr
        rep = json.loads(report.read_text())
        assert rep["cutoff"].startswith("fixed T: the network has 1 output, no stop rule applies")
        assert rep["policy"] == "fixed" and rep["readout"] == "spike counts"
        assert [s["t_c"] for s in rep["per_sample"]] == [T] * 4
        assert rep["timestep_ratio"] == 1.0


@pytest.mark.slow
def test_evaluate_of_a_one_output_network_has_no_sweeps_and_no_guarantees(tmp_path):
    net = _one_output_net(tmp_path)
    data = _frames(tmp_path)
    report = tmp_path / "eval.json"
    r = run_cli("evaluate", net, "--input", data, "--policy", "conformal", "--no-neurobench", "--report", report)
    assert r.stdout.count("no stop rule applies") == 1 and "x fewer" not in r.stdout
    rep = json.loads(report.read_text())
    assert rep["cutoff"].startswith("fixed T") and rep["guarantees"] is None and "sweeps" not in rep
    assert rep["mean_t_cutoff"] == T


def test_calibrating_a_one_output_network_is_refused_with_the_reason(tmp_path):
    r = run_cli("calibrate", _one_output_net(tmp_path), "--input", _frames(tmp_path), check=False)
    assert r.returncode == 2 and "the network has 1 output; no stop rule applies" in r.stderr, r.stderr


def test_uncalibrated_topk_says_how_to_calibrate(tmp_path):
    net = write_netx(
        tmp_path / "two_out.net",
        [{"type": "dense", "shape": np.array([2]), "weight": np.array([[90.0, 40.0], [40.0, 90.0]]), "neuron": CUBA}],
    )
    data = _frames(tmp_path, labels=False)
    for policy, param in (("topk", "beta"), ("conformal", "q")):
        r = run_cli("run", net, "--input", data, "--policy", policy, "--report", tmp_path / "r.json", check=False)
        assert r.returncode == 2
        assert (
            f"not calibrated for {policy}: run 'lavacut calibrate {net} --input ...' (or give --param {param}="
            in r.stderr
        ), r.stderr
        assert "non-empty 1-D" not in r.stderr


@pytest.mark.slow
def test_evaluate_skips_the_sweep_calibration_pass_when_asked(tmp_path):
    """--no-sweeps: no calibration pass over the training split (announced
    on stderr when it runs; that pass takes minutes on the embedded set)."""
    r = run_cli(
        "evaluate",
        "embedded_dense",
        "--samples",
        "6",
        "--no-neurobench",
        "--no-sweeps",
        "--report",
        tmp_path / "b.json",
    )
    assert "calibrating every stop rule" not in r.stderr and "calibration pass" not in r.stderr
    assert "sweeps" not in json.loads((tmp_path / "b.json").read_text())
