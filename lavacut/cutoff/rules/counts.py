"""Output counts Y(t), predictions, the oracle, and a stop rule applied to spikes.

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

from typing import Protocol

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


class Firing(Protocol):
    """What :func:`cutoff` asks of a rule (every :class:`~lavacut.cutoff.rules.base.StopRule` is one); a
    protocol, so that this module needs nothing above it."""

    needs_decision: bool

    def check_horizon(self, T: int) -> None: ...

    def fires(self, counts: np.ndarray, t: np.ndarray) -> np.ndarray: ...


def cutoff(rule: Firing, spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a rule to output spikes ``(N, K, T)``.

    Returns ``(t_c, pred)``: the 1-based cutoff step per sample (T when the
    rule never fires) and the prediction ``argmax Y(t_c)`` (-1: no spikes yet).
    """
    Y = cumulative_counts(spikes)
    N, K, T = Y.shape
    rule.check_horizon(T)
    steps = np.arange(1, T + 1)
    Yt = np.moveaxis(Y, -1, 1)  # (N, T, K)
    fired = rule.fires(Yt, np.broadcast_to(steps, (N, T)))  # (N, T)
    if rule.needs_decision:
        fired &= Yt.any(axis=-1)  # no stop before a decision (as StopRule.stops)
    fired[:, -1] = True
    t_c = fired.argmax(axis=1) + 1
    Yc = Yt[np.arange(N), t_c - 1]  # (N, K)
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
    pred = per_step_predictions(spikes)  # (N, T)
    N, T = pred.shape
    wrong = pred != np.asarray(labels)[:, None]
    # last wrong step (1-based), 0 if never wrong
    any_wrong = wrong.any(axis=1)
    last_wrong = np.where(any_wrong, T - np.argmax(wrong[:, ::-1], axis=1), 0)
    oct_ = np.minimum(last_wrong + 1, T)
    return np.where(wrong[:, -1], T, oct_).astype(np.int64)
