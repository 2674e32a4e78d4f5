"""The stop-rule registry: every place that lists, validates, calibrates or
sweeps the rules reads it, so a new rule is one module (docs/extending.md).

The worked example: tests/cutoff/stop_rule_max_count.py defines a rule and
registers it; no other file knows it, yet it is a --policy choice, a valid
cutoff.policy, calibrated by calibrate_all, swept by metrics.sweeps and
rebuilt from its stored parameters.
"""

import importlib
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from lavacut.cli import build_parser
from lavacut.config import ConfigError, load_config
from lavacut.cutoff.calibrate import calibrate_all
from lavacut.cutoff.rules.calibration import calibrate_temperature
from lavacut.cutoff.metrics import guarantees, sweeps
from lavacut.cutoff.rules import (
    RULES,
    StopRule,
    cutoff,
    per_step_predictions,
    register,
    rule_from_params,
    rule_names,
    unregister,
)

BUILT_IN = ["topk", "confidence", "entropy", "conformal", "fixed"]


@pytest.fixture
def max_count():
    """The example rule registered for one test, then removed: its import
    registers it (once a session; registering the same class again is a
    no-op), as importing any rule module does."""
    rule = importlib.import_module("stop_rule_max_count").MaxCount
    register(rule)
    yield rule
    unregister("max-count")
    assert rule_names() == BUILT_IN


