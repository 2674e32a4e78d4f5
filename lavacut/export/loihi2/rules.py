"""The parameter rules of the Loihi 2 check: weights, thresholds, decays,
biases and delays in the ranges netx and Lava's fixed_pt models take
(:mod:`lavacut.fixed_point`), and netx's weight format (:func:`netx_weight_format`).
Their errors are what ``lavacut run`` refuses too (:data:`RANGE_RULES`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lavacut.export.loihi2.figures import MAX_WEIGHT_BITS, NEAR, WEIGHT_EXP_RANGE
from lavacut.export.netx.file import _open, values
from lavacut.export.netx.inspect import LayerInfo, is_voltage_readout, read_layers
from lavacut.export.netx.layers import kind_of
from lavacut.export.netx.layers.neurons import LIF_TYPES
from lavacut.fixed_point import (
    BIAS_MANT_LIMIT,
    FIXED_POINT_LIMITS,
    MAX_DELAY,
    MAX_VTH_MANT,
    P_SCALE,
    READOUT_VTH_MANTS,
    VTH_SHIFT,
    W_MANT_MAX,
    W_MANT_MIN,
)

# lava-nc 0.10.0 lava/proc/lif/models.py AbstractPyLifModelFixed: du, dv
# uint16 precision 12 (decay constant out of 4096 = P_SCALE), vth shifted left
# by 6 into the 24-bit v (MAX_VTH_MANT), bias_mant int16 precision 13
# (BIAS_MANT_LIMIT), bias_exp precision 3 (netx sets 6), a_in int16 shifted left by 6.
MAX_INPUT = FIXED_POINT_LIMITS["input"]


@dataclass
class Problem:
    rule: str
    severity: str  # "error" or "warning"
    layer: str | None
    message: str
    value: Any = None
    limit: Any = None

    def format(self) -> str:
        where = f"layer {self.layer}: " if self.layer is not None else ""
        return f"{self.severity} [{self.rule}] {where}{self.message}"


def netx_weight_format(w: np.ndarray) -> tuple[int, int, str]:
    """(num_weight_bits, weight_exponent, sign mode) that lava-dl 0.6.0's
    ``netx.utils.optimize_weight_bits`` configures for integer weights ``w``
    (same arithmetic, numpy only; clipping left to the weight_precision rule)."""
    w = np.asarray(w, dtype=np.float64)
    mx, mn = float(w.max()), float(w.min())
    if mx == 0 and mn == 0:
        return 1, 0, "excitatory"
    if mx < 0:
        mode, signed, scale = "inhibitory", 0, W_MANT_MIN / mn
    elif mn >= 0:
        mode, signed, scale = "excitatory", 0, W_MANT_MAX / mx
    else:
        mode, signed, scale = "mixed", 1, min(127 / mx if mx else math.inf, -128 / mn)  # numpy's 127/0 = inf
    scale_bits = int(np.floor(np.log2(scale))) + signed
    n = _power_of_two_divisor(w, 8) - signed
    return int(8 - scale_bits - n), int(-scale_bits), mode


def _power_of_two_divisor(w: np.ndarray, most: int) -> int:
    """The largest n <= ``most`` with every weight a multiple of 2**n: netx
    tries n = most, most - 1, ... (a pass over ``w`` each); for integers
    (exact in float64) the lowest set bit of all of them together says it in one."""
    if np.all(w == np.round(w)) and float(np.abs(w).max()) < 2**53:
        bits = int(np.bitwise_or.reduce(np.abs(w).astype(np.int64), axis=None))
        return most if bits == 0 else min(most, (bits & -bits).bit_length() - 1)
    n = most
    while n > 0 and np.sum(np.abs(w / 2**n - np.round(w / 2**n))) != 0:
        n -= 1
    return n


def _near(problems, rule, layer, value, limit, what):
    if limit and abs(value) >= NEAR * limit:
        problems.append(
            Problem(
                rule,
                "warning",
                layer,
                f"{what} is {value} of at most {limit} ({abs(value) / limit * 100:.0f} %)",
                value,
                limit,
            )
        )


def _weight_rules(L: LayerInfo, g, problems: list[Problem]) -> None:
    kind = kind_of(L.type)
    w = kind.weights(L, g)
    if not w.size:
        return
    if not np.all(np.isfinite(w)) or np.any(w != np.round(w)):
        problems.append(
            Problem(
                "weight_integer",
                "error",
                L.index,
                "weights are not all finite integers: netx casts them to int (truncating), "
                "so Loihi 2 would not compute the trained weights",
            )
        )
        return
    mx, mn = w.max(), w.min()
    lo, hi = (W_MANT_MIN, W_MANT_MAX - 1) if (mx > 0 and mn < 0) else ((W_MANT_MIN, 0) if mx <= 0 else (0, W_MANT_MAX))
    # lava-dl netx/utils.py optimize_weight_bits clips mixed-sign weights to
    # [-256, 254]; Loihi 2 stores a 1-8 bit mantissa (brief) with a sign mode
    if mx > hi or mn < lo:
        problems.append(
            Problem(
                "weight_precision",
                "error",
                L.index,
                f"weights span {int(mn)}..{int(mx)}, outside the {lo}..{hi} an 8-bit weight "
                f"(with its sign mode) holds; netx clips them",
                [int(mn), int(mx)],
                [lo, hi],
            )
        )
        return
    bits, exp, mode = netx_weight_format(w)
    if bits > MAX_WEIGHT_BITS:
        problems.append(
            Problem(
                "weight_precision",
                "error",
                L.index,
                f"netx needs {bits} weight bits ({mode} sign mode) to hold these weights exactly; "
                f"Loihi 2 synapses hold 1-{MAX_WEIGHT_BITS} (odd mixed-sign weights near the "
                f"8-bit limit lose their last bit)",
                bits,
                MAX_WEIGHT_BITS,
            )
        )
    if not WEIGHT_EXP_RANGE[0] <= exp <= WEIGHT_EXP_RANGE[1]:
        problems.append(
            Problem(
                "weight_exponent",
                "error",
                L.index,
                f"netx's weight exponent would be {exp}, outside {WEIGHT_EXP_RANGE[0]}..{WEIGHT_EXP_RANGE[1]}",
                exp,
                list(WEIGHT_EXP_RANGE),
            )
        )
    # fan-in: all inputs of one neuron spiking in one step must fit the int16 a_in
    rows = kind.fan_in_rows(L, np.asarray(values(g["weight"]), dtype=np.float64))  # (outputs, inputs)
    worst = max(np.clip(rows, 0, None).sum(axis=1).max(), -np.clip(rows, None, 0).sum(axis=1).min())
    worst = int(worst)
    if worst > MAX_INPUT:
        problems.append(
            Problem(
                "fan_in",
                "warning",
                L.index,
                f"if all its inputs spike in one step a neuron receives {worst}, beyond the int16 "
                f"synaptic input ({MAX_INPUT}) Lava's fixed_pt LIF reads (it would wrap); only "
                f"reached at high input activity",
                worst,
                MAX_INPUT,
            )
        )
    else:
        _near(problems, "fan_in", L.index, worst, MAX_INPUT, "the worst-case summed synaptic input of one step")


def _neuron_rules(L: LayerInfo, g, problems: list[Problem], readout: bool = False) -> None:
    n = L.neuron
    if L.neuron_type not in LIF_TYPES:
        problems.append(
            Problem(
                "neuron_model",
                "warning",
                L.index,
                f"neuron type {L.neuron_type}: the state and neurons-per-core figures here are "
                f"for netx's CUBA LIF; other models keep more state (fewer neurons per core)",
            )
        )
        return
    vth = n.get("vThMant")
    if readout and vth in READOUT_VTH_MANTS:
        problems.append(
            Problem(
                "threshold",
                "warning",
                L.index,
                f"vThMant {vth!r} lies beyond Lava's voltage range on purpose: a voltage readout "
                f"whose neurons never spike (SLAYER's Affine export); the cutoff reads v",
            )
        )
    elif not isinstance(vth, (int, float)) or vth != int(vth) or not 0 <= vth <= MAX_VTH_MANT:
        problems.append(
            Problem(
                "threshold",
                "error",
                L.index,
                f"vThMant {vth!r} is not an integer in 0..{MAX_VTH_MANT} (vth << {VTH_SHIFT} must "
                f"fit the 24-bit voltage, lava/proc/lif/models.py)",
                vth,
                MAX_VTH_MANT,
            )
        )
    else:
        _near(problems, "threshold", L.index, int(vth), MAX_VTH_MANT, "vThMant")
    for key in ("iDecay", "vDecay"):
        d = n.get(key)
        if not isinstance(d, (int, float)) or d != int(d) or not 0 <= d <= P_SCALE:
            problems.append(
                Problem(
                    "decay",
                    "error",
                    L.index,
                    f"{key} {d!r} is not an integer in 0..{P_SCALE} (12-bit decay, lava/proc/lif/models.py)",
                    d,
                    P_SCALE,
                )
            )
    if "bias" in g:
        b = np.asarray(values(g["bias"]), dtype=np.float64)
        if b.size:
            worst = float(np.abs(b).max())
            if (
                not np.all(np.isfinite(b))
                or np.any(b != np.round(b))
                or b.max() > BIAS_MANT_LIMIT - 1
                or b.min() < -BIAS_MANT_LIMIT
            ):
                problems.append(
                    Problem(
                        "bias",
                        "error",
                        L.index,
                        f"bias mantissas span {b.min():g}..{b.max():g}: Lava's bias_mant is a signed "
                        f"13-bit integer ({-BIAS_MANT_LIMIT}..{BIAS_MANT_LIMIT - 1})",
                        [float(b.min()), float(b.max())],
                        [-BIAS_MANT_LIMIT, BIAS_MANT_LIMIT - 1],
                    )
                )
            else:
                _near(problems, "bias", L.index, int(worst), BIAS_MANT_LIMIT, "the largest |bias mantissa|")


def _delay_rules(L: LayerInfo, g, problems: list[Problem]) -> None:
    d = np.asarray(values(g["delay"]), dtype=np.float64)
    if not d.size:
        return
    if not np.all(np.isfinite(d)) or d.min() < 0 or np.any(d != np.round(d)) or d.max() > MAX_DELAY:
        problems.append(
            Problem(
                "delay",
                "error",
                L.index,
                f"axonal delays span {d.min():g}..{d.max():g}: netx and Loihi 2 take integers "
                f"0..{MAX_DELAY} (lava-dl netx/utils.py num_delay_bits; larger ones are clamped)",
                float(d.max()),
                MAX_DELAY,
            )
        )
    else:
        _near(problems, "delay", L.index, int(d.max()), MAX_DELAY, "the largest delay")


def _storage_bits(L: LayerInfo, g) -> int:
    """Bits one synapse of the layer stores: netx's num_weight_bits (the
    mantissa Loihi 2 holds, sign included in mixed mode) when the weights
    are valid 8-bit integers, else lavacut inspect's signed bits."""
    w = np.asarray(values(g["weight"]), dtype=np.float64)
    if (
        w.size
        and np.all(np.isfinite(w))
        and np.all(w == np.round(w))
        and w.min() >= W_MANT_MIN
        and w.max() <= W_MANT_MAX
    ):
        bits = netx_weight_format(w)[0]
        if 1 <= bits <= MAX_WEIGHT_BITS:
            return bits
    return L.weight_bits or 1


