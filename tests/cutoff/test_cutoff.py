"""The cutoff core on hand-made spikes: stop rules, calibration (Top-K per
docs/method.md, temperature, SpikeCP, risk control), static truncation, report
summaries and synaptic-operation counts.

Hand-made spikes are ``(N, K, T)`` 0/1 arrays; :func:`_from_counts` builds
them from running counts Y(t) written out by hand.
"""

import json
import math

import numpy as np
import pytest

from lavacut.cutoff.calibrate import risk_controlled
from lavacut.cutoff.rules.calibration import calibrate_temperature
from lavacut.cutoff.rules.conformal import calibrate_conformal
from lavacut.cutoff.rules.topk import EPS_GRID, calibrate_topk, choose_topk_eps
from lavacut.cutoff.rules import (
    NO_DECISION,
    Conformal,
    Confidence,
    Entropy,
    FixedT,
    TopKGap,
    cumulative_counts,
    cutoff,
    optimal_cutoff_steps,
    per_step_predictions,
    predict,
    rule_from_params,
    softmax,
    top2_gap,
)
from lavacut.cutoff.synops import count_ops


def _from_counts(Y) -> np.ndarray:
    """Spikes (N, K, T) whose running sum is ``Y`` (N, K, T); Y must grow by
    0 or 1 per step."""
    Y = np.asarray(Y, dtype=np.int64)
    s = np.diff(Y, axis=-1, prepend=0)
    assert set(np.unique(s)) <= {0, 1}, "counts must grow by 0 or 1 per step"
    return s.astype(np.uint8)


def _stop_loop(rule, spikes):
    """Reference cutoff through the scalar stops() the Lava monitor calls."""
    N, K, T = spikes.shape
    Y = np.cumsum(spikes.astype(np.int64), axis=-1)
    t_c = np.full(N, T)
    for n in range(N):
        for t in range(1, T + 1):
            if rule.stops(Y[n, :, t - 1], t):
                t_c[n] = t
                break
    pred = np.array([predict(Y[n, :, t_c[n] - 1]) for n in range(N)])
    return t_c, pred


def _random_spikes(N=40, K=4, T=12, seed=0, p_label=0.5, p_other=0.15):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, N)
    sp = (rng.random((N, K, T)) < p_other).astype(np.uint8)
    sp[np.arange(N), labels] = (rng.random((N, T)) < p_label).astype(np.uint8)
    return sp, labels


# ---------------------------------------------------------------- policies: predictions


def test_predict_ties_lowest_index_and_all_zero_no_decision():
    assert predict([0, 3, 3, 1]) == 1
    assert predict([2, 2, 2]) == 0
    assert predict([0, 0, 0]) == NO_DECISION == -1
    Y = np.array(
        [
            [[0, 1, 1], [0, 1, 2]],  # t1 no spikes, t2 tie -> 0, t3 class 1
            [[0, 0, 0], [0, 0, 0]],
        ]
    )  # never spikes
    sp = _from_counts(Y)
    assert per_step_predictions(sp).tolist() == [[-1, 0, 1], [-1, -1, -1]]
    # a cutoff at a step with no spikes yet predicts -1
    t_c, pred = cutoff(FixedT(t_stop=1), sp)
    assert t_c.tolist() == [1, 1] and pred.tolist() == [-1, -1]
    t_c, pred = cutoff(FixedT(), sp)
    assert t_c.tolist() == [3, 3] and pred.tolist() == [1, -1]


