"""Top-K's eps may be 0 (docs/method.md sweeps 0.00..0.09); the confidence
rule's eps is a margin that must be > 0: it follows Top-K's eps as it always
did, its own default when that is 0, or its own option; so ``lavacut
calibrate --eps 0`` calibrates every rule, and an eps outside [0, 1) is
refused as bad usage."""

import math
import shutil

import numpy as np
import pytest
from lavacut_testing import DENSE, run_cli

from lavacut.cutoff.calibrate import calibrate_all
from lavacut.cutoff.rules import Confidence, TopKGap, rule_from_params
from lavacut.export.validate import read_metadata


def _spikes(n=120, k=3, T=10, seed=0):
    """Class c's output neuron fires at 0.6, the others at 0.3."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    rate = np.where(np.eye(k, dtype=bool)[labels], 0.6, 0.3)
    return (rng.random((n, k, T)) < rate[..., None]).astype(np.float32), labels


def test_calibrate_all_keeps_each_rules_own_options():
    sp, labels = _spikes()
    rules = calibrate_all(sp, labels, eps=0.0)
    assert rules["topk"].eps == 0.0
    assert rules["confidence"].eps == Confidence.eps  # its own default, not Top-K's 0
    assert rules["confidence"].temperature == rules["entropy"].temperature
    # a Top-K eps above 0 is the confidence margin too (the recorded results' calibration); its own option wins
    assert calibrate_all(sp, labels, eps=0.03)["confidence"].eps == 0.03
    other = calibrate_all(sp, labels, eps=0.0, confidence_eps=0.2)
    assert other["confidence"].eps == 0.2 and np.array_equal(other["topk"].beta, rules["topk"].beta)
    with pytest.raises(ValueError, match=r"confidence: eps must be in \(0, 1\), got 0"):
        calibrate_all(sp, labels, confidence_eps=0.0)


@pytest.mark.slow
def test_cli_calibrate_eps_0_stores_sane_rules(tmp_path):
    net = tmp_path / "dense.net"
    shutil.copyfile(DENSE, net)
    r = run_cli("calibrate", net, "--eps", "0", "--quiet", check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    meta = read_metadata(net)
    assert meta["calibration"]["eps"] == 0.0
    rules = {name: rule_from_params(p) for name, p in meta["cutoff"].items()}
    assert set(rules) >= {"topk", "confidence", "entropy", "conformal"}
    topk, conf = rules["topk"], rules["confidence"]
    assert isinstance(topk, TopKGap) and topk.eps == 0.0
    T = len(topk.beta)
    assert T > 1 and np.all(np.isfinite(topk.beta)) and np.all(topk.beta >= 0)
    assert isinstance(conf, Confidence) and conf.eps == Confidence.eps and math.isfinite(conf.temperature)
    assert "confidence: eps=0.05" in r.stdout


@pytest.mark.parametrize(
    "eps, message",
    [("1", "must be in [0, 1), got 1"), ("-0.1", "must be in [0, 1), got -0.1"), ("nan", "must be in [0, 1), got nan")],
)
def test_cli_calibrate_refuses_eps_outside_0_1(tmp_path, eps, message):
    r = run_cli("calibrate", tmp_path / "absent.net", "--eps", eps, check=False)
    assert r.returncode == 2
    assert f"argument --eps: {message}" in r.stderr
