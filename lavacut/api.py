"""The Python API: ``import lavacut``, then :func:`load`, :func:`run`,
:func:`evaluate` and :func:`verify`, which do what the commands of the same
name do and return typed results.

Thin wrappers over :mod:`lavacut.pipelines`, imported inside the functions
so that ``import lavacut`` (and ``lavacut --help``) stays fast. A NetX file
is given as a path or as the name of a shipped export (``lavacut list``).
Settings not given come from the export's own configuration, then from
``config`` and ``overrides`` (``--config`` / ``--set``), as on the command
line. Errors a user can act on raise :class:`lavacut.util.LavacutError` with
a one-line message naming the file or setting at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # annotations only: importing these pulls in the whole stack
    from lavacut.pipelines.listing import ExportInfo
    from lavacut.pipelines.verify import VerifyResult
    from lavacut.runtime.result import RunResult

__all__ = ["load", "run", "evaluate", "verify", "Report", "RunOutcome", "Evaluation"]


@dataclass
class Report:
    """A run's or an evaluation's JSON report (``report``: every key documented
    in docs/reports.md) with its headline figures as attributes."""

    report: dict[str, Any]

    @property
    def n_samples(self) -> int:
        return int(self.report["n_samples"])

    @property
    def T(self) -> int:
        """Timesteps per sample at full T."""
        return int(self.report["T"])

    @property
    def policy(self) -> str:
        """The stop rule that ran (``topk``, ``conformal``, ..., ``fixed``)."""
        return str(self.report["policy"])

    @property
    def accuracy_full(self) -> float | None:
        """Accuracy at full T (None for unlabelled input)."""
        return self.report["accuracy_full"]

    @property
    def accuracy_cutoff(self) -> float | None:
        """Accuracy with the cutoff (None for unlabelled input)."""
        return self.report["accuracy_cutoff"]

    @property
    def mean_t_cutoff(self) -> float:
        """Mean cutoff step t_c (1-based output steps)."""
        return float(self.report["mean_t_cutoff"])

    @property
    def timestep_ratio(self) -> float:
        """T / mean t_c."""
        return float(self.report["timestep_ratio"])

    @property
    def ratio_vs_static_truncation(self) -> float | None:
        """T' / mean t_c, T' the best static truncation (docs/method.md; None
        where the report has no labels or no output spikes to compute it)."""
        return self.report.get("ratio_vs_static_truncation")


@dataclass
class RunOutcome(Report):
    """:func:`run`: the report, and the Lava runs at full T (``full``) and
    with the cutoff (``cutoff``), each with per-sample ``t_c``, ``pred`` and
    ``counts``."""

    full: RunResult | None = None
    cutoff: RunResult | None = None


@dataclass
class Evaluation(Report):
    """:func:`evaluate`: the report (termination figures, oracle, static
    truncation, operation counts, guarantees, sweeps of every rule)."""


def _request(path, input, split, samples, config, overrides, accept_modified: bool = False):
    from lavacut.pipelines.run import RunRequest
    from lavacut.shipped import resolve_export

    return RunRequest(
        resolve_export(path),
        config_path=config,
        overrides=tuple(overrides),
        user_input=input,
        split=split,
        samples=samples,
        accept_modified=accept_modified,
    )


def load(path: str | Path) -> ExportInfo:
    """Open and validate a NetX file; describe its layers, classes, T,
    readout and the stop rules calibrated into it."""
    from lavacut.pipelines.listing import export_info
    from lavacut.shipped import resolve_export

    return export_info(resolve_export(path))


def run(
    path: str | Path,
    input: str | Path | None = None,
    *,
    split: str | None = None,
    samples: int | None = None,
    policy: str | None = None,
    params: dict[str, Any] | None = None,
    mode: str | None = None,
    backend: str | None = None,
    workers: int | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    progress: bool = True,
) -> RunOutcome:
    """Run the network in Lava at full T and with the cutoff monitor (``lavacut run``).

    ``input``: your own frames or recordings (a file or a folder) instead of
    a data set ``split``; ``samples``: the first N (0 = all); ``policy`` and
    ``params``: the stop rule (default: the file's calibrated default);
    ``mode``: ``halt`` or ``stream``."""
    from lavacut.pipelines.run import run_export

    report, full, cut = run_export(
        _request(path, input, split, samples, config, overrides),
        mode=mode,
        policy=policy,
        params=params,
        backend=backend,
        progress=progress,
        workers=workers,
    )
    return RunOutcome(report, full, cut)


def evaluate(
    path: str | Path,
    input: str | Path | None = None,
    *,
    split: str | None = None,
    samples: int | None = None,
    policy: str | None = None,
    params: dict[str, Any] | None = None,
    engine: str = "torch",
    sweeps: bool = True,
    neurobench: bool = False,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    progress: bool = True,
) -> Evaluation:
    """Measure termination on a split (``lavacut evaluate``): accuracy and
    timesteps with the cutoff, the oracle, the best static truncation, the
    operation counts and guarantees; ``sweeps``: every rule over its
    parameter sweep; ``engine``: ``torch`` (SLAYER) or ``lava``."""
    from lavacut.pipelines.evaluate import evaluate_export

    report = evaluate_export(
        _request(path, input, split, samples, config, overrides),
        engine=engine,
        policy=policy,
        params=params,
        progress=progress,
        with_sweeps=sweeps,
        neurobench=neurobench,
    )
    return Evaluation(report)


def verify(
    path: str | Path,
    input: str | Path | None = None,
    *,
    split: str | None = None,
    samples: int | None = None,
    backend: str | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    progress: bool = True,
) -> VerifyResult:
    """Check that Lava reproduces SLAYER's output spikes exactly on the first
    ``samples`` samples (0 = all; default [run] samples; ``lavacut verify``)."""
    from lavacut.pipelines.verify import verify_export

    return verify_export(_request(path, input, split, samples, config, overrides), backend=backend, progress=progress)
