"""``lavacut calibrate``: calibrate every stop rule on the training split of
an export's data set and store the parameters in the export (atomically)."""

from __future__ import annotations

import dataclasses

from lavacut.cutoff.calibrate import calibrate_all, risk_controlled
from lavacut.cutoff.rules.topk import calibrate_topk, choose_topk_eps
from lavacut.cutoff.rules import FixedT
from lavacut.data.labels import check_calibration_labels
from lavacut.export.validate import write_calibration
from lavacut.pipelines.run import RunRequest, open_run
from lavacut.pipelines.shards import SlayerPasses
from lavacut.train.trainer import stratified_holdout
from lavacut.util import LavacutError


def calibrate_export(
    req: RunRequest,
    eps: float | str | None = None,
    alpha: float = 0.05,
    default_policy: str | None = None,
    risk_delta: float | None = None,
    risk_confidence: float = 0.9,
    max_drop_pp: float | None = None,
    progress: bool = True,
    workers: int | None = None,
    executor: str | None = None,
) -> list[str]:
    """Calibrate every stop rule on the training split (or the user's
    labelled ``--input``) and store them in the export. ``workers``,
    ``executor`` (default ``[run]``'s): the SLAYER passes over the samples
    sharded (:mod:`lavacut.pipelines.shards`), the calibration computed here
    on the merged spikes (the same stored calibration). ``eps="auto"``:
    Top-K's eps is chosen on the trainer's validation hold-out for an
    accuracy drop <= ``max_drop_pp`` (:func:`choose_topk_eps`). ``eps``,
    ``default_policy`` and ``max_drop_pp`` default to the config's
    ``[cutoff]`` (``eps="auto"`` when ``choose_eps``). Returns the lines to
    print."""
    split = req.split or "train"
    if split == "test":
        raise LavacutError("calibration on the test split is not allowed (it would leak test labels)")
    export, cfg, _, _ = open_run(dataclasses.replace(req, split=split, samples=0))
    c = cfg.cutoff  # the arguments over the config
    eps = ("auto" if c.choose_eps else c.eps) if eps is None else eps
    default_policy = default_policy or c.policy
    max_drop_pp = c.max_drop_pp if max_drop_pp is None else max_drop_pp
    if export.num_classes < 2:
        raise LavacutError(
            f"{export.path}: the network has {export.num_classes} output; no stop rule applies to it "
            f"(every policy runs fixed T), so there is nothing to calibrate"
        )
    data = export.frames(cfg, split, 0, user_input=req.user_input, progress=progress)
    if data.labels is None:
        raise LavacutError(
            f"{data.source}: calibration needs labels (one subfolder per class, or 'labels' in the .npz)"
        )
    if req.user_input is not None:  # a data set's training split is large; a user's files may not be
        check_calibration_labels(data.labels, cfg.train.val_fraction > 0, data.source)
        net_T = ((export.meta or {}).get("framing") or {}).get("T")  # None: a foreign file takes the frames' T
        if net_T and data.frames.shape[-1] != net_T:  # the stored per-step thresholds must cover its runs
            raise LavacutError(
                f"{data.source}: frames of T={data.frames.shape[-1]} steps, but {export.path} runs "
                f"T={net_T} steps (its framing.T): calibrate on frames of {net_T} steps"
            )
    # SpikeCP's guarantee needs calibration samples exchangeable with the
    # test data: the trainer's validation hold-out (never trained on), run in
    # eval mode (no dropout); the other samples fit the temperature and the
    # decision steps
    hold = stratified_holdout(data.labels, cfg.train.val_fraction, cfg.train.seed)
    with SlayerPasses(
        export.path, export.slayer_net, workers=workers or cfg.run.workers, executor=executor or cfg.run.executor
    ) as passes:
        sp = passes.forward(
            data.frames,
            dropout=cfg.cutoff.calib_dropout,
            seed=cfg.train.seed,
            progress=progress,
            desc="calibration pass",
        )
        hold_sp = passes.forward(data.frames[hold], progress=progress, desc="hold-out pass") if hold.any() else None
    choice = None
    if eps == "auto":
        if not hold.any():
            raise LavacutError(
                "--eps auto chooses eps on the trainer's validation hold-out, and "
                "train.val_fraction is 0: give a number"
            )
        # beta(t) fitted with the calibration pass's dropout on the other
        # samples, tested as deployed (eval mode) on the hold-out
        choice = choose_topk_eps(sp[~hold], data.labels[~hold], hold_sp, data.labels[hold], max_drop_pp)
        eps = choice.eps
    rules = calibrate_all(
        sp, data.labels, eps=eps, alpha=alpha, holdout=hold if hold.any() else None, holdout_spikes=hold_sp
    )
    lines = list(data.notes) + [
        f"calibrated on {len(data)} samples of {data.source} "
        f"(dropout {cfg.cutoff.calib_dropout} on spiking layers during the pass)"
    ]
    if "label_mapping" in data.info:
        lm = data.info["label_mapping"]
        lines.append(f"labels {lm['rule']}: " + ", ".join(f"{k} -> {v}" for k, v in lm["map"].items()))
    if choice is not None:
        rows = ", ".join(f"{r['eps']:g}: {r['drop_pp']:.2f} pp/{r['mean_t']:.1f}" for r in choice.table)
        lines.append(
            f"topk: eps {eps:g} chosen on {choice.n_holdout} held-out validation samples (fewest mean "
            f"timesteps at an accuracy drop <= {max_drop_pp:g} pp"
            f"{'' if any(r['within_budget'] for r in choice.table) else '; none met it: smallest drop'}"
            f"; eps: drop/steps {rows})"
        )
    cp = rules["conformal"]
    if hold.any():
        lines.append(
            f"conformal: thresholds from {int(hold.sum())} held-out validation samples (eval mode), "
            f"Bonferroni over {len(cp.checkpoints)} decision steps {cp.checkpoints}: "
            f"P(true class in the set at the cutoff) >= {1 - alpha:g}"
        )
    else:
        lines.append(
            "conformal: no held-out samples (train.val_fraction is 0): thresholds from the calibration "
            "pass itself, so the coverage guarantee does not hold (training samples are not "
            "exchangeable with test data)"
        )
    if risk_delta is not None:
        # Learn-then-Test's guarantee needs candidates fixed before the data that
        # tests them, and test data exchangeable with deployment: fit the
        # candidate thresholds on the training samples, test them in eval mode
        # (no dropout) on the trainer's validation hold-out (never trained on)
        if not hold.any():
            lines.append(
                "risk-controlled Top-K: skipped (train.val_fraction is 0: no held-out samples the "
                "network was not trained on)"
            )
        else:
            eps_grid = [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2]
            fit_sp, fit_y = sp[~hold], data.labels[~hold]
            cands = [FixedT()] + [calibrate_topk(fit_sp, fit_y, e) for e in eps_grid]
            test_sp = hold_sp
            rc = risk_controlled(test_sp, data.labels[hold], cands, risk_delta, risk_confidence)
            n_hold = int(hold.sum())
            if rc.index > 0:
                rules["topk_risk"] = dataclasses.replace(
                    rc.rule, delta=float(risk_delta), confidence=float(risk_confidence)
                )
                lines.append(
                    f"risk-controlled Top-K: eps {rc.rule.eps} (accuracy drop <= {risk_delta} with "
                    f"confidence {risk_confidence}; p-value {rc.p_values[rc.index]:.3g}; tested on "
                    f"{n_hold} held-out validation samples)"
                )
            else:
                lines.append(
                    f"risk-controlled Top-K: no eps passes drop <= {risk_delta} at confidence "
                    f"{risk_confidence} on {n_hold} held-out validation samples; keeping fixed T"
                )
    params = {name: r.params() for name, r in rules.items()}
    if default_policy not in params:
        raise LavacutError(f"--default {default_policy!r} is not among the calibrated rules {sorted(params)}")
    # a foreign NetX file gets lavacut metadata: what it runs on, if known
    base = {
        "name": export.name,
        "dataset": None if req.user_input else cfg.data.dataset,
        "input_shape": list(export.input_shape),
        "classes": data.classes,
        "n_classes": int(sp.shape[1]),
        "framing": dataclasses.asdict(data.framing),
        "sensor_size": None,
        "train_config": None if req.user_input else cfg.to_dict(),
    }
    write_calibration(
        export.path,
        params,
        default_policy=default_policy,
        base_meta=base,
        accept_modified=req.accept_modified,
        extra_meta={
            "calibration": {
                "split": split if req.user_input is None else str(req.user_input),
                "n_samples": int(len(data)),
                "eps": eps,
                "eps_choice": None if choice is None else dataclasses.asdict(choice),
                "alpha": alpha,
                "dropout": cfg.cutoff.calib_dropout,
                "conformal_split": "validation hold-out, eval mode" if hold.any() else split,
                "n_conformal": cp.n_calibration,
            }
        },
    )
    for name, r in rules.items():
        p = r.params()
        brief = ", ".join(
            f"{k}={'[' + str(len(v)) + ' per-step values]' if isinstance(v, list) and k != 'checkpoints' else v}"
            for k, v in p.items()
            if k != "policy" and v is not None
        )
        lines.append(f"  {name}: {brief}")
    lines.append(f"stored in {export.path} (default policy: {default_policy})")
    return lines
