"""``lavacut check --replicas R``: R copies of a network side by side on
Loihi 2 -- the chip counterpart of the CPU runtime's lanes (each copy takes
the next sample the moment its cutoff fires).

From a :class:`lavacut.export.loihi2.check.CheckReport` of ONE copy: how many
copies fit on one chip (``replicas_per_chip``) and which chip-level limit
binds (cores, neurons or synapses per chip, Intel's public figures in
:mod:`lavacut.export.loihi2.figures`), the core map of the R copies (copy c on cores
c*k .. c*k + k - 1 of the copies' chips, a copy never split across chips),
and the input the copies share. Nothing here has been measured on a chip.
"""

from __future__ import annotations

import math

from lavacut.export.loihi2.check import CheckReport
from lavacut.export.loihi2.figures import CORES_PER_CHIP, NEURONS_PER_CHIP, SYNAPSES_PER_CHIP
from lavacut.export.loihi2.rules import Problem

REPLICA_ASSUMPTIONS = [
    {
        "figure": "replica placement",
        "value": "whole copies per chip",
        "assumption": "each copy keeps the core map of one copy and lies on one chip (no copy split across chips); "
        "copies share nothing but the chip: the Loihi 2 compiler in lava-loihi is closed",
    },
    {
        "figure": "shared input bandwidth",
        "value": "unpublished",
        "assumption": "all copies on a chip receive their input spikes through the chip's host interface (the "
        "embedded-io adapters of lava-loihi), whose bandwidth Intel has not published; each copy "
        "needs up to its input-layer size in spikes per step (the 'input_spikes_per_step_max' of the "
        "report), so R copies need R times that, and input, not cores, may bound throughput (Intel's "
        "PilotNet SDNN on Loihi 2 was bound by sending input frames to the chip)",
    },
]


def replicate(report: CheckReport, replicas: int, input_size: int | None = None) -> CheckReport:
    """The report of ``replicas`` copies of the network of ``report`` (one
    copy's check): sets ``replicas``, ``replicas_per_chip``,
    ``replica_binding`` and the replicated core map, chips and totals."""
    replicas = int(replicas)
    k = int(report.totals["cores"])
    neurons, synapses = int(report.totals["neurons"]), int(report.totals["synapses"])
    fits = {
        "cores_per_chip": CORES_PER_CHIP // max(k, 1),
        "neurons_per_chip": NEURONS_PER_CHIP // max(neurons, 1),
        "synapses_per_chip": SYNAPSES_PER_CHIP // max(synapses, 1),
    }
    binding = min(fits, key=fits.get)
    per_chip = fits[binding]
    report.replicas, report.replicas_per_chip, report.replica_binding = replicas, per_chip, binding
    report.assumptions = list(report.assumptions) + REPLICA_ASSUMPTIONS
    if per_chip < 1:
        report.problems.append(
            Problem(
                "replicas",
                "warning",
                None,
                f"one copy needs more than a chip ({binding}); copies side by side need {replicas} multi-chip systems",
                replicas,
                0,
            )
        )
        return report
    chips = math.ceil(replicas / per_chip)
    one = list(report.cores)
    cores = []
    for c in range(replicas):
        chip, slot = divmod(c, per_chip)
        for core in one:
            cid = slot * k + core["core"]
            cores.append({**core, "core": chip * CORES_PER_CHIP + cid, "chip": chip, "replica": c})
    report.cores = cores
    report.totals = {
        **report.totals,
        "replicas": replicas,
        "cores_per_replica": k,
        "cores": k * replicas,
        "chips": chips,
        "neurons": neurons * replicas,
        "synapses": synapses * replicas,
        "replicas_per_chip": per_chip,
        "replica_binding": binding,
        "input_spikes_per_step_max": None if input_size is None else int(input_size) * replicas,
    }
    if replicas > per_chip:
        report.problems.append(
            Problem(
                "replicas",
                "warning",
                None,
                f"{replicas} copies need {chips} chips ({per_chip} per chip, bound by {binding})",
                replicas,
                per_chip,
            )
        )
    return report
