"""Calibration of the stop rules on a calibration split (never the test split).

All functions take output spikes ``(N, K, T)`` of the calibration samples
(SLAYER forward, optionally with dropout, see :func:`calibration_spikes`) and
labels, and return the parameters of a :mod:`lavacut.cutoff.rules` rule.

- :func:`calibrate_topk`: the paper's per-step beta(t) (METHOD.md, exactly).
- :func:`calibrate_temperature`: softmax temperature on counts by NLL.
- :func:`calibrate_conformal`: SpikeCP per-step score quantiles.
- :func:`risk_controlled`: beyond the paper, a Learn-then-Test selection with
  a finite-sample guarantee on the accuracy drop (see its docstring).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lavacut.cutoff.rules import (Conformal, Confidence, Entropy, StopRule, TopKGap, cumulative_counts,
                                      cutoff, optimal_cutoff_steps, per_step_predictions, softmax, top2_gap)


def calibrate_topk(spikes: np.ndarray, labels: np.ndarray, eps: float, n_candidates: int = 100) -> TopKGap:
    """Per-step thresholds beta(t) for tolerance ``eps`` (METHOD.md):

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
    """Softmax temperature on the full-T counts minimising the NLL (log grid)."""
    Y = cumulative_counts(spikes)[..., -1].astype(np.float64)  # (N, K)
    grid = np.logspace(-1, 2, 61) if grid is None else grid
    best, best_t = math.inf, 1.0
    for temp in grid:
        p = softmax(Y, temp)[np.arange(len(labels)), labels]
        nll = -np.log(np.clip(p, 1e-12, None)).mean()
        if nll < best:
            best, best_t = nll, float(temp)
    return best_t


def calibrate_conformal(spikes: np.ndarray, labels: np.ndarray, alpha: float, temperature: float) -> Conformal:
    """SpikeCP: per step t, q(t) = the ceil((1 - alpha)(n + 1))-th smallest
    nonconformity score s = -log(softmax(Y(t)/temperature)_y + 1e-5) over the
    n calibration samples (+inf when that rank exceeds n)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"conformal: alpha must be in (0, 1), got {alpha}")
    Y = np.moveaxis(cumulative_counts(spikes), 1, -1)       # (N, T, K)
    N, T, K = Y.shape
    p = softmax(Y, temperature)[np.arange(N)[:, None], np.arange(T)[None, :], np.asarray(labels)[:, None]]
    s = -np.log(p + 1e-5)                                    # (N, T)
    # (1 - alpha)(n + 1) is often an integer computed in floating point, e.g.
    # (1 - 0.7) * 10 = 3.0000000000000004: do not let rounding bump the rank
    rank = math.ceil((1 - alpha) * (N + 1) - 1e-9)
    q = np.full(T, np.inf) if rank > N else np.sort(s, axis=0)[rank - 1]
    return Conformal(q=np.where(np.isfinite(q), q, 1e9), alpha=float(alpha), temperature=float(temperature))


def calibrate_all(spikes: np.ndarray, labels: np.ndarray, eps: float = 0.02, alpha: float = 0.05,
                  entropy_threshold: float | None = None) -> dict[str, StopRule]:
    """Every rule with parameters calibrated on one calibration set."""
    temp = calibrate_temperature(spikes, labels)
    return {
        "topk": calibrate_topk(spikes, labels, eps),
        "confidence": Confidence(eps=eps, temperature=temp),
        "entropy": Entropy(threshold=entropy_threshold if entropy_threshold is not None else 0.1,
                           temperature=temp),
        "conformal": calibrate_conformal(spikes, labels, alpha, temp),
    }


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
    from scipy.stats import binom
    return float(binom.cdf(k, n, p))


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
    T = spikes.shape[-1]
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
