"""Calibration of the stop rules on a calibration split (never the test split).

All functions take output spikes ``(N, K, T)`` of the calibration samples
(SLAYER forward, optionally with dropout, see :func:`calibration_spikes`) and
labels, and return the parameters of a :mod:`lavacut.cutoff.rules` rule.

- :func:`calibrate_topk`: the paper's per-step beta(t) (docs/method.md, exactly).
- :func:`calibrate_temperature`: softmax temperature on counts by NLL.
- :func:`calibrate_conformal`: SpikeCP per-step score quantiles with the
  Bonferroni correction over the decision steps (a coverage guarantee at the
  stopping step); :func:`calibrate_conformal_split` calibrates them on a
  hold-out the network was not trained on.
- :func:`choose_topk_eps`: Top-K's eps chosen on held-out samples for an
  accuracy-drop budget.
- :func:`risk_controlled`: beyond the paper, a Learn-then-Test selection with
  a finite-sample guarantee on the accuracy drop (see its docstring).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lavacut.cutoff.binomial import binom_cdf
from lavacut.cutoff.rules import (Conformal, Confidence, Entropy, StopRule, TopKGap, cumulative_counts,
                                      cutoff, optimal_cutoff_steps, per_step_predictions, softmax, top2_gap)


def calibrate_topk(spikes: np.ndarray, labels: np.ndarray, eps: float, n_candidates: int = 100) -> TopKGap:
    """Per-step thresholds beta(t) for tolerance ``eps`` (docs/method.md):

    g_n(t) = top1 - top2 of Y_n(t); c_n(t) = 1[OCT_n <= t];
    beta_m = m G / 100 (m = 0..99, G = max gap over all n, t);
    C(m, t) = sum_n 1[g_n(t) > beta_m] c_n(t) / sum_n 1[g_n(t) > beta_m], an
    empty denominator counting as not satisfied and row m = 99 as satisfied;
    beta(t) = beta_{m*(t)}, m*(t) = min {m : C(m, t) >= 1 - eps}.
    """
    Y = cumulative_counts(spikes)                          # (N, K, T)
    g = top2_gap(np.moveaxis(Y, 1, -1)).astype(np.float64)  # (N, T)
    N, T = g.shape
    oct_ = optimal_cutoff_steps(spikes, labels)            # (N,)
    c = (oct_[:, None] <= np.arange(1, T + 1)[None, :]).astype(np.float64)
    G = float(g.max()) if g.size else 0.0
    betas = np.arange(n_candidates) * G / n_candidates      # (M,)
    above = g[None, :, :] > betas[:, None, None]            # (M, N, T)
    den = above.sum(axis=1)                                  # (M, T)
    num = (above * c[None]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.where(den > 0, num / np.maximum(den, 1), -np.inf)
    ok = conf >= 1.0 - eps
    ok[-1, :] = True                                         # row m = 99 counts as satisfied
    m_star = ok.argmax(axis=0)                               # first satisfied m per t
    return TopKGap(beta=betas[m_star], eps=float(eps))


def calibrate_temperature(spikes: np.ndarray, labels: np.ndarray,
                          grid: np.ndarray | None = None) -> float:
    """Softmax temperature on the full-T counts minimising the NLL (log grid,
    20 points a decade from 0.1 to 100, or to ten times the largest score
    when the scores are larger: output voltages are)."""
    Y = cumulative_counts(spikes)[..., -1].astype(np.float64)  # (N, K)
    if grid is None:
        hi = max(2, math.ceil(math.log10(float(np.abs(Y).max(initial=0.0)) + 1.0)) + 1)
        grid = np.logspace(-1, hi, 20 * (hi + 1) + 1)
    best, best_t = math.inf, 1.0
    for temp in grid:
        p = softmax(Y, temp)[np.arange(len(labels)), labels]
        nll = -np.log(np.clip(p, 1e-12, None)).mean()
        if nll < best:
            best, best_t = nll, float(temp)
    return best_t


CORRECTIONS = ("bonferroni", "none")


def conformal_checkpoints(T: int, checkpoints: int | list[int] | None) -> list[int]:
    """The decision steps C (1-based, sorted, always containing T, where the
    rule is forced to stop): ``None`` = every step 1..T; an int m = m steps
    evenly spaced ending at T (round(j T / m), j = 1..m); a list = those
    steps plus T."""
    if checkpoints is None:
        return list(range(1, T + 1))
    if isinstance(checkpoints, (int, np.integer)) and not isinstance(checkpoints, bool):
        m = int(checkpoints)
        if not 1 <= m <= T:
            raise ValueError(f"conformal: the number of checkpoints must be in 1..T={T}, got {m}")
        return sorted({int(round(j * T / m)) for j in range(1, m + 1)} | {T})
    steps = sorted({int(c) for c in checkpoints} | {T})
    if steps[0] < 1 or steps[-1] > T:
        raise ValueError(f"conformal: checkpoints must be steps in 1..T={T}, got {checkpoints!r}")
    return steps


def conformal_rank(n: int, alpha: float, n_checkpoints: int = 1) -> int:
    """ceil((1 - alpha / |C|)(n + 1)): the rank (1-based) of the calibration
    score taken as the threshold; > n means no finite threshold exists (the
    set must hold every class). (1 - alpha)(n + 1) is often an integer
    computed in floating point, e.g. (1 - 0.7) * 10 = 3.0000000000000004: do
    not let rounding bump the rank."""
    return math.ceil((1 - alpha / n_checkpoints) * (n + 1) - 1e-9)


def calibrate_conformal(spikes: np.ndarray, labels: np.ndarray, alpha: float, temperature: float,
                        checkpoints: int | list[int] | None = None, correction: str = "bonferroni") -> Conformal:
    """SpikeCP with its correction over the decision steps.

    Scores s_n(t) = -log(softmax(Y_n(t)/temperature)_{y_n} + 1e-5) of the n
    calibration samples; decision steps C from :func:`conformal_checkpoints`
    (T is always one). With ``correction="bonferroni"`` (the default, as
    SpikeCP and docs/method.md specify) q(t) is the ceil((1 - alpha/|C|)(n + 1))-th
    smallest s_n(t) at every step t (+inf, stored as 1e9, when that rank
    exceeds n), which gives P(y in Gamma(t_c)) >= 1 - alpha at the stopping
    step for a test sample exchangeable with the calibration samples (proof
    in :class:`~lavacut.cutoff.rules.Conformal`). ``correction="none"`` takes
    the ceil((1 - alpha)(n + 1))-th at every step: the uncorrected rule,
    which spends the risk once per checkpoint and has no guarantee (kept to
    measure what the correction buys).

    Fewer checkpoints mean a milder correction (larger alpha/|C|) but fewer
    chances to stop: the trade-off is exposed through ``checkpoints``. Also
    note that a finite threshold needs alpha/|C| >= 1/(n + 1).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"conformal: alpha must be in (0, 1), got {alpha}")
    if correction not in CORRECTIONS:
        raise ValueError(f"conformal: correction must be one of {CORRECTIONS}, got {correction!r}")
    Y = np.moveaxis(cumulative_counts(spikes), 1, -1)       # (N, T, K)
    N, T, K = Y.shape
    steps = conformal_checkpoints(T, checkpoints)
    p = softmax(Y, temperature)[np.arange(N)[:, None], np.arange(T)[None, :], np.asarray(labels)[:, None]]
    s = -np.log(p + 1e-5)                                    # (N, T)
    rank = conformal_rank(N, alpha, len(steps) if correction == "bonferroni" else 1)
    q = np.full(T, np.inf) if rank > N else np.sort(s, axis=0)[rank - 1]
    return Conformal(q=np.where(np.isfinite(q), q, 1e9), alpha=float(alpha), temperature=float(temperature),
                     checkpoints=None if checkpoints is None and correction == "none" else steps,
                     correction=correction, n_calibration=int(N))