def test_topk_fires_at_first_step_with_gap_strictly_above_beta():
    # K = 3, T = 5; gaps g(t) = 1, 1, 2, 2, 2
    Y = [[[1, 2, 3, 3, 3], [0, 1, 1, 1, 1], [0, 0, 0, 0, 0]]]
    sp = _from_counts(Y)
    assert top2_gap(np.moveaxis(cumulative_counts(sp), 1, -1))[0].tolist() == [1, 1, 2, 2, 2]
    cases = [
        ([1, 0.5, 2, 1.5, 0], 2),  # t1: 1 > 1 no (strict), t2: 1 > 0.5 yes
        ([1, 1, 2, 1.5, 0], 4),  # t3: 2 > 2 no, t4: 2 > 1.5 yes
        ([0.99, 0, 0, 0, 0], 1),
        ([5, 5, 5, 5, 5], 5),
    ]  # never fires -> T
    for beta, want in cases:
        rule = TopKGap(beta=beta)
        t_c, pred = cutoff(rule, sp)
        assert t_c.tolist() == [want], beta
        assert pred.tolist() == [0]
        assert [rule.stops(np.asarray(Y)[0, :, t - 1], t) for t in range(1, 6)] == [
            g > b for g, b in zip([1, 1, 2, 2, 2], beta)
        ]


@pytest.mark.parametrize(
    "rule",
    [
        FixedT(),
        FixedT(t_stop=4),
        TopKGap(beta=np.linspace(3, 0, 12)),
        TopKGap(beta=np.full(12, 1.0)),
        Confidence(eps=0.2, temperature=1.5),
        Entropy(threshold=0.5, temperature=2.0),
        Conformal(q=np.linspace(1.0, 3.0, 12), temperature=1.0),
        Conformal(q=np.linspace(1.0, 3.0, 12), temperature=1.0, checkpoints=[3, 6, 9, 12], correction="bonferroni"),
    ],
    ids=lambda r: r.name,
)
def test_cutoff_agrees_with_scalar_stops(rule):
    sp, _ = _random_spikes(N=30, K=4, T=12, seed=3)
    t_c, pred = cutoff(rule, sp)
    t_ref, pred_ref = _stop_loop(rule, sp)
    assert t_c.tolist() == t_ref.tolist()
    assert pred.tolist() == pred_ref.tolist()
    assert t_c.min() >= 1 and t_c.max() <= 12


def test_confidence_entropy_conformal_definitions():
    counts = np.array([4, 1, 0])
    p = softmax(counts, 2.0)
    assert p.sum() == pytest.approx(1.0)
    assert p[0] == pytest.approx(math.exp(2) / (math.exp(2) + math.exp(0.5) + 1))
    assert Confidence(eps=1 - p[0] + 1e-9, temperature=2.0).stops(counts, 1)
    assert not Confidence(eps=1 - p[0] - 1e-9, temperature=2.0).stops(counts, 1)
    h = -(p * np.log(p)).sum() / math.log(3)
    assert Entropy(threshold=h + 1e-9, temperature=2.0).stops(counts, 1)
    assert not Entropy(threshold=h - 1e-9, temperature=2.0).stops(counts, 1)
    s = -np.log(p + 1e-5)  # s[0] < s[1] < s[2]
    # set {k : s_k < q}: q just above s[0] -> one element -> stop; above s[1] -> two -> go on
    assert Conformal(q=[s[0] + 1e-9, s[1] + 1e-9], temperature=2.0).stops(counts, 1)
    assert not Conformal(q=[s[0] + 1e-9, s[1] + 1e-9], temperature=2.0).stops(counts, 2)
    # ties: no spikes yet -> all scores equal q -> the whole set, no stop
    uniform = -np.log(1 / 3 + 1e-5)
    assert not Conformal(q=[uniform], temperature=2.0).stops(np.zeros(3, int), 1)


