"""``lavacut run``: a NetX file on a data set split or on the user's own files
in Lava, with and without the cutoff, and the report ``run`` and ``evaluate
--engine lava`` write.

Report keys (all documented in docs/reports.md, the report schema): n_samples,
T, policy, policy_params, accuracy_full,
accuracy_cutoff (None without labels), mean_t_cutoff, timestep_ratio,
wall_s_full, wall_s_cutoff, wall_ratio, backend, mode, versions, per_sample,
plus Lava step counts, compile time and per-sample wall-clock statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lavacut.config import RunConfig
from lavacut.cutoff.metrics import per_sample, termination_summary
from lavacut.cutoff.rules import RULES, FixedT, StopRule
from lavacut.data.framing import FramedSplit
from lavacut.export.artifact import Export
from lavacut.runtime.executors import executor_scope
from lavacut.runtime.network import OpenedNetwork
from lavacut.runtime.runner import run_split
from lavacut.util import LavacutError, versions


@dataclass
class RunRequest:
    """What to run, as the command line gives it: the file, the config
    (``--config`` / ``--set``) and the input (a split or ``--input``)."""

    path: str | Path
    config_path: str | Path | None = None
    overrides: tuple[str, ...] = ()
    user_input: str | Path | None = None
    split: str | None = None
    samples: int | None = None
    #: admit a lavacut export whose layers were changed after export (calibrate only)
    accept_modified: bool = False
    #: run values beyond Loihi 2's ranges anyway (``--force``: a warning, netx clamps them)
    force: bool = False


def open_run(req: RunRequest) -> tuple[Export, RunConfig, str, int]:
    """Open the export and resolve the config, split and sample count (the
    command line over ``[run]`` over the defaults). An export with no data
    set bound (a foreign NetX file, an unbound NIR import) needs
    ``--input`` or ``--config``: it never silently takes the embedded set."""
    export = Export.open(req.path, accept_modified=req.accept_modified, force=req.force)
    cfg = export.config(req.config_path, list(req.overrides))
    if req.user_input is None and not export.has_data_binding(req.config_path, req.overrides):
        raise LavacutError(
            f"{req.path}: data set unknown (no lavacut data configuration in the file); give "
            f"--input FILE|FOLDER with your own frames or recordings, or --config with the data "
            f"set and framing it was trained on"
        )
    split = req.split or cfg.run.split
    samples = cfg.run.samples if req.samples is None else req.samples
    return export, cfg, split, samples


def describe_export(path: str | Path) -> str:
    """One line on what an export is."""
    export = Export.open(path)
    meta = export.meta or {}
    acc = (meta.get("accuracy") or {}).get("test_full_T_slayer")
    return (
        f"{export.name}: data set {export.dataset or 'unknown'}, input {export.input_shape}, "
        + (f"test accuracy at full T (SLAYER) {100 * acc:.2f} %, " if acc is not None else "")
        + f"calibrated policy {meta.get('default_policy')}"
    )


def run_full_and_cutoff(
    path,
    frames,
    labels,
    rule: StopRule,
    mode: str = "halt",
    backend: str = "cpu",
    progress: bool = True,
    on_sample: Callable | None = None,
    models: str = "fast",
    workers: int = 1,
    lanes: int = 1,
    executor: str | None = None,
):
    """The same frames twice through one compiled graph each: full T
    (``FixedT``, the baseline, timed the same way) and with ``rule``.
    ``models``, ``workers``, ``lanes``, ``executor``: see
    :func:`lavacut.runtime.runner.run_split` (one executor for both runs).
    ``path``: a path or an opened ``Export``; the file is read once for both
    runs (:class:`~lavacut.runtime.network.OpenedNetwork`)."""
    path = OpenedNetwork(path)
    with executor_scope(executor, workers=workers) as ex:
        full = run_split(
            path,
            frames,
            labels,
            FixedT(),
            mode=mode,
            backend=backend,
            progress=progress,
            models=models,
            workers=workers,
            lanes=lanes,
            executor=ex,
        )
        cut = run_split(
            path,
            frames,
            labels,
            rule,
            mode=mode,
            backend=backend,
            progress=progress,
            on_sample=on_sample if mode == "halt" else None,
            models=models,
            workers=workers,
            lanes=lanes,
            executor=ex,
        )
    return full, cut


def lava_report(full, cut, rule: StopRule, T: int) -> dict[str, Any]:
    """The report of the two Lava runs (decisions, per-sample records, timings)."""
    out = termination_summary(rule, T, cut.t_c, cut.pred, full.pred, cut.labels)
    out["per_sample"] = per_sample(cut.t_c, cut.pred, cut.counts, full.pred, full.counts, cut.labels)
    out.update(
        {
            "wall_s_full": float(full.wall_s),
            "wall_s_cutoff": float(cut.wall_s),
            "wall_ratio": float(full.wall_s / cut.wall_s) if cut.wall_s > 0 else None,
            "backend": cut.backend,
            "mode": cut.mode,
            "models": cut.models,
            "workers": cut.workers,
            "lanes": int(cut.lanes),
            "lava_steps_full": int(full.lava_steps),
            "lava_steps_cutoff": int(cut.lava_steps),
            "latency_steps": int(cut.latency),
            "compile_s": float(cut.compile_s),
            "init_s": float(cut.init_s),
            "output_layout": cut.output_layout or "1-D output layer: one neuron per class",
        }
    )
    if cut.wall_s_per_sample:
        out["wall_ms_per_sample"] = {
            "cutoff_median": 1e3 * float(np.median(cut.wall_s_per_sample)),
            "full_median": 1e3 * float(np.median(full.wall_s_per_sample)),
        }
    out["wall_ratio_over_timestep_ratio"] = out["wall_ratio"] / out["timestep_ratio"] if out["wall_ratio"] else None
    return out


#: version of the JSON report layout documented in docs/reports.md: raised
#: when a documented key is renamed, removed or changes meaning
REPORT_SCHEMA_VERSION = 2


def report_stamp() -> dict[str, Any]:
    """The first keys of every JSON report (run, evaluate, verify): the
    documented layout it follows and the lavacut that wrote it."""
    from lavacut import __version__

    return {"schema_version": REPORT_SCHEMA_VERSION, "lavacut_version": __version__}


def report_header(
    export: Export, data: FramedSplit, split: str, cfg: RunConfig, engine: str, user_input: str | Path | None = None
) -> dict[str, Any]:
    """The keys every report starts with: what ran on what (``user_input``:
    the ``--input`` it ran on instead of a split of the export's data set)."""
    return {
        **report_stamp(),
        "engine": engine,
        "export": str(export.path),
        "input": data.source,
        "split": split if user_input is None else str(user_input),
        "dataset": (export.dataset or "unknown") if user_input is None else "user input",
        "content_sha256": (export.meta or {}).get("content_sha256"),
        "calibrated": bool(export.meta and export.meta.get("cutoff")),
        "classes": data.classes,
        "readout": export.readout,
        **({"cutoff": export.cutoff_note} if export.cutoff_note else {}),
    }


def unlabelled_outputs(export: Export, report: dict[str, Any]) -> dict[str, Any] | None:
    """The report's ``unlabelled_outputs`` (docs/reports.md): outputs of the
    network that no class of the data stands for, and how many decisions
    fell on them (each scored wrong); None when every output has a class."""
    if export.extra_outputs is None:
        return None
    n, k = export.extra_outputs
    rows = report.get("per_sample") or []
    full, cut = (sum(1 for r in rows if r.get(key, -1) >= k) for key in ("pred_full", "pred"))
    return {
        "outputs": n,
        "classes": k,
        "decided_full": full,
        "decided_cutoff": cut,
        "note": f"the network has {n} outputs but the data {k} classes: outputs {k}..{n - 1} stand for no label, "
        f"and a decision for one is scored wrong ({full} of {len(rows)} samples at full T, {cut} with the cutoff)",
    }


def input_report(report: dict[str, Any], data: FramedSplit) -> dict[str, Any]:
    """Add to ``report`` how a user's input was read: ``label_mapping``, ``sensor``,
    ``fit``, ``left_out``, ``windows`` (the cutoff's latency and idle share
    per window), ``input_notes``, and per sample the ``recording`` (with
    ``t0_us``, ``latency_ms``, ``idle_share`` for windows)."""
    for key in ("label_mapping", "fit", "left_out", "sensor"):
        if key in data.info:
            report[key] = data.info[key]
    rows = report.get("per_sample") or []
    if data.recordings is not None:
        for r, rec in zip(rows, data.recordings):
            r["recording"] = rec
    if data.t0_us is not None and "windows" in data.info:
        T, bin_ms = data.frames.shape[-1], data.framing.bin_us / 1000
        for r, t0 in zip(rows, data.t0_us):
            r.update({"t0_us": int(t0), "latency_ms": r["t_c"] * bin_ms, "idle_share": (T - r["t_c"]) / T})
        report["windows"] = {
            **data.info["windows"],
            "mean_latency_ms": float(np.mean([r["latency_ms"] for r in rows])) if rows else None,
            "mean_idle_share": float(np.mean([r["idle_share"] for r in rows])) if rows else None,
        }
    if data.notes:
        report["input_notes"] = list(data.notes)
    return report


def rule_for_input(export, policy, params, T: int, user_input):
    """:meth:`Export.rule` for frames of ``T`` steps; a calibrated rule whose
    per-step thresholds cover another T than a user's frames hold is refused
    naming the file and both T (it said "beta has 30 entries"). Called before
    a data set's split loads too (its frames have ``framing.T`` steps), so
    that a bad ``--policy`` or ``--param`` is named at once."""
    try:
        rule = export.rule(policy, params, T)
        rule.check_horizon(T)
    except (LavacutError, ValueError) as e:
        if user_input is None or f"T={T} " not in str(e):
            raise
        raise LavacutError(
            f"{user_input}: frames of T={T} steps, but the stop rule of {export.path} is calibrated "
            f"step by step for another T ({e}); give frames of the network's T (recordings: framing.T), "
            f"or a --policy without per-step thresholds ({', '.join(n for n, c in RULES.items() if not c.thresholds)})"
        ) from None
    return rule


def run_export(
    req: RunRequest,
    mode: str | None = None,
    policy: str | None = None,
    params: dict | None = None,
    backend: str | None = None,
    progress: bool = True,
    on_sample: Callable | None = None,
    models: str | None = None,
    workers: int | None = None,
    lanes: int | None = None,
    executor: str | None = None,
):
    """Run a NetX file in Lava, full T and with the cutoff. Returns
    (report, full, cut) with the two :class:`~lavacut.runtime.runner.RunResult`."""
    export, cfg, split, samples = open_run(req)
    mode = mode or cfg.run.mode
    backend = backend or cfg.run.backend
    models = models or cfg.run.models
    workers = int(workers or cfg.run.workers)
    lanes = int(cfg.run.lanes if lanes is None else lanes)
    if workers > 1 and on_sample is not None:
        workers = 1  # a per-decision callback needs the decisions in one process
    executor = executor or cfg.run.executor
    if executor != "local":
        on_sample = None  # the decisions are taken on the cluster: the report has them, no live table
    if req.user_input is None:  # a bad --policy or --param named before the split loads (rule_for_input)
        rule_for_input(export, policy, params, cfg.framing.T, None)
    data = export.frames(cfg, split, samples, user_input=req.user_input, stream=(mode == "stream"), progress=progress)
    T = data.frames.shape[-1]
    rule = rule_for_input(export, policy, params, T, req.user_input)
    full, cut = run_full_and_cutoff(
        export,
        data.frames,
        data.labels,
        rule,
        mode=mode,
        backend=backend,
        progress=progress,
        on_sample=on_sample,
        models=models,
        workers=workers,
        lanes=lanes,
        executor=executor,
    )
    report = {**report_header(export, data, split, cfg, "lava", req.user_input), **lava_report(full, cut, rule, T)}
    input_report(report, data)
    extra = unlabelled_outputs(export, report)
    if extra:
        report["unlabelled_outputs"] = extra
    report.update({"versions": versions(), "config": cfg.to_dict()})
    notes = []
    if rule.name == "fixed" and policy is None and not export.cutoff_note:  # (a cutoff note is said once)
        notes.append("no calibration in this file and no --policy: ran fixed T (no cutoff)")
    if data.labels is None:
        notes.append("unlabelled input: accuracy fields are null; the decisions are in per_sample")
    if notes:
        report["note"] = "; ".join(notes)
    return report, full, cut