def select_checkpoints(fit_spikes: np.ndarray, fit_labels: np.ndarray, alpha: float, temperature: float,
                       n_calibration: int) -> list[int]:
    """Choose the decision steps C on data that is NOT the conformal
    calibration set (so the guarantee is untouched): among m evenly spaced
    steps ending at T (:func:`conformal_checkpoints`), m = 1 .. the largest
    with a finite threshold for ``n_calibration`` samples (alpha/m >= 1/(n+1)),
    the one whose Bonferroni-calibrated rule stops earliest on average on
    the fit data (ties: fewer checkpoints)."""
    T = fit_spikes.shape[-1]
    m_max = max(1, min(T, int(math.floor(alpha * (n_calibration + 1) + 1e-9))))
    best, best_steps, seen = None, math.inf, set()
    for m in range(1, m_max + 1):
        steps = conformal_checkpoints(T, m)
        if tuple(steps) in seen:
            continue
        seen.add(tuple(steps))
        rule = calibrate_conformal(fit_spikes, fit_labels, alpha, temperature, checkpoints=steps)
        mean_t = float(cutoff(rule, fit_spikes)[0].mean())
        if mean_t < best_steps - 1e-12:
            best, best_steps = steps, mean_t
    return best


def calibrate_conformal_split(fit_spikes: np.ndarray, fit_labels: np.ndarray, cal_spikes: np.ndarray,
                              cal_labels: np.ndarray, alpha: float, temperature: float,
                              checkpoints: int | list[int] | None | str = "auto") -> Conformal:
    """SpikeCP as deployed by ``lavacut calibrate``: the thresholds q(t) from
    ``cal_spikes`` (samples the network was not trained on, run as in
    deployment: the guarantee's exchangeability), the decision steps C
    chosen beforehand on ``fit_spikes`` (``"auto"``: :func:`select_checkpoints`)
    or given."""
    if isinstance(checkpoints, str):
        if checkpoints != "auto":
            raise ValueError(f"conformal: checkpoints must be 'auto', a count or a list of steps, got {checkpoints!r}")
        checkpoints = select_checkpoints(fit_spikes, fit_labels, alpha, temperature, len(cal_labels))
    return calibrate_conformal(cal_spikes, cal_labels, alpha, temperature, checkpoints=checkpoints)


