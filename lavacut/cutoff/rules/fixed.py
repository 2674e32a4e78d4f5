"""Fixed T: the baseline (no early stop), a static truncation with
``t_stop``, and the rule a network with too few outputs falls back to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from lavacut.cutoff.rules.base import StopRule, register


@register
@dataclass
class FixedT(StopRule):
    """No early stop: run ``t_stop`` steps (default: all ``T``). The baseline,
    and with ``t_stop < T`` a static truncation. Nothing is calibrated; its
    sweep is every truncation 1..T (the fixed-T curve)."""

    name: ClassVar[str] = "fixed"
    min_classes: ClassVar[int] = 1
    needs_decision: ClassVar[bool] = False
    t_stop: int | None = None

    def __post_init__(self):
        if self.t_stop is not None and (
            isinstance(self.t_stop, bool) or not isinstance(self.t_stop, (int, np.integer)) or self.t_stop < 1
        ):
            raise ValueError(f"fixed: t_stop must be a positive whole number of steps, got {self.t_stop!r}")

    def check_horizon(self, T: int) -> None:
        if self.t_stop is not None and self.t_stop > T:
            raise ValueError(f"fixed: t_stop={self.t_stop} exceeds the T={T} steps the network runs")

    def fires(self, counts, t):
        t = np.asarray(t)
        if self.t_stop is None:
            return np.zeros(t.shape, dtype=bool)
        return t >= self.t_stop

    @classmethod
    def sweep_values(cls, T):
        return range(1, T + 1)

    @classmethod
    def sweep_rule(cls, value, data):
        return cls(t_stop=value)


def applicable_rule(rule: StopRule | type[StopRule], num_classes: int) -> tuple[StopRule, str | None]:
    """The rule to run on a network with ``num_classes`` outputs: ``rule``
    itself, or fixed T when it needs more classes than there are, with the
    note saying so (None when nothing was replaced). ``rule`` may be a rule
    class (its parameters need not exist to know it does not apply)."""
    if num_classes >= rule.min_classes:
        if isinstance(rule, type):
            raise TypeError("applicable_rule: a rule class that applies needs its parameters; pass the rule")
        return rule, None
    return FixedT(), (
        f"fixed T: the network has {num_classes} output{'s' if num_classes != 1 else ''}, "
        f"no stop rule applies (policy {rule.name} needs {rule.min_classes} classes)"
    )
