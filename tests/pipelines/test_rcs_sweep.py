"""``lavacut rcs-sweep``: the timesteps at equal accuracy drop, their spread
over seeds and the verdicts on hand-made runs; the argument checks; and
(slow) a tiny real sweep end to end, resumed."""

import json
import math

import pytest

from lavacut.cutoff.rules.topk import EPS_GRID
from lavacut.measure.rcs_stats import aggregate, compare, network_verdicts
from lavacut.pipelines.rcs_sweep import (
    check_settings,
    run_label,
    run_record,
    summarise_sweep,
    sweep_overrides,
)
from lavacut.util import LavacutError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def raw(net, alpha, seed, t, acc=0.96, T=30):
    """A run whose Top-K sweep meets a 0.3 pp drop at mean t (eps 0.02: one
    sample of 500 lost), not at t - 3 (1 pp lost); static T' 20 at 0.2 pp."""
    return {
        "network": net,
        "alpha": alpha,
        "seed": seed,
        "T": T,
        "n_test": 500,
        "accuracy_full": acc,
        "eps": 0.02,
        "accuracy_cutoff": acc - 0.002,
        "mean_t_cutoff": t,
        "T_prime": 20,
        "ratio_vs_static_truncation": 20 / t,
        "mean_oct": t - 2,
        "topk_sweep": [
            {"param": 0.0, "accuracy": acc, "mean_t": t + 4},
            {"param": 0.02, "accuracy": acc - 0.002, "mean_t": t},
            {"param": 0.05, "accuracy": acc - 0.01, "mean_t": t - 3},
        ],
        "fixed_sweep": [
            {"param": k, "accuracy": acc - (0.002 if k >= 20 else 0.05), "mean_t": float(k)} for k in range(1, T + 1)
        ],
    }


BASE = [raw("dense", 0.0, s, t) for s, t in enumerate([10.0, 10.5, 9.5])]  # mean 10, std 0.5


# ----------------------------------------------------------------------------- one run
def test_run_record_takes_the_fewest_timesteps_within_the_drop():
    r = run_record(raw("dense", 0.0, 0, 10.0), drop_pp=0.3)
    assert r["met_drop"] and r["note"] is None
    assert r["t_at_drop"] == 10.0 and r["eps_at_drop"] == 0.02 and r["drop_at_t_pp"] == pytest.approx(0.2)
    assert r["ratio_at_drop"] == pytest.approx(3.0)
    assert r["static_t_at_drop"] == 20 and r["ratio_vs_static_at_drop"] == pytest.approx(2.0)
    assert "fixed_sweep" not in r and len(r["topk_sweep"]) == 3
    # a looser drop admits the eps 0.05 point; a drop of exactly one sample counts despite rounding
    assert run_record(raw("dense", 0.0, 0, 10.0), drop_pp=1.0)["t_at_drop"] == 7.0
    assert run_record(raw("dense", 0.0, 0, 10.0), drop_pp=0.2)["t_at_drop"] == 10.0


def test_run_record_without_an_eps_within_the_drop_counts_full_T():
    r = raw("dense", 0.0, 0, 10.0)
    for p in r["topk_sweep"]:
        p["accuracy"] -= 0.01  # every eps, even 0, loses more than 0.3 pp
    rec = run_record(r, drop_pp=0.3)
    assert not rec["met_drop"] and rec["t_at_drop"] == 30.0 and rec["eps_at_drop"] is None
    assert rec["ratio_at_drop"] == 1.0 and "counted as full T" in rec["note"]
    agg = aggregate([rec, run_record(raw("dense", 0.0, 1, 10.0), 0.3)])[0]
    assert agg["runs_without_drop"] == 1 and agg["t_at_drop"]["mean"] == 20.0 and agg["t_at_drop"]["max"] == 30.0