def calibrate_all(spikes: np.ndarray, labels: np.ndarray, eps: float = 0.02, alpha: float = 0.05,
                  entropy_threshold: float | None = None, holdout: np.ndarray | None = None,
                  holdout_spikes: np.ndarray | None = None,
                  checkpoints: int | list[int] | None | str = "auto") -> dict[str, StopRule]:
    """Every rule with parameters calibrated on one calibration set.

    With ``holdout`` (a boolean mask over the samples: ones the network was
    not trained on) and ``holdout_spikes`` (their output spikes run as in
    deployment, eval mode), the conformal thresholds come from the hold-out
    alone, the temperature and the conformal decision steps from the other
    samples, so SpikeCP's guarantee holds; Top-K is calibrated on every
    sample as docs/method.md says. Without them everything is calibrated on
    ``spikes`` (the conformal guarantee then assumes those samples are
    exchangeable with the test data, which a training split is not).
    ``checkpoints``: the conformal decision steps (``"auto"``, a count, a
    list, or None for every step; see :func:`calibrate_conformal_split`)."""
    labels = np.asarray(labels)
    split = holdout is not None and holdout_spikes is not None and bool(np.any(holdout))
    fit_sp, fit_y = (spikes[~holdout], labels[~holdout]) if split else (spikes, labels)
    temp = calibrate_temperature(fit_sp, fit_y)
    if split:
        conformal = calibrate_conformal_split(fit_sp, fit_y, holdout_spikes, labels[holdout], alpha, temp,
                                              checkpoints=checkpoints)
    elif isinstance(checkpoints, str):
        conformal = calibrate_conformal_split(spikes, labels, spikes, labels, alpha, temp, checkpoints)
    else:
        conformal = calibrate_conformal(spikes, labels, alpha, temp, checkpoints=checkpoints)
    return {
        "topk": calibrate_topk(spikes, labels, eps),
        "confidence": Confidence(eps=eps, temperature=temp),
        "entropy": Entropy(threshold=entropy_threshold if entropy_threshold is not None else 0.1,
                           temperature=temp),
        "conformal": conformal,
    }


#: the tolerances the reference sweeps (docs/method.md: eps = 0.00..0.09)
EPS_GRID = tuple(round(0.01 * i, 2) for i in range(10))


@dataclass
class EpsChoice:
    eps: float
    max_drop_pp: float
    n_holdout: int
    #: per candidate eps: accuracy drop on the hold-out (pp) and mean timesteps
    table: list[dict]