def test_optimal_cutoff_steps_hand_made():
    # K = 2, T = 5, per-step predictions written beside each case
    Y = np.array(
        [
            [[0, 0, 1, 2, 3], [0, 1, 1, 1, 1]],  # -1, 1, 0(tie), 0, 0   label 0 -> OCT 3
            [[1, 2, 3, 4, 5], [0, 0, 0, 0, 0]],  # 0 throughout          label 0 -> OCT 1
            [[1, 1, 1, 2, 3], [0, 1, 2, 2, 2]],  # 0, 0, 1, 0(tie), 0    label 0 -> OCT 4
            [[1, 1, 1, 1, 1], [0, 1, 2, 3, 4]],  # 0, 0, 1, 1, 1         label 0 -> wrong at T -> OCT T = 5
            [[1, 1, 1, 1, 1], [0, 1, 2, 3, 4]],  # same spikes           label 1 -> OCT 3
            [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],  # never spikes          label 0 -> wrong at T -> 5
        ]
    )
    labels = np.array([0, 0, 0, 0, 1, 0])
    sp = _from_counts(Y)
    assert per_step_predictions(sp)[2].tolist() == [0, 0, 1, 0, 0]
    assert optimal_cutoff_steps(sp, labels).tolist() == [3, 1, 4, 5, 3, 5]


def test_rule_from_params_round_trip_and_errors():
    for rule in (
        FixedT(t_stop=3),
        TopKGap(beta=[1.0, 2.0], eps=0.02),
        Confidence(eps=0.1, temperature=2.0),
        Entropy(threshold=0.3),
        Conformal(q=[1.0, 2.0], alpha=0.1, temperature=3.0),
        TopKGap(beta=[1.0, 2.0], eps=0.05, delta=0.03, confidence=0.9),
        Conformal(q=[1.0, 2.0], alpha=0.1, temperature=3.0, checkpoints=[2], correction="bonferroni", n_calibration=50),
    ):
        params = json.loads(json.dumps(rule.params()))  # as stored in an export
        back = rule_from_params(params)
        assert type(back) is type(rule) and back.params() == rule.params()
    with pytest.raises(ValueError, match="unknown stop policy 'early'"):
        rule_from_params({"policy": "early"})
    with pytest.raises(ValueError, match="unknown stop policy None"):
        rule_from_params({"beta": [1.0]})
    with pytest.raises(ValueError, match="no parameter.*threshold"):
        rule_from_params({"policy": "topk", "beta": [1.0], "threshold": 2})
    with pytest.raises(ValueError, match="beta"):
        rule_from_params({"policy": "topk", "beta": []})
    with pytest.raises(ValueError, match="NaN or infinite"):
        rule_from_params({"policy": "topk", "beta": [1.0, float("nan")]})
    with pytest.raises(ValueError, match="beta has 2 entries.*T=30"):
        TopKGap(beta=[1.0, 2.0]).check_horizon(30)
    with pytest.raises(ValueError, match="q has 2 entries"):
        cutoff(Conformal(q=[1.0, 2.0]), np.zeros((1, 2, 3), np.uint8))


# ---------------------------------------------------------------- calibrate_topk (docs/method.md)


def _reference_topk(spikes, labels, eps):
    """docs/method.md's calibration written as plain loops over n, t and m."""
    N, K, T = spikes.shape
    Y = np.zeros((N, K, T), dtype=np.int64)
    for n in range(N):
        for k in range(K):
            acc = 0
            for t in range(T):
                acc += int(spikes[n, k, t])
                Y[n, k, t] = acc
    g = [[0] * T for _ in range(N)]
    pred = [[-1] * T for _ in range(N)]
    for n in range(N):
        for t in range(T):
            col = [int(Y[n, k, t]) for k in range(K)]
            srt = sorted(col)
            g[n][t] = srt[-1] - srt[-2]
            if max(col) > 0:
                pred[n][t] = col.index(max(col))  # lowest index on ties
    octs = []
    for n in range(N):
        if pred[n][T - 1] != labels[n]:
            octs.append(T)
            continue
        t0 = T  # 1-based
        while t0 > 1 and pred[n][t0 - 2] == labels[n]:
            t0 -= 1
        octs.append(t0)
    G = max(max(row) for row in g)
    beta = []
    for t in range(T):
        for m in range(100):
            b = m * G / 100
            if m == 99:
                beta.append(b)
                break
            den = sum(1 for n in range(N) if g[n][t] > b)
            if den == 0:
                continue  # empty denominator: not satisfied
            num = sum(1 for n in range(N) if g[n][t] > b and octs[n] <= t + 1)
            if num / den >= 1 - eps:
                beta.append(b)
                break
    return np.array(beta), np.array(octs)


