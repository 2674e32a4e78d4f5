"""The stop-rule base class and the registry of rules by policy name.

A stop rule is one module of this package (docs/extending.md): a
:class:`StopRule` dataclass registered with :func:`register`. What the rest
of lavacut asks of a rule by name, the rule declares on its class:

- ``name``: the policy name (``--policy``, ``cutoff.policy``, report keys);
- its parameters: the dataclass fields, validated in ``__post_init__``
  (ValueError naming the rule, the field and the value);
- :meth:`StopRule.fires`: the decision, vectorised over samples;
- :meth:`StopRule.calibrate`: its part of ``lavacut calibrate``
  (:func:`lavacut.cutoff.calibrate.calibrate_all`), from a
  :class:`~lavacut.cutoff.rules.calibration.CalibrationData`;
- ``sweep_grid`` / ``sweep_option`` (or :meth:`StopRule.sweep_values` and
  :meth:`StopRule.sweep_rule`): its accuracy-vs-timesteps sweep
  (:func:`lavacut.cutoff.metrics.sweeps`);
- ``thresholds`` / ``calibrated_for``: the calibrated fields it cannot run
  without and the calibration target each was calibrated for;
- :meth:`StopRule.has_target` / :meth:`StopRule.target`: what its
  calibration promises, checked in reports (:func:`lavacut.cutoff.metrics.guarantee`).

The CLI's ``--policy`` choices, the config's ``cutoff.policy`` check,
calibration, the sweeps and the experiments all read :data:`RULES`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from lavacut.cutoff.rules.calibration import CalibrationData


def number(rule: str, name: str, value, lo: float, hi: float, lo_open: bool = True, hi_open: bool = False) -> float:
    """A finite real parameter within its range, else ValueError naming both."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(float(value))
    ):
        raise ValueError(f"{rule}: {name} must be a number, got {value!r}")
    v = float(value)
    if (v <= lo if lo_open else v < lo) or (v >= hi if hi_open else v > hi):
        raise ValueError(
            f"{rule}: {name} must be in {'(' if lo_open else '['}{lo:g}, "
            f"{'inf' if math.isinf(hi) else f'{hi:g}'}{')' if hi_open else ']'}, got {value!r}"
        )
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
    #: the calibrated per-step fields the rule cannot run without
    thresholds: ClassVar[tuple[str, ...]] = ()
    #: calibration option -> the thresholds calibrated for it (a new value of
    #: the option needs new thresholds, else the old ones would run silently)
    calibrated_for: ClassVar[dict[str, str]] = {}
    #: the values of ``sweep_option`` its accuracy-vs-timesteps sweep visits
    sweep_grid: ClassVar[tuple] = ()
    #: the :meth:`calibrate` option the sweep varies
    sweep_option: ClassVar[str | None] = None

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
        d = {
            k: (v.tolist() if isinstance(v, np.ndarray) else v)
            for k, v in asdict(self).items()
            if not (k in self.optional and v is None)
        }
        return {"policy": self.name, **d}

    def check_horizon(self, T: int) -> None:
        """Raise if the rule's per-step parameters do not cover ``T`` steps."""

    @classmethod
    def required(cls, voltage_readout: bool = False) -> tuple[str, ...]:
        """The parameters the rule cannot run without (an uncalibrated export
        lacks them): its ``thresholds``, and on a voltage readout a
        ``temperature`` if it has one (a softmax of raw voltages at
        temperature 1 is certain at once)."""
        has_temperature = any(f.name == "temperature" for f in dataclasses.fields(cls))
        return cls.thresholds + (("temperature",) if voltage_readout and has_temperature else ())

    @classmethod
    def stale_thresholds(cls, stored: dict[str, Any], given: dict[str, Any]) -> tuple[str, str] | None:
        """``(option, thresholds)`` when ``given`` parameters change a
        calibration option of the ``stored`` ones without giving thresholds
        calibrated for the new value (they would run the old ones); else None."""
        for option, thresholds in cls.calibrated_for.items():
            if (
                option in given
                and thresholds not in given
                and thresholds in stored
                and given[option] != stored.get(option)
            ):
                return option, thresholds
        return None

    # ------------------------------------------------------------ calibration
    @classmethod
    def calibrate(cls, data: CalibrationData, **options) -> StopRule | None:
        """The rule calibrated on ``data`` (its part of ``calibrate_all``);
        ``options`` are calibrate_all's (eps, alpha, entropy_threshold,
        checkpoints and any other given): take the ones the rule uses as
        keyword-only arguments and ignore the rest (``**_``); each but
        ``sweep_option`` needs a default, as the sweep passes that one alone.
        None: nothing to calibrate (the rule is then not among the
        calibrated rules an export stores)."""
        return None

    @classmethod
    def sweep_values(cls, T: int) -> Sequence:
        """The parameter values of the sweep on a network running ``T`` steps."""
        return cls.sweep_grid

    @classmethod
    def sweep_rule(cls, value, data: CalibrationData) -> StopRule:
        """The rule at one point of the sweep: calibrated with
        ``sweep_option=value`` alone (its other options at their defaults)."""
        return cls.calibrate(data, **{cls.sweep_option: value})

    # ------------------------------------------------------------ targets
    def has_target(self) -> bool:
        """The calibration promised something reports can check (:meth:`target`)."""
        return False

    def target(
        self,
        spikes: np.ndarray,
        labels: np.ndarray,
        t_c: np.ndarray,
        pred: np.ndarray,
        pred_full: np.ndarray,
        level: float,
    ) -> dict[str, Any]:
        """``target`` (what was promised), ``achieved`` (with its exact
        interval at ``level``), ``met`` and ``guarantee`` (in words), plus any
        figure beside them, on labelled ``spikes`` cut at ``t_c`` (``pred``
        there, ``pred_full`` at T)."""
        raise NotImplementedError(f"{self.name}: no calibration target")