def choose_topk_eps(fit_spikes: np.ndarray, fit_labels: np.ndarray, hold_spikes: np.ndarray,
                    hold_labels: np.ndarray, max_drop_pp: float = 0.3,
                    grid: tuple[float, ...] = EPS_GRID) -> EpsChoice:
    """Top-K's tolerance for an accuracy-drop budget, chosen on samples the
    network was not trained on: for each eps of ``grid``, beta(t) is
    calibrated on the fit samples and run on the hold-out; the choice is the
    eps with the fewest mean timesteps whose hold-out accuracy drop against
    full T is <= ``max_drop_pp`` (in whole samples: floor(max_drop_pp / 100 *
    n); ties go to the smaller eps). If no eps keeps within the budget, the
    one with the smallest drop (``within_budget`` False in its row). An
    empirical selection, not a guarantee: for a bound on the drop use
    :func:`risk_controlled`."""
    hold_labels = np.asarray(hold_labels)
    n = len(hold_labels)
    right_T = int(np.sum(per_step_predictions(hold_spikes)[:, -1] == hold_labels))
    allowed = math.floor(max_drop_pp / 100.0 * n + 1e-9)
    table, best = [], None
    for eps in sorted(set(grid) | {0.0}):
        t_c, pred = cutoff(calibrate_topk(fit_spikes, fit_labels, eps), hold_spikes)
        lost = right_T - int(np.sum(pred == hold_labels))
        row = {"eps": float(eps), "drop_pp": 100.0 * lost / max(n, 1), "mean_t": float(t_c.mean()),
               "within_budget": lost <= allowed}
        row["_lost"] = lost
        table.append(row)
    ok = [r for r in table if r["within_budget"]]
    best = min(ok, key=lambda r: r["mean_t"]) if ok else min(table, key=lambda r: (r["_lost"], r["mean_t"]))
    for r in table:
        del r["_lost"]
    return EpsChoice(eps=best["eps"], max_drop_pp=float(max_drop_pp), n_holdout=n, table=table)


# --------------------------------------------------------------------------- risk control
@dataclass
class RiskControlResult:
    rule: StopRule
    index: int            # position in the candidate list (0 = least aggressive)
    p_values: np.ndarray  # per candidate, for H0: drop > delta
    empirical_drop: np.ndarray
    mean_steps: np.ndarray
    delta: float
    confidence: float


def binomial_sf_pvalue(k: int, n: int, p: float) -> float:
    """P[Bin(n, p) <= k]: the exact p-value for H0: rate >= p when k of n
    events were observed (small k is evidence against H0)."""
    return binom_cdf(k, n, p)


def risk_controlled(spikes: np.ndarray, labels: np.ndarray, candidates: list[StopRule], delta: float,
                    confidence: float = 0.9) -> RiskControlResult:
    """Pick the most aggressive rule whose accuracy drop vs full T is <= delta
    with probability >= ``confidence`` over the draw of the calibration set.

    Loss per sample: 1 if the cutoff decision is wrong while the full-T
    decision is right (a *flip*); the drop in accuracy is at most the flip
    rate r. For each candidate, H0: r > delta is tested with the exact
    binomial test (p-value P[Bin(n, delta) <= flips]). Candidates are ordered
    from least to most aggressive (the caller's order) and tested in that
    fixed sequence, stopping at the first non-rejection (Learn-then-Test with
    fixed-sequence testing, Angelopoulos et al. 2021): the family-wise error
    is <= 1 - confidence, so with probability >= confidence every selected
    rule, in particular the most aggressive one returned, has flip rate
    <= delta on the distribution the calibration set was drawn from
    (exchangeable with the test data). If no candidate passes, the least
    aggressive (index 0, normally fixed T) is returned.
    """
    labels = np.asarray(labels)
    pred_T = per_step_predictions(spikes)[:, -1]
    right_T = pred_T == labels
    n = len(labels)
    pvals, drops, steps = [], [], []
    for rule in candidates:
        t_c, pred = cutoff(rule, spikes)
        flips = int(np.sum(right_T & (pred != labels)))
        pvals.append(binomial_sf_pvalue(flips, n, delta))
        drops.append(float(right_T.mean() - (pred == labels).mean()))
        steps.append(float(t_c.mean()))
    chosen = 0
    for i, p in enumerate(pvals):
        if p <= 1 - confidence:
            chosen = i
        else:
            break
    return RiskControlResult(candidates[chosen], chosen, np.array(pvals), np.array(drops), np.array(steps),
                             delta, confidence)
