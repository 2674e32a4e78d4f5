"""The RCS sweep's statistics over training seeds: the spread of each per-run
figure per (network, alpha), each alpha against alpha 0 (difference in means,
its combined standard error, Welch's t-test) and the verdicts in words.
Works on the run records of :func:`lavacut.pipelines.rcs_sweep.run_record`
(plain dicts); numpy and scipy only."""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

#: per-run figures aggregated over the seeds of one (network, alpha)
AGGREGATED = (
    "accuracy_full",
    "t_at_drop",
    "ratio_at_drop",
    "static_t_at_drop",
    "ratio_vs_static_at_drop",
    "accuracy_cutoff",
    "mean_t_cutoff",
    "ratio_vs_static_truncation",
    "mean_oct",
)
#: two-sided significance level of the verdicts' Welch t-test
SIGNIFICANCE = 0.05
VERDICT_RULE = (
    "Welch's t-test (unequal variances, two-sided) of the seeds' timesteps at equal drop, alpha "
    "against alpha 0: 'helps' when the mean is lower with RCS and p < 0.05, 'costs timesteps' when "
    "higher and p < 0.05, otherwise 'within the seed spread'; 'undetermined' with fewer than 2 "
    "seeds on either side. t, its Welch-Satterthwaite degrees of freedom and p are recorded beside "
    "each verdict; with 3 seeds a side only a large, consistent difference reaches p < 0.05."
)


