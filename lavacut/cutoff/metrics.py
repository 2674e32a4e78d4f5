"""Termination metrics of a stop rule on recorded output spikes: accuracy,
timesteps, the oracle, the best static truncation, per-class results and
parameter sweeps. Spikes are (N, K, T); timesteps are 1-based."""

from __future__ import annotations

from typing import Any

import numpy as np

from lavacut.cutoff.binomial import rate_with_interval
from lavacut.cutoff.rules import (
    NO_DECISION,
    RULES,
    CalibrationData,
    StopRule,
    cumulative_counts,
    cutoff,
    optimal_cutoff_steps,
    per_step_predictions,
)


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
    return {
        "T_prime": t_prime,
        "accuracy_T_prime": float(accs[t_prime - 1]),
        "tolerance": float(tolerance),
        "curve": [{"T": t + 1, "accuracy": float(a)} for t, a in enumerate(accs)],
    }


def termination_summary(
    rule: StopRule,
    T: int,
    t_c: np.ndarray,
    pred: np.ndarray,
    pred_full: np.ndarray,
    labels: np.ndarray | None,
    spikes: np.ndarray | None = None,
) -> dict[str, Any]:
    """The figures every report carries. With the output ``spikes`` and
    labels also the oracle (mean OCT), the best static truncation T' and the
    fixed-T curve. Accuracy fields are None without labels."""
    t_c = np.asarray(t_c)
    acc_full, acc_cut = accuracy(pred_full, labels), accuracy(pred, labels)
    mean_t = float(np.mean(t_c))
    out: dict[str, Any] = {
        "n_samples": int(len(t_c)),
        "T": int(T),
        "policy": rule.name,
        "policy_params": rule.params(),
        "labelled": labels is not None,
        "accuracy_full": acc_full,
        "accuracy_cutoff": acc_cut,
        "accuracy_drop_pp": None if labels is None else 100.0 * (acc_full - acc_cut),
        "mean_t_cutoff": mean_t,
        "timestep_ratio": T / mean_t,
        # samples with a decision at the cutoff (-1 = the output said nothing up to t_c)
        "n_decided": int(np.sum(np.asarray(pred) != NO_DECISION)),
        "t_cutoff_histogram": np.bincount(t_c, minlength=T + 1)[1:].tolist(),
    }
    if spikes is not None and labels is not None:
        oct_ = optimal_cutoff_steps(spikes, labels)
        st = static_truncation(spikes, labels, max(acc_full - acc_cut, 0.0))
        out.update(
            {
                "mean_oct": float(np.mean(oct_)),
                "t_cutoff_over_oct": mean_t / float(np.mean(oct_)),
                "static_truncation": {k: v for k, v in st.items() if k != "curve"},
                # a silent output decides nothing at any T': no truncation to compare with
                "ratio_vs_static_truncation": st["T_prime"] / mean_t if np.any(spikes) else None,
                "fixed_T_curve": st["curve"],
            }
        )
    return out


def summarise(
    rule: StopRule,
    spikes: np.ndarray,
    labels: np.ndarray | None,
    t_c: np.ndarray | None = None,
    pred: np.ndarray | None = None,
) -> dict[str, Any]:
    """:func:`termination_summary` from output spikes ``(N, K, T)``, the
    decisions taken from the rule applied to them unless given (e.g. by the
    Lava engine)."""
    if t_c is None or pred is None:
        t_c, pred = cutoff(rule, spikes)
    return termination_summary(rule, spikes.shape[-1], t_c, pred, per_step_predictions(spikes)[:, -1], labels, spikes)


def per_sample(
    t_c: np.ndarray,
    pred: np.ndarray,
    counts: np.ndarray,
    pred_full: np.ndarray,
    counts_full: np.ndarray,
    labels: np.ndarray | None,
) -> list[dict[str, Any]]:
    """One record per sample: index, label (or None), t_c, pred, the class
    counts Y(t_c), and pred_full / counts_full at full T."""
    return [
        {
            "index": i,
            "label": None if labels is None else int(labels[i]),
            "t_c": int(t_c[i]),
            "pred": int(pred[i]),
            "counts": [int(c) for c in counts[i]],
            "pred_full": int(pred_full[i]),
            "counts_full": [int(c) for c in counts_full[i]],
        }
        for i in range(len(t_c))
    ]


