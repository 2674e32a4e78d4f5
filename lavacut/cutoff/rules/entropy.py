"""DT-SNN's entropy rule: stop when the normalised entropy of the softmax
of the counts falls below a threshold."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from lavacut.cutoff.rules.base import StopRule, number, register
from lavacut.cutoff.rules.counts import softmax


@register
@dataclass
class Entropy(StopRule):
    """DT-SNN: stop when the normalised entropy of softmax(Y / temperature)
    falls below ``threshold`` (0 = certain, 1 = uniform). Calibrated: the
    temperature (shared); the threshold is calibrate_all's
    ``entropy_threshold``, else this default."""

    name: ClassVar[str] = "entropy"
    sweep_grid: ClassVar[tuple] = (0.9, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02)
    sweep_option: ClassVar[str] = "entropy_threshold"
    threshold: float = 0.1
    temperature: float = 1.0

    def __post_init__(self):
        self.threshold = number("entropy", "threshold", self.threshold, 0.0, 1.0)
        self.temperature = number("entropy", "temperature", self.temperature, 0.0, math.inf)

    def fires(self, counts, t):
        p = softmax(counts, self.temperature)
        k = p.shape[-1]
        h = -(p * np.log(np.clip(p, 1e-300, None))).sum(axis=-1) / math.log(k)
        return h < self.threshold

    @classmethod
    def calibrate(cls, data, *, entropy_threshold: float | None = None, **_):
        if entropy_threshold is None:
            return cls(temperature=data.temperature)
        return cls(threshold=entropy_threshold, temperature=data.temperature)