def test_calibrate_topk_hand_computed_example():
    # K = 3, T = 4, label 0 for all; G = 4 (sample 0 at t = 4)
    Y = np.array(
        [
            [[1, 2, 3, 4], [0, 0, 0, 0], [0, 0, 0, 0]],  # right from t=1: OCT 1, gaps 1 2 3 4
            [[0, 1, 2, 3], [1, 1, 1, 1], [0, 0, 0, 0]],  # preds 1, 0(tie), 0, 0: OCT 2, gaps 1 0 1 2
            [[0, 0, 0, 1], [1, 2, 3, 3], [0, 0, 0, 0]],  # preds 1, 1, 1, 1: wrong at T, OCT 4, gaps 1 2 3 2
            [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],  # silent: wrong, OCT 4, gaps 0
        ]
    )
    labels = np.array([0, 0, 0, 0])
    sp = _from_counts(Y)
    assert optimal_cutoff_steps(sp, labels).tolist() == [1, 2, 4, 4]
    rule = calibrate_topk(sp, labels, eps=0.0)
    # by hand, beta_m = m * 4 / 100:
    # t=1: gaps (1, 1, 1, 0), c = (1, 0, 0, 0): C = 1/3 for every beta < 1, den = 0 above -> m = 99
    # t=2: gaps (2, 0, 2, 0), c = (1, 1, 0, 0): beta < 2 -> C = 1/2; beyond: empty -> m = 99
    # t=3: gaps (3, 1, 3, 0), c = (1, 1, 0, 0): C = 2/3 (beta<1), 1/2 (beta<3) -> m = 99
    # t=4: gaps (4, 2, 2, 0), c = (1, 1, 1, 1): C = 1 at m = 0
    assert rule.beta.tolist() == pytest.approx([3.96, 3.96, 3.96, 0.0])
    ref, _ = _reference_topk(sp, labels, 0.0)
    assert rule.beta.tolist() == pytest.approx(ref.tolist())
    # with eps = 0.5 the t=2 column is satisfied at m = 0 (C = 1/2 >= 1/2)
    rule = calibrate_topk(sp, labels, eps=0.5)
    assert rule.beta.tolist() == pytest.approx([3.96, 0.0, 0.0, 0.0])
    # t=3 with eps = 0.4: C(m=0) = 2/3 >= 0.6 -> beta 0; t=1: 1/3 < 0.6 -> 99
    rule = calibrate_topk(sp, labels, eps=0.4)
    assert rule.beta.tolist() == pytest.approx([3.96, 3.96, 0.0, 0.0])
    assert rule.eps == 0.4
    assert rule.params()["policy"] == "topk" and len(rule.params()["beta"]) == 4


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("eps", [0.0, 0.05, 0.2])
def test_calibrate_topk_matches_reference_loop(seed, eps):
    sp, labels = _random_spikes(N=25, K=4, T=8, seed=seed)
    rule = calibrate_topk(sp, labels, eps)
    ref, octs = _reference_topk(sp, labels, eps)
    assert optimal_cutoff_steps(sp, labels).tolist() == octs.tolist()
    np.testing.assert_allclose(rule.beta, ref, rtol=0, atol=1e-12)
    rule.check_horizon(8)


def test_calibrate_topk_all_gaps_zero_gives_zero_thresholds():
    sp = np.zeros((3, 2, 4), np.uint8)
    rule = calibrate_topk(sp, np.array([0, 1, 0]), 0.02)
    assert rule.beta.tolist() == [0.0] * 4  # G = 0: every candidate is 0, m = 99 -> 0


