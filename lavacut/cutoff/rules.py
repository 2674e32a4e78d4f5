"""Stop rules (termination policies) over accumulated output spike counts.

One implementation serves both engines: the torch engine applies these
functions to SLAYER's output counts, and the Lava ``CutoffMonitor`` calls the
very same :meth:`StopRule.stops` on the counts it accumulates, so a decision in
Lava equals the decision in torch by construction (tested sample by sample).

Conventions (docs/method.md):

- ``counts`` is ``Y(t)``, the running SUM of output spikes, shape ``(K,)``,
  integers; ``t`` is the 1-based output timestep (frames seen by the output
  layer, not Lava's global time step).
- prediction ``argmax Y(t)``; ties go to the lowest class index; an all-zero
  ``Y`` means "no decision yet" and :func:`predict` returns -1 for it.
- the cutoff step is the first ``t`` at which the rule fires with a decision
  (``Y(t)`` not all zero), or ``T``: no adaptive rule stops before the
  output has said anything, so a silent output runs to ``T`` (no savings
  are invented); a static truncation (``FixedT(t_stop)``) stops regardless.
- with a voltage readout (an output layer that never spikes), ``Y(t)`` is
  the output voltages at step ``t`` rather than a count; the engines hand
  the rules their per-step increments (``v(t) - v(t-1)``), so the same
  running sum gives ``Y(t) = v(t)`` and every rule and calibration applies
  unchanged.
- a rule that compares classes needs two of them (``min_classes``): on a
  one-output network :func:`applicable_rule` falls back to fixed ``T``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np

NO_DECISION = -1


def predict(counts: np.ndarray) -> int:
    """argmax of counts, lowest index on ties, -1 when all are zero."""
    counts = np.asarray(counts)
    if not counts.any():
        return NO_DECISION
    return int(np.argmax(counts))


def softmax(counts: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of counts / temperature along the last axis (float64, stable)."""
    z = np.asarray(counts, dtype=np.float64) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def top2_gap(counts: np.ndarray) -> np.ndarray:
    """top1 - top2 of the counts along the last axis (the Top-K gap, k = 2)."""
    part = np.sort(np.asarray(counts), axis=-1)
    return part[..., -1] - part[..., -2]


def _number(rule: str, name: str, value, lo: float, hi: float, lo_open: bool = True,
            hi_open: bool = False) -> float:
    """A finite real parameter within its range, else ValueError naming both."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)):
        raise ValueError(f"{rule}: {name} must be a number, got {value!r}")
    v = float(value)
    if (v <= lo if lo_open else v < lo) or (v >= hi if hi_open else v > hi):
        raise ValueError(f"{rule}: {name} must be in {'(' if lo_open else '['}{lo:g}, "
                         f"{'inf' if math.isinf(hi) else f'{hi:g}'}{')' if hi_open else ']'}, got {value!r}")
    return v


@dataclass
class StopRule:
    """A rule deciding, from ``Y(t)`` and ``t``, whether to stop now.

    Subclasses implement :meth:`fires` vectorised over leading axes; the scalar
    :meth:`stops` the Lava monitor calls is the same function on one sample.
    """

    name: ClassVar[str] = "abstract"
    #: optional fields left out of :meth:`params` while None (files written
    #: before they existed read the same, and older readers still read topk)
    optional: ClassVar[tuple[str, ...]] = ()
    #: outputs the rule needs: a softmax over one class is always certain,
    #: a top-2 gap or a prediction set needs two
    min_classes: ClassVar[int] = 2
    #: stops only once Y(t) says something (a static truncation does not wait)
    needs_decision: ClassVar[bool] = True

    def fires(self, counts: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        raise NotImplementedError

    def stops(self, counts: np.ndarray, t: int) -> bool:
        return bool(self.stops_many(np.asarray(counts)[None, :], np.asarray([t]))[0])

    def stops_many(self, counts: np.ndarray, t: np.ndarray) -> np.ndarray:
        """:meth:`stops` for many samples (or lanes) at once: counts (n, K), t (n,)."""
        counts = np.asarray(counts)
        fired = np.asarray(self.fires(counts, t), dtype=bool)
        return fired & counts.any(axis=1) if self.needs_decision else fired

    def params(self) -> dict[str, Any]:
        d = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()
             if not (k in self.optional and v is None)}
        return {"policy": self.name, **d}

    def check_horizon(self, T: int) -> None:
        """Raise if the rule's per-step parameters do not cover ``T`` steps."""


