"""``lavacut evaluate``: termination measured on a split or the user's files:
accuracy, timesteps, oracle, static truncation, sweeps, synaptic operations
and energy, per class and per sample.

The report has the keys of ``lavacut run`` plus the analysis; ``engine``
says whether SLAYER (torch) or the Lava runtime took the decisions.
Timesteps are the network output's local steps 1..T (an L-layer network's
first L output steps are silent, in SLAYER and in Lava alike).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from lavacut.cutoff.rules.calibration import calibrate_temperature
from lavacut.cutoff.metrics import counts_at, guarantees, per_class, per_sample, summarise, sweeps
from lavacut.cutoff.rules import cutoff, group_sums, per_step_predictions, rule_from_params
from lavacut.cutoff.synops import ENERGY_FIGURES, ENERGY_SOURCE, count_ops
from lavacut.data.sources import load_split
from lavacut.pipelines.run import (
    RunRequest,
    input_report,
    lava_report,
    open_run,
    report_header,
    rule_for_input,
    run_full_and_cutoff,
    unlabelled_outputs,
)
from lavacut.pipelines.shards import SlayerPasses
from lavacut.util import LavacutError, versions

ENGINES = ("torch", "lava")


def evaluate_export(
    req: RunRequest,
    engine: str = "torch",
    policy: str | None = None,
    params: dict | None = None,
    backend: str | None = None,
    mode: str | None = None,
    progress: bool = True,
    with_sweeps: bool = True,
    neurobench: bool = True,
) -> dict[str, Any]:
    """Evaluate a NetX file; returns the report (``neurobench``: also
    NeuroBench's metrics under the ``neurobench`` key). ``[run] workers``
    and ``executor`` shard the SLAYER passes (:mod:`lavacut.pipelines.shards`)
    and, for the Lava engine, the Lava runs, on one executor."""
    if engine not in ENGINES:
        raise LavacutError(f"unknown engine {engine!r} ({' or '.join(ENGINES)})")
    export, cfg, split, samples = open_run(req)
    if with_sweeps and cfg.cutoff.calib_split != "train":
        raise LavacutError(
            f"cutoff.calib_split is {cfg.cutoff.calib_split!r}: the sweeps calibrate their "
            f"thresholds on the training split only (never on the test split)"
        )
    backend, mode = backend or cfg.run.backend, mode or cfg.run.mode
    if req.user_input is None:  # a bad --policy or --param named before the split loads (rule_for_input)
        rule_for_input(export, policy, params, cfg.framing.T, None)
    net = export.slayer_net()
    with SlayerPasses(export.path, lambda: net, workers=cfg.run.workers, executor=cfg.run.executor) as passes:
        data = export.frames(cfg, split, samples, user_input=req.user_input, progress=progress)
        frames, labels = data.frames, data.labels
        T = frames.shape[-1]
        rule = rule_for_input(export, policy, params, T, req.user_input)

        t0 = time.perf_counter()
        # the output layer's own spikes for the operation counts; the class
        # counts (group sums of an average readout) for the decisions
        raw, hidden = passes.forward(frames, record=True, readout=False, progress=progress, desc=f"SLAYER {split}")
        spikes = group_sums(raw, getattr(net, "readout_groups", 0))
        torch_wall = time.perf_counter() - t0
        t_c_ref, pred_ref = cutoff(rule, spikes)
        report: dict[str, Any] = report_header(export, data, split, cfg, engine, req.user_input)
        if engine == "torch":
            t_c, pred = t_c_ref, pred_ref
            report.update(summarise(rule, spikes, labels, t_c, pred))
            report["per_sample"] = per_sample(
                t_c,
                pred,
                counts_at(spikes, t_c),
                per_step_predictions(spikes)[:, -1],
                counts_at(spikes, np.full(len(t_c), T)),
                labels,
            )
            report.update(
                {
                    "wall_s_full": torch_wall,
                    "wall_s_cutoff": None,
                    "wall_ratio": None,
                    "backend": "torch-cpu",
                    "wall_note": "torch engine: SLAYER runs all T steps in one batched pass, so the wall-clock "
                    "with cutoff is not measured; use --engine lava",
                }
            )
        else:
            full, cut = run_full_and_cutoff(
                export.path,
                frames,
                labels,
                rule,
                mode=mode,
                backend=backend,
                progress=progress,
                models=cfg.run.models,
                workers=cfg.run.workers,
                lanes=cfg.run.lanes,
                executor=passes.ex,
            )
            t_c, pred = np.asarray(cut.t_c), np.asarray(cut.pred)
            report.update(summarise(rule, spikes, labels, t_c, pred))
            lr = lava_report(full, cut, rule, T)
            report.update(
                {
                    k: v
                    for k, v in lr.items()
                    if k.startswith(
                        (
                            "lava_steps",
                            "compile",
                            "init",
                            "wall",
                            "mode",
                            "latency",
                            "backend",
                            "per_sample",
                            "output_layout",
                            "models",
                            "workers",
                            "lanes",
                        )
                    )
                }
            )
            report["engines_agree"] = bool(np.array_equal(t_c, t_c_ref) and np.array_equal(pred, pred_ref))
            report["full_T_matches_slayer"] = bool(
                np.array_equal(np.asarray(full.pred), per_step_predictions(spikes)[:, -1])
            )
        input_report(report, data)
        extra = unlabelled_outputs(export, report)
        if extra:
            report["unlabelled_outputs"] = extra
        # a voltage readout never spikes: its neurons update, and send nothing
        out_spikes = np.zeros(raw.shape, np.uint8) if export.readout == "voltage" else raw
        report["operations"] = _operations(net, frames, hidden, out_spikes, t_c)
        if neurobench:
            report["neurobench"] = _neurobench(
                passes, net, frames, labels, hidden, out_spikes, t_c, report["operations"]
            )
        single = export.num_classes < 2  # no stop rule applies (export.cutoff_note says so)
        report["guarantees"] = None if single else _guarantees(export, rule, spikes, labels, T)
        classes = data.classes or [str(k) for k in range(spikes.shape[1])]
        report["per_class"] = per_class(labels, per_step_predictions(spikes)[:, -1], pred, t_c, classes)
        if with_sweeps and labels is not None and req.user_input is None and not single:
            if progress:
                print(
                    f"lavacut evaluate: calibrating every stop rule on the {cfg.cutoff.calib_split} split for the "
                    f"accuracy-vs-timesteps sweeps (one more SLAYER pass over that split; --no-sweeps skips it)",
                    file=sys.stderr,
                    flush=True,
                )
            report.update(_sweeps(passes, cfg, spikes, labels, progress))
        report["versions"] = versions()
        report["seed"] = cfg.train.seed
        report["config"] = cfg.to_dict()
        return report


def _guarantees(export, rule, spikes: np.ndarray, labels, T: int):
    """Target vs achieved (with Clopper-Pearson intervals) on this split for
    every calibrated rule stored in the export that has a target, and for
    the evaluated rule if it is not one of them; None without labels."""
    if labels is None:
        return None
    rules = {}
    for name, params in ((export.meta or {}).get("cutoff") or {}).items():
        try:
            r = rule_from_params(params)
            r.check_horizon(T)
        except (ValueError, TypeError):
            continue
        rules[name] = r
    if all(r.params() != rule.params() for r in rules.values()):
        rules[f"{rule.name} (evaluated)"] = rule
    return guarantees(rules, spikes, labels)


def _neurobench(
    passes: SlayerPasses,
    net,
    frames: np.ndarray,
    labels,
    hidden: list[np.ndarray],
    spikes: np.ndarray,
    t_c: np.ndarray,
    ops: dict[str, Any],
) -> dict[str, Any]:
    """NeuroBench's own metrics at full T and at the cutoff (its two passes
    sharded as the SLAYER passes are), cross-checked against ``ops``
    (lavacut's counter); a failure is recorded, not raised."""
    try:
        from lavacut.measure.neurobench import neurobench_metrics

        inputs = [frames.reshape(len(frames), -1, spikes.shape[-1])] + hidden  # as _operations counts them
        return neurobench_metrics(
            net,
            frames,
            labels,
            t_c,
            layer_inputs=inputs,
            outputs=hidden + [spikes],
            readout_groups=getattr(net, "readout_groups", 0),
            lavacut_synops={"full": ops["synops_full_mean"], "cutoff": ops["synops_cutoff_mean"]},
            parts=passes.workers,
            map_parts=lambda fn, kws, weights: passes.map(fn, kws, weights=weights, desc="NeuroBench"),
        )
    except Exception as exc:  # noqa: BLE001 - the rest of the report stands without these metrics
        return {"error": f"NeuroBench metrics not computed: {type(exc).__name__}: {exc}"}


def _ratio(full: float, cut: float) -> float | None:
    """full / cutoff; None when the cutoff counted nothing (0 / 0, or a
    full-T count over 0: no finite ratio; it was 1e12 times the count)."""
    return float(full / cut) if cut > 0 else None


def _operations(
    net, frames: np.ndarray, hidden: list[np.ndarray], spikes: np.ndarray, t_c: np.ndarray
) -> dict[str, Any]:
    """Operations up to the cutoff vs full T, from the actual spikes."""
    from lavacut.train.networks import nonzero_fan_outs  # torch

    T = spikes.shape[-1]
    layer_inputs = [frames.reshape(len(frames), -1, T)] + hidden
    outputs = hidden + [spikes]
    n_neurons = [h.shape[1] for h in hidden] + [spikes.shape[1]]
    # per input, the nonzero weights leaving it: lavacut's nets and rebuilt foreign files alike
    fo = nonzero_fan_outs(net)
    cut = count_ops(fo, layer_inputs, n_neurons, outputs, t_c)
    full = count_ops(fo, layer_inputs, n_neurons, outputs, np.full(len(t_c), T))
    return {
        "synops_full_mean": float(full.synops.mean()),
        "synops_cutoff_mean": float(cut.synops.mean()),
        "synops_ratio": _ratio(full.synops.mean(), cut.synops.mean()),
        "neuron_updates_full_mean": float(full.neuron_updates.mean()),
        "neuron_updates_cutoff_mean": float(cut.neuron_updates.mean()),
        "energy_uj_full_mean": float(full.energy_uj.mean()),
        "energy_uj_cutoff_mean": float(cut.energy_uj.mean()),
        "energy_ratio": _ratio(full.energy_uj.mean(), cut.energy_uj.mean()),
        "energy_source": ENERGY_SOURCE,
        "energy_uj_loihi2_range_full_mean": [float(e.mean()) for e in full.energy_uj_loihi2],
        "energy_uj_loihi2_range_cutoff_mean": [float(e.mean()) for e in cut.energy_uj_loihi2],
        "energy_figures": ENERGY_FIGURES,
        "definition": "synaptic op = one input spike delivered along one synapse with a nonzero (quantised, "
        "exported) weight: input spikes x nonzero fan-out (zero weights cost nothing, as in Loihi's "
        "sparse synapse storage and NeuroBench's Effective_ACs), counting over steps 1..t_c the "
        "spikes each layer receives: the frame, then each hidden layer's spikes at the step they "
        "are emitted (NeuroBench sees those after the one-step synaptic delay, the one difference: "
        "see neurobench.cross_check); neuron update = every neuron every step",
    }


def _sweeps(passes: SlayerPasses, cfg, spikes: np.ndarray, labels: np.ndarray, progress: bool) -> dict[str, Any]:
    """Every rule over its parameter sweep, thresholds calibrated on the
    calibration split (never the test split)."""
    calib = load_split(cfg, cfg.cutoff.calib_split, progress=progress)
    calib_sp = passes.forward(
        calib.frames, dropout=cfg.cutoff.calib_dropout, seed=cfg.train.seed, progress=progress, desc="calibration pass"
    )
    # as 'lavacut calibrate': conformal thresholds on the validation hold-out in eval mode
    from lavacut.train.trainer import stratified_holdout

    hold = stratified_holdout(calib.labels, cfg.train.val_fraction, cfg.train.seed)
    hold_sp = passes.forward(calib.frames[hold], progress=progress, desc="hold-out pass") if hold.any() else None
    temp = calibrate_temperature(calib_sp[~hold], calib.labels[~hold])
    return {
        "sweeps": sweeps(calib_sp, calib.labels, spikes, labels, temp, holdout=hold, holdout_spikes=hold_sp),
        "sweep_calibration": {
            "split": cfg.cutoff.calib_split,
            "dropout": cfg.cutoff.calib_dropout,
            "temperature": temp,
            "conformal_holdout": int(hold.sum()),
        },
    }