# ---------------------------------------------------------------- temperature, conformal


def test_calibrate_temperature_picks_the_nll_minimiser():
    # K = 2, every sample has Y(T) = (4, 0); 80 % are labelled 0. NLL(T) is
    # minimised where sigmoid(4 / T) = 0.8, i.e. T* = 4 / ln 4
    sp = np.zeros((10, 2, 5), np.uint8)
    sp[:, 0, 1:] = 1
    labels = np.array([0] * 8 + [1] * 2)
    t_star = 4 / math.log(4)
    grid = np.logspace(-1, 2, 61)
    got = calibrate_temperature(sp, labels)
    # log sigmoid(z) = -log1p(exp(-z)), log(1 - sigmoid(z)) = -z - log1p(exp(-z))
    nll = [0.8 * math.log1p(math.exp(-4 / T)) + 0.2 * (4 / T + math.log1p(math.exp(-4 / T))) for T in grid]
    assert got == pytest.approx(grid[int(np.argmin(nll))])
    assert abs(math.log10(got) - math.log10(t_star)) <= 0.05 / 2 + 1e-9  # nearest grid point
    assert calibrate_temperature(sp, labels, grid=np.array([0.5, t_star, 10.0])) == pytest.approx(t_star)


def test_calibrate_conformal_rank_is_ceil_of_1_minus_alpha_times_n_plus_1():
    rng = np.random.default_rng(5)
    N, K, T = 9, 3, 4
    sp = (rng.random((N, K, T)) < 0.4).astype(np.uint8)
    labels = rng.integers(0, K, N)
    Y = np.moveaxis(cumulative_counts(sp), 1, -1)
    p = softmax(Y, 1.5)
    s = -np.log(p[np.arange(N)[:, None], np.arange(T)[None, :], labels[:, None]] + 1e-5)  # (N, T)
    srt = np.sort(s, axis=0)
    # alpha = 0.7, n = 9: ceil(0.3 * 10) = 3 (in floating point (1 - 0.7) * 10 = 3.0000000000000004)
    # the uncorrected per-step quantile (correction="none"; the Bonferroni one is in test_conformal_guarantee.py)
    for alpha, rank in [(0.7, 3), (0.5, 5), (0.2, 8), (0.1, 9), (0.35, 7)]:
        rule = calibrate_conformal(sp, labels, alpha, 1.5, correction="none")
        np.testing.assert_allclose(rule.q, srt[rank - 1], rtol=0, atol=1e-12, err_msg=f"alpha {alpha}")
        assert rule.alpha == alpha and rule.temperature == 1.5
    # rank ceil(0.95 * 10) = 10 > n = 9: no finite threshold -> every class is in the set, never stops
    rule = calibrate_conformal(sp, labels, 0.05, 1.5, correction="none")
    assert np.all(rule.q >= 1e9)
    t_c, _ = cutoff(rule, sp)
    assert t_c.tolist() == [T] * N
    with pytest.raises(ValueError, match="alpha"):
        calibrate_conformal(sp, labels, 1.0, 1.5)


# ---------------------------------------------------------------- risk control


def _settling_spikes(W, T, right_at_T):
    """K = 2, label 0: class 1 leads until step W (a spike at t=1), class 0
    spikes from step W on (tie at W -> class 0). Samples not ``right_at_T``
    have class 1 spiking every step (wrong throughout, never a flip)."""
    N = len(W)
    sp = np.zeros((N, 2, T), np.uint8)
    for n, w in enumerate(W):
        if not right_at_T[n]:
            sp[n, 1, :] = 1
            continue
        if w > 1:
            sp[n, 1, 0] = 1
        sp[n, 0, w - 1 :] = 1
    return sp


