"""Report outputs: the JSON report, the per-sample CSV beside it, the plots,
and the termination summary printed on the terminal."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from lavacut.locks import folder_lock
from lavacut.util import atomic_path, atomic_write_text, json_text, save_figure

PER_SAMPLE_COLUMNS = ["index", "label", "t_c", "pred", "pred_full", "counts", "counts_full"]
#: columns a user's recordings add (``recording``; windows: the rest)
EXTRA_COLUMNS = ["recording", "t0_us", "latency_ms", "idle_share"]


def report_json(report: dict[str, Any], per_sample: bool = True) -> str:
    """The report as indented JSON, one line per ``per_sample`` record."""
    body = {k: v for k, v in report.items() if k != "per_sample"}
    text = json_text(body, indent=2)
    if per_sample and report.get("per_sample") is not None:
        rows = ",\n    ".join(json_text(r) for r in report["per_sample"])
        text = text[:-2] + ',\n  "per_sample": [\n    ' + rows + "\n  ]\n}"
    return text + "\n"


def _times(ratio: float | None) -> str:
    return "no op up to the cutoff" if ratio is None else f"{ratio:.2f}x"


def _speed(ratio: float | None) -> str:
    """A wall-clock ratio in words: a cutoff run that took longer is not "0.98x faster"."""
    if ratio is None:
        return "no ratio"
    return f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"


def report_paths(path: str | Path, plots: bool = True) -> list[Path]:
    """Every file :func:`write_report` may write for ``path`` (the JSON, the
    CSV and the plots beside it), for checking them all before any work."""
    path = Path(path)
    stem = path.with_suffix("")
    return [path, path.with_suffix(".samples.csv")] + (
        [stem.with_name(stem.name + "_tradeoff.png"), stem.with_name(stem.name + "_tcutoff.png")] if plots else []
    )


def write_report(
    report: dict[str, Any], path: str | Path, plots: bool = True, per_sample_in_json: bool = True
) -> list[Path]:
    """The JSON report at ``path``; its ``per_sample`` records also as a CSV
    beside it (``.samples.csv``; counts as space-separated class counts) and
    the PNG plots."""
    path = Path(path)
    with folder_lock(path):  # two commands writing the same report: the JSON and the CSV of one run, never mixed
        return _write_report(report, path, plots, per_sample_in_json)


def _write_report(report: dict[str, Any], path: Path, plots: bool, per_sample_in_json: bool) -> list[Path]:
    atomic_write_text(path, report_json(report, per_sample_in_json))
    written = [path]
    if report.get("per_sample") is not None:
        csv_path = path.with_suffix(".samples.csv")
        with atomic_path(csv_path, suffix=".csv") as tmp:
            # surrogateescape: a recording's file name that is not UTF-8 is written back as its own bytes
            with open(tmp, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
                w = csv.writer(f)
                rows = report["per_sample"]
                cols = PER_SAMPLE_COLUMNS + [k for k in EXTRA_COLUMNS if rows and k in rows[0]]
                w.writerow(cols)
                for r in rows:
                    w.writerow(
                        [
                            "" if r[k] is None else (" ".join(map(str, r[k])) if isinstance(r[k], list) else r[k])
                            for k in cols
                        ]
                    )
        written.append(csv_path)
    if plots:
        written += plot_report(report, path.with_suffix(""))
    return written


def guarantee_line(g: dict[str, Any]) -> str:
    """One line per calibrated rule: target, achieved with its interval, met or not."""
    a, t = g["achieved"], g["target"]
    lo, hi = a["ci"]
    if "max" in t:
        want = f"flips <= {100 * t['max']:.1f}% (conf {t.get('confidence')})"
    else:
        # the quantity's first word (coverage, settled, ...): any rule's target reads the same way
        want = f"{t['quantity'].split()[0].rstrip(':')} >= {100 * t['min']:.1f}%"
    rate = "n/a" if a["rate"] is None else f"{100 * a['rate']:.1f}%"
    return (
        f"{g['rule']}: {want}: {rate} [{100 * lo:.1f}, {100 * hi:.1f}] "
        f"{'met' if g['met'] else 'NOT met'}; acc {100 * g['accuracy_cutoff']:.1f}% at t {g['mean_t_cutoff']:.1f}"
    )


def plot_report(report: dict[str, Any], stem: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    T = report["T"]
    if report.get("sweeps"):
        gl = report.get("guarantees") or []
        if gl:  # a text panel under the plot: each calibrated rule's target vs achieved
            fig, (ax, tax) = plt.subplots(
                2, 1, figsize=(6.4, 4.4 + 0.16 * len(gl)), gridspec_kw={"height_ratios": [4, 0.35 + 0.16 * len(gl)]}
            )
            tax.axis("off")
        else:
            fig, ax = plt.subplots(figsize=(6, 4))
        styles = {"fixed": "k-", "topk": "o-", "confidence": "s-", "entropy": "^-", "conformal": "d-"}
        for name, pts in report["sweeps"].items():
            ax.plot(
                [p["mean_t"] for p in pts],
                [100 * p["accuracy"] for p in pts],
                styles.get(name, "o-"),
                label="fixed T'" if name == "fixed" else name,
                ms=4,
            )
        if report["accuracy_full"] is not None:
            ax.axhline(100 * report["accuracy_full"], color="gray", ls=":", lw=1, label=f"full T={T}")
            ax.scatter(
                [report["mean_t_cutoff"]],
                [100 * report["accuracy_cutoff"]],
                s=120,
                facecolors="none",
                edgecolors="red",
                label=f"{report['policy']} (reported)",
                zorder=5,
            )
        for i, g in enumerate(gl):
            ax.scatter(
                [g["mean_t_cutoff"]],
                [100 * g["accuracy_cutoff"]],
                marker="*",
                s=110,
                zorder=6,
                color=f"C{(i + 5) % 10}",
                edgecolors="k",
                linewidths=0.5,
                label=f"{g['rule']} (calibrated)",
            )
        if gl:
            lvl = gl[0]["achieved"]["level"]
            tax.text(
                0.0,
                1.0,
                f"target vs achieved on this split ({100 * lvl:g} % Clopper-Pearson interval)\n"
                + "\n".join(guarantee_line(g) for g in gl),
                transform=tax.transAxes,
                ha="left",
                va="top",
                fontsize=6.5,
                family="monospace",
            )
        ax.set_xlabel("mean timesteps per sample")
        ax.set_ylabel("accuracy (%)")
        lo = min(100 * p["accuracy"] for pts in report["sweeps"].values() for p in pts if p["mean_t"] > T * 0.25)
        ax.set_ylim(max(0, lo - 5), 100.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title(
            f"accuracy vs timesteps ({report.get('engine', '')} engine, {report['n_samples']} samples)", fontsize=9
        )
        out.append(save_figure(fig, stem.with_name(stem.name + "_tradeoff.png")))
    fig, ax = plt.subplots(figsize=(6, 3))
    hist = report["t_cutoff_histogram"]
    ax.bar(np.arange(1, len(hist) + 1), hist, color="tab:blue")
    ax.axvline(report["mean_t_cutoff"], color="red", ls="--", label=f"mean t_c {report['mean_t_cutoff']:.1f}")
    if "mean_oct" in report:
        ax.axvline(report["mean_oct"], color="green", ls=":", label=f"mean OCT (oracle) {report['mean_oct']:.1f}")
    ax.set_xlabel("cutoff step t_c")
    ax.set_ylabel("samples")
    ax.legend(fontsize=7)
    ax.set_title(
        report.get("cutoff") or f"{report['policy']}: {report['timestep_ratio']:.2f}x fewer timesteps than T={T}",
        fontsize=9,
    )
    out.append(save_figure(fig, stem.with_name(stem.name + "_tcutoff.png")))
    return out


def print_termination_summary(rep: dict) -> None:
    """The few lines a person reads after a run."""
    for note in rep.get("input_notes") or []:
        print(f"input     {note}")
    if rep.get("label_mapping"):
        lm = rep["label_mapping"]
        print(f"labels    {lm['rule']}: " + ", ".join(f"{k} -> {v}" for k, v in list(lm["map"].items())[:12]))
    print(f"{rep['n_samples']} samples, T={rep['T']}, policy {rep['policy']} ({rep.get('engine', 'lava')} engine)")
    if rep["accuracy_full"] is None:
        print("accuracy  not measured (unlabelled input); decisions per sample in the report")
    else:
        print(
            f"accuracy  full T {100 * rep['accuracy_full']:.2f} %   with cutoff {100 * rep['accuracy_cutoff']:.2f} %"
            f"   (drop {100 * (rep['accuracy_full'] - rep['accuracy_cutoff']):.2f} pp)"
        )
    decided = rep.get("n_decided")
    if rep.get("cutoff"):  # the rule could not apply: fixed T, no ratio
        line = f"timesteps {rep['T']} of {rep['T']}: {rep['cutoff']}"
    elif rep["policy"] == "fixed" and not (rep.get("policy_params") or {}).get("t_stop"):
        line = f"timesteps {rep['T']} of {rep['T']}: fixed T (no cutoff)"
    elif decided == 0:
        line = (
            f"timesteps mean {rep['mean_t_cutoff']:.2f} of {rep['T']}: no sample decided (the output stayed "
            f"silent), no savings"
        )
    else:
        line = f"timesteps mean {rep['mean_t_cutoff']:.2f} of {rep['T']}  ->  {rep['timestep_ratio']:.2f}x fewer"
    if "mean_oct" in rep and not rep.get("cutoff") and rep.get("ratio_vs_static_truncation") is None:
        line += ";  no output spike at full T: no oracle or static truncation to compare with"
    elif "mean_oct" in rep and not rep.get("cutoff"):
        line += (
            f";  oracle mean OCT {rep['mean_oct']:.2f};  best static T'={rep['static_truncation']['T_prime']} "
            f"({rep['ratio_vs_static_truncation']:.2f}x vs T')"
        )
    print(line)
    if decided is not None and 0 < decided < rep["n_samples"]:
        print(
            f"decided   {decided} of {rep['n_samples']} samples; the others had no decision at their cutoff "
            f"(a silent output: an adaptive rule runs them to T)"
        )
    if rep.get("readout") == "voltage":
        print("readout   voltage: the scores are the output layer's voltages, not spike counts")
    if rep.get("output_layout", "").startswith(("output layer", "average readout")):
        print(f"output    {rep['output_layout']}")
    if rep.get("wall_s_cutoff"):
        print(
            f"wall-clock full {rep['wall_s_full']:.2f} s, with cutoff {rep['wall_s_cutoff']:.2f} s  ->  "
            f"{_speed(rep['wall_ratio'])} ({rep.get('backend')})"
        )
    if rep.get("windows"):
        w = rep["windows"]
        n_rec = f"{w['n_recordings']} recording{'s' * (w['n_recordings'] != 1)}"
        print(
            f"windows   {w['n_windows']} windows of {w['window_ms']:g} ms from {n_rec}: "
            f"decision after {w['mean_latency_ms']:.1f} ms on average, idle {100 * w['mean_idle_share']:.0f} % "
            f"of each window"
        )
    ops = rep.get("operations")
    if ops:
        print(
            f"synaptic ops/sample {ops['synops_full_mean']:.3g} -> {ops['synops_cutoff_mean']:.3g} "
            f"({_times(ops['synops_ratio'])}); energy estimate {ops['energy_uj_full_mean']:.2f} -> "
            f"{ops['energy_uj_cutoff_mean']:.2f} uJ/sample"
        )