@dataclass
class FixedT(StopRule):
    """No early stop: run ``t_stop`` steps (default: all ``T``). The baseline,
    and with ``t_stop < T`` a static truncation."""

    name: ClassVar[str] = "fixed"
    min_classes: ClassVar[int] = 1
    needs_decision: ClassVar[bool] = False
    t_stop: int | None = None

    def __post_init__(self):
        if self.t_stop is not None and (isinstance(self.t_stop, bool) or not isinstance(self.t_stop, (int, np.integer))
                                        or self.t_stop < 1):
            raise ValueError(f"fixed: t_stop must be a positive whole number of steps, got {self.t_stop!r}")

    def check_horizon(self, T: int) -> None:
        if self.t_stop is not None and self.t_stop > T:
            raise ValueError(f"fixed: t_stop={self.t_stop} exceeds the T={T} steps the network runs")

    def fires(self, counts, t):
        t = np.asarray(t)
        if self.t_stop is None:
            return np.zeros(t.shape, dtype=bool)
        return t >= self.t_stop


@dataclass
class TopKGap(StopRule):
    """The paper's rule: stop at the first t with top1(Y) - top2(Y) > beta(t).

    ``beta`` is a per-step vector of length T (index t-1)."""

    name: ClassVar[str] = "topk"
    optional: ClassVar[tuple[str, ...]] = ("delta", "confidence")
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
        if np.any(self.beta < 0):   # the gap is never negative: every sample would stop at its first step
            raise ValueError(f"topk: beta has negative values (min {self.beta.min():g}, at step "
                             f"{int(np.argmin(self.beta)) + 1}); a gap threshold below 0 stops every sample at once")
        if self.delta is not None:
            self.delta = _number("topk", "delta", self.delta, 0.0, 1.0, hi_open=True)
        if self.confidence is not None:
            self.confidence = _number("topk", "confidence", self.confidence, 0.0, 1.0, hi_open=True)

    def check_horizon(self, T: int) -> None:
        if len(self.beta) != T:
            raise ValueError(f"topk: beta has {len(self.beta)} entries but the network runs T={T} steps; "
                             f"beta must hold one threshold per timestep")

    def fires(self, counts, t):
        t = np.asarray(t)
        idx = np.clip(t - 1, 0, len(self.beta) - 1)
        return top2_gap(counts) > self.beta[idx]


@dataclass
class Confidence(StopRule):
    """SEENN-I: stop when max softmax(Y / temperature) > 1 - eps."""

    name: ClassVar[str] = "confidence"
    eps: float = 0.05
    temperature: float = 1.0

    def __post_init__(self):
        self.eps = _number("confidence", "eps", self.eps, 0.0, 1.0, hi_open=True)
        self.temperature = _number("confidence", "temperature", self.temperature, 0.0, math.inf)

    def fires(self, counts, t):
        return softmax(counts, self.temperature).max(axis=-1) > 1.0 - self.eps


@dataclass
class Entropy(StopRule):
    """DT-SNN: stop when the normalised entropy of softmax(Y / temperature)
    falls below ``threshold`` (0 = certain, 1 = uniform)."""

    name: ClassVar[str] = "entropy"
    threshold: float = 0.1
    temperature: float = 1.0

    def __post_init__(self):
        self.threshold = _number("entropy", "threshold", self.threshold, 0.0, 1.0)
        self.temperature = _number("entropy", "temperature", self.temperature, 0.0, math.inf)

    def fires(self, counts, t):
        p = softmax(counts, self.temperature)
        k = p.shape[-1]
        h = -(p * np.log(np.clip(p, 1e-300, None))).sum(axis=-1) / math.log(k)
        return h < self.threshold


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

    **Guarantee** (when ``q`` comes from :func:`lavacut.cutoff.calibrate.
    calibrate_conformal` with ``correction="bonferroni"``): q(t) is the
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
    q: np.ndarray = field(default_factory=lambda: np.zeros(0))
    alpha: float | None = None
    temperature: float = 1.0
    checkpoints: list[int] | None = None   # decision steps C (1-based); None: every step
    correction: str | None = None          # how q was calibrated: "bonferroni" or "none" (informational)
    n_calibration: int | None = None       # n, the calibration samples q was computed from (informational)

    def __post_init__(self):
        self.temperature = _number("conformal", "temperature", self.temperature, 0.0, math.inf)
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
            if (isinstance(c, (str, bytes)) or not hasattr(c, "__len__") or len(c) == 0
                    or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in c)):
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