def _spikes(seed=5, N=200, K=6, T=16):
    """Output spikes whose true class fires more often; a held-out third."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, N)
    sp = (rng.random((N, K, T)) < 0.1).astype(np.int64)
    sp[np.arange(N), labels, :] += rng.random((N, T)) < 0.35
    hold = rng.random(N) < 0.35
    return sp, labels, hold


def test_built_in_rules_one_module_each_in_registry_order():
    assert rule_names() == BUILT_IN
    modules = {name: cls.__module__ for name, cls in RULES.items()}
    assert modules == {
        "topk": "lavacut.cutoff.rules.topk",
        "confidence": "lavacut.cutoff.rules.confidence",
        "entropy": "lavacut.cutoff.rules.entropy",
        "conformal": "lavacut.cutoff.rules.conformal",
        "fixed": "lavacut.cutoff.rules.fixed",
    }
    # the Top-K eps grid is stated once: the sweep's and choose_topk_eps's
    from lavacut.cutoff.rules.topk import EPS_GRID

    assert RULES["topk"].sweep_grid is EPS_GRID


def test_register_refuses_what_would_break_the_registry():
    @dataclass
    class Other(StopRule):
        name: ClassVar[str] = "topk"

    with pytest.raises(ValueError, match="'topk' is taken"):
        register(Other)

    @dataclass
    class Nameless(StopRule):
        pass

    with pytest.raises(ValueError, match="needs its own policy name"):
        register(Nameless)

    class NotADataclass(StopRule):
        name: ClassVar[str] = "plain"

    with pytest.raises(TypeError, match="not a StopRule dataclass"):
        register(NotADataclass)

    @dataclass
    class GridOnly(StopRule):
        name: ClassVar[str] = "grid-only"
        sweep_grid: ClassVar[tuple] = (1, 2)

    with pytest.raises(ValueError, match="no sweep_option"):
        register(GridOnly)
    assert rule_names() == BUILT_IN


def test_a_new_rule_module_reaches_cli_config_calibration_and_sweeps(max_count):
    assert rule_names() == BUILT_IN + ["max-count"]

    # the CLI's --policy choices
    args = build_parser().parse_args(["run", "net.net", "--policy", "max-count"])
    assert args.policy == "max-count"
    unregister("max-count")
    with pytest.raises(SystemExit):  # built now, the parser no longer offers it
        build_parser().parse_args(["run", "net.net", "--policy", "max-count"])
    register(max_count)

    # the config's cutoff.policy
    assert load_config(None, ["cutoff.policy=max-count"]).cutoff.policy == "max-count"
    with pytest.raises(ConfigError, match="cutoff.policy must be topk, .*conformal, fixed or max-count, got 'nope'"):
        load_config(None, ["cutoff.policy=nope"])

    # calibrate_all: the built-in rules exactly as without it, then the new one
    sp, labels, hold = _spikes()
    with_it = calibrate_all(sp, labels, eps=0.05, holdout=hold, holdout_spikes=sp[hold])
    assert list(with_it) == ["topk", "confidence", "entropy", "conformal", "max-count"]
    full = per_step_predictions(sp)[:, -1]
    flips = {c: float(np.mean(cutoff(max_count(count=c), sp)[1] != full)) for c in max_count.sweep_grid}
    expected = min([c for c, f in flips.items() if f <= 0.05], default=13)
    assert with_it["max-count"] == max_count(count=expected)
    assert 1 < expected < 13  # the data makes the calibration choose, not a grid end
    # an option only the new rule knows passes through calibrate_all
    assert calibrate_all(sp, labels, max_count=4)["max-count"].count == 4
    unregister("max-count")
    without = calibrate_all(sp, labels, eps=0.05, holdout=hold, holdout_spikes=sp[hold])
    register(max_count)
    assert {k: v.params() for k, v in without.items()} == {k: with_it[k].params() for k in without}

    # its stored parameters rebuild it (as the Lava monitor and an export's metadata do)
    stored = with_it["max-count"].params()
    assert stored == {"policy": "max-count", "count": expected}
    assert rule_from_params(stored) == with_it["max-count"]
    with pytest.raises(ValueError, match="positive whole number"):
        rule_from_params({"policy": "max-count", "count": 0})

    # the sweeps: a point per grid value, each the rule applied to the test spikes
    test_sp, test_labels = sp[::-1], labels[::-1]
    temp = calibrate_temperature(sp[~hold], labels[~hold])
    sw = sweeps(sp, labels, test_sp, test_labels, temp, holdout=hold, holdout_spikes=sp[hold])
    assert list(sw) == ["topk", "confidence", "entropy", "conformal", "fixed", "max-count"]
    for point, c in zip(sw["max-count"], max_count.sweep_grid, strict=True):
        t_c, pred = cutoff(max_count(count=c), test_sp)
        assert point == {"param": c, "accuracy": float(np.mean(pred == test_labels)), "mean_t": float(t_c.mean())}
    assert sw["max-count"][0]["mean_t"] < sw["max-count"][-1]["mean_t"]

    # no calibration target: reports list no guarantee for it
    assert [g["rule"] for g in guarantees(with_it, test_sp, test_labels)] == ["topk", "conformal"]


@pytest.mark.slow
def test_a_new_rule_module_is_calibrated_into_an_export_and_runs_in_both_engines(max_count, tmp_path):
    """The pipelines see the example rule too: `calibrate` stores it in the
    export (as the default policy), the torch engine evaluates it from the
    stored parameters, and the Lava monitor rebuilds it and stops where torch does."""
    import shutil

    from lavacut.pipelines.calibrate import calibrate_export
    from lavacut.pipelines.evaluate import evaluate_export
    from lavacut.pipelines.run import RunRequest
    from lavacut.shipped import shipped_dir

    net = tmp_path / "embedded_dense.net"
    shutil.copyfile(shipped_dir("netx_exports") / "embedded_dense.net", net)
    lines = calibrate_export(RunRequest(net), eps=0.02, default_policy="max-count", progress=False)
    assert any(line.startswith("  max-count: count=") for line in lines)
    assert lines[-1].endswith("(default policy: max-count)")

    torch_rep = evaluate_export(
        RunRequest(net, split="test", samples=40), engine="torch", with_sweeps=False, neurobench=False, progress=False
    )
    assert torch_rep["policy"] == "max-count" and set(torch_rep["policy_params"]) == {"policy", "count"}
    lava_rep = evaluate_export(
        RunRequest(net, split="test", samples=6),
        engine="lava",
        mode="halt",
        backend="cpu",
        with_sweeps=False,
        neurobench=False,
        progress=False,
    )
    assert lava_rep["policy_params"] == torch_rep["policy_params"] and lava_rep["engines_agree"] is True


def test_what_a_rule_cannot_run_without_and_stale_thresholds():
    """What an export asks of a rule before running it: its calibrated
    thresholds (and a temperature on voltages), and whether new parameters
    would run thresholds calibrated for another target."""
    from lavacut.cutoff.rules import Confidence, Conformal, FixedT, TopKGap

    assert TopKGap.required() == TopKGap.required(voltage_readout=True) == ("beta",)
    assert Conformal.required() == ("q",) and Conformal.required(True) == ("q", "temperature")
    assert Confidence.required() == () and Confidence.required(True) == ("temperature",)
    assert FixedT.required(True) == ()
    stored = TopKGap(beta=[1.0, 2.0], eps=0.02).params()
    assert TopKGap.stale_thresholds(stored, {"eps": 0.05}) == ("eps", "beta")
    assert TopKGap.stale_thresholds(stored, {"eps": 0.05, "beta": [0.0, 0.0]}) is None
    assert TopKGap.stale_thresholds(stored, {"eps": 0.02}) is None
    stored = Conformal(q=[1.0, 1.0], alpha=0.1, checkpoints=[2]).params()
    assert Conformal.stale_thresholds(stored, {"checkpoints": [1, 2]}) == ("checkpoints", "q")
    assert Conformal.stale_thresholds(stored, {"temperature": 2.0}) is None
