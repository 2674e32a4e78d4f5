"""Termination metrics of a stop rule on recorded output spikes: accuracy,
timesteps, the oracle, the best static truncation, per-class results and
parameter sweeps. Spikes are (N, K, T); timesteps are 1-based."""
from __future__ import annotations

from typing import Any

import numpy as np

from lavacut.cutoff.binomial import rate_with_interval
from lavacut.cutoff.calibrate import calibrate_conformal_split, calibrate_topk
from lavacut.cutoff.rules import (NO_DECISION, Confidence, Conformal, Entropy, FixedT, StopRule, TopKGap,
                                  cumulative_counts, cutoff, optimal_cutoff_steps, per_step_predictions)

TOPK_EPS_SWEEP = [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09]
CONF_EPS_SWEEP = [0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.001]
ENTROPY_SWEEP = [0.9, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02]
CONFORMAL_ALPHA_SWEEP = [0.3, 0.2, 0.15, 0.1, 0.05, 0.02, 0.01]


def accuracy(pred: np.ndarray, labels: np.ndarray | None) -> float | None:
    """Fraction of ``pred == labels``; None without labels (never invented)."""
    if labels is None:
        return None
    return float(np.mean(pred == labels)) if len(labels) else float("nan")


def static_truncation(spikes: np.ndarray, labels: np.ndarray, tolerance: float) -> dict[str, Any]:
    """Smallest fixed T' whose accuracy is within ``tolerance`` of accuracy(T),
    and the accuracy of every fixed T' (the fixed-T curve)."""
    pred = per_step_predictions(spikes)
    accs = (pred == np.asarray(labels)[:, None]).mean(axis=0)
    T = spikes.shape[-1]
    ok = np.flatnonzero(accs >= accs[-1] - tolerance - 1e-12)
    t_prime = int(ok[0] + 1) if len(ok) else T
    return {"T_prime": t_prime, "accuracy_T_prime": float(accs[t_prime - 1]), "tolerance": float(tolerance),
            "curve": [{"T": t + 1, "accuracy": float(a)} for t, a in enumerate(accs)]}


def termination_summary(rule: StopRule, T: int, t_c: np.ndarray, pred: np.ndarray, pred_full: np.ndarray,
                        labels: np.ndarray | None, spikes: np.ndarray | None = None) -> dict[str, Any]:
    """The figures every report carries. With the output ``spikes`` and
    labels also the oracle (mean OCT), the best static truncation T' and the
    fixed-T curve. Accuracy fields are None without labels."""
    t_c = np.asarray(t_c)
    acc_full, acc_cut = accuracy(pred_full, labels), accuracy(pred, labels)
    mean_t = float(np.mean(t_c))
    out: dict[str, Any] = {
        "n_samples": int(len(t_c)), "T": int(T),
        "policy": rule.name, "policy_params": rule.params(),
        "labelled": labels is not None,
        "accuracy_full": acc_full, "accuracy_cutoff": acc_cut,
        "accuracy_drop_pp": None if labels is None else 100.0 * (acc_full - acc_cut),
        "mean_t_cutoff": mean_t, "timestep_ratio": T / mean_t,
        # samples with a decision at the cutoff (-1 = the output said nothing up to t_c)
        "n_decided": int(np.sum(np.asarray(pred) != NO_DECISION)),
        "t_cutoff_histogram": np.bincount(t_c, minlength=T + 1)[1:].tolist(),
    }
    if spikes is not None and labels is not None:
        oct_ = optimal_cutoff_steps(spikes, labels)
        st = static_truncation(spikes, labels, max(acc_full - acc_cut, 0.0))
        out.update({"mean_oct": float(np.mean(oct_)), "t_cutoff_over_oct": mean_t / float(np.mean(oct_)),
                    "static_truncation": {k: v for k, v in st.items() if k != "curve"},
                    "ratio_vs_static_truncation": st["T_prime"] / mean_t,
                    "fixed_T_curve": st["curve"]})
    return out


def summarise(rule: StopRule, spikes: np.ndarray, labels: np.ndarray | None, t_c: np.ndarray | None = None,
              pred: np.ndarray | None = None) -> dict[str, Any]:
    """:func:`termination_summary` from output spikes ``(N, K, T)``, the
    decisions taken from the rule applied to them unless given (e.g. by the
    Lava engine)."""
    if t_c is None or pred is None:
        t_c, pred = cutoff(rule, spikes)
    return termination_summary(rule, spikes.shape[-1], t_c, pred, per_step_predictions(spikes)[:, -1],
                               labels, spikes)


