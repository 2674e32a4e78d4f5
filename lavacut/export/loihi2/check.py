"""``lavacut check``: a Loihi 2 design-rule check and core map for a NetX file.

Nothing here has been measured on a chip. The figures are Intel's public
ones, each cited where it is defined; what Intel has not published is an
assumption, listed with its value in the report's ``assumptions`` (and in
:data:`ASSUMPTIONS`). The per-parameter ranges are what lava-nc 0.10.0 /
lava-dl 0.6.0 (the installed sources) accept and what the bit-accurate
fixed_pt models compute with (:mod:`lavacut.fixed_point` states them once).

Rules (the ``rule`` name every problem carries):

========================  ==============================================================
weight_integer            weights are integer mantissas (netx casts them to int)
weight_precision          weights fit 8 bits (1-8 bit mantissa + sign mode, netx clips)
weight_exponent           netx's shared weight exponent stays in Lava's range
threshold                 vThMant << 6 below the 24-bit voltage limit (17-bit mantissa)
decay                     iDecay, vDecay on the 12-bit decay grid
bias                      bias mantissa in Lava's signed 13-bit range
delay                     axonal delays are integers in 0..62
fan_in                    worst-case summed input of one step fits Lava's int16 a_in
neurons_per_core          neurons of one core
synaptic_memory_per_core  synaptic weight memory of one core
axons_in_per_core         distinct presynaptic neurons feeding one core
axons_out_per_core        (neuron, destination core) pairs leaving one core
cores_per_chip, neurons_per_chip, synapses_per_chip: the whole network
layer_type, neuron_model  what netx / the CUBA figures cover
========================  ==============================================================

Violations are errors; a use of at least :data:`NEAR` of a limit is a
warning. Each spiking layer gets the smallest number of cores on which every
core stays below :data:`NEAR` of every per-core limit (a margin for the
unpublished encodings; when no split achieves that, the smallest within the
limits, with warnings); the ``binding`` limit is the one that forced that
number. Layers are placed on cores in order and cores on chips of
:data:`CORES_PER_CHIP`.

Partitioning model (an assumption: the Loihi 2 compiler/partitioner in
lava-loihi is closed): a dense layer is cut into contiguous ranges of output
neurons; a conv layer into contiguous ranges of output positions (row-major)
with all channels of a position on the same core, so each core sees only its
input window.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lavacut.export.netx.inspect import LayerInfo, activity_warnings, conv_pair, inspect_layers, is_voltage_readout
from lavacut.export.netx.file import _open
from lavacut.fixed_point import BIAS_MANT_LIMIT, FIXED_POINT_LIMITS, P_SCALE, READOUT_VTH_MANTS
from lavacut.util import LavacutError

TARGETS = ("loihi2",)
#: a use of this fraction of a limit (or more) is a warning
NEAR = 0.9

# --------------------------------------------------------------------------- public figures (cited)
# Intel Labs, "Taking Neuromorphic Computing to the Next Level with Loihi 2",
# technology brief (2021), table "Loihi 2 vs Loihi": 128 neuromorphic cores
# per chip; up to 1 million neurons and 120 million synapses per chip; up to
# 8,192 neurons per core ("variable ... depending on neuron state": fewer with
# more state); ~128 kB of synaptic memory per core (of a flexibly allocated
# 192 kB core memory); 1-8 bit synaptic weights with a shared weight exponent;
# 24-bit neuron state; up to 6 embedded x86 (Lakemont) cores.
CORES_PER_CHIP = 128
NEURONS_PER_CHIP = 1_000_000
SYNAPSES_PER_CHIP = 120_000_000
NEURONS_PER_CORE = 8192
SYN_MEM_BYTES_PER_CORE = 128 * 1024
MAX_WEIGHT_BITS = 8
# Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip
# Learning", IEEE Micro 38(1), 2018: a Loihi (1) core has 4,096 input axons
# (fan-in) and 4,096 output axons (fan-out). Intel has not published Loihi 2's
# per-core axon counts: assumed equal (see ASSUMPTIONS).
AXONS_IN_PER_CORE = 4096
AXONS_OUT_PER_CORE = 4096
# lava-dl 0.6.0 lava/lib/dl/netx/utils.py num_delay_bits: "Max delay exceeded
# limit of 62" (delays >= 63 raise); hdf5.py clamps delays above 62 with a warning.
MAX_DELAY = 62
# lava-nc 0.10.0 lava/proc/lif/models.py AbstractPyLifModelFixed: du, dv
# uint16 precision 12 (decay constant out of 4096 = P_SCALE), vth shifted left
# by 6 into the 24-bit v (FIXED_POINT_LIMITS["voltage"]), bias_mant int16
# precision 13 (BIAS_MANT_LIMIT), bias_exp precision 3 (netx sets 6), a_in
# int16 (FIXED_POINT_LIMITS["input"]) shifted left by 6.
VTH_SHIFT = 6
MAX_VTH_MANT = (FIXED_POINT_LIMITS["voltage"] >> VTH_SHIFT)        # 131071: a 17-bit mantissa
MAX_INPUT = FIXED_POINT_LIMITS["input"]
# lava-nc 0.10.0 lava/proc/dense/process.py: effective weight = mantissa x
# 2 ** (8 - num_weight_bits + weight_exp + isMixed()); neither Lava nor netx
# bounds weight_exp (lava/utils/weightutils.py and netx's
# optimize_weight_bits only compute it). Assumed -8..7, a 4-bit signed field
# as on Loihi 1 (Davies et al. 2018); Loihi 2's field width is unpublished.
# With integer weights in the 8-bit range netx's exponent is always -8..0.
WEIGHT_EXP_RANGE = (-8, 7)

ASSUMPTIONS = [
    {"figure": "neurons per core", "value": NEURONS_PER_CORE,
     "assumption": "the brief's maximum (8,192) holds for netx's CUBA LIF (u, v: two 24-bit states); the brief "
                   "says fewer fit with more state and Intel has not published the count per neuron model"},
    {"figure": "synaptic memory per core", "value": SYN_MEM_BYTES_PER_CORE,
     "assumption": "128 kB read as 128 KiB; a synapse costs its weight bits only (nonzero weights x netx's "
                   "num_weight_bits, the mantissa width netx configures, sign included); Loihi 2's synapse "
                   "encodings and their index overheads are unpublished, so real use is higher: cores are sized "
                   "to stay below the warning level"},
    {"figure": "conv synapses", "value": "expanded",
     "assumption": "conv weights are counted once per (output neuron, input) pair, as if unshared: how the "
                   "Loihi 2 compiler stores convolutions is not public; if it shares kernels, conv memory is "
                   "lower, so this is an upper bound"},
    {"figure": "input axons per core", "value": AXONS_IN_PER_CORE,
     "assumption": "Loihi 2's per-core axon counts are unpublished; Loihi 1's 4,096 (Davies et al. 2018) used"},
    {"figure": "output axons per core", "value": AXONS_OUT_PER_CORE,
     "assumption": "as input axons; one output axon per (neuron, destination core) pair, the last layer's "
                   "neurons one axon each to the host"},
    {"figure": "weight exponent range", "value": list(WEIGHT_EXP_RANGE),
     "assumption": "Loihi 1's 4-bit signed weight exponent; Loihi 2's field width is unpublished"},
    {"figure": "partitioning", "value": "contiguous",
     "assumption": "dense: contiguous output-neuron ranges; conv: contiguous output positions with all channels "
                   "on one core; no partial-sum splitting of a neuron's inputs across cores (the Loihi 2 "
                   "compiler in lava-loihi is closed)"},
    {"figure": "recurrent layers", "value": "inputs",
     "assumption": "a dense_rec layer's recurrent weights count as synapses and input axons; the extra output "
                   "axons they need are not counted"},
]

RESOURCES = ("neurons_per_core", "synaptic_memory_per_core", "axons_in_per_core", "axons_out_per_core")
LIMITS = {"neurons_per_core": NEURONS_PER_CORE, "synaptic_memory_per_core": SYN_MEM_BYTES_PER_CORE,
          "axons_in_per_core": AXONS_IN_PER_CORE, "axons_out_per_core": AXONS_OUT_PER_CORE}


@dataclass
class Problem:
    rule: str
    severity: str           # "error" or "warning"
    layer: str | None
    message: str
    value: Any = None
    limit: Any = None

    def format(self) -> str:
        where = f"layer {self.layer}: " if self.layer is not None else ""
        return f"{self.severity} [{self.rule}] {where}{self.message}"


@dataclass
class CheckReport:
    path: str
    target: str
    ok: bool
    cores: list[dict]
    layers: list[dict]
    totals: dict
    problems: list[Problem]
    assumptions: list[dict] = field(default_factory=lambda: ASSUMPTIONS)
    # copies side by side (lavacut.export.loihi2.replicas; ``lavacut check --replicas R``)
    replicas: int = 1
    replicas_per_chip: int | None = None
    replica_binding: str = ""

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["errors"] = len(self.errors)
        d["warnings"] = len(self.warnings)
        return d

    def format(self) -> str:
        lines = [f"{self.path}: Loihi 2 design-rule check ({'PASS' if self.ok else 'FAIL'}: "
                 f"{len(self.errors)} errors, {len(self.warnings)} warnings)"]
        lines.append(f"{'layer':<6}{'type':<9}{'neurons':>9}{'cores':>7}  {'binding limit':<26}"
                     + "".join(f"{r.replace('_per_core', '').replace('synaptic_', ''):>12}" for r in RESOURCES))
        for L in self.layers:
            if not L["cores"]:
                continue
            lines.append(f"{L['index']:<6}{L['type']:<9}{L['neurons']:>9}{L['cores']:>7}  {L['binding']:<26}"
                         + "".join(f"{L['use'][r] * 100:>11.1f}%" for r in RESOURCES))
        t = self.totals
        lines.append(f"total: {t['cores']} cores on {t['chips']} chip(s) of {CORES_PER_CHIP}; {t['neurons']} neurons, "
                     f"{t['synapses']} synapses (per-core use: the most loaded core of the layer)")
        if self.replicas_per_chip is not None:
            lines.append(f"replicas: {self.replicas} copies, {self.replicas_per_chip} per chip (bound by "
                         f"{self.replica_binding}); the copies share the chip's input (an assumption)")
        lines += ["  " + p.format() for p in self.problems]
        lines.append(f"  {len(self.assumptions)} unpublished figures are assumptions (report 'assumptions')")
        return "\n".join(lines)


# --------------------------------------------------------------------------- netx's weight optimisation
def netx_weight_format(w: np.ndarray) -> tuple[int, int, str]:
    """(num_weight_bits, weight_exponent, sign mode) that lava-dl 0.6.0's
    ``netx.utils.optimize_weight_bits`` configures for integer weights ``w``
    (same arithmetic, numpy only; clipping left to the weight_precision rule)."""
    w = np.asarray(w, dtype=np.float64)
    mx, mn = float(w.max()), float(w.min())
    if mx == 0 and mn == 0:
        return 1, 0, "excitatory"
    if mx < 0:
        mode, signed, scale = "inhibitory", 0, -256 / mn
    elif mn >= 0:
        mode, signed, scale = "excitatory", 0, 255 / mx
    else:
        mode, signed, scale = "mixed", 1, min(127 / mx if mx else math.inf, -128 / mn)   # numpy's 127/0 = inf
    scale_bits = int(np.floor(np.log2(scale))) + signed
    n = 8
    while n > 0 and np.sum(np.abs(w / 2 ** n - np.round(w / 2 ** n))) != 0:
        n -= 1
    n -= signed
    return int(8 - scale_bits - n), int(-scale_bits), mode


# --------------------------------------------------------------------------- per-layer connectivity
@dataclass
class _Layer:
    info: LayerInfo
    n: int                          # neurons
    units: int                      # partition units (neurons, or conv output positions)
    per_unit: int                   # neurons per unit
    syn_per_unit: np.ndarray        # synapses of each unit
    bits: int                       # weight bits per synapse
    in_mask: Any                    # callable(lo, hi) -> bool mask over the previous layer's neurons
    n_in: int
    k: int = 1
    bounds: list = field(default_factory=list)


def _dense_layer(L: LayerInfo, g, n_in: int) -> _Layer:
    w = np.asarray(g["weight"][()], dtype=np.float64).reshape(L.neurons, -1)
    if L.type == "dense_rec" and "weight_rec" in g:
        w = np.hstack([w, np.asarray(g["weight_rec"][()], dtype=np.float64).reshape(L.neurons, -1)])
    nz = w != 0
    per_row = nz.sum(axis=1)
    width = nz.shape[1]

    def in_mask(lo, hi):
        return nz[lo:hi].any(axis=0)
    return _Layer(L, L.neurons, L.neurons, 1, per_row, L.weight_bits or 1, in_mask, width)


def _conv_layer(L: LayerInfo, g, prev_shape: tuple) -> _Layer:
    w = np.asarray(g["weight"][()], dtype=np.float64)
    w = w.reshape(w.shape[:4])                  # lava-dl writes (C', C/groups, kh, kw) or with a trailing 1
    co, cig, kh, kw = w.shape
    C, H, W = L.shape
    ci, hi, wi = prev_shape
    groups = int(np.atleast_1d(g["groups"][()])[0]) if "groups" in g else 1
    (sy, sx), (py, px), (dy, dx) = conv_pair(g, "stride", 1), conv_pair(g, "padding", 0), conv_pair(g, "dilation", 1)
    nz = w != 0
    rows = np.arange(H)[:, None] * sy - py + np.arange(kh)[None, :] * dy        # (H, kh) input rows
    cols = np.arange(W)[:, None] * sx - px + np.arange(kw)[None, :] * dx
    vy, vx = (rows >= 0) & (rows < hi), (cols >= 0) & (cols < wi)
    taps = nz.sum(axis=(0, 1)).astype(np.float64)                                # (kh, kw) over all channels
    syn = np.einsum("ab,ya,xb->yx", taps, vy, vx).reshape(-1).astype(np.int64)
    # input channels any output channel of the core reads (all channels are on every core)
    grp_in = nz.any(axis=(2, 3))                                                 # (co, cig)
    ch_used = np.zeros(ci, bool)
    per_group = co // max(groups, 1)
    for gi in range(groups):
        ch_used[gi * cig:(gi + 1) * cig] |= grp_in[gi * per_group:(gi + 1) * per_group].any(axis=0)

    chans = np.flatnonzero(ch_used)

    def in_mask(lo, hi_):
        """Inputs read by output positions lo..hi_-1 (row-major): a partial
        first row, whole middle rows, a partial last row."""
        m = np.zeros((ci, hi, wi), bool)
        if hi_ <= lo:
            return m.reshape(-1)
        y0, y1 = lo // W, (hi_ - 1) // W
        if y0 == y1:
            pieces = [(y0, y0, lo % W, (hi_ - 1) % W)]
        else:
            pieces = [(y0, y0, lo % W, W - 1), (y0 + 1, y1 - 1, 0, W - 1), (y1, y1, 0, (hi_ - 1) % W)]
        for ya, yb, xa, xb in pieces:
            if yb < ya:
                continue
            r = rows[ya:yb + 1][vy[ya:yb + 1]]
            c = cols[xa:xb + 1][vx[xa:xb + 1]]
            if r.size and c.size and chans.size:
                m[np.ix_(chans, np.unique(r), np.unique(c))] = True
        return m.reshape(-1)
    return _Layer(L, L.neurons, H * W, C, syn, L.weight_bits or 1, in_mask, ci * hi * wi)


def _elementwise_layer(L: LayerInfo) -> _Layer:
    """Input neurons: no synapses; each neuron is driven by one host input."""
    def in_mask(lo, hi):
        m = np.zeros(L.neurons, bool)
        m[lo:hi] = True
        return m
    return _Layer(L, L.neurons, L.neurons, 1, np.zeros(L.neurons, np.int64), 1, in_mask, L.neurons)


def _bounds(units: int, k: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, units, k + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _loads(lay: _Layer, k: int, nxt: _Layer | None) -> dict[str, np.ndarray]:
    """Per core of ``lay`` cut into ``k`` pieces: the use of each resource."""
    b = _bounds(lay.units, k)
    csum = np.concatenate([[0], np.cumsum(lay.syn_per_unit)])
    neurons = np.array([(hi - lo) * lay.per_unit for lo, hi in b])
    mem = np.array([math.ceil((csum[hi] - csum[lo]) * lay.bits / 8) for lo, hi in b])
    ax_in = np.array([int(lay.in_mask(lo, hi).sum()) for lo, hi in b])
    # neuron -> core of this layer (neuron flat order (C, H, W) for conv, position-major partition)
    unit_core = np.repeat(np.arange(k), [hi - lo for lo, hi in b])
    if lay.per_unit > 1:                     # conv: neuron (c, p) lives with its position p
        core_of = np.tile(unit_core, lay.per_unit)
    else:
        core_of = unit_core
    if nxt is None:
        dests = np.ones(lay.n)               # one axon to the host per output neuron
    else:
        dests = np.zeros(nxt.n_in)
        for lo, hi in nxt.bounds:
            dests += nxt.in_mask(lo, hi)
        dests = dests[:lay.n] if dests.size >= lay.n else np.pad(dests, (0, lay.n - dests.size))
    ax_out = np.bincount(core_of, weights=dests, minlength=k)
    return {"neurons_per_core": neurons, "synaptic_memory_per_core": mem, "axons_in_per_core": ax_in,
            "axons_out_per_core": ax_out, "_bounds": b}


def _over(loads: dict, margin: bool = False, res: tuple = RESOURCES) -> list[str]:
    """Resources of ``res`` some core breaks: above the limit, or with
    ``margin`` at :data:`NEAR` of it or more (the warning level)."""
    if margin:
        return [r for r in res if loads[r].max() >= NEAR * LIMITS[r]]
    return [r for r in res if loads[r].max() > LIMITS[r]]


def _search(lay: _Layer, nxt: _Layer | None, margin: bool, res: tuple = RESOURCES) -> tuple[int, dict]:
    """Smallest k (geometric steps up, then bisection) whose cores pass
    :func:`_over`; ``lay.units`` when none does."""
    lower = max(1, math.ceil(lay.n / NEURONS_PER_CORE),
                math.ceil(int(lay.syn_per_unit.sum()) * lay.bits / 8 / SYN_MEM_BYTES_PER_CORE))
    lo = k = min(lower, lay.units)
    loads = _loads(lay, k, nxt)
    while _over(loads, margin, res) and k < lay.units:
        lo, k = k, min(lay.units, max(k + 1, int(k * 1.5)))
        loads = _loads(lay, k, nxt)
    if not _over(loads, margin, res):               # lo failed (or lo == k): bisect (lo, k]
        while k - lo > 1:
            mid = (lo + k) // 2
            cand = _loads(lay, mid, nxt)
            if _over(cand, margin, res):
                lo = mid
            else:
                k, loads = mid, cand
    return k, loads


def _fit(lay: _Layer, nxt: _Layer | None) -> tuple[int, str, dict]:
    """Cores for one layer: the smallest k whose every core stays below
    :data:`NEAR` of every per-core limit (a margin for the unpublished
    synapse encodings and axon tables), else the smallest k within the
    limits (those cores get warnings). A limit that even one partition unit
    per core breaks (a neuron reading more than 4,096 inputs, say) cannot be
    cured by splitting: it is left out of the search, which sizes the layer
    by the other limits, and reported as an error. Returns k, the binding
    limit (the one that k - 1 cores break) and the loads."""
    k, loads = _search(lay, nxt, margin=True)
    margin = not _over(loads, True)
    if not margin:
        k, loads = _search(lay, nxt, margin=False)
        if _over(loads):
            unfixable = tuple(_over(_loads(lay, lay.units, nxt)))
            rest = tuple(r for r in RESOURCES if r not in unfixable)
            k, loads = _search(lay, nxt, margin=True, res=rest)
            if _over(loads, True, rest):
                k, loads = _search(lay, nxt, margin=False, res=rest)
            return k, max(_over(loads), key=lambda r: loads[r].max() / LIMITS[r]), loads
    if k == 1:
        return k, "none (fits one core)", loads
    prev = _loads(lay, k - 1, nxt)
    broken = _over(prev, margin) or list(RESOURCES)
    return k, max(broken, key=lambda r: prev[r].max() / LIMITS[r]), loads


# --------------------------------------------------------------------------- parameter rules
def _near(problems, rule, layer, value, limit, what):
    if limit and abs(value) >= NEAR * limit:
        problems.append(Problem(rule, "warning", layer, f"{what} is {value} of at most {limit} "
                                                        f"({abs(value) / limit * 100:.0f} %)", value, limit))


def _weight_rules(L: LayerInfo, g, problems: list[Problem]) -> None:
    w = np.asarray(g["weight"][()], dtype=np.float64)
    if L.type == "dense_rec" and "weight_rec" in g:
        w = np.concatenate([w.reshape(-1), np.asarray(g["weight_rec"][()], dtype=np.float64).reshape(-1)])
    if not w.size:
        return
    if not np.all(np.isfinite(w)) or np.any(w != np.round(w)):
        problems.append(Problem("weight_integer", "error", L.index,
                                "weights are not all finite integers: netx casts them to int (truncating), "
                                "so Loihi 2 would not compute the trained weights"))
        return
    mx, mn = w.max(), w.min()
    lo, hi = (-256, 254) if (mx > 0 and mn < 0) else ((-256, 0) if mx <= 0 else (0, 255))
    # lava-dl netx/utils.py optimize_weight_bits clips mixed-sign weights to
    # [-256, 254]; Loihi 2 stores a 1-8 bit mantissa (brief) with a sign mode
    if mx > hi or mn < lo:
        problems.append(Problem("weight_precision", "error", L.index,
                                f"weights span {int(mn)}..{int(mx)}, outside the {lo}..{hi} an 8-bit weight "
                                f"(with its sign mode) holds; netx clips them", [int(mn), int(mx)], [lo, hi]))
        return
    bits, exp, mode = netx_weight_format(w)
    if bits > MAX_WEIGHT_BITS:
        problems.append(Problem("weight_precision", "error", L.index,
                                f"netx needs {bits} weight bits ({mode} sign mode) to hold these weights exactly; "
                                f"Loihi 2 synapses hold 1-{MAX_WEIGHT_BITS} (odd mixed-sign weights near the "
                                f"8-bit limit lose their last bit)", bits, MAX_WEIGHT_BITS))
    if not WEIGHT_EXP_RANGE[0] <= exp <= WEIGHT_EXP_RANGE[1]:
        problems.append(Problem("weight_exponent", "error", L.index,
                                f"netx's weight exponent would be {exp}, outside {WEIGHT_EXP_RANGE[0]}.."
                                f"{WEIGHT_EXP_RANGE[1]}", exp, list(WEIGHT_EXP_RANGE)))
    # fan-in: all inputs of one neuron spiking in one step must fit the int16 a_in
    if L.type in ("dense", "dense_rec"):
        w2 = np.asarray(g["weight"][()], dtype=np.float64).reshape(L.neurons, -1)
        worst = max(np.clip(w2, 0, None).sum(axis=1).max(), -np.clip(w2, None, 0).sum(axis=1).min())
    else:   # conv: the largest summed kernel of one output channel
        w4 = np.asarray(g["weight"][()], dtype=np.float64)
        w4 = w4.reshape(w4.shape[0], -1)
        worst = max(np.clip(w4, 0, None).sum(axis=1).max(), -np.clip(w4, None, 0).sum(axis=1).min())
    worst = int(worst)
    if worst > MAX_INPUT:
        problems.append(Problem("fan_in", "warning", L.index,
                                f"if all its inputs spike in one step a neuron receives {worst}, beyond the int16 "
                                f"synaptic input ({MAX_INPUT}) Lava's fixed_pt LIF reads (it would wrap); only "
                                f"reached at high input activity", worst, MAX_INPUT))
    else:
        _near(problems, "fan_in", L.index, worst, MAX_INPUT, "the worst-case summed synaptic input of one step")


def _neuron_rules(L: LayerInfo, g, problems: list[Problem], readout: bool = False) -> None:
    n = L.neuron
    if L.neuron_type not in ("CUBA", "LOIHI"):
        problems.append(Problem("neuron_model", "warning", L.index,
                                f"neuron type {L.neuron_type}: the state and neurons-per-core figures here are "
                                f"for netx's CUBA LIF; other models keep more state (fewer neurons per core)"))
        return
    vth = n.get("vThMant")
    if readout and vth in READOUT_VTH_MANTS:
        problems.append(Problem("threshold", "warning", L.index,
                                f"vThMant {vth!r} lies beyond Lava's voltage range on purpose: a voltage readout "
                                f"whose neurons never spike (SLAYER's Affine export); the cutoff reads v"))
    elif not isinstance(vth, (int, float)) or vth != int(vth) or not 0 <= vth <= MAX_VTH_MANT:
        problems.append(Problem("threshold", "error", L.index,
                                f"vThMant {vth!r} is not an integer in 0..{MAX_VTH_MANT} (vth << {VTH_SHIFT} must "
                                f"fit the 24-bit voltage, lava/proc/lif/models.py)", vth, MAX_VTH_MANT))
    else:
        _near(problems, "threshold", L.index, int(vth), MAX_VTH_MANT, "vThMant")
    for key in ("iDecay", "vDecay"):
        d = n.get(key)
        if not isinstance(d, (int, float)) or d != int(d) or not 0 <= d <= P_SCALE:
            problems.append(Problem("decay", "error", L.index,
                                    f"{key} {d!r} is not an integer in 0..{P_SCALE} (12-bit decay, "
                                    f"lava/proc/lif/models.py)", d, P_SCALE))
    if "bias" in g:
        b = np.asarray(g["bias"][()], dtype=np.float64)
        if b.size:
            worst = float(np.abs(b).max())
            if not np.all(np.isfinite(b)) or np.any(b != np.round(b)) or b.max() > BIAS_MANT_LIMIT - 1 \
                    or b.min() < -BIAS_MANT_LIMIT:
                problems.append(Problem("bias", "error", L.index,
                                        f"bias mantissas span {b.min():g}..{b.max():g}: Lava's bias_mant is a signed "
                                        f"13-bit integer ({-BIAS_MANT_LIMIT}..{BIAS_MANT_LIMIT - 1})",
                                        [float(b.min()), float(b.max())], [-BIAS_MANT_LIMIT, BIAS_MANT_LIMIT - 1]))
            else:
                _near(problems, "bias", L.index, int(worst), BIAS_MANT_LIMIT, "the largest |bias mantissa|")


def _delay_rules(L: LayerInfo, g, problems: list[Problem]) -> None:
    d = np.asarray(g["delay"][()], dtype=np.float64)
    if not d.size:
        return
    if not np.all(np.isfinite(d)) or d.min() < 0 or np.any(d != np.round(d)) or d.max() > MAX_DELAY:
        problems.append(Problem("delay", "error", L.index,
                                f"axonal delays span {d.min():g}..{d.max():g}: netx and Loihi 2 take integers "
                                f"0..{MAX_DELAY} (lava-dl netx/utils.py num_delay_bits; larger ones are clamped)",
                                float(d.max()), MAX_DELAY))
    else:
        _near(problems, "delay", L.index, int(d.max()), MAX_DELAY, "the largest delay")


def _storage_bits(L: LayerInfo, g) -> int:
    """Bits one synapse of the layer stores: netx's num_weight_bits (the
    mantissa Loihi 2 holds, sign included in mixed mode) when the weights
    are valid 8-bit integers, else lavacut inspect's signed bits."""
    w = np.asarray(g["weight"][()], dtype=np.float64)
    if w.size and np.all(np.isfinite(w)) and np.all(w == np.round(w)) and w.min() >= -256 and w.max() <= 255:
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
    layers = inspect_layers(path)
    problems: list[Problem] = []
    with _open(path) as f:
        for L in layers:
            _parameter_rules(L, f["layer"][L.index], problems, is_voltage_readout(layers, L))
    return [f"[{p.rule}] layer {p.layer}: {p.message}" for p in problems
            if p.severity == "error" and p.rule in RANGE_RULES]


