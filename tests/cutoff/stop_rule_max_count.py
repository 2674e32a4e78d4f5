"""A stop rule defined outside lavacut, in one module: the worked example of
docs/extending.md. Importing this module registers it; nothing else changes.

Max count: stop once the leading class has ``count`` output spikes (a
threshold on the evidence itself, with no softmax or per-step calibration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from lavacut.cutoff.rules import StopRule, cutoff, per_step_predictions, register


@register
@dataclass
class MaxCount(StopRule):
    """Stop at the first t where max_k Y_k(t) >= ``count``."""

    name: ClassVar[str] = "max-count"
    sweep_grid: ClassVar[tuple] = (1, 2, 3, 5, 8, 13)
    sweep_option: ClassVar[str] = "max_count"
    count: int = 5

    def __post_init__(self):
        if isinstance(self.count, bool) or not isinstance(self.count, (int, np.integer)) or self.count < 1:
            raise ValueError(f"max-count: count must be a positive whole number of spikes, got {self.count!r}")
        self.count = int(self.count)

    def fires(self, counts, t):
        return np.asarray(counts).max(axis=-1) >= self.count

    @classmethod
    def calibrate(cls, data, *, max_count: int | None = None, eps: float = 0.02, **_):
        """``max_count`` when given (the option its sweep varies), else the
        smallest count of the sweep at which at most ``eps`` (calibrate_all's
        Top-K tolerance; this default serves direct calls) of the calibration
        samples decide otherwise than at full T (the largest when none does)."""
        if max_count is not None:
            return cls(count=max_count)
        full = per_step_predictions(data.spikes)[:, -1]
        for c in cls.sweep_grid:
            if np.mean(cutoff(cls(count=c), data.spikes)[1] != full) <= eps:
                return cls(count=c)
        return cls(count=cls.sweep_grid[-1])
