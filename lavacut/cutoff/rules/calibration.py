"""What a rule is calibrated from: the calibration split's output spikes and
labels, the hold-out the network was not trained on, and the softmax
temperature the probability rules share."""

from __future__ import annotations

import math

import numpy as np

from lavacut.cutoff.rules.counts import cumulative_counts, softmax


def calibrate_temperature(spikes: np.ndarray, labels: np.ndarray, grid: np.ndarray | None = None) -> float:
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


class CalibrationData:
    """The samples a rule is calibrated on (:meth:`StopRule.calibrate`).

    ``spikes`` ``(N, K, T)`` and ``labels`` ``(N,)``: the calibration pass
    (training split, optionally with dropout). ``holdout`` (a boolean mask
    over those samples: ones the network was not trained on) with
    ``holdout_spikes`` (their spikes run as in deployment, eval mode) splits
    them: :attr:`cal` is the hold-out, :attr:`fit` the other samples; without
    a hold-out both are every sample. :attr:`temperature` is fitted on
    :attr:`fit` once, when a rule first asks for it, unless given.
    """

    def __init__(
        self,
        spikes: np.ndarray,
        labels: np.ndarray,
        holdout: np.ndarray | None = None,
        holdout_spikes: np.ndarray | None = None,
        temperature: float | None = None,
    ):
        self.spikes, self.labels = spikes, np.asarray(labels)
        self.split = holdout is not None and holdout_spikes is not None and bool(np.any(holdout))
        if self.split:
            self.fit = (spikes[~holdout], self.labels[~holdout])
            self.cal = (holdout_spikes, self.labels[holdout])
        else:
            self.fit = self.cal = (spikes, self.labels)
        self._temperature = temperature

    @property
    def temperature(self) -> float:
        """The softmax temperature of the probability rules (NLL on :attr:`fit`)."""
        if self._temperature is None:
            self._temperature = calibrate_temperature(*self.fit)
        return self._temperature
