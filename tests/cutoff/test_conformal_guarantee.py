"""SpikeCP with the Bonferroni correction over the decision steps (issue 15):
the coverage guarantee P(y in set at t_c) >= 1 - alpha checked by
simulation on a known distribution of spike-count trajectories (and the
uncorrected per-step quantile shown to violate it on the same distribution),
the exact Bonferroni rank, the decision steps, and the exact (scipy) binomial
intervals and target-vs-achieved entries every calibrated rule reports."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from lavacut.cutoff.binomial import binom_cdf, clopper_pearson, rate_with_interval
from lavacut.cutoff.calibrate import binomial_sf_pvalue, calibrate_all
from lavacut.cutoff.rules.conformal import (
    calibrate_conformal,
    calibrate_conformal_split,
    conformal_checkpoints,
    conformal_rank,
    select_checkpoints,
)
from lavacut.cutoff.metrics import guarantee, guarantees, summarise
from lavacut.cutoff.rules import Conformal, TopKGap, cumulative_counts, cutoff, rule_from_params, softmax


def _draw(rng, n, K=3, T=10, p_true=0.4, p_other=0.2):
    """n samples of a known distribution: label uniform over K classes, the
    true class spikes with probability p_true per step, every other class
    with p_other, all independent."""
    y = rng.integers(0, K, n)
    sp = (rng.random((n, K, T)) < p_other).astype(np.uint8)
    sp[np.arange(n), y] = (rng.random((n, T)) < p_true).astype(np.uint8)
    return sp, y


def _mixture(rng, n, K=10, T=30):
    """Closer to a trained net: 70 % easy samples (true class 0.6 per step),
    30 % hard ones (0.3) among K classes at 0.15."""
    y = rng.integers(0, K, n)
    sp = (rng.random((n, K, T)) < 0.15).astype(np.uint8)
    p = np.where(rng.random(n) < 0.7, 0.6, 0.3)
    sp[np.arange(n), y] = (rng.random((n, T)) < p[:, None]).astype(np.uint8)
    return sp, y


def _coverage(rule: Conformal, sp, y):
    """(coverage of the set at t_c, accuracy at t_c, mean t_c) on one test draw."""
    t_c, pred = cutoff(rule, sp)
    Y = np.moveaxis(cumulative_counts(sp), 1, -1)[np.arange(len(y)), t_c - 1]
    in_set = rule.prediction_set(Y, t_c)[np.arange(len(y)), y]
    return in_set.mean(), (pred == y).mean(), t_c.mean()


# ---------------------------------------------------------------- the guarantee, by simulation


def test_bonferroni_coverage_at_the_stop_holds_and_the_uncorrected_rule_violates_it():
    alpha, draws, n_cal, n_test, T = 0.1, 200, 100, 500, 10
    rng = np.random.default_rng(15)
    res = {"none": [], "all": [], "four": []}
    for _ in range(draws):
        cal_sp, cal_y = _draw(rng, n_cal, T=T)
        test_sp, test_y = _draw(rng, n_test, T=T)
        for key, kw in (("none", {"correction": "none"}), ("all", {}), ("four", {"checkpoints": 4})):
            rule = calibrate_conformal(cal_sp, cal_y, alpha, 1.0, **kw)
            res[key].append(_coverage(rule, test_sp, test_y))
    cov = {k: np.mean([r[0] for r in v]) for k, v in res.items()}
    steps = {k: np.mean([r[2] for r in v]) for k, v in res.items()}
    # 200 x 500 test samples: the Monte-Carlo error of a mean coverage is ~0.002
    assert cov["all"] >= 1 - alpha  # Bonferroni over all T = 10 steps
    assert cov["four"] >= 1 - alpha  # over C = {2, 5, 8, 10}: milder correction
    assert cov["none"] < 1 - alpha - 0.03  # the uncorrected per-step quantile (measured ~0.83)
    # not vacuous: the corrected rules do stop before T on average
    assert steps["four"] < T - 0.5 and steps["all"] < T - 0.5


def test_guarantee_holds_with_the_deployed_split_procedure_on_a_mixture():
    """As ``lavacut calibrate`` does it: decision steps chosen on separate fit
    data, thresholds from a 143-sample hold-out, alpha = 0.05."""
    alpha, draws = 0.05, 60
    rng = np.random.default_rng(7)
    fit_sp, fit_y = _mixture(rng, 800)
    chosen = select_checkpoints(fit_sp, fit_y, alpha, 2.0, n_calibration=143)  # independent of every draw
    assert len(chosen) <= math.floor(alpha * 144) and chosen[-1] == 30
    covs, accs, steps, uncorrected = [], [], [], []
    for _ in range(draws):
        cal_sp, cal_y = _mixture(rng, 143)
        test_sp, test_y = _mixture(rng, 400)
        rule = calibrate_conformal_split(fit_sp, fit_y, cal_sp, cal_y, alpha, 2.0, checkpoints=chosen)
        assert rule.checkpoints == chosen
        c, a, m = _coverage(rule, test_sp, test_y)
        covs.append(c), accs.append(a), steps.append(m)
        uncorrected.append(
            _coverage(calibrate_conformal(cal_sp, cal_y, alpha, 2.0, correction="none"), test_sp, test_y)[0]
        )
    assert np.mean(covs) >= 1 - alpha
    assert np.mean(uncorrected) < 1 - alpha
    assert np.mean(steps) < 28  # stops before T = 30 on average


# ---------------------------------------------------------------- the procedure, exactly


def test_bonferroni_rank_and_decision_steps():
    rng = np.random.default_rng(5)
    N, K, T = 39, 3, 8
    sp = (rng.random((N, K, T)) < 0.4).astype(np.uint8)
    labels = rng.integers(0, K, N)
    Y = np.moveaxis(cumulative_counts(sp), 1, -1)
    s = -np.log(softmax(Y, 1.5)[np.arange(N)[:, None], np.arange(T)[None, :], labels[:, None]] + 1e-5)
    srt = np.sort(s, axis=0)
    assert conformal_checkpoints(T, None) == list(range(1, 9))
    assert conformal_checkpoints(T, 4) == [2, 4, 6, 8]
    assert conformal_checkpoints(T, 3) == [3, 5, 8]
    assert conformal_checkpoints(T, [5, 2, 2]) == [2, 5, 8]  # T is always a decision step
    with pytest.raises(ValueError, match="1..T=8"):
        conformal_checkpoints(T, [0, 3])
    # rank = ceil((1 - alpha / |C|)(n + 1)), n = 39
    for alpha, C, rank in [(0.2, 4, 38), (0.4, 4, 36), (0.4, None, 38), (0.5, [4], 30), (0.1, 4, 39), (0.04, 4, 40)]:
        rule = calibrate_conformal(sp, labels, alpha, 1.5, checkpoints=C)
        steps = conformal_checkpoints(T, C)
        assert conformal_rank(N, alpha, len(steps)) == rank
        assert rule.checkpoints == steps and rule.correction == "bonferroni" and rule.n_calibration == N
        want = np.full(T, 1e9) if rank > N else srt[rank - 1]
        np.testing.assert_allclose(rule.q, want, rtol=0, atol=1e-12, err_msg=f"alpha {alpha}, C {C}")
    # the uncorrected rule takes rank ceil((1 - alpha)(n + 1)) at every step
    assert conformal_rank(N, 0.4) == 24
    np.testing.assert_allclose(calibrate_conformal(sp, labels, 0.4, 1.5, correction="none").q, srt[23])
    with pytest.raises(ValueError, match="correction"):
        calibrate_conformal(sp, labels, 0.1, 1.5, correction="simes")


def test_rule_fires_only_at_decision_steps_and_stops_agrees():
    counts = np.array([5, 0, 0])
    rule = Conformal(q=np.full(6, 1.0), temperature=1.0, checkpoints=[3, 6])  # a singleton at every step
    assert [rule.stops(counts, t) for t in range(1, 7)] == [False, False, True, False, False, True]
    sp = np.zeros((2, 3, 6), np.uint8)
    sp[:, 0, :] = 1
    assert cutoff(rule, sp)[0].tolist() == [3, 3]
    assert cutoff(Conformal(q=np.full(6, 1.0)), sp)[0].tolist() == [1, 1]  # None: every step
    # stored and read back as an export stores it (JSON), the monitor's rule_from_params
    back = rule_from_params(json.loads(json.dumps(rule.params())))
    assert back.checkpoints == [3, 6] and back.params() == rule.params()
    with pytest.raises(ValueError, match="checkpoint 9 exceeds the T=6"):
        Conformal(q=np.ones(6), checkpoints=[9]).check_horizon(6)
    with pytest.raises(ValueError, match="checkpoints must be a non-empty list"):
        Conformal(q=np.ones(6), checkpoints=[0])
    with pytest.raises(ValueError, match="correction"):
        Conformal(q=np.ones(6), correction="holm")


def test_select_checkpoints_keeps_a_finite_threshold_and_the_split_uses_only_the_holdout():
    rng = np.random.default_rng(1)
    fit_sp, fit_y = _mixture(rng, 300)
    cal_sp, cal_y = _mixture(rng, 60)
    steps = select_checkpoints(fit_sp, fit_y, 0.05, 2.0, n_calibration=60)
    assert steps[-1] == 30 and len(steps) <= 3  # 0.05 * 61 = 3.05
    rule = calibrate_conformal_split(fit_sp, fit_y, cal_sp, cal_y, 0.05, 2.0)
    assert rule.checkpoints == steps and rule.n_calibration == 60
    np.testing.assert_array_equal(rule.q, calibrate_conformal(cal_sp, cal_y, 0.05, 2.0, checkpoints=steps).q)
    assert np.all(rule.q < 1e9)
    # calibrate_all with a hold-out: conformal from the hold-out, temperature from the rest
    sp = np.concatenate([fit_sp, cal_sp])
    y = np.concatenate([fit_y, cal_y])
    hold = np.r_[np.zeros(300, bool), np.ones(60, bool)]
    rules = calibrate_all(sp, y, alpha=0.05, holdout=hold, holdout_spikes=cal_sp)
    assert rules["conformal"].n_calibration == 60 and rules["conformal"].checkpoints[-1] == 30
    assert rules["conformal"].temperature == rules["confidence"].temperature


# ---------------------------------------------------------------- binomial intervals (scipy, loaded lazily)


def test_cutoff_core_imports_no_scipy():
    """The stop rules run inside the Lava monitor process: importing the core
    loads numpy only; scipy comes in with the first interval."""
    code = (
        "import sys; import lavacut.cutoff.rules, lavacut.cutoff.calibrate, lavacut.cutoff.metrics; "
        "assert 'scipy' not in sys.modules, 'scipy imported'; "
        "from lavacut.cutoff.binomial import clopper_pearson; clopper_pearson(1, 2); "
        "assert 'scipy.stats' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_binomial_cdf_and_clopper_pearson():
    assert binom_cdf(0, 40, 0.1) == pytest.approx(0.9**40, rel=1e-12)
    assert binom_cdf(2, 5, 0.5) == pytest.approx(0.5, rel=1e-12)
    assert binom_cdf(5, 5, 0.3) == 1.0 and binom_cdf(-1, 5, 0.3) == 0.0
    assert binomial_sf_pvalue(3, 50, 0.1) == pytest.approx(
        sum(math.comb(50, i) * 0.1**i * 0.9 ** (50 - i) for i in range(4)), rel=1e-12
    )
    # closed forms at the edges: k = 0 -> (0, 1 - (a/2)^(1/n)); k = n -> ((a/2)^(1/n), 1)
    for n in (1, 10, 143):
        assert clopper_pearson(0, n) == pytest.approx((0.0, 1 - 0.025 ** (1 / n)), abs=1e-12)
        assert clopper_pearson(n, n) == pytest.approx((0.025 ** (1 / n), 1.0), abs=1e-12)
    lo, hi = clopper_pearson(3, 10)
    # the defining tail equations
    assert 1 - binom_cdf(2, 10, lo) == pytest.approx(0.025, abs=1e-12)
    assert binom_cdf(3, 10, hi) == pytest.approx(0.025, abs=1e-12)
    assert clopper_pearson(0, 0) == (0.0, 1.0)
    assert rate_with_interval(3, 10)["rate"] == 0.3
    scipy_stats = pytest.importorskip("scipy.stats")
    for k, n in [(1, 7), (340, 359), (700, 1438)]:
        lo, hi = clopper_pearson(k, n, 0.9)
        assert lo == pytest.approx(scipy_stats.beta.ppf(0.05, k, n - k + 1), abs=1e-10)
        assert hi == pytest.approx(scipy_stats.beta.ppf(0.95, k + 1, n - k), abs=1e-10)


# ---------------------------------------------------------------- target vs achieved


def _seq():
    """K = 2, T = 4, labels 0; per-step predictions s0: 0 0 0 0, s1: 1 0 0 0,
    s2: 1 1 0 0, s3: 1 1 1 1 (wrong). OCT = 1, 2, 3, 4."""
    Y = np.array(
        [
            [[1, 2, 3, 4], [0, 0, 0, 0]],
            [[0, 1, 2, 3], [1, 1, 1, 1]],
            [[0, 0, 1, 2], [1, 1, 1, 1]],
            [[0, 0, 0, 0], [1, 2, 3, 4]],
        ]
    )
    return np.diff(Y, axis=-1, prepend=0).astype(np.uint8), np.zeros(4, dtype=np.int64)


def test_guarantee_entries_topk_risk_conformal():
    sp, y = _seq()
    topk = TopKGap(beta=np.zeros(4), eps=0.25)  # every gap > 0 at t = 1: all stop at t = 1
    g = guarantee(topk, sp, y, name="topk")
    assert g["target"]["min"] == 0.75 and g["target"]["eps"] == 0.25
    assert g["achieved"]["k"] == 1 and g["achieved"]["n"] == 4 and not g["met"]  # only s0 settled at t = 1
    assert g["achieved"]["ci"] == pytest.approx(list(clopper_pearson(1, 4)))
    assert g["achieved_early_stops"]["n"] == 4
    assert g["accuracy_full"] == 0.75 and g["accuracy_cutoff"] == 0.25 and g["mean_t_cutoff"] == 1.0
    assert g["disagreement_with_full_T"]["k"] == 2 and g["accuracy_drop_pp"] == pytest.approx(50.0)
    risk = TopKGap(beta=np.zeros(4), eps=0.25, delta=0.1, confidence=0.9)
    g = guarantee(risk, sp, y, name="topk_risk")
    assert g["target"]["max"] == 0.1 and g["target"]["confidence"] == 0.9
    assert g["achieved"]["k"] == 2 and not g["met"]  # s1, s2 right at T, wrong at t = 1
    conf = Conformal(q=np.full(4, 1e9), alpha=0.1, checkpoints=[4], correction="bonferroni", n_calibration=10)
    g = guarantee(conf, sp, y, name="conformal")
    assert g["achieved"]["rate"] == 1.0 and g["met"]  # the set at T holds every class
    assert g["accuracy_cutoff"] == 0.75 and not g["accuracy_met"]  # forced at T with a 2-class set
    assert "Bonferroni over 1 decision steps" in g["guarantee"]
    assert guarantee(Conformal(q=np.ones(4)), sp, y) is None  # no alpha: no target
    entries = guarantees({"topk": topk, "risk": risk, "conformal": conf}, sp, y)
    assert [e["rule"] for e in entries] == ["topk", "risk", "conformal"]
    assert guarantees({"topk": topk}, sp, None) is None
    json.dumps(entries)


def test_tradeoff_plot_shows_the_guarantees(tmp_path):
    from lavacut.measure.reports import guarantee_line, plot_report

    sp, y = _seq()
    conf = Conformal(q=np.full(4, 1e9), alpha=0.1, checkpoints=[4], correction="bonferroni", n_calibration=10)
    rep = summarise(TopKGap(beta=np.zeros(4), eps=0.25), sp, y)
    rep["guarantees"] = guarantees({"topk": TopKGap(beta=np.zeros(4), eps=0.25), "conformal": conf}, sp, y)
    rep["sweeps"] = {
        "fixed": [{"param": t, "accuracy": a, "mean_t": t} for t, a in zip(range(1, 5), (0.25, 0.5, 0.75, 0.75))]
    }
    line = guarantee_line(rep["guarantees"][1])
    assert line.startswith("conformal: coverage >= 90.0%: 100.0% [") and "met" in line
    assert "NOT met" in guarantee_line(rep["guarantees"][0])
    paths = plot_report(rep, tmp_path / "g")
    assert (tmp_path / "g_tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(paths) == 2


def test_params_of_rules_without_the_new_fields_are_unchanged():
    """Files calibrated before issue 15 read and write the same parameters;
    a Top-K rule without a risk target stays readable by older versions."""
    assert TopKGap(beta=[1.0], eps=0.02).params() == {"policy": "topk", "beta": [1.0], "eps": 0.02}
    old = {"policy": "conformal", "q": [1.0, 2.0], "alpha": 0.05, "temperature": 2.0}
    assert rule_from_params(old).params() == old
    assert rule_from_params(old).checkpoints is None  # every step, as before
    new = TopKGap(beta=[1.0], eps=0.2, delta=0.03, confidence=0.9).params()
    assert new["delta"] == 0.03 and new["confidence"] == 0.9
