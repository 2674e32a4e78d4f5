"""Termination metrics of a stop rule on recorded output spikes: accuracy,
timesteps, the oracle, the best static truncation, per-class results and
parameter sweeps. Spikes are (N, K, T); timesteps are 1-based."""
from __future__ import annotations

from typing import Any

import numpy as np

from lavacut.cutoff.calibrate import calibrate_conformal, calibrate_topk
from lavacut.cutoff.rules import (Confidence, Entropy, FixedT, StopRule, cumulative_counts, cutoff,
                                  optimal_cutoff_steps, per_step_predictions)

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
           temperature: float) -> dict[str, list[dict[str, Any]]]:
    """Accuracy vs mean timesteps for every rule over its parameter sweep
    (thresholds calibrated on the calibration split, applied to ``spikes``)."""
    def point(rule, param):
        t_c, pred = cutoff(rule, spikes)
        return {"param": param, "accuracy": accuracy(pred, labels), "mean_t": float(t_c.mean())}

    out = {"topk": [point(calibrate_topk(calib_spikes, calib_labels, e), e) for e in TOPK_EPS_SWEEP],
           "confidence": [point(Confidence(eps=e, temperature=temperature), e) for e in CONF_EPS_SWEEP],
           "entropy": [point(Entropy(threshold=h, temperature=temperature), h) for h in ENTROPY_SWEEP],
           "conformal": [point(calibrate_conformal(calib_spikes, calib_labels, a, temperature), a)
                         for a in CONFORMAL_ALPHA_SWEEP],
           "fixed": [point(FixedT(t_stop=t), t) for t in range(1, spikes.shape[-1] + 1)]}
    return out
