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

from lavacut.export.loihi2.core_map import _fit, _Layer, core_layer
from lavacut.export.loihi2.figures import (
    ASSUMPTIONS,
    CORES_PER_CHIP,
    LIMITS,
    NEURONS_PER_CHIP,
    RESOURCES,
    SYNAPSES_PER_CHIP,
)
from lavacut.export.loihi2.rules import Problem, _near, _parameter_rules, _storage_bits
from lavacut.export.netx.file import _open
from lavacut.export.netx.inspect import activity_warnings, inspect_layers, is_voltage_readout
from lavacut.export.netx.layers import kind_of
from lavacut.util import LavacutError

TARGETS = ("loihi2",)


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
        lines = [
            f"{self.path}: Loihi 2 design-rule check ({'PASS' if self.ok else 'FAIL'}: "
            f"{len(self.errors)} errors, {len(self.warnings)} warnings)"
        ]
        lines.append(
            f"{'layer':<6}{'type':<9}{'neurons':>9}{'cores':>7}  {'binding limit':<26}"
            + "".join(f"{r.replace('_per_core', '').replace('synaptic_', ''):>12}" for r in RESOURCES)
        )
        for L in self.layers:
            if not L["cores"]:
                continue
            lines.append(
                f"{L['index']:<6}{L['type']:<9}{L['neurons']:>9}{L['cores']:>7}  {L['binding']:<26}"
                + "".join(f"{L['use'][r] * 100:>11.1f}%" for r in RESOURCES)
            )
        t = self.totals
        lines.append(
            f"total: {t['cores']} cores on {t['chips']} chip(s) of {CORES_PER_CHIP}; {t['neurons']} neurons, "
            f"{t['synapses']} synapses (per-core use: the most loaded core of the layer)"
        )
        if self.replicas_per_chip is not None:
            lines.append(
                f"replicas: {self.replicas} copies, {self.replicas_per_chip} per chip (bound by "
                f"{self.replica_binding}); the copies share the chip's input (an assumption)"
            )
        lines += ["  " + p.format() for p in self.problems]
        lines.append(f"  {len(self.assumptions)} unpublished figures are assumptions (report 'assumptions')")
        return "\n".join(lines)