# ----------------------------------------------------------------------------- aggregates and verdicts
def test_rcs_that_helps_by_welchs_t_test():
    runs = BASE + [raw("dense", 0.002, s, t, acc=0.962) for s, t in enumerate([7.0, 7.5, 6.5])]
    out = summarise_sweep(runs, drop_pp=0.3)
    a0, a2 = out["aggregates"]
    assert (a0["alpha"], a2["alpha"]) == (0.0, 0.002) and a0["seeds"] == [0, 1, 2]
    assert a0["t_at_drop"] == {
        "n": 3,
        "mean": 10.0,
        "std": pytest.approx(0.5),
        "min": 9.5,
        "max": 10.5,
        "values": [10.0, 10.5, 9.5],
    }
    assert a2["accuracy_full"]["mean"] == pytest.approx(0.962) and a2["accuracy_full"]["std"] == pytest.approx(0)
    assert a2["ratio_at_drop"]["mean"] == pytest.approx((30 / 7 + 30 / 7.5 + 30 / 6.5) / 3)
    (c,) = out["comparisons"]
    se = math.sqrt(0.25 / 3 + 0.25 / 3)
    assert c["diff_t_at_drop"] == pytest.approx(-3.0) and c["se_diff_t_at_drop"] == pytest.approx(se)
    # Welch: t = diff / se, dof (Welch-Satterthwaite) = 4 for equal spreads and sizes, two-sided p
    assert c["t"] == pytest.approx(-3.0 / se) and c["dof"] == pytest.approx(4.0) and c["verdict"] == "helps"
    scipy_stats = pytest.importorskip("scipy.stats")
    assert c["p"] == pytest.approx(2 * scipy_stats.t.cdf(-3.0 / se, 4)) and c["p"] < 0.05
    assert f"Welch t = {-3.0 / se:.2f}, dof 4.0, p = {c['p']:.3f}" in c["line"]
    assert c["diff_accuracy_full_pp"] == pytest.approx(0.2)
    assert c["line"].startswith(
        "RCS alpha 0.002 lowers the timesteps at <= 0.3 pp accuracy drop by 3.00 +- 0.41 on dense"
    )
    (v,) = out["verdicts"]
    assert v["supported_alpha"] == 0.002 and "supports RCS alpha 0.002" in v["line"]


def test_rcs_within_the_seed_spread_does_not_help():
    runs = BASE + [raw("dense", 0.001, s, t) for s, t in enumerate([9.8, 10.6, 9.3])]
    (c,) = compare(aggregate([run_record(r, 0.3) for r in runs]), 0.3)
    assert c["diff_t_at_drop"] == pytest.approx(-0.1) and c["p"] > 0.05
    assert c["verdict"] == "within the seed spread"
    assert c["line"].startswith("RCS alpha 0.001 does not help on dense: -0.10 +- 0.48 timesteps at <= 0.3 pp")
    assert "full-T accuracy +0.00 +- 0.00 pp" in c["line"]
    assert "within the seed spread" in c["line"]
    (v,) = network_verdicts([c], aggregate([run_record(r, 0.3) for r in runs]), 0.3)
    assert v["supported_alpha"] == 0.0 and "RCS does not help at any alpha swept (0.001)" in v["line"]


def test_a_difference_beyond_one_standard_error_is_not_yet_significant():
    """With 3 seeds a side, 2.4 standard errors (the old one-standard-error bar
    called it 'helps') give p = 0.07 under Welch's test: within the seed spread."""
    runs = BASE + [raw("dense", 0.002, s, t) for s, t in enumerate([9.0, 8.5, 9.5])]
    (c,) = compare(aggregate([run_record(r, 0.3) for r in runs]), 0.3)
    assert c["diff_t_at_drop"] < -c["se_diff_t_at_drop"] and 0.05 < c["p"] < 0.5
    assert c["verdict"] == "within the seed spread"


def test_rcs_that_costs_timesteps_and_one_that_helps_on_two_networks():
    runs = (
        BASE
        + [raw("dense", 0.005, s, t) for s, t in enumerate([13.0, 12.5, 13.5])]
        + [raw("conv", 0.0, s, t) for s, t in enumerate([15.0, 15.2, 14.8])]
        + [raw("conv", 0.005, s, t) for s, t in enumerate([12.0, 12.2, 11.8])]
    )
    out = summarise_sweep(runs, 0.3)
    verdicts = {c["network"]: c["verdict"] for c in out["comparisons"]}
    assert verdicts == {"dense": "costs timesteps", "conv": "helps"}
    dense = next(c for c in out["comparisons"] if c["network"] == "dense")
    assert "does not help on dense: it raises" in dense["line"]
    assert {v["network"]: v["supported_alpha"] for v in out["verdicts"]} == {"dense": 0.0, "conv": 0.005}