@pytest.mark.parametrize("budget", [0.0, 0.3, 5.0, 100.0])
def test_choose_topk_eps_is_the_fastest_within_the_budget(budget):
    fit, fit_y = _random_spikes(N=300, T=20, seed=1, p_label=0.35, p_other=0.2)
    hold, hold_y = _random_spikes(N=120, T=20, seed=2, p_label=0.35, p_other=0.2)
    ch = choose_topk_eps(fit, fit_y, hold, hold_y, max_drop_pp=budget)
    right_T = (per_step_predictions(hold)[:, -1] == hold_y).sum()
    allowed = math.floor(budget / 100 * len(hold_y) + 1e-9)
    rows = {}
    for eps in EPS_GRID:  # recomputed independently
        t_c, pred = cutoff(calibrate_topk(fit, fit_y, eps), hold)
        rows[eps] = (right_T - (pred == hold_y).sum(), t_c.mean())
    assert [r["eps"] for r in ch.table] == list(EPS_GRID) and ch.n_holdout == 120
    for r in ch.table:
        lost, mean_t = rows[r["eps"]]
        assert r["mean_t"] == pytest.approx(mean_t) and r["drop_pp"] == pytest.approx(100 * lost / 120)
        assert r["within_budget"] == (lost <= allowed)
    ok = [e for e in EPS_GRID if rows[e][0] <= allowed]
    if ok:
        assert ch.eps == min(ok, key=lambda e: (rows[e][1], e))
    else:
        assert ch.eps == min(EPS_GRID, key=lambda e: (rows[e][0], rows[e][1], e))
    if budget == 100.0:  # everything is allowed: the fastest eps
        assert rows[ch.eps][1] == min(v[1] for v in rows.values())


def test_risk_controlled_guarantee_on_a_known_model():
    """Candidates FixedT(t_stop=j): a sample flips iff its settling step W > j,
    so the true flip rate of each candidate is P(W > j), known exactly."""
    from lavacut.cutoff.calibrate import binomial_sf_pvalue

    T, n, delta, conf, reps = 8, 300, 0.10, 0.9, 200
    # P(W = w), w = 1..8: P(W > j) for j = 8..1 is 0, 0, .02, .05, .12, .30, .60, .80
    pw = np.array([0.20, 0.20, 0.30, 0.18, 0.07, 0.03, 0.02, 0.0])
    t_stops = [T, 7, 6, 5, 4, 3, 2, 1]
    true_flip = {j: float(pw[j:].sum() * 0.95) for j in t_stops}  # 95 % right at T
    cands = [FixedT()] + [FixedT(t_stop=j) for j in t_stops[1:]]
    true_rates = [0.0] + [true_flip[j] for j in t_stops[1:]]
    assert true_rates == sorted(true_rates)  # least to most aggressive
    safe = [i for i, r in enumerate(true_rates) if r <= delta]
    assert max(safe) == 3 and true_rates[4] > delta  # 0.0475 ok, 0.114 not
    rng = np.random.default_rng(2024)
    chosen, ok = [], 0
    for _ in range(reps):
        W = rng.choice(np.arange(1, T + 1), size=n, p=pw)
        right = rng.random(n) < 0.95
        sp = _settling_spikes(W, T, right)
        labels = np.zeros(n, dtype=np.int64)
        res = risk_controlled(sp, labels, cands, delta, conf)
        chosen.append(res.index)
        ok += true_rates[res.index] <= delta
        # the p-values are the exact binomial ones for the observed flips
        flips = int(np.sum(right & (W > 5)))
        assert res.p_values[3] == pytest.approx(binomial_sf_pvalue(flips, n, delta))
        assert res.rule is cands[res.index]
    chosen = np.array(chosen)
    assert ok / reps >= conf  # the guarantee, with room to spare here
    assert np.mean(chosen == max(safe)) >= 0.5  # not trivially index 0: finds the best safe rule
    assert np.all(chosen >= 1)


