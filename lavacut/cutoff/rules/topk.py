"""Top-K gap, the paper's rule: stop at the first t with top1(Y) - top2(Y)
> beta(t), the per-step thresholds calibrated for a tolerance eps
(docs/method.md), and the choice of eps for an accuracy-drop budget."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from lavacut.cutoff.binomial import rate_with_interval
from lavacut.cutoff.rules.base import StopRule, number, register
from lavacut.cutoff.rules.counts import cumulative_counts, cutoff, optimal_cutoff_steps, per_step_predictions, top2_gap

#: the tolerances the reference sweeps (docs/method.md: eps = 0.00..0.09)
EPS_GRID = tuple(round(0.01 * i, 2) for i in range(10))


@register
@dataclass
class TopKGap(StopRule):
    """The paper's rule: stop at the first t with top1(Y) - top2(Y) > beta(t).

    ``beta`` is a per-step vector of length T (index t-1)."""

    name: ClassVar[str] = "topk"
    optional: ClassVar[tuple[str, ...]] = ("delta", "confidence")
    thresholds: ClassVar[tuple[str, ...]] = ("beta",)
    calibrated_for: ClassVar[dict[str, str]] = {"eps": "beta"}
    sweep_grid: ClassVar[tuple] = EPS_GRID
    sweep_option: ClassVar[str] = "eps"
    beta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    eps: float | None = None  # the tolerance it was calibrated for (informational)
    # a risk-controlled choice (``lavacut calibrate --risk-delta``): accuracy
    # drop <= delta with this confidence (informational: the report checks it)
    delta: float | None = None
    confidence: float | None = None

    def __post_init__(self):
        try:
            self.beta = np.asarray(self.beta, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"topk: beta must be a per-step list of numbers, got {self.beta!r}") from None
        if self.beta.ndim != 1 or self.beta.size == 0:
            raise ValueError(f"topk: beta must be a non-empty 1-D per-step vector, got shape {self.beta.shape}")
        if not np.all(np.isfinite(self.beta)):
            raise ValueError("topk: beta contains NaN or infinite values")
        if np.any(self.beta < 0):  # the gap is never negative: every sample would stop at its first step
            raise ValueError(
                f"topk: beta has negative values (min {self.beta.min():g}, at step "
                f"{int(np.argmin(self.beta)) + 1}); a gap threshold below 0 stops every sample at once"
            )
        if self.eps is not None:  # informational, but reports compare accuracy with 1 - eps
            self.eps = number("topk", "eps", self.eps, 0.0, 1.0, lo_open=False, hi_open=True)
        if self.delta is not None:
            self.delta = number("topk", "delta", self.delta, 0.0, 1.0, hi_open=True)
        if self.confidence is not None:
            self.confidence = number("topk", "confidence", self.confidence, 0.0, 1.0, hi_open=True)

    def check_horizon(self, T: int) -> None:
        if len(self.beta) != T:
            raise ValueError(
                f"topk: beta has {len(self.beta)} entries but the network runs T={T} steps; "
                f"beta must hold one threshold per timestep"
            )

    def fires(self, counts, t):
        t = np.asarray(t)
        idx = np.clip(t - 1, 0, len(self.beta) - 1)
        return top2_gap(counts) > self.beta[idx]

    @classmethod
    def calibrate(cls, data, *, eps: float, **_):
        """beta(t) on every calibration sample, as docs/method.md says."""
        return calibrate_topk(data.spikes, data.labels, eps)

    def has_target(self) -> bool:
        return self.delta is not None or self.eps is not None

    def target(self, spikes, labels, t_c, pred, pred_full, level) -> dict[str, Any]:
        """With ``delta`` (``topk_risk``): the flip rate (right at T, wrong at
        the cutoff) <= delta with probability >= confidence over the
        calibration draw. Else (eps): docs/method.md calibrates beta(t) so
        that, per step, at least 1 - eps of the samples whose gap exceeds
        beta(t) are already settled (OCT <= t; a sample wrong at T has OCT =
        T); achieved: the share settled at the cutoff, over all samples and
        over those stopped before T. An empirical calibration on the training
        split, not a finite-sample guarantee."""
        n = len(labels)
        if self.delta is not None:
            flips = int(np.sum((pred_full == labels) & (pred != labels)))
            ach = rate_with_interval(flips, n, level)
            return {
                "target": {
                    "quantity": "flip rate (right at full T, wrong at the cutoff), bounds the accuracy drop",
                    "max": self.delta,
                    "delta": self.delta,
                    "confidence": self.confidence,
                    "eps": self.eps,
                },
                "achieved": ach,
                "met": ach["rate"] <= self.delta,
                "guarantee": f"flip rate <= {self.delta:g} with probability >= {self.confidence} over the draw of "
                f"the calibration hold-out (Learn-then-Test, exact binomial test)",
            }
        settled = optimal_cutoff_steps(spikes, labels) <= t_c
        early = t_c < spikes.shape[-1]
        ach = rate_with_interval(int(settled.sum()), n, level)
        return {
            "target": {
                "quantity": "settled at the cutoff (OCT <= t_c: the decision is right and stays right, "
                "or the sample is wrong at T and ran to T; docs/method.md's c_n(t))",
                "min": 1.0 - self.eps,
                "eps": self.eps,
            },
            "achieved": ach,
            "met": ach["rate"] >= 1.0 - self.eps - 1e-12,
            "achieved_early_stops": rate_with_interval(int(settled[early].sum()), int(early.sum()), level),
            "guarantee": "none (per-step empirical calibration on the training split, docs/method.md)",
        }


def calibrate_topk(spikes: np.ndarray, labels: np.ndarray, eps: float, n_candidates: int = 100) -> TopKGap:
    """Per-step thresholds beta(t) for tolerance ``eps`` (docs/method.md):

    g_n(t) = top1 - top2 of Y_n(t); c_n(t) = 1[OCT_n <= t];
    beta_m = m G / 100 (m = 0..99, G = max gap over all n, t);
    C(m, t) = sum_n 1[g_n(t) > beta_m] c_n(t) / sum_n 1[g_n(t) > beta_m], an
    empty denominator counting as not satisfied and row m = 99 as satisfied;
    beta(t) = beta_{m*(t)}, m*(t) = min {m : C(m, t) >= 1 - eps}.
    """
    Y = cumulative_counts(spikes)  # (N, K, T)
    g = top2_gap(np.moveaxis(Y, 1, -1)).astype(np.float64)  # (N, T)
    N, T = g.shape
    oct_ = optimal_cutoff_steps(spikes, labels)  # (N,)
    c = (oct_[:, None] <= np.arange(1, T + 1)[None, :]).astype(np.float64)
    G = float(g.max()) if g.size else 0.0
    betas = np.arange(n_candidates) * G / n_candidates  # (M,)
    above = g[None, :, :] > betas[:, None, None]  # (M, N, T)
    den = above.sum(axis=1)  # (M, T)
    num = (above * c[None]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.where(den > 0, num / np.maximum(den, 1), -np.inf)
    ok = conf >= 1.0 - eps
    ok[-1, :] = True  # row m = 99 counts as satisfied
    m_star = ok.argmax(axis=0)  # first satisfied m per t
    return TopKGap(beta=betas[m_star], eps=float(eps))


@dataclass
class EpsChoice:
    eps: float
    max_drop_pp: float
    n_holdout: int
    #: per candidate eps: accuracy drop on the hold-out (pp) and mean timesteps
    table: list[dict]


def choose_topk_eps(
    fit_spikes: np.ndarray,
    fit_labels: np.ndarray,
    hold_spikes: np.ndarray,
    hold_labels: np.ndarray,
    max_drop_pp: float = 0.3,
    grid: tuple[float, ...] = EPS_GRID,
) -> EpsChoice:
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
        row = {
            "eps": float(eps),
            "drop_pp": 100.0 * lost / max(n, 1),
            "mean_t": float(t_c.mean()),
            "within_budget": lost <= allowed,
        }
        row["_lost"] = lost
        table.append(row)
    ok = [r for r in table if r["within_budget"]]
    best = min(ok, key=lambda r: r["mean_t"]) if ok else min(table, key=lambda r: (r["_lost"], r["mean_t"]))
    for r in table:
        del r["_lost"]
    return EpsChoice(eps=best["eps"], max_drop_pp=float(max_drop_pp), n_holdout=n, table=table)