def counts_at(spikes: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Y(t) per sample: ``(N, K, T)`` spikes and 1-based steps ``(N,)`` -> ``(N, K)``."""
    Y = cumulative_counts(spikes)
    return Y[np.arange(len(Y)), :, np.asarray(t) - 1]


def per_class(
    labels: np.ndarray | None, pred_full: np.ndarray, pred_cut: np.ndarray, t_c: np.ndarray, classes: list[str]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if labels is None:
        return out
    for k, name in enumerate(classes):
        m = labels == k
        if not m.any():
            continue
        out.append(
            {
                "class": name,
                "n": int(m.sum()),
                "accuracy_full": accuracy(pred_full[m], labels[m]),
                "accuracy_cutoff": accuracy(pred_cut[m], labels[m]),
                "mean_t_cutoff": float(t_c[m].mean()),
            }
        )
    return out


def sweeps(
    calib_spikes: np.ndarray,
    calib_labels: np.ndarray,
    spikes: np.ndarray,
    labels: np.ndarray,
    temperature: float,
    holdout: np.ndarray | None = None,
    holdout_spikes: np.ndarray | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Accuracy vs mean timesteps for every registered rule over its
    parameter sweep (:meth:`~lavacut.cutoff.rules.StopRule.sweep_values`,
    each point calibrated on the calibration split by
    :meth:`~lavacut.cutoff.rules.StopRule.sweep_rule`, applied to
    ``spikes``); rules without a sweep are left out. Conformal is calibrated
    as ``lavacut calibrate`` does: thresholds on the ``holdout`` samples'
    ``holdout_spikes`` (eval mode), decision steps on the others; without a
    hold-out, both on the calibration split."""
    data = CalibrationData(calib_spikes, calib_labels, holdout, holdout_spikes, temperature=temperature)
    T = spikes.shape[-1]

    def point(rule, param):
        t_c, pred = cutoff(rule, spikes)
        return {"param": param, "accuracy": accuracy(pred, labels), "mean_t": float(t_c.mean())}

    out = {name: [point(cls.sweep_rule(v, data), v) for v in cls.sweep_values(T)] for name, cls in RULES.items()}
    return {name: pts for name, pts in out.items() if pts}


# --------------------------------------------------------------------------- targets vs achieved
GUARANTEE_LEVEL = 0.95


def guarantee(
    rule: StopRule, spikes: np.ndarray, labels: np.ndarray, level: float = GUARANTEE_LEVEL, name: str | None = None
) -> dict[str, Any] | None:
    """What a calibrated rule promises and what it achieved on these samples,
    each rate with its exact (Clopper-Pearson) interval at ``level``:

    the rule's :meth:`~lavacut.cutoff.rules.StopRule.target` (Top-K: the
    share settled at the cutoff for eps, the flip rate for a risk-controlled
    delta; conformal: the coverage at the cutoff).

    Every entry also carries the accuracy drop, the disagreement with the
    full-T prediction and the mean cutoff step. Rules without a target
    (:meth:`~lavacut.cutoff.rules.StopRule.has_target` False: fixed,
    confidence, entropy, where only a temperature is calibrated) give None.
    """
    if not rule.has_target():
        return None
    labels = np.asarray(labels)
    t_c, pred = cutoff(rule, spikes)
    pred_T = per_step_predictions(spikes)[:, -1]
    n = len(labels)
    right_T, right_c = pred_T == labels, pred == labels
    out: dict[str, Any] = {
        "rule": name or rule.name,
        "policy": rule.name,
        "n_samples": int(n),
        "mean_t_cutoff": float(t_c.mean()),
        "accuracy_full": float(right_T.mean()),
        "accuracy_cutoff": float(right_c.mean()),
        "accuracy_cutoff_interval": rate_with_interval(int(right_c.sum()), n, level),
        "accuracy_drop_pp": 100.0 * float(right_T.mean() - right_c.mean()),
        "disagreement_with_full_T": rate_with_interval(int(np.sum(pred != pred_T)), n, level),
    }
    out.update(rule.target(spikes, labels, t_c, pred, pred_T, level))
    return out


def guarantees(
    rules: dict[str, StopRule], spikes: np.ndarray, labels: np.ndarray | None, level: float = GUARANTEE_LEVEL
) -> list[dict[str, Any]] | None:
    """:func:`guarantee` for every rule that has a target (None without labels)."""
    if labels is None:
        return None
    out = []
    for name, rule in rules.items():
        g = guarantee(rule, spikes, labels, level, name=name)
        if g is not None:
            out.append(g)
    return out
