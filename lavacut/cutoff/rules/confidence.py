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
    is calibrate_all's (Top-K's tolerance)."""

    name: ClassVar[str] = "confidence"
    sweep_grid: ClassVar[tuple] = (0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.001)
    sweep_option: ClassVar[str] = "eps"
    eps: float = 0.05
    temperature: float = 1.0

    def __post_init__(self):
        self.eps = number("confidence", "eps", self.eps, 0.0, 1.0, hi_open=True)
        self.temperature = number("confidence", "temperature", self.temperature, 0.0, math.inf)

    def fires(self, counts, t):
        return softmax(counts, self.temperature).max(axis=-1) > 1.0 - self.eps

    @classmethod
    def calibrate(cls, data, *, eps: float, **_):
        return cls(eps=eps, temperature=data.temperature)