RULES: dict[str, type[StopRule]] = {r.name: r for r in (FixedT, TopKGap, Confidence, Entropy, Conformal)}


def rule_from_params(params: dict[str, Any]) -> StopRule:
    """Rebuild a rule from :meth:`StopRule.params` (as stored in an export's
    metadata or a report). Unknown policy names or fields raise ValueError."""
    params = dict(params)
    name = params.pop("policy", None)
    if name not in RULES:
        raise ValueError(f"unknown stop policy {name!r}; known: {', '.join(RULES)}")
    cls = RULES[name]
    fields = {f.name for f in dataclasses.fields(cls)}     # not the ClassVars (name, optional)
    unknown = set(params) - fields
    if unknown:
        raise ValueError(f"policy {name!r} has no parameter(s) {', '.join(sorted(unknown))}; "
                         f"it takes {', '.join(sorted(fields)) or 'none'}")
    return cls(**params)


def applicable_rule(rule: StopRule | type[StopRule], num_classes: int) -> tuple[StopRule, str | None]:
    """The rule to run on a network with ``num_classes`` outputs: ``rule``
    itself, or fixed T when it needs more classes than there are, with the
    note saying so (None when nothing was replaced). ``rule`` may be a rule
    class (its parameters need not exist to know it does not apply)."""
    if num_classes >= rule.min_classes:
        if isinstance(rule, type):
            raise TypeError("applicable_rule: a rule class that applies needs its parameters; pass the rule")
        return rule, None
    return FixedT(), (f"fixed T: the network has {num_classes} output{'s' if num_classes != 1 else ''}, "
                      f"no stop rule applies (policy {rule.name} needs {rule.min_classes} classes)")


def cumulative_counts(spikes: np.ndarray) -> np.ndarray:
    """Y(t) from output spikes ``(N, K, T)`` -> ``(N, K, T)`` running sums."""
    return np.cumsum(np.asarray(spikes, dtype=np.int64), axis=-1)


def group_sums(spikes: np.ndarray, groups: int) -> np.ndarray:
    """(N, n, T) spikes of the last spiking layer -> (N, K, T) per-step sums
    of the K contiguous groups an average readout averages (the counts the
    Lava monitor uses); ``groups`` 0 returns the spikes."""
    if not groups:
        return spikes
    N, n, T = spikes.shape
    return spikes.reshape(N, groups, n // groups, T).sum(axis=2)


def cutoff(rule: StopRule, spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a rule to output spikes ``(N, K, T)``.

    Returns ``(t_c, pred)``: the 1-based cutoff step per sample (T when the
    rule never fires) and the prediction ``argmax Y(t_c)`` (-1: no spikes yet).
    """
    Y = cumulative_counts(spikes)
    N, K, T = Y.shape
    rule.check_horizon(T)
    steps = np.arange(1, T + 1)
    Yt = np.moveaxis(Y, -1, 1)                      # (N, T, K)
    fired = rule.fires(Yt, np.broadcast_to(steps, (N, T)))  # (N, T)
    if rule.needs_decision:
        fired &= Yt.any(axis=-1)                    # no stop before a decision (as StopRule.stops)
    fired[:, -1] = True
    t_c = fired.argmax(axis=1) + 1
    Yc = Yt[np.arange(N), t_c - 1]                   # (N, K)
    pred = np.where(Yc.any(axis=1), Yc.argmax(axis=1), NO_DECISION)
    return t_c.astype(np.int64), pred.astype(np.int64)


def per_step_predictions(spikes: np.ndarray) -> np.ndarray:
    """argmax Y(t) for every step: ``(N, K, T) -> (N, T)``, -1 where Y(t) = 0."""
    Y = cumulative_counts(spikes)
    pred = Y.argmax(axis=1)
    return np.where(Y.any(axis=1), pred, NO_DECISION)


def optimal_cutoff_steps(spikes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The oracle OCT per sample (docs/method.md): the smallest t such that the
    prediction equals the label at every step t..T; T when yhat(T) is wrong."""
    pred = per_step_predictions(spikes)             # (N, T)
    N, T = pred.shape
    wrong = pred != np.asarray(labels)[:, None]
    # last wrong step (1-based), 0 if never wrong
    any_wrong = wrong.any(axis=1)
    last_wrong = np.where(any_wrong, T - np.argmax(wrong[:, ::-1], axis=1), 0)
    oct_ = np.minimum(last_wrong + 1, T)
    return np.where(wrong[:, -1], T, oct_).astype(np.int64)