# --------------------------------------------------------------------------- the check
def check_loihi2(path: str | Path, target: str = "loihi2", refused=()) -> CheckReport:
    """Design-rule check and core map of the NetX file ``path``. ``refused``:
    what ``lavacut run`` refuses (the validator's findings, with ``kind`` and
    ``text``: :func:`lavacut.pipelines.check.loihi2_check` passes them), errors
    of this check too; a ``structure`` one stops it before the core map."""
    if target not in TARGETS:
        raise LavacutError(f"unknown target {target!r} ({', '.join(TARGETS)})")
    problems = [Problem(p.kind, "error", None, p.text) for p in refused]
    # not read further (no core map): the parameter rules need finite numbers in place
    if any(p.rule in ("structure", "value") for p in problems):
        return CheckReport(
            str(path), target, False, [], [], {"cores": 0, "chips": 0, "neurons": 0, "synapses": 0}, problems
        )
    layers = inspect_layers(path)
    lays: list[_Layer] = []
    with _open(path) as f:
        grp = f["layer"]
        problems += [Problem("activity", "warning", None, w) for w in activity_warnings(layers, grp)]
        prev_shape = None
        for L in layers:
            g = grp[L.index]
            kind = kind_of(L.type)
            if not L.supported:
                readout = kind.host_readout and L is layers[-1]  # lavacut drops it and sums on the host
                problems.append(
                    Problem(
                        "layer_type",
                        "warning" if readout else "error",
                        L.index,
                        f"layer type {L.type!r}: netx cannot load it, so it cannot reach Loihi 2"
                        + (" (lavacut drops an average readout and counts on the host)" if readout else ""),
                    )
                )
                continue
            if kind.reshape_only:
                continue
            _parameter_rules(L, g, problems, is_voltage_readout(layers, L))
            if kind.elementwise:
                if L.neuron:
                    lays.append(core_layer(L, kind.connectivity(L, g, prev_shape), 1))
                prev_shape = L.shape
                continue
            if "weight" not in g:
                problems.append(
                    Problem(
                        "layer_type",
                        "error",
                        L.index,
                        "no real weight dataset (complex weights of RF neurons are not covered)",
                    )
                )
                continue
            conn = kind.connectivity(L, g, tuple(prev_shape) if prev_shape is not None else None)
            if isinstance(conn, str):
                problems.append(Problem("layer_type", "error", L.index, conn))
                continue
            lays.append(core_layer(L, conn, _storage_bits(L, g)))
            prev_shape = L.shape
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
        row = {
            "index": L.index,
            "type": L.type,
            "shape": list(L.shape),
            "neurons": L.neurons,
            "synapses": L.synapses,
            "weight_bits": L.weight_bits,
            "storage_bits": None,
            "cores": 0,
            "binding": "",
            "first_core": None,
            "use": {r: 0.0 for r in RESOURCES},
            "max": {r: 0 for r in RESOURCES},
        }
        if L.index in by_index:
            i, lay = by_index[L.index]
            binding, loads = fits[i]
            row.update(
                cores=lay.k,
                binding=binding,
                first_core=core_id,
                storage_bits=lay.bits,
                use={r: float(loads[r].max() / LIMITS[r]) for r in RESOURCES},
                max={r: int(loads[r].max()) for r in RESOURCES},
            )
            for j in range(lay.k):
                use = {r: float(loads[r][j] / LIMITS[r]) for r in RESOURCES}
                cores.append(
                    {
                        "core": core_id,
                        "chip": core_id // CORES_PER_CHIP,
                        "layer": L.index,
                        **{r: int(loads[r][j]) for r in RESOURCES},
                        "use": use,
                    }
                )
                core_id += 1
            for r in RESOURCES:
                worst = float(loads[r].max())
                if worst > LIMITS[r]:
                    problems.append(
                        Problem(
                            r,
                            "error",
                            L.index,
                            f"{worst:.0f} on one core, limit {LIMITS[r]}: splitting the layer "
                            f"cannot cure it (even one {'position' if lay.per_unit > 1 else 'neuron'}"
                            f" per core breaks it)",
                            worst,
                            LIMITS[r],
                        )
                    )
                else:
                    _near(
                        problems,
                        r,
                        L.index,
                        int(worst),
                        LIMITS[r],
                        f"the most loaded of its {lay.k} cores' {r.replace('_', ' ')}",
                    )
        layer_rows.append(row)
    n_cores = len(cores)
    chips = max(1, math.ceil(n_cores / CORES_PER_CHIP))
    totals = {
        "cores": n_cores,
        "chips": chips,
        "neurons": sum(lay.n for lay in lays),
        "synapses": int(sum(int(lay.syn_per_unit.sum()) for lay in lays)),
        "limits": {
            **LIMITS,
            "cores_per_chip": CORES_PER_CHIP,
            "neurons_per_chip": NEURONS_PER_CHIP,
            "synapses_per_chip": SYNAPSES_PER_CHIP,
        },
    }
    if n_cores > CORES_PER_CHIP:
        problems.append(
            Problem(
                "cores_per_chip",
                "warning",
                None,
                f"needs {n_cores} cores: {chips} Loihi 2 chips of {CORES_PER_CHIP} (a multi-chip system)",
                n_cores,
                CORES_PER_CHIP,
            )
        )
    else:
        _near(problems, "cores_per_chip", None, n_cores, CORES_PER_CHIP, "the cores needed")
    for rule, val, lim in (
        ("neurons_per_chip", totals["neurons"], NEURONS_PER_CHIP * chips),
        ("synapses_per_chip", totals["synapses"], SYNAPSES_PER_CHIP * chips),
    ):
        if val > lim:
            problems.append(Problem(rule, "error", None, f"{val} on {chips} chip(s), limit {lim}", val, lim))
        else:
            _near(problems, rule, None, val, lim, f"the total on {chips} chip(s)")
    problems.sort(key=lambda p: (p.severity != "error", p.layer is None, p.layer or ""))
    return CheckReport(
        str(path), target, not any(p.severity == "error" for p in problems), cores, layer_rows, totals, problems
    )
