"""Stop rules (termination policies) over accumulated output spike counts,
one module per rule, registered by policy name in :data:`RULES`.

One implementation serves both engines: the torch engine applies these
functions to SLAYER's output counts, and the Lava ``CutoffMonitor`` calls the
very same :meth:`StopRule.stops` on the counts it accumulates, so a decision in
Lava equals the decision in torch by construction (tested sample by sample).
The conventions of ``Y(t)`` and the cutoff step: :mod:`.counts`. What a rule
declares, and how the registry is read: :mod:`.base` and docs/extending.md.

Importing this package imports every module in it, so a new rule is one new
module here (``@register`` on its class); a rule defined elsewhere is
registered when its module is imported.
"""

import importlib
import pkgutil

from lavacut.cutoff.rules.base import RULES, StopRule, number, register, rule_from_params, rule_names, unregister
from lavacut.cutoff.rules.calibration import CalibrationData, calibrate_temperature
from lavacut.cutoff.rules.counts import (
    NO_DECISION,
    cumulative_counts,
    cutoff,
    group_sums,
    optimal_cutoff_steps,
    per_step_predictions,
    predict,
    softmax,
    top2_gap,
)

# the built-in rules, in the order the CLI, calibration and the sweeps list them
from lavacut.cutoff.rules.topk import TopKGap
from lavacut.cutoff.rules.confidence import Confidence
from lavacut.cutoff.rules.entropy import Entropy
from lavacut.cutoff.rules.conformal import Conformal
from lavacut.cutoff.rules.fixed import FixedT, applicable_rule

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "RULES",
    "StopRule",
    "register",
    "unregister",
    "rule_names",
    "rule_from_params",
    "applicable_rule",
    "number",
    "CalibrationData",
    "calibrate_temperature",
    "NO_DECISION",
    "predict",
    "softmax",
    "top2_gap",
    "cumulative_counts",
    "group_sums",
    "cutoff",
    "per_step_predictions",
    "optimal_cutoff_steps",
    "TopKGap",
    "Confidence",
    "Entropy",
    "Conformal",
    "FixedT",
]