def test_one_seed_leaves_the_verdict_undetermined():
    out = summarise_sweep([raw("dense", 0.0, 0, 10.0), raw("dense", 0.002, 0, 5.0)], 0.3)
    (c,) = out["comparisons"]
    assert c["se_diff_t_at_drop"] is None and c["t"] is c["p"] is c["dof"] is None and c["verdict"] == "undetermined"
    assert out["aggregates"][0]["t_at_drop"]["std"] is None
    assert out["verdicts"][0]["supported_alpha"] is None and "undetermined" in out["verdicts"][0]["line"]


def test_sweep_overrides_and_run_labels():
    assert sweep_overrides(0, 2) == ["rcs.enabled=false", "train.seed=2"]
    assert sweep_overrides(0.002, 0) == ["rcs.enabled=true", "rcs.alpha=0.002", "train.seed=0"]
    assert run_label(0.0, 1) == "a0_s1" and run_label(0.005, 0) == "a0.005_s0"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(alphas=[0.002]), "must include 0"),
        (dict(alphas=[0, -0.1]), "finite numbers >= 0"),
        (dict(alphas=[0, float("nan")]), "finite numbers >= 0"),
        (dict(alphas=[0, 0.002, 0.0020]), "lists a value twice"),
        (dict(seeds=[]), "at least one training seed"),
        (dict(seeds=[0, 0]), "lists a seed twice"),
        (dict(seeds=[-1]), "integers >= 0"),
        (dict(drop_pp=-0.1), "--drop-pp must be a number >= 0"),
        (dict(overrides=["rcs.alpha=0.1"]), "the sweep sets rcs.alpha itself"),
        (dict(overrides=["train.seed=3"]), "the sweep sets train.seed itself"),
        (dict(names=["a", "a"]), "listed twice"),
    ],
)
def test_check_settings_refuses(kwargs, message):
    settings = dict(names=["embedded_dense"], alphas=[0, 0.002], seeds=[0, 1], drop_pp=0.3, overrides=[])
    with pytest.raises(LavacutError, match=message):
        check_settings(**{**settings, **kwargs})


@pytest.mark.parametrize(
    "files, retrain, expect",
    [
        ((), False, ["train", "export", "calibrate"]),  # nothing yet
        (("best.pt", "last.pt", "metrics.json", "x.net"), False, ["calibrate"]),  # finished: reused
        (("best.pt", "last.pt", "metrics.json"), False, ["export", "calibrate"]),  # export missing
        (("best.pt", "last.pt"), False, ["resume", "export", "calibrate"]),  # interrupted training
        (("best.pt", "last.pt", "x.net"), False, ["resume", "export", "calibrate"]),  # ... its old export is stale
        (("best.pt", "last.pt", "metrics.json", "x.net"), True, ["train", "export", "calibrate"]),
    ],
)
def test_train_export_calibrate_trains_resumes_or_reuses(tmp_path, monkeypatch, files, retrain, expect):
    """The step `lavacut experiments` and the sweep share (train, export, calibrate)."""
    import lavacut.pipelines.experiments as ex

    calls = []
    monkeypatch.setattr(
        ex, "train", lambda cfg, run_dir, resume=False, progress=True: calls.append("resume" if resume else "train")
    )
    monkeypatch.setattr(ex, "export_checkpoint", lambda *a, **k: calls.append("export"))
    monkeypatch.setattr(ex, "calibrate_export", lambda *a, **k: calls.append("calibrate") or [])
    for f in files:
        (tmp_path / f).write_text("x")
    from lavacut.config import RunConfig

    exported = ex.train_export_calibrate(
        RunConfig(), tmp_path, tmp_path / "x.net", "x", retrain=retrain, log=lambda m: None
    )
    assert calls == expect and exported == ("export" in expect)