def per_sample(t_c: np.ndarray, pred: np.ndarray, counts: np.ndarray, pred_full: np.ndarray,
               counts_full: np.ndarray, labels: np.ndarray | None) -> list[dict[str, Any]]:
    """One record per sample: index, label (or None), t_c, pred, the class
    counts Y(t_c), and pred_full / counts_full at full T."""
    return [{"index": i, "label": None if labels is None else int(labels[i]), "t_c": int(t_c[i]),
             "pred": int(pred[i]), "counts": [int(c) for c in counts[i]], "pred_full": int(pred_full[i]),
             "counts_full": [int(c) for c in counts_full[i]]} for i in range(len(t_c))]


def counts_at(spikes: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Y(t) per sample: ``(N, K, T)`` spikes and 1-based steps ``(N,)`` -> ``(N, K)``."""
    Y = cumulative_counts(spikes)
    return Y[np.arange(len(Y)), :, np.asarray(t) - 1]


def per_class(labels: np.ndarray | None, pred_full: np.ndarray, pred_cut: np.ndarray, t_c: np.ndarray,
              classes: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if labels is None:
        return out
    for k, name in enumerate(classes):
        m = labels == k
        if not m.any():
            continue
        out.append({"class": name, "n": int(m.sum()), "accuracy_full": accuracy(pred_full[m], labels[m]),
                    "accuracy_cutoff": accuracy(pred_cut[m], labels[m]), "mean_t_cutoff": float(t_c[m].mean())})
    return out


def sweeps(calib_spikes: np.ndarray, calib_labels: np.ndarray, spikes: np.ndarray, labels: np.ndarray,
           temperature: float, holdout: np.ndarray | None = None,
           holdout_spikes: np.ndarray | None = None) -> dict[str, list[dict[str, Any]]]:
    """Accuracy vs mean timesteps for every rule over its parameter sweep
    (thresholds calibrated on the calibration split, applied to ``spikes``).
    Conformal is calibrated as ``lavacut calibrate`` does: thresholds on the
    ``holdout`` samples' ``holdout_spikes`` (eval mode), decision steps on
    the others; without a hold-out, both on the calibration split."""
    if holdout is not None and holdout_spikes is not None and np.any(holdout):
        cp_fit = (calib_spikes[~holdout], np.asarray(calib_labels)[~holdout])
        cp_cal = (holdout_spikes, np.asarray(calib_labels)[holdout])
    else:
        cp_fit = cp_cal = (calib_spikes, calib_labels)

    def point(rule, param):
        t_c, pred = cutoff(rule, spikes)
        return {"param": param, "accuracy": accuracy(pred, labels), "mean_t": float(t_c.mean())}

    out = {"topk": [point(calibrate_topk(calib_spikes, calib_labels, e), e) for e in TOPK_EPS_SWEEP],
           "confidence": [point(Confidence(eps=e, temperature=temperature), e) for e in CONF_EPS_SWEEP],
           "entropy": [point(Entropy(threshold=h, temperature=temperature), h) for h in ENTROPY_SWEEP],
           "conformal": [point(calibrate_conformal_split(*cp_fit, *cp_cal, a, temperature), a)
                         for a in CONFORMAL_ALPHA_SWEEP],
           "fixed": [point(FixedT(t_stop=t), t) for t in range(1, spikes.shape[-1] + 1)]}
    return out


# --------------------------------------------------------------------------- targets vs achieved
GUARANTEE_LEVEL = 0.95


def _conformal_coverage(rule: Conformal, spikes: np.ndarray, labels: np.ndarray, t_c: np.ndarray) -> np.ndarray:
    """Per sample: the true class is in the prediction set at the cutoff step."""
    Yc = counts_at(spikes, t_c)
    return rule.prediction_set(Yc, t_c)[np.arange(len(labels)), labels]


def guarantee(rule: StopRule, spikes: np.ndarray, labels: np.ndarray, level: float = GUARANTEE_LEVEL,
              name: str | None = None) -> dict[str, Any] | None:
    """What a calibrated rule promises and what it achieved on these samples,
    each rate with its exact (Clopper-Pearson) interval at ``level``:

    - ``topk`` (eps): docs/method.md calibrates beta(t) so that, per step, at least
      1 - eps of the samples whose gap exceeds beta(t) are already settled
      (OCT <= t; a sample wrong at T has OCT = T). Achieved: the share
      settled at the cutoff (OCT <= t_c), over
      all samples and over those the rule stopped before T. An empirical
      calibration on the training split, not a finite-sample guarantee.
    - ``topk`` with ``delta`` (``topk_risk``): flip rate (right at T, wrong
      at the cutoff) <= delta with probability >= confidence over the
      calibration draw. Achieved: the flip rate.
    - ``conformal`` (alpha): P(y in the set at t_c) >= 1 - alpha (with the
      Bonferroni correction). Achieved: the coverage at the cutoff, and the
      accuracy at the cutoff beside it.

    Every entry also carries the accuracy drop, the disagreement with the
    full-T prediction and the mean cutoff step. Rules without a target
    (fixed, confidence, entropy: only a temperature is calibrated) give None.
    """
    labels = np.asarray(labels)
    T = spikes.shape[-1]
    if isinstance(rule, TopKGap):
        if rule.delta is None and rule.eps is None:
            return None
    elif isinstance(rule, Conformal):
        if rule.alpha is None:
            return None
    else:
        return None
    t_c, pred = cutoff(rule, spikes)
    pred_T = per_step_predictions(spikes)[:, -1]
    n = len(labels)
    right_T, right_c = pred_T == labels, pred == labels
    out: dict[str, Any] = {
        "rule": name or rule.name, "policy": rule.name, "n_samples": int(n),
        "mean_t_cutoff": float(t_c.mean()), "accuracy_full": float(right_T.mean()),
        "accuracy_cutoff": float(right_c.mean()),
        "accuracy_cutoff_interval": rate_with_interval(int(right_c.sum()), n, level),
        "accuracy_drop_pp": 100.0 * float(right_T.mean() - right_c.mean()),
        "disagreement_with_full_T": rate_with_interval(int(np.sum(pred != pred_T)), n, level),
    }
    if isinstance(rule, TopKGap) and rule.delta is not None:
        flips = int(np.sum(right_T & ~right_c))
        ach = rate_with_interval(flips, n, level)
        out.update({
            "target": {"quantity": "flip rate (right at full T, wrong at the cutoff), bounds the accuracy drop",
                       "max": rule.delta, "delta": rule.delta, "confidence": rule.confidence, "eps": rule.eps},
            "achieved": ach, "met": ach["rate"] <= rule.delta,
            "guarantee": f"flip rate <= {rule.delta:g} with probability >= {rule.confidence} over the draw of "
                         f"the calibration hold-out (Learn-then-Test, exact binomial test)"})
    elif isinstance(rule, TopKGap):
        oct_ = optimal_cutoff_steps(spikes, labels)
        settled = oct_ <= t_c
        early = t_c < T
        ach = rate_with_interval(int(settled.sum()), n, level)
        out.update({
            "target": {"quantity": "settled at the cutoff (OCT <= t_c: the decision is right and stays right, "
                                   "or the sample is wrong at T and ran to T; docs/method.md's c_n(t))",
                       "min": 1.0 - rule.eps, "eps": rule.eps},
            "achieved": ach, "met": ach["rate"] >= 1.0 - rule.eps - 1e-12,
            "achieved_early_stops": rate_with_interval(int(settled[early].sum()), int(early.sum()), level),
            "guarantee": "none (per-step empirical calibration on the training split, docs/method.md)"})
    else:
        cov = _conformal_coverage(rule, spikes, labels, t_c)
        ach = rate_with_interval(int(cov.sum()), n, level)
        corrected = rule.correction == "bonferroni"
        n_c = len(rule.checkpoints) if rule.checkpoints is not None else T
        out.update({
            "target": {"quantity": "coverage: true class in the prediction set at the cutoff",
                       "min": 1.0 - rule.alpha, "alpha": rule.alpha, "checkpoints": rule.checkpoints,
                       "correction": rule.correction, "n_calibration": rule.n_calibration},
            "achieved": ach, "met": ach["rate"] >= 1.0 - rule.alpha - 1e-12,
            "accuracy_met": float(right_c.mean()) >= 1.0 - rule.alpha - 1e-12,
            "guarantee": (f"P(y in set at t_c) >= {1 - rule.alpha:g} (Bonferroni over {n_c} decision steps, "
                          f"{rule.n_calibration} calibration samples exchangeable with the test data)"
                          if corrected else "none (uncorrected per-step quantiles)")})
    return out


def guarantees(rules: dict[str, StopRule], spikes: np.ndarray, labels: np.ndarray | None,
               level: float = GUARANTEE_LEVEL) -> list[dict[str, Any]] | None:
    """:func:`guarantee` for every rule that has a target (None without labels)."""
    if labels is None:
        return None
    out = []
    for name, rule in rules.items():
        g = guarantee(rule, spikes, labels, level, name=name)
        if g is not None:
            out.append(g)
    return out
