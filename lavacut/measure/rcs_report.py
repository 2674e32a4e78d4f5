"""The RCS sweep's outputs beside its JSON: the figure (``rcs_sweep.png``) and
the Markdown table (``rcs_sweep.md``), both drawn from the JSON's dict
(:func:`lavacut.pipelines.rcs_sweep.run_rcs_sweep`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lavacut.util import save_figure


def plot_sweep(out: dict[str, Any], path: Path) -> Path:
    """Per network: timesteps at equal drop vs alpha (mean +- std, seeds as
    dots, the best static truncation as crosses) and full-T accuracy vs alpha."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nets = list(dict.fromkeys(a["network"] for a in out["aggregates"]))
    drop = out["settings"]["drop_pp"]
    fig, axes = plt.subplots(len(nets), 2, figsize=(9, 3.2 * len(nets)), squeeze=False)
    for row, net in zip(axes, nets):
        aggs = [a for a in out["aggregates"] if a["network"] == net]
        runs = [r for r in out["runs"] if r["network"] == net]
        xs = np.arange(len(aggs))
        ticks = [f"{a['alpha']:g}" + (" (off)" if a["alpha"] == 0 else "") for a in aggs]
        for ax, key, scale, ylabel in (
            (row[0], "t_at_drop", 1.0, f"mean timesteps at <= {drop:g} pp drop"),
            (row[1], "accuracy_full", 100.0, "test accuracy at full T (%)"),
        ):
            means = [scale * a[key]["mean"] for a in aggs]
            stds = [scale * (a[key]["std"] or 0.0) for a in aggs]
            ax.errorbar(xs, means, yerr=stds, fmt="o-", color="C0", capsize=4, lw=1.5, label="mean +- std (seeds)")
            for x, a in zip(xs, aggs):
                ys = [scale * r[key] for r in runs if float(r["alpha"]) == a["alpha"]]
                jitter = np.linspace(-0.08, 0.08, len(ys)) if len(ys) > 1 else [0.0]
                ax.scatter(x + np.asarray(jitter), ys, s=14, color="C1", zorder=5, label="one seed" if x == 0 else None)
            if key == "t_at_drop" and all(a["static_t_at_drop"]["mean"] is not None for a in aggs):
                ax.plot(
                    xs,
                    [a["static_t_at_drop"]["mean"] for a in aggs],
                    "x:",
                    color="gray",
                    label="best static T' (same drop)",
                )
            ax.set_xticks(xs)
            ax.set_xticklabels(ticks)
            ax.set_xlabel("RCS alpha")
            ax.set_ylabel(ylabel, fontsize=8)
            ax.grid(alpha=0.3)
            ax.set_title(net, fontsize=9)
            ax.legend(fontsize=7)
    fig.suptitle(f"RCS sweep: Top-K timesteps at equal accuracy drop ({drop:g} pp) and full-T accuracy", fontsize=9)
    return save_figure(fig, path)


def _cell(s: dict, scale: float = 1.0, fmt: str = ".2f") -> str:
    if s["mean"] is None:
        return "-"
    sd = "" if s["std"] is None else f" +- {scale * s['std']:{fmt}}"
    return f"{scale * s['mean']:{fmt}}{sd}"


def sweep_markdown(out: dict[str, Any]) -> str:
    st = out["settings"]
    drop = st["drop_pp"]
    lines = [
        "# RCS sweep: timesteps at equal accuracy drop, over training seeds",
        "",
        f"Regenerate with `lavacut rcs-sweep` (networks {', '.join(st['networks'])}; alphas "
        f"{', '.join(f'{a:g}' for a in st['alphas'])}; seeds {', '.join(map(str, st['seeds']))}; drop "
        f"{drop:g} pp" + (f"; overrides {' '.join(st['overrides'])}" if st["overrides"] else "") + "). "
        "Test split, torch engine, Top-K thresholds calibrated on the training split.",
        "",
        out["definition"],
        "",
        "Values are mean +- sample std over seeds [min, max]. acc in %; t = mean timesteps per sample at "
        f"<= {drop:g} pp drop; ratio = T / t; static T' = best fixed truncation at the same drop; T' ratio = "
        "ratio vs the best static truncation at the shipped eps; diff = t with RCS - t without (negative = "
        "fewer), +- its combined standard error (p: Welch's t-test over the seeds).",
        "",
        "| network | alpha | seeds | acc full T | t at drop [min, max] | ratio T/t | static T' | T' ratio "
        "(shipped eps) | runs without drop | diff vs no RCS | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    comps = {(c["network"], c["alpha"]): c for c in out["comparisons"]}
    for a in out["aggregates"]:
        t = a["t_at_drop"]
        c = comps.get((a["network"], a["alpha"]))
        if a["alpha"] == 0 or c is None:
            diff = "baseline" if a["alpha"] == 0 else "-"
        else:
            se = c["se_diff_t_at_drop"]
            diff = (
                f"{c['diff_t_at_drop']:+.2f}"
                + ("" if se is None else f" +- {se:.2f}")
                + ("" if c["p"] is None else f" (p = {c['p']:.3f})")
            )
        lines.append(
            f"| {a['network']} | {a['alpha']:g}{' (off)' if a['alpha'] == 0 else ''} | {len(a['seeds'])} "
            f"| {_cell(a['accuracy_full'], 100)} | {_cell(t)} [{t['min']:.2f}, {t['max']:.2f}] "
            f"| {_cell(a['ratio_at_drop'])} | {_cell(a['static_t_at_drop'])} "
            f"| {_cell(a['ratio_vs_static_truncation'])} | {a['runs_without_drop']} | {diff} "
            f"| {'-' if c is None else c['verdict']} |"
        )
    lines += ["", "## Verdicts", "", f"Rule: {out['verdict_rule']}", ""]
    lines += [f"- {c['line']}" for c in out["comparisons"]]
    lines += [""] + [f"**{v['line']}**  " for v in out["verdicts"]]
    lines += [
        "",
        "## Runs",
        "",
        "| network | alpha | seed | acc full T | t at drop | eps at drop | drop pp "
        "| static T' | shipped eps: acc, t, T', OCT |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in out["runs"]:
        eps = "none (full T)" if r["eps_at_drop"] is None else f"{r['eps_at_drop']:g}"
        static = "-" if r["static_t_at_drop"] is None else f"{r['static_t_at_drop']:.0f}"
        lines.append(
            f"| {r['network']} | {r['alpha']:g} | {r['seed']} | {100 * r['accuracy_full']:.2f} "
            f"| {r['t_at_drop']:.2f} | {eps} | {r['drop_at_t_pp']:.2f} | {static} "
            f"| {100 * r['accuracy_cutoff']:.2f} %, {r['mean_t_cutoff']:.2f}, {r['T_prime']}, "
            f"{r['mean_oct']:.2f} |"
        )
    v = out["versions"]
    lines += [
        "",
        f"lavacut {v.get('lavacut')}, lava-dl {v.get('lava-dl')}, torch {v.get('torch')}, "
        f"Python {v.get('python')}; plot: `rcs_sweep.png`; every figure: `rcs_sweep.json`.",
        "",
    ]
    return "\n".join(lines)
