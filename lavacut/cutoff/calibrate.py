"""Calibration of the stop rules on a calibration split (never the test split).

All functions take output spikes ``(N, K, T)`` of the calibration samples
(SLAYER forward, optionally with dropout) and labels, and return the
parameters of a :mod:`lavacut.cutoff.rules` rule.

- :func:`calibrate_all`: every registered rule, each by its own
  :meth:`~lavacut.cutoff.rules.StopRule.calibrate`. The rule-specific
  calibrations live in the rule's module: Top-K's per-step beta(t) and the
  choice of its eps on held-out samples (:mod:`lavacut.cutoff.rules.topk`),
  SpikeCP's per-step score quantiles with the Bonferroni correction
  (:mod:`lavacut.cutoff.rules.conformal`), the softmax temperature by NLL
  (:mod:`lavacut.cutoff.rules.calibration`).
- :func:`risk_controlled`: beyond the paper, a Learn-then-Test selection with
  a finite-sample guarantee on the accuracy drop (see its docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lavacut.cutoff.binomial import binom_cdf
from lavacut.cutoff.rules import RULES, CalibrationData, StopRule, cutoff, per_step_predictions


def calibrate_all(
    spikes: np.ndarray,
    labels: np.ndarray,
    eps: float = 0.02,
    alpha: float = 0.05,
    entropy_threshold: float | None = None,
    confidence_eps: float | None = None,
    holdout: np.ndarray | None = None,
    holdout_spikes: np.ndarray | None = None,
    checkpoints: int | list[int] | None | str = "auto",
    **options,
) -> dict[str, StopRule]:
    """Every registered rule that has something to calibrate
    (:meth:`StopRule.calibrate`), in registry order, on one calibration set.

    With ``holdout`` (a boolean mask over the samples: ones the network was
    not trained on) and ``holdout_spikes`` (their output spikes run as in
    deployment, eval mode), the conformal thresholds come from the hold-out
    alone, the temperature and the conformal decision steps from the other
    samples, so SpikeCP's guarantee holds; Top-K is calibrated on every
    sample as docs/method.md says. Without them everything is calibrated on
    ``spikes`` (the conformal guarantee then assumes those samples are
    exchangeable with the test data, which a training split is not).
    Each option is one rule's: ``eps``: Top-K's tolerance, in [0, 1);
    ``alpha``: SpikeCP's miscoverage; ``entropy_threshold``: the entropy
    rule's (None: its default); ``confidence_eps``: the confidence rule's
    margin, in (0, 1) (None: Top-K's eps, or the rule's default when that is 0);
    ``checkpoints``: the conformal decision steps (``"auto"``, a count, a
    list, or None for every step; see
    :func:`calibrate_conformal_split`); ``options``: those of rules added
    beside the built-in ones."""
    data = CalibrationData(spikes, labels, holdout, holdout_spikes)
    options.update(
        eps=eps,
        alpha=alpha,
        entropy_threshold=entropy_threshold,
        confidence_eps=confidence_eps,
        checkpoints=checkpoints,
    )
    rules = {name: cls.calibrate(data, **options) for name, cls in RULES.items()}
    return {name: rule for name, rule in rules.items() if rule is not None}


# --------------------------------------------------------------------------- risk control
@dataclass
class RiskControlResult:
    rule: StopRule
    index: int  # position in the candidate list (0 = least aggressive)
    p_values: np.ndarray  # per candidate, for H0: drop > delta
    empirical_drop: np.ndarray
    mean_steps: np.ndarray
    delta: float
    confidence: float


def binomial_sf_pvalue(k: int, n: int, p: float) -> float:
    """P[Bin(n, p) <= k]: the exact p-value for H0: rate >= p when k of n
    events were observed (small k is evidence against H0)."""
    return binom_cdf(k, n, p)


def risk_controlled(
    spikes: np.ndarray, labels: np.ndarray, candidates: list[StopRule], delta: float, confidence: float = 0.9
) -> RiskControlResult:
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
    return RiskControlResult(
        candidates[chosen], chosen, np.array(pvals), np.array(drops), np.array(steps), delta, confidence
    )