def spread(values: Iterable[float | None]) -> dict[str, Any]:
    """n, mean, sample standard deviation (None below 2 values), min, max,
    and the values themselves (for the t-test)."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if not len(v):
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None, "values": []}
    return {
        "n": int(len(v)),
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if len(v) > 1 else None,
        "min": float(v.min()),
        "max": float(v.max()),
        "values": v.tolist(),
    }


def aggregate(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (network, alpha), in the order of first appearance: the spread of every figure over the seeds."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in records:
        groups.setdefault((r["network"], float(r["alpha"])), []).append(r)
    out = []
    for (net, alpha), rs in groups.items():
        rs = sorted(rs, key=lambda r: r["seed"])
        agg = {
            "network": net,
            "alpha": alpha,
            "seeds": [r["seed"] for r in rs],
            "T": rs[0]["T"],
            "runs_without_drop": sum(not r["met_drop"] for r in rs),
        }
        agg.update({k: spread(r.get(k) for r in rs) for k in AGGREGATED})
        out.append(agg)
    return out


def _se(a: dict, b: dict) -> float | None:
    if a["std"] is None or b["std"] is None:
        return None
    return math.sqrt(a["std"] ** 2 / a["n"] + b["std"] ** 2 / b["n"])


def welch(a: dict, b: dict) -> dict[str, float | None]:
    """Welch's t-test of two spreads' values: ``{"t", "dof", "p"}`` (None
    below 2 values on either side, or with no variance on both)."""
    from scipy.stats import ttest_ind

    if a["std"] is None or b["std"] is None or a["std"] == b["std"] == 0:
        return {"t": None, "dof": None, "p": None}
    r = ttest_ind(a["values"], b["values"], equal_var=False)
    return {"t": float(r.statistic), "dof": float(r.df), "p": float(r.pvalue)}


def compare(aggregates: list[dict[str, Any]], drop_pp: float) -> list[dict[str, Any]]:
    """Every alpha > 0 against alpha 0 of the same network: the difference in
    mean timesteps at equal drop (negative = fewer with RCS), its combined
    standard error, Welch's t-test, the verdict (:data:`VERDICT_RULE`) and a
    line in words; the full-T accuracy difference beside it."""
    base = {a["network"]: a for a in aggregates if a["alpha"] == 0}
    out = []
    for a in aggregates:
        if a["alpha"] == 0 or a["network"] not in base:
            continue
        b = base[a["network"]]
        ta, tb = a["t_at_drop"], b["t_at_drop"]
        diff = ta["mean"] - tb["mean"]
        se = _se(ta, tb)
        test = welch(ta, tb)
        acc_diff = 100.0 * (a["accuracy_full"]["mean"] - b["accuracy_full"]["mean"])
        se_acc = _se(a["accuracy_full"], b["accuracy_full"])
        se_acc = None if se_acc is None else 100.0 * se_acc
        if se is None:
            verdict = "undetermined"
        elif test["p"] is not None and test["p"] < SIGNIFICANCE:
            verdict = "helps" if diff < 0 else "costs timesteps"
        else:
            verdict = "within the seed spread"
        out.append(
            {
                "network": a["network"],
                "alpha": a["alpha"],
                "n_seeds": ta["n"],
                "n_seeds_baseline": tb["n"],
                "t_at_drop_mean": ta["mean"],
                "t_at_drop_mean_baseline": tb["mean"],
                "diff_t_at_drop": diff,
                "se_diff_t_at_drop": se,
                **test,
                "diff_accuracy_full_pp": acc_diff,
                "se_diff_accuracy_full_pp": se_acc,
                "verdict": verdict,
                "line": _verdict_line(a, b, diff, se, acc_diff, se_acc, verdict, drop_pp, test),
            }
        )
    return out


def _pm(x: float, s: float | None, fmt: str = ".2f") -> str:
    return f"{x:{fmt}} +- {s:{fmt.lstrip('+')}}" if s is not None else f"{x:{fmt}} (no spread: 1 seed)"


def _verdict_line(a, b, diff, se, acc_diff, se_acc, verdict, drop_pp, test) -> str:
    net, alpha, T = a["network"], a["alpha"], a["T"]
    where = (
        f"{a['t_at_drop']['mean']:.2f} vs {b['t_at_drop']['mean']:.2f} of T={T}, "
        f"{a['t_at_drop']['n']} vs {b['t_at_drop']['n']} seeds"
        + ("" if test["p"] is None else f", Welch t = {test['t']:.2f}, dof {test['dof']:.1f}, p = {test['p']:.3f}")
        + f"; full-T accuracy {_pm(acc_diff, se_acc, '+.2f')} pp"
    )
    misses = a["runs_without_drop"] + b["runs_without_drop"]
    if misses:
        where += f"; {misses} run(s) had no eps within {drop_pp:g} pp and count as full T"
    what = f"timesteps at <= {drop_pp:g} pp accuracy drop"
    if verdict == "helps":
        return f"RCS alpha {alpha:g} lowers the {what} by {_pm(-diff, se)} on {net} ({where})"
    if verdict == "costs timesteps":
        return f"RCS alpha {alpha:g} does not help on {net}: it raises the {what} by {_pm(diff, se)} ({where})"
    if verdict == "within the seed spread":
        return (
            f"RCS alpha {alpha:g} does not help on {net}: {_pm(diff, se, '+.2f')} {what}, within the seed "
            f"spread ({where})"
        )
    return f"RCS alpha {alpha:g} on {net}: undetermined, fewer than 2 seeds give no spread ({where})"


def network_verdicts(
    comparisons: list[dict[str, Any]], aggregates: list[dict[str, Any]], drop_pp: float
) -> list[dict[str, Any]]:
    """Per network: the alpha the sweep supports (the 'helps' alpha with the
    fewest timesteps at equal drop, else 0 = RCS off) and a line in words."""
    out = []
    for net in dict.fromkeys(a["network"] for a in aggregates):
        cs = [c for c in comparisons if c["network"] == net]
        helps = sorted((c for c in cs if c["verdict"] == "helps"), key=lambda c: c["t_at_drop_mean"])
        swept = ", ".join(f"{c['alpha']:g}" for c in cs) or "none"
        if helps:
            best = helps[0]
            others = [f"{c['alpha']:g}" for c in cs if c["verdict"] != "helps"]
            line = (
                f"{net}: the sweep supports RCS alpha {best['alpha']:g} ({best['t_at_drop_mean']:.2f} vs "
                f"{best['t_at_drop_mean_baseline']:.2f} timesteps at <= {drop_pp:g} pp drop, "
                f"{_pm(-best['diff_t_at_drop'], best['se_diff_t_at_drop'])} fewer)"
                + (f"; alpha {', '.join(others)} did not help" if others else "")
            )
            out.append({"network": net, "supported_alpha": best["alpha"], "line": line})
        elif not cs:
            out.append(
                {
                    "network": net,
                    "supported_alpha": None,
                    "line": f"{net}: no alpha > 0 swept, nothing to compare RCS off with",
                }
            )
        elif all(c["verdict"] == "undetermined" for c in cs):
            out.append(
                {
                    "network": net,
                    "supported_alpha": None,
                    "line": f"{net}: undetermined (fewer than 2 seeds: no spread to judge alpha {swept} by)",
                }
            )
        else:
            out.append(
                {
                    "network": net,
                    "supported_alpha": 0.0,
                    "line": f"{net}: RCS does not help at any alpha swept ({swept}): the sweep supports RCS off",
                }
            )
    return out