def test_a_run_folder_of_another_configuration_is_refused(tmp_path):
    from lavacut.config import load_config
    from lavacut.pipelines.rcs_sweep import check_existing_runs
    from lavacut.util import atomic_write_json

    cfg = load_config(None, sweep_overrides(0.002, 1))
    run = tmp_path / run_label(0.002, 1)
    key = ("quick", 0.002, 1)
    check_existing_runs({key: run}, {key: cfg})  # nothing there yet
    atomic_write_json(run / "metrics.json", {"config": cfg.to_dict()})
    check_existing_runs({key: run}, {key: cfg})  # the same: reused
    with pytest.raises(
        LavacutError,
        match=r"a0.002_s1 was trained with another configuration \(rcs.alpha, "
        r"train.epochs differ\)",
    ):
        check_existing_runs({key: run}, {key: load_config(None, sweep_overrides(0.005, 1) + ["train.epochs=2"])})
    # a run trained before a setting existed (train.keep) counts it at its default ...
    older = cfg.to_dict()
    del older["train"]["keep"]
    atomic_write_json(run / "metrics.json", {"config": older})
    check_existing_runs({key: run}, {key: cfg})
    with pytest.raises(LavacutError, match=r"another configuration \(train.keep differ\)"):
        check_existing_runs({key: run}, {key: load_config(None, sweep_overrides(0.002, 1) + ["train.keep=last"])})
    # ... and a setting lavacut no longer has is named
    older["train"]["patience"] = 3
    atomic_write_json(run / "metrics.json", {"config": older})
    with pytest.raises(LavacutError, match=r"another configuration \(train.keep, train.patience differ\)"):
        check_existing_runs({key: run}, {key: cfg})


