"""``lavacut check``: the Loihi 2 design-rule check of a NetX file, with its
JSON report and core-map plot (matplotlib, here rather than in the
numpy-only export/loihi2/check.py); and the short form ``lavacut export`` prints
after writing a file (:func:`export_warnings`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lavacut.export.loihi2.check import CheckReport, check_loihi2
from lavacut.export.loihi2.figures import NEAR, RESOURCES
from lavacut.export.validate import problems
from lavacut.util import LavacutError, atomic_path, json_text

__all__ = ["check_export", "export_warnings", "loihi2_check", "plot_core_map", "write_report", "CheckReport"]


def loihi2_check(path: str | Path, target: str = "loihi2") -> CheckReport:
    """:func:`check_loihi2` of ``path``, failing on what 'lavacut run' refuses
    too (the validator's problems; the ranges are the check's own rules)."""
    return check_loihi2(path, target, refused=problems(path, ranges=False))


def check_export(
    path: str | Path, target: str = "loihi2", report: str | Path | None = None, replicas: int = 1
) -> tuple[CheckReport, tuple[Path, Path] | None]:
    """Check ``path``; with ``report`` also write the JSON report there and
    the core-map PNG beside it. Returns the report and the written paths.
    ``replicas``: the core map of that many copies side by side
    (:func:`lavacut.export.loihi2.replicas.replicate`)."""
    from lavacut.export.loihi2.replicas import replicate

    if isinstance(replicas, bool) or not isinstance(replicas, (int, np.integer)) or replicas < 1:
        raise LavacutError(f"--replicas must be a whole number >= 1, got {replicas!r}")
    rep = loihi2_check(path, target)
    first = rep.layers[0] if rep.layers else {}
    rep = replicate(rep, replicas, int(np.prod(first["shape"])) if first.get("type") == "input" else None)
    return rep, (write_report(rep, report) if report else None)


def export_warnings(path: str | Path, target: str = "loihi2") -> list[str]:
    """One line per design-rule problem of a freshly exported file (errors
    included, worded as warnings: the export itself is valid NetX), plus a
    one-line core summary."""
    rep = loihi2_check(path, target)
    lines = [
        f"warning: Loihi 2 design rule {p.rule} ({p.severity}): "
        + (f"layer {p.layer}: " if p.layer is not None else "")
        + p.message
        for p in rep.problems
    ]
    lines.append(
        f"Loihi 2 check: {'pass' if rep.ok else 'FAIL'}, {rep.totals['cores']} cores on "
        f"{rep.totals['chips']} chip(s) ('lavacut check {path}' for the core map)"
    )
    return lines


def plot_core_map(report: CheckReport, path: str | Path) -> Path:
    """Layers across cores: per core, the use of each resource (fraction of
    its limit), cores coloured by layer, the warning level and the limit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    cores = report.cores
    n = max(len(cores), 1)
    fig, ax = plt.subplots(figsize=(min(4 + 0.5 * n, 40), 4.5))
    width = 0.8 / len(RESOURCES)
    x = np.arange(len(cores))
    cmap = plt.get_cmap("tab10")
    layers = list(dict.fromkeys(c["layer"] for c in cores))
    for k, r in enumerate(RESOURCES):
        ax.bar(
            x + (k - (len(RESOURCES) - 1) / 2) * width,
            [c["use"][r] * 100 for c in cores],
            width,
            label=r.replace("_per_core", "").replace("_", " "),
            color=plt.get_cmap("Set2")(k),
            edgecolor="k",
            linewidth=0.3,
        )
    for li, name in enumerate(layers):
        idx = [c["core"] for c in cores if c["layer"] == name]
        ax.axvspan(min(idx) - 0.5, max(idx) + 0.5, color=cmap(li % 10), alpha=0.08)
        ax.text((min(idx) + max(idx)) / 2, 102, f"layer {name}", ha="center", va="bottom", fontsize=8)
    ax.axhline(NEAR * 100, color="orange", ls="--", lw=1, label=f"warning ({NEAR * 100:.0f} %)")
    ax.axhline(100, color="red", ls="-", lw=1, label="limit")
    ax.set_xticks(x)
    ax.set_xticklabels([str(c["core"]) for c in cores], fontsize=7)
    ax.set_xlabel("Loihi 2 neuro core", fontsize=9)
    ax.set_ylabel("use of the per-core limit (%)")
    top = max([100.0] + [c["use"][r] * 100 for c in cores for r in RESOURCES])
    ax.set_ylim(0, top * 1.12)
    ax.set_title(
        f"{Path(report.path).name}: {report.totals['cores']} cores, {report.totals['chips']} chip(s) "
        f"({'PASS' if report.ok else 'FAIL'})",
        fontsize=10,
    )
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=6, frameon=False)
    fig.tight_layout()
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def write_report(report: CheckReport, path: str | Path) -> tuple[Path, Path]:
    """The JSON report at ``path`` and the core-map plot beside it (.png)."""
    path = Path(path)
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json_text(report.to_dict(), indent=2))
    return path, plot_core_map(report, path.with_suffix(".png"))