#: the parameter rules whose errors ``lavacut run`` refuses too (without
#: ``--force``): what netx would silently clamp, truncate or wrap
RANGE_RULES = ("weight_integer", "weight_precision", "weight_exponent", "threshold", "decay", "bias", "delay")


def range_errors(path: str | Path) -> list[str]:
    """The :data:`RANGE_RULES` errors of ``path``, one line each (the same
    rules and words as :func:`check_loihi2`, without the core mapping)."""
    with _open(path) as f:
        return file_range_errors(f, read_layers(f, path))


def file_range_errors(f, layers: list[LayerInfo]) -> list[str]:
    """:func:`range_errors` of the open NetX file ``f`` whose ``layers``
    were read (:func:`lavacut.export.netx.inspect.read_layers`)."""
    problems: list[Problem] = []
    for L in layers:
        _parameter_rules(L, f["layer"][L.index], problems, is_voltage_readout(layers, L))
    return [
        f"[{p.rule}] layer {p.layer}: {p.message}" for p in problems if p.severity == "error" and p.rule in RANGE_RULES
    ]


def _parameter_rules(L: LayerInfo, g, problems: list[Problem], readout: bool = False) -> None:
    """Neuron, delay and weight rules of one layer netx loads (``readout``:
    it is the file's voltage readout)."""
    kind = kind_of(L.type)
    if not L.supported or kind.reshape_only:
        return
    if L.neuron:
        _neuron_rules(L, g, problems, readout)
    if kind.elementwise:
        return
    if "delay" in g:
        _delay_rules(L, g, problems)
    if "weight" in g:
        _weight_rules(L, g, problems)