def _parameter_rules(L: LayerInfo, g, problems: list[Problem], readout: bool = False) -> None:
    """Neuron, delay and weight rules of one layer netx loads (``readout``:
    it is the file's voltage readout)."""
    if not L.supported or L.type == "flatten":
        return
    if L.neuron:
        _neuron_rules(L, g, problems, readout)
    if L.type == "input":
        return
    if "delay" in g:
        _delay_rules(L, g, problems)
    if "weight" in g:
        _weight_rules(L, g, problems)


# --------------------------------------------------------------------------- the check
def check_loihi2(path: str | Path, target: str = "loihi2", refused=()) -> CheckReport:
    """Design-rule check and core map of the NetX file ``path``. ``refused``:
    what ``lavacut run`` refuses (the validator's findings, with ``kind`` and
    ``text``: :func:`lavacut.pipelines.check.loihi2_check` passes them), errors
    of this check too; a ``structure`` one stops it before the core map."""
    if target not in TARGETS:
        raise LavacutError(f"unknown target {target!r} ({', '.join(TARGETS)})")
    problems = [Problem(p.kind, "error", None, p.text) for p in refused]
    if any(p.rule == "structure" for p in problems):        # not read further: no core map
        return CheckReport(str(path), target, False, [], [], {"cores": 0, "chips": 0, "neurons": 0, "synapses": 0},
                           problems)
    layers = inspect_layers(path)
    lays: list[_Layer] = []
    with _open(path) as f:
        grp = f["layer"]
        problems += [Problem("activity", "warning", None, w) for w in activity_warnings(layers, grp)]
        prev_shape, prev_n = None, None
        for L in layers:
            g = grp[L.index]
            if not L.supported:
                readout = L.type == "average" and L is layers[-1]     # lavacut drops it and sums on the host
                problems.append(Problem("layer_type", "warning" if readout else "error", L.index,
                                        f"layer type {L.type!r}: netx cannot load it, so it cannot reach Loihi 2"
                                        + (" (lavacut drops an average readout and counts on the host)"
                                           if readout else "")))
                continue
            if L.type == "flatten":
                continue
            _parameter_rules(L, g, problems, is_voltage_readout(layers, L))
            if L.type == "input":
                if L.neuron:
                    lays.append(_elementwise_layer(L))
                    prev_n = L.neurons
                prev_shape = L.shape
                continue
            if "weight" not in g:
                problems.append(Problem("layer_type", "error", L.index, "no real weight dataset (complex weights "
                                        "of RF neurons are not covered)"))
                continue
            if L.type == "conv" and len(L.shape) == 3 and prev_shape is not None and len(prev_shape) == 3:
                lay = _conv_layer(L, g, tuple(prev_shape))
            elif L.type == "conv":
                problems.append(Problem("layer_type", "error", L.index, "a conv layer without a (C, H, W) input "
                                        "before it: its connections (and cores) cannot be worked out"))
                continue
            else:
                lay = _dense_layer(L, g, prev_n or 0)
            lay.bits = _storage_bits(L, g)
            lays.append(lay)
            prev_shape, prev_n = L.shape, L.neurons
    # cores per layer, from the last layer back (a layer's output axons
    # depend on how the next layer is cut)
    fits: dict[int, tuple] = {}
    for i in range(len(lays) - 1, -1, -1):
        nxt = lays[i + 1] if i + 1 < len(lays) else None
        k, binding, loads = _fit(lays[i], nxt)
        lays[i].k, lays[i].bounds = k, loads["_bounds"]
        fits[i] = (binding, loads)
    cores, layer_rows, core_id = [], [], 0
    by_index = {lay.info.index: (i, lay) for i, lay in enumerate(lays)}
    for L in layers:
        row = {"index": L.index, "type": L.type, "shape": list(L.shape), "neurons": L.neurons,
               "synapses": L.synapses, "weight_bits": L.weight_bits, "storage_bits": None, "cores": 0, "binding": "",
               "first_core": None,
               "use": {r: 0.0 for r in RESOURCES}, "max": {r: 0 for r in RESOURCES}}
        if L.index in by_index:
            i, lay = by_index[L.index]
            binding, loads = fits[i]
            row.update(cores=lay.k, binding=binding, first_core=core_id, storage_bits=lay.bits,
                       use={r: float(loads[r].max() / LIMITS[r]) for r in RESOURCES},
                       max={r: int(loads[r].max()) for r in RESOURCES})
            for j in range(lay.k):
                use = {r: float(loads[r][j] / LIMITS[r]) for r in RESOURCES}
                cores.append({"core": core_id, "chip": core_id // CORES_PER_CHIP, "layer": L.index,
                              **{r: int(loads[r][j]) for r in RESOURCES}, "use": use})
                core_id += 1
            for r in RESOURCES:
                worst = float(loads[r].max())
                if worst > LIMITS[r]:
                    problems.append(Problem(r, "error", L.index,
                                            f"{worst:.0f} on one core, limit {LIMITS[r]}: splitting the layer "
                                            f"cannot cure it (even one {'position' if lay.per_unit > 1 else 'neuron'}"
                                            f" per core breaks it)", worst, LIMITS[r]))
                else:
                    _near(problems, r, L.index, int(worst), LIMITS[r], f"the most loaded of its {lay.k} cores' "
                                                                        f"{r.replace('_', ' ')}")
        layer_rows.append(row)
    n_cores = len(cores)
    chips = max(1, math.ceil(n_cores / CORES_PER_CHIP))
    totals = {"cores": n_cores, "chips": chips, "neurons": sum(lay.n for lay in lays),
              "synapses": int(sum(int(lay.syn_per_unit.sum()) for lay in lays)),
              "limits": {**LIMITS, "cores_per_chip": CORES_PER_CHIP, "neurons_per_chip": NEURONS_PER_CHIP,
                         "synapses_per_chip": SYNAPSES_PER_CHIP}}
    if n_cores > CORES_PER_CHIP:
        problems.append(Problem("cores_per_chip", "warning", None,
                                f"needs {n_cores} cores: {chips} Loihi 2 chips of {CORES_PER_CHIP} (a multi-chip "
                                f"system)", n_cores, CORES_PER_CHIP))
    else:
        _near(problems, "cores_per_chip", None, n_cores, CORES_PER_CHIP, "the cores needed")
    for rule, val, lim in (("neurons_per_chip", totals["neurons"], NEURONS_PER_CHIP * chips),
                           ("synapses_per_chip", totals["synapses"], SYNAPSES_PER_CHIP * chips)):
        if val > lim:
            problems.append(Problem(rule, "error", None, f"{val} on {chips} chip(s), limit {lim}", val, lim))
        else:
            _near(problems, rule, None, val, lim, f"the total on {chips} chip(s)")
    problems.sort(key=lambda p: (p.severity != "error", p.layer is None, p.layer or ""))
    return CheckReport(str(path), target, not any(p.severity == "error" for p in problems), cores, layer_rows,
                       totals, problems)
