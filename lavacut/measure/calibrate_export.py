"""``lavacut calibrate``: calibrate every stop rule on the training split of
an export's data set and store the parameters in the export (atomically)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lavacut.util import LavacutError


def calibrate_export(path: str | Path, eps: float = 0.02, alpha: float = 0.05, default_policy: str = "topk",
                     split: str = "train", cfg=None, risk_delta: float | None = None,
                     risk_confidence: float = 0.9, progress: bool = True) -> list[str]:
    from lavacut.data.sources import load_split
    from lavacut.export.exporter import net_from_export
    from lavacut.export.netx_file import write_calibration
    from lavacut.measure.calibrate import calibrate_all, calibrate_topk, risk_controlled
    from lavacut.measure.evaluate import calibration_spikes, check_input_matches, data_config_for
    from lavacut.measure.policies import FixedT

    if split == "test":
        raise LavacutError("calibration on the test split is not allowed (it would leak test labels)")
    net, meta = net_from_export(path)
    if meta is None:
        raise LavacutError(f"{path} has no lavacut metadata to store a calibration in; re-export it with "
                           f"'lavacut export' (or 'lavacut import' for NIR graphs)")
    cfg = data_config_for(meta, cfg)
    data = load_split(cfg, split, progress=progress)
    check_input_matches(net, data, path)
    sp = calibration_spikes(net, data.frames, cfg.cutoff.calib_dropout, seed=cfg.train.seed, progress=progress)
    rules = calibrate_all(sp, data.labels, eps=eps, alpha=alpha)
    lines = [f"calibrated on {len(data)} {split} samples of {cfg.data.dataset} "
             f"(dropout {cfg.cutoff.calib_dropout} on spiking layers during the pass)"]
    if risk_delta is not None:
        from lavacut.train.trainer import infer_spikes, stratified_holdout

        # Learn-then-Test's guarantee needs candidates fixed before the data that
        # tests them, and test data exchangeable with deployment: fit the
        # candidate thresholds on the training samples, test them in eval mode
        # (no dropout) on the trainer's validation hold-out (never trained on)
        hold = stratified_holdout(data.labels, cfg.train.val_fraction, cfg.train.seed)
        if not hold.any():
            lines.append("risk-controlled Top-K: skipped (train.val_fraction is 0: no held-out samples the "
                         "network was not trained on)")
        else:
            eps_grid = [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2]
            fit_sp, fit_y = sp[~hold], data.labels[~hold]
            cands = [FixedT()] + [calibrate_topk(fit_sp, fit_y, e) for e in eps_grid]
            test_sp = infer_spikes(net, data.frames[hold])
            rc = risk_controlled(test_sp, data.labels[hold], cands, risk_delta, risk_confidence)
            n_hold = int(hold.sum())
            if rc.index > 0:
                rules["topk_risk"] = rc.rule
                lines.append(f"risk-controlled Top-K: eps {rc.rule.eps} (accuracy drop <= {risk_delta} with "
                             f"confidence {risk_confidence}; p-value {rc.p_values[rc.index]:.3g}; tested on "
                             f"{n_hold} held-out validation samples)")
            else:
                lines.append(f"risk-controlled Top-K: no eps passes drop <= {risk_delta} at confidence "
                             f"{risk_confidence} on {n_hold} held-out validation samples; keeping fixed T")
    params = {name: r.params() for name, r in rules.items()}
    if default_policy not in params:
        raise LavacutError(f"--default {default_policy!r} is not among the calibrated rules {sorted(params)}")
    write_calibration(path, params, default_policy=default_policy,
                      extra_meta={"calibration": {"split": split, "n_samples": int(len(data)), "eps": eps,
                                                  "alpha": alpha, "dropout": cfg.cutoff.calib_dropout}})
    for name, r in rules.items():
        p = r.params()
        brief = ", ".join(f"{k}={'[' + str(len(v)) + ' per-step values]' if isinstance(v, list) else v}"
                          for k, v in p.items() if k != "policy")
        lines.append(f"  {name}: {brief}")
    lines.append(f"stored in {path} (default policy: {default_policy})")
    return lines