def test_risk_controlled_fixed_sequence_stops_at_first_non_rejection():
    # 40 samples, all right at T; candidate 1 flips 12 (30 %), candidate 2 flips 0
    T = 4
    sp = np.zeros((40, 2, T), np.uint8)
    sp[:, 0, :] = 1
    sp[:12, 1, 0] = 1  # for 12 samples class 1 spikes at t=1 and class 0 starts at t=2:
    sp[:12, 0, 0] = 0  # t=1 predicts 1 (wrong), t=2 ties (1, 1) -> 0 (right)
    labels = np.zeros(40, dtype=np.int64)
    cands = [FixedT(), FixedT(t_stop=1), FixedT(t_stop=2)]
    res = risk_controlled(sp, labels, cands, delta=0.1, confidence=0.9)
    assert res.empirical_drop.tolist() == pytest.approx([0.0, 0.3, 0.0])
    assert res.mean_steps.tolist() == pytest.approx([4.0, 1.0, 2.0])
    assert res.p_values[0] == pytest.approx(0.9**40)  # P[Bin(40, .1) <= 0]
    # candidate 1 is not rejected, so candidate 2 (safe) is never reached
    assert res.p_values[1] > 0.1 and res.p_values[2] < 0.1
    assert res.index == 0
    # too few samples to reject anything: index 0
    res = risk_controlled(sp[12:20], labels[12:20], cands[::2], delta=0.1, confidence=0.9)
    assert res.index == 0 and res.p_values[0] == pytest.approx(0.9**8)


# ---------------------------------------------------------------- evaluate: static truncation, summary


def _pred_sequence_spikes():
    """4 samples, K = 2, T = 4, labels 0; per-step predictions:
    s0: 0 0 0 0, s1: 1 0 0 0, s2: 1 1 0 0, s3: 1 1 1 1 (wrong)."""
    Y = np.array(
        [
            [[1, 2, 3, 4], [0, 0, 0, 0]],
            [[0, 1, 2, 3], [1, 1, 1, 1]],
            [[0, 0, 1, 2], [1, 1, 1, 1]],
            [[0, 0, 0, 0], [1, 2, 3, 4]],
        ]
    )
    return _from_counts(Y), np.zeros(4, dtype=np.int64)


def test_static_truncation_hand_made():
    from lavacut.cutoff.metrics import static_truncation

    sp, labels = _pred_sequence_spikes()
    # accuracy of fixed T' = 1..4: .25, .5, .75, .75
    st = static_truncation(sp, labels, 0.0)
    assert [c["accuracy"] for c in st["curve"]] == [0.25, 0.5, 0.75, 0.75]
    assert st["T_prime"] == 3 and st["accuracy_T_prime"] == 0.75
    assert static_truncation(sp, labels, 0.25)["T_prime"] == 2
    assert static_truncation(sp, labels, 0.5)["T_prime"] == 1
    assert static_truncation(sp, labels, 0.2)["T_prime"] == 3


def test_silent_output_claims_no_ratio_against_static_truncation(capsys):
    """No output spike at any step: every static T' 'keeps' the 0 accuracy,
    so T'=1 would make any cutoff look T times worse; no ratio is claimed."""
    from lavacut.cutoff.metrics import summarise
    from lavacut.measure.reports import print_termination_summary

    rep = summarise(TopKGap(beta=np.full(5, 1.0)), np.zeros((3, 4, 5), np.int64), np.array([0, 1, 2]))
    assert rep["n_decided"] == 0 and rep["mean_t_cutoff"] == 5 and rep["accuracy_full"] == 0.0
    assert rep["ratio_vs_static_truncation"] is None
    print_termination_summary(rep)
    out = capsys.readouterr().out
    assert "no sample decided" in out and "x vs T'" not in out
    assert "no output spike at full T" in out