# ----------------------------------------------------------------------------- the command line
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--alphas", "-1"], "argument --alphas: must be a number >= 0, got -1"),
        (["--alphas", "0", "x"], "argument --alphas: must be a number >= 0, got 'x'"),
        (["--alphas", "nan"], "argument --alphas: must be a number >= 0, got nan"),
        (["--seeds"], "argument --seeds: expected at least one argument"),
        (["--seeds", "1.5"], "argument --seeds: must be an integer >= 0, got '1.5'"),
        (["--drop-pp", "-0.1"], "argument --drop-pp: must be a number >= 0, got -0.1"),
    ],
)
def test_cli_refuses_bad_numbers(argv, message, capsys):
    from lavacut.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["rcs-sweep", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--alphas", "0.001", "0.002"], "--alphas must include 0"),
        (["--seeds", "0", "0"], "--seeds lists a seed twice"),
        (["--set", "rcs.enabled=true"], "--set rcs.enabled=true: the sweep sets rcs.enabled itself"),
        (["--only", "no_such_recipe"], "no recipe"),
        (["--set", "train.epochs=0"], "train.epochs must be at least 1"),
        (["--set", "cutoff.calib_split=test"], "calibrates on the training split only"),
    ],
)
def test_cli_refuses_bad_settings_before_any_work(argv, message, capsys, tmp_path, monkeypatch):
    from lavacut.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["rcs-sweep", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lavacut rcs-sweep: error: ") and message in err
    assert list(tmp_path.iterdir()) == []  # nothing trained, nothing written


# ----------------------------------------------------------------------------- slow: a tiny real sweep
@pytest.mark.slow
def test_tiny_sweep_end_to_end_and_resumed(tmp_path, monkeypatch, capsys):
    """Dense recipe, 1 epoch on 200 samples, T = 15 (half the recipe's, to
    halve every pass), 2 alphas x 2 seeds, in the command's own process."""
    from test_packaging import schema, schema_problems

    from lavacut.cli import main

    monkeypatch.chdir(tmp_path)
    tiny = [
        "rcs-sweep",
        "--only",
        "embedded_dense",
        "--alphas",
        "0",
        "0.002",
        "--seeds",
        "0",
        "1",
        "--set",
        "train.epochs=1",
        "--set",
        "train.max_train_samples=200",
        "--set",
        "framing.T=15",
    ]
    assert main(tiny) == 0
    stdout = capsys.readouterr().out
    results = tmp_path / "sims" / "results"
    assert "results: sims/results/rcs_sweep.json, sims/results/rcs_sweep.png, sims/results/rcs_sweep.md" in stdout
    assert (results / "rcs_sweep.png").read_bytes()[:8] == PNG_MAGIC
    md = (results / "rcs_sweep.md").read_text()
    assert "| embedded_dense | 0 (off) | 2 |" in md and "## Verdicts" in md and "**embedded_dense: " in md
    out = json.loads((results / "rcs_sweep.json").read_text())

    # the documented layout (docs/reports.md), in both directions
    problems = schema_problems(out, schema("rcs_sweep"), active=set())
    assert not problems, "\n".join(problems)
    assert out["settings"] == {
        "networks": ["embedded_dense"],
        "alphas": [0.0, 0.002],
        "seeds": [0, 1],
        "drop_pp": 0.3,
        "overrides": tiny[-5::2],
        "recipes": out["settings"]["recipes"],
        "engine": "torch",
        "policy": "topk",
        "split": "test",
        "calibration_split": "train",
    }
    assert out["config"]["embedded_dense"]["train"]["epochs"] == 1

    # every run trained with its own alpha and seed, on the same data split
    assert [(x["alpha"], x["seed"]) for x in out["runs"]] == [(0.0, 0), (0.0, 1), (0.002, 0), (0.002, 1)]
    for x in out["runs"]:
        label = run_label(x["alpha"], x["seed"])
        run_dir = tmp_path / "runs" / "rcs_sweep" / "embedded_dense" / label
        cfg = json.loads((run_dir / "metrics.json").read_text())["config"]
        assert cfg["rcs"]["enabled"] == (x["alpha"] > 0) and cfg["train"]["seed"] == x["seed"]
        assert cfg["data"]["seed"] == 0 and cfg["train"]["epochs"] == 1
        assert x["alpha"] == 0 or cfg["rcs"]["alpha"] == 0.002
        assert (run_dir / f"embedded_dense_{label}.net").is_file()
        T = x["T"]
        assert T == 15 and x["n_test"] == 359 and 0.1 < x["accuracy_full"] <= 1
        # the recipe chooses eps on the validation hold-out (cutoff.choose_eps): one of the grid
        assert len(x["topk_sweep"]) == 10 and x["eps"] in EPS_GRID
        assert 1 <= x["t_at_drop"] <= T and x["ratio_at_drop"] == pytest.approx(T / x["t_at_drop"])
        assert x["drop_at_t_pp"] <= 0.3 + 1e-9 and x["met_drop"] == (x["eps_at_drop"] is not None)
        assert 1 <= x["static_t_at_drop"] <= T and 1 <= x["mean_t_cutoff"] <= T and 1 <= x["T_prime"] <= T
    # the two seeds differ: the spread is measured
    assert out["runs"][0]["topk_sweep"] != out["runs"][1]["topk_sweep"]
    for a in out["aggregates"]:
        assert a["seeds"] == [0, 1] and a["t_at_drop"]["n"] == 2 and a["t_at_drop"]["std"] is not None
        assert a["t_at_drop"]["min"] <= a["t_at_drop"]["mean"] <= a["t_at_drop"]["max"]
    (c,) = out["comparisons"]
    assert c["alpha"] == 0.002 and c["se_diff_t_at_drop"] is not None
    assert c["verdict"] in ("helps", "within the seed spread", "costs timesteps")
    (v,) = out["verdicts"]
    assert v["network"] == "embedded_dense" and v["supported_alpha"] in (0.0, 0.002)

    # resumed: the finished runs and their evaluations are reused, the same figures come out
    assert main(tiny) == 0
    stdout = capsys.readouterr().out
    assert stdout.count("evaluation reused") == 4 and ": training" not in stdout
    again = json.loads((results / "rcs_sweep.json").read_text())
    assert again["runs"] == out["runs"] and again["comparisons"] == out["comparisons"]
    # ... but never for another configuration
    assert main(tiny + ["--set", "train.batch_size=16"]) == 2
    assert "trained with another configuration (train.batch_size differ)" in capsys.readouterr().err
