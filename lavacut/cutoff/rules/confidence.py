"""SEENN-I's confidence rule: stop when the top softmax probability of the
counts exceeds 1 - eps."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from lavacut.cutoff.rules.base import StopRule, number, register
from lavacut.cutoff.rules.counts import softmax


@register
@dataclass
class Confidence(StopRule):
    """SEENN-I: stop when max softmax(Y / temperature) > 1 - eps.
    Calibrated: the temperature (shared, NLL on the calibration split); eps
    is calibrate_all's ``confidence_eps``; unless given, Top-K's eps (the
    two have always been calibrated alike, and the recorded results use it),
    or this default when Top-K's is 0: Top-K's eps is a share of unsettled
    stopping samples and may be 0, this one a margin on a probability, which
    must be > 0 (at 0 nothing ever stops)."""

    name: ClassVar[str] = "confidence"
    sweep_grid: ClassVar[tuple] = (0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.001)
    sweep_option: ClassVar[str] = "confidence_eps"
    eps: float = 0.05
    temperature: float = 1.0

    def __post_init__(self):
        self.eps = number("confidence", "eps", self.eps, 0.0, 1.0, hi_open=True)
        self.temperature = number("confidence", "temperature", self.temperature, 0.0, math.inf)

    def fires(self, counts, t):
        return softmax(counts, self.temperature).max(axis=-1) > 1.0 - self.eps

    @classmethod
    def calibrate(cls, data, *, confidence_eps: float | None = None, eps: float | None = None, **_):
        margin = confidence_eps if confidence_eps is not None else (eps or None)
        if margin is None:
            return cls(temperature=data.temperature)
        return cls(eps=margin, temperature=data.temperature)