def test_summarise_keys_and_values():
    from lavacut.cutoff.metrics import summarise

    sp, labels = _pred_sequence_spikes()
    rule = FixedT(t_stop=2)
    rep = summarise(rule, sp, labels)
    for key in (
        "n_samples",
        "T",
        "policy",
        "policy_params",
        "accuracy_full",
        "accuracy_cutoff",
        "mean_t_cutoff",
        "timestep_ratio",
        "mean_oct",
        "static_truncation",
        "ratio_vs_static_truncation",
        "t_cutoff_histogram",
        "fixed_T_curve",
    ):
        assert key in rep, key
    assert rep["n_samples"] == 4 and rep["T"] == 4
    assert rep["policy"] == "fixed" and rep["policy_params"] == {"policy": "fixed", "t_stop": 2}
    assert rep["accuracy_full"] == 0.75 and rep["accuracy_cutoff"] == 0.5
    assert rep["accuracy_drop_pp"] == pytest.approx(25.0)
    assert rep["mean_t_cutoff"] == 2.0 and rep["timestep_ratio"] == 2.0
    assert rep["t_cutoff_histogram"] == [0, 4, 0, 0]
    assert rep["mean_oct"] == pytest.approx((1 + 2 + 3 + 4) / 4)  # s3 wrong at T -> OCT = T
    assert rep["static_truncation"]["T_prime"] == 2  # within the same 0.25 drop
    assert rep["ratio_vs_static_truncation"] == 1.0
    json.dumps(rep)  # a report is plain JSON
    # decisions given by another engine are used as given
    rep2 = summarise(rule, sp, labels, t_c=np.array([4, 4, 4, 4]), pred=np.array([0, 0, 0, 1]))
    assert rep2["accuracy_cutoff"] == 0.75 and rep2["mean_t_cutoff"] == 4.0


# ---------------------------------------------------------------- synaptic operations


def test_count_ops_tiny_dense_by_hand():
    fo = [np.full(3, 2.0), np.full(2, 2.0)]  # dense 3 -> 2 -> 2
    x = np.array([[[1, 1, 0], [0, 1, 1], [0, 0, 1]]])  # (1, 3 inputs, T=3)
    h = np.array([[[0, 1, 1], [1, 0, 0]]])  # (1, 2 hidden, 3)
    o = np.array([[[0, 0, 1], [0, 1, 0]]])  # (1, 2 out, 3)
    ops = count_ops(fo, [x, h], [2, 2], [h, o], np.array([2]))
    # steps 1..2: input spikes 1+1+1 = 3 (x fan-out 2) + hidden spikes 1+1 = 2 (x 2) -> 10
    assert ops.synops.tolist() == [10.0]
    assert ops.neuron_updates.tolist() == [8.0]  # 4 neurons x 2 steps
    assert ops.spikes.tolist() == [3.0]  # hidden 2 + output 1
    assert ops.energy_uj[0] == pytest.approx((10 * 23.6 + 5 * 52.0 + 3 * 81.0) * 1e-6)
    full = count_ops(fo, [x, h], [2, 2], [h, o], np.array([3]))
    assert full.synops.tolist() == [(5 * 2) + (3 * 2)]


@pytest.mark.parametrize(
    "params, message",
    [
        ({"policy": "confidence", "eps": "abc"}, r"eps must be a number, got 'abc'"),
        ({"policy": "confidence", "eps": -1}, r"eps must be in \(0, 1\)"),
        ({"policy": "confidence", "eps": 0.1, "temperature": 0}, r"temperature must be in \(0, inf\]"),
        ({"policy": "entropy", "threshold": 1.5}, r"threshold must be in \(0, 1\]"),
        ({"policy": "fixed", "t_stop": 0}, r"t_stop must be a positive whole number"),
        ({"policy": "topk", "beta": ["a", "b"]}, r"beta must be a per-step list of numbers"),
        ({"policy": "conformal", "q": [float("nan")]}, r"q contains NaN"),
    ],
)
def test_rule_parameters_are_typed_and_range_checked(params, message):
    with pytest.raises(ValueError, match=message):
        rule_from_params(params)