# --------------------------------------------------------------------------- registry
#: every stop rule by policy name, in the order the CLI, calibration, the
#: sweeps and the experiments list them
RULES: dict[str, type[StopRule]] = {}


def register(cls: type[StopRule]) -> type[StopRule]:
    """Class decorator: add a stop rule to :data:`RULES` under ``cls.name``.
    Registering the same class again is a no-op; another class under a taken
    name is refused."""
    # its own @dataclass: the fields are the parameters params() stores and rule_from_params takes
    if not (isinstance(cls, type) and issubclass(cls, StopRule) and "__dataclass_fields__" in cls.__dict__):
        raise TypeError(f"register: {cls!r} is not a StopRule dataclass (decorate it with @dataclass)")
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not name or name == StopRule.name:
        raise ValueError(f"register: {cls.__name__} needs its own policy name (a class attribute 'name')")
    if RULES.get(name, cls) is not cls:
        raise ValueError(f"register: policy name {name!r} is taken by {RULES[name].__qualname__}")
    if cls.sweep_grid and cls.sweep_option is None and cls.sweep_rule.__func__ is StopRule.sweep_rule.__func__:
        raise ValueError(f"register: {name} has a sweep_grid but no sweep_option (or sweep_rule) to apply it")
    RULES[name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a rule from :data:`RULES` (tests that register one of their own)."""
    RULES.pop(name, None)


def rule_names() -> list[str]:
    """The policy names, in registry order."""
    return list(RULES)


def rule_from_params(params: dict[str, Any]) -> StopRule:
    """Rebuild a rule from :meth:`StopRule.params` (as stored in an export's
    metadata or a report). Unknown policy names or fields raise ValueError."""
    params = dict(params)
    name = params.pop("policy", None)
    if name not in RULES:
        raise ValueError(f"unknown stop policy {name!r}; known: {', '.join(RULES)}")
    cls = RULES[name]
    fields = {f.name for f in dataclasses.fields(cls)}  # not the ClassVars (name, optional)
    unknown = set(params) - fields
    if unknown:
        raise ValueError(
            f"policy {name!r} has no parameter(s) {', '.join(sorted(unknown))}; "
            f"it takes {', '.join(sorted(fields)) or 'none'}"
        )
    return cls(**params)
