"""SpikeCP (conformal prediction sets over the counts) with its Bonferroni
correction over the decision steps: the rule, its calibration and what it
guarantees."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from lavacut.cutoff.binomial import rate_with_interval
from lavacut.cutoff.rules.base import StopRule, number, register
from lavacut.cutoff.rules.counts import cumulative_counts, cutoff, softmax


@register
@dataclass
class Conformal(StopRule):
    """SpikeCP (Chen et al., arXiv 2305.11322) with its Bonferroni correction
    over the decision steps.

    Prediction set at step t: Gamma(t) = {k : s_k(t) <= q(t)}, with the
    nonconformity score s_k(t) = -log(softmax(Y(t)/temperature)_k + 1e-5).
    The rule stops at the first *checkpoint* t in C (1-based decision steps;
    ``None`` = every step) where |Gamma(t)| <= 1; at T (always a checkpoint)
    it stops regardless. The decision is argmax Y(t_c), which is the element
    of a singleton set (the score falls as the count rises).

    **Guarantee** (when ``q`` comes from :func:`calibrate_conformal`
    with ``correction="bonferroni"``): q(t) is the
    ceil((1 - alpha/|C|)(n + 1))-th smallest true-class score of n
    calibration samples at step t, so for a test sample exchangeable with
    them P(y in Gamma(t)) >= 1 - alpha/|C| at every t in C, and by the union
    bound P(y in Gamma(t) for every t in C) >= 1 - alpha. The stopping step
    lies in C, hence

        P(y in Gamma(t_c)) >= 1 - alpha

    over the draw of the calibration set and the test sample, whatever the
    stopping rule does with the sets. It is a marginal guarantee on the
    *set*; the accuracy at the cutoff equals the coverage except where the
    rule is forced to stop at T with a set of two or more classes (or stops
    on an empty set), so it can be lower. It needs calibration data
    exchangeable with deployment data: samples the network was not trained
    on, run as in deployment (no dropout). ``correction="none"`` (q at level
    1 - alpha at every step, the rule before issue 15) has no guarantee: the
    risk is spent once per checkpoint.

    Some statements of the rule write the set with ``<``; we use split conformal prediction's
    usual ``<=``. The difference is ties: with no output spikes yet every
    class has the same score, the calibrated q(t) of an early step equals it,
    and the strict set would be empty and stop every sample at step 1 with
    no decision (seen: 0 % accuracy at t = 1 on the embedded set)."""

    name: ClassVar[str] = "conformal"
    optional: ClassVar[tuple[str, ...]] = ("checkpoints", "correction", "n_calibration")
    thresholds: ClassVar[tuple[str, ...]] = ("q",)
    # q(t) is corrected (Bonferroni) for the decision steps too
    calibrated_for: ClassVar[dict[str, str]] = {"alpha": "q", "checkpoints": "q"}
    sweep_grid: ClassVar[tuple] = (0.3, 0.2, 0.15, 0.1, 0.05, 0.02, 0.01)
    sweep_option: ClassVar[str] = "alpha"
    q: np.ndarray = field(default_factory=lambda: np.zeros(0))
    alpha: float | None = None
    temperature: float = 1.0
    checkpoints: list[int] | None = None  # decision steps C (1-based); None: every step
    correction: str | None = None  # how q was calibrated: "bonferroni" or "none" (informational)
    n_calibration: int | None = None  # n, the calibration samples q was computed from (informational)

    def __post_init__(self):
        self.temperature = number("conformal", "temperature", self.temperature, 0.0, math.inf)
        try:
            self.q = np.asarray(self.q, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"conformal: q must be a per-step list of numbers, got {self.q!r}") from None
        if np.isnan(self.q).any():
            raise ValueError("conformal: q contains NaN")
        if self.q.ndim != 1 or self.q.size == 0:
            raise ValueError(f"conformal: q must be a non-empty 1-D per-step vector, got shape {self.q.shape}")
        if self.checkpoints is not None:
            c = self.checkpoints
            if (
                isinstance(c, (str, bytes))
                or not hasattr(c, "__len__")
                or len(c) == 0
                or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in c)
            ):
                raise ValueError(f"conformal: checkpoints must be a non-empty list of 1-based steps, got {c!r}")
            self.checkpoints = sorted({int(v) for v in c})
        if self.correction not in (None, "bonferroni", "none"):
            raise ValueError(f"conformal: correction must be 'bonferroni' or 'none', got {self.correction!r}")

    def check_horizon(self, T: int) -> None:
        if len(self.q) != T:
            raise ValueError(f"conformal: q has {len(self.q)} entries but the network runs T={T} steps")
        if self.checkpoints is not None and self.checkpoints[-1] > T:
            raise ValueError(f"conformal: checkpoint {self.checkpoints[-1]} exceeds the T={T} steps the network runs")

    def prediction_set(self, counts, t) -> np.ndarray:
        """Gamma(t) as a boolean mask over the classes (last axis of counts)."""
        t = np.asarray(t)
        idx = np.clip(t - 1, 0, len(self.q) - 1)
        s = -np.log(softmax(counts, self.temperature) + 1e-5)
        return s <= self.q[idx][..., None]

    def fires(self, counts, t):
        small = self.prediction_set(counts, t).sum(axis=-1) <= 1
        if self.checkpoints is None:
            return small
        return small & np.isin(np.asarray(t), self.checkpoints)

    @classmethod
    def calibrate(cls, data, *, alpha: float, checkpoints: int | list[int] | None | str = "auto", **_):
        """q(t) from the hold-out alone when there is one, the decision steps
        (``"auto"``: :func:`select_checkpoints`) and the temperature from the
        other samples, so SpikeCP's guarantee holds; without a hold-out both
        from every sample (the guarantee then assumes those samples are
        exchangeable with the test data, which a training split is not)."""
        return calibrate_conformal_split(*data.fit, *data.cal, alpha, data.temperature, checkpoints=checkpoints)

    def has_target(self) -> bool:
        return self.alpha is not None

    def target(self, spikes, labels, t_c, pred, pred_full, level) -> dict[str, Any]:
        """P(y in the set at t_c) >= 1 - alpha (with the Bonferroni
        correction). Achieved: the coverage at the cutoff, and whether the
        accuracy at the cutoff met 1 - alpha too."""
        Yc = cumulative_counts(spikes)[np.arange(len(t_c)), :, np.asarray(t_c) - 1]
        cov = self.prediction_set(Yc, t_c)[np.arange(len(labels)), labels]
        ach = rate_with_interval(int(cov.sum()), len(labels), level)
        corrected = self.correction == "bonferroni"
        n_c = len(self.checkpoints) if self.checkpoints is not None else spikes.shape[-1]
        return {
            "target": {
                "quantity": "coverage: true class in the prediction set at the cutoff",
                "min": 1.0 - self.alpha,
                "alpha": self.alpha,
                "checkpoints": self.checkpoints,
                "correction": self.correction,
                "n_calibration": self.n_calibration,
            },
            "achieved": ach,
            "met": ach["rate"] >= 1.0 - self.alpha - 1e-12,
            "accuracy_met": float(np.mean(pred == labels)) >= 1.0 - self.alpha - 1e-12,
            "guarantee": (
                f"P(y in set at t_c) >= {1 - self.alpha:g} (Bonferroni over {n_c} decision steps, "
                f"{self.n_calibration} calibration samples exchangeable with the test data)"
                if corrected
                else "none (uncorrected per-step quantiles)"
            ),
        }


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


def calibrate_conformal(
    spikes: np.ndarray,
    labels: np.ndarray,
    alpha: float,
    temperature: float,
    checkpoints: int | list[int] | None = None,
    correction: str = "bonferroni",
) -> Conformal:
    """SpikeCP with its correction over the decision steps.

    Scores s_n(t) = -log(softmax(Y_n(t)/temperature)_{y_n} + 1e-5) of the n
    calibration samples; decision steps C from :func:`conformal_checkpoints`
    (T is always one). With ``correction="bonferroni"`` (the default, as
    SpikeCP and docs/method.md specify) q(t) is the ceil((1 - alpha/|C|)(n + 1))-th
    smallest s_n(t) at every step t (+inf, stored as 1e9, when that rank
    exceeds n), which gives P(y in Gamma(t_c)) >= 1 - alpha at the stopping
    step for a test sample exchangeable with the calibration samples (proof
    in :class:`Conformal`). ``correction="none"`` takes
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
    Y = np.moveaxis(cumulative_counts(spikes), 1, -1)  # (N, T, K)
    N, T, K = Y.shape
    steps = conformal_checkpoints(T, checkpoints)
    p = softmax(Y, temperature)[np.arange(N)[:, None], np.arange(T)[None, :], np.asarray(labels)[:, None]]
    s = -np.log(p + 1e-5)  # (N, T)
    rank = conformal_rank(N, alpha, len(steps) if correction == "bonferroni" else 1)
    q = np.full(T, np.inf) if rank > N else np.sort(s, axis=0)[rank - 1]
    return Conformal(
        q=np.where(np.isfinite(q), q, 1e9),
        alpha=float(alpha),
        temperature=float(temperature),
        checkpoints=None if checkpoints is None and correction == "none" else steps,
        correction=correction,
        n_calibration=int(N),
    )


def select_checkpoints(
    fit_spikes: np.ndarray, fit_labels: np.ndarray, alpha: float, temperature: float, n_calibration: int
) -> list[int]:
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


def calibrate_conformal_split(
    fit_spikes: np.ndarray,
    fit_labels: np.ndarray,
    cal_spikes: np.ndarray,
    cal_labels: np.ndarray,
    alpha: float,
    temperature: float,
    checkpoints: int | list[int] | None | str = "auto",
) -> Conformal:
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
