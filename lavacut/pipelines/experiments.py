"""``lavacut experiments``: regenerate every recorded experiment in sims/.

For each embedded-data-set config (dense and conv, with and without RCS):
train (unless a checkpoint exists in runs/), export to netx_exports/,
calibrate on the training split, evaluate every stop rule on the test split
with the torch engine and the calibrated Top-K rule with the Lava engine,
then write sims/results/<name>/*.json|csv|png and the table
sims/results/README.md.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from lavacut.config import RunConfig, load_config
from lavacut.cutoff.rules import rule_names
from lavacut.export.exporter import export_checkpoint
from lavacut.pipelines.calibrate import calibrate_export
from lavacut.pipelines.evaluate import evaluate_export
from lavacut.measure.reports import write_report
from lavacut.pipelines.run import RunRequest
from lavacut.runtime.executors import Task, get_executor
from lavacut.shipped import SHIPPED_EXPORTS, shipped_dir
from lavacut.train.trainer import train
from lavacut.util import atomic_path, atomic_write_text, save_figure

EXPERIMENTS = list(SHIPPED_EXPORTS)  # each regenerates its shipped export


def run_experiments(
    names: list[str] | None = None,
    sims: Path | None = None,
    retrain: bool = False,
    lava_samples: int = 0,
    log=print,
    workdir: Path = Path("."),
    executor: str = "local",
    workers: int = 1,
) -> Path:
    """The recipes are ``sims/NAME.toml`` (the shipped ones unless ``sims``
    is given: lavacut.shipped); everything is written under ``workdir`` (the
    working folder): ``runs/NAME``, ``netx_exports/NAME.net`` and
    ``sims/results/``, as in the repository. ``executor``, ``workers``:
    where the experiments run, and how many at once (each a task:
    :mod:`lavacut.runtime.executors`; default one after the other here)."""
    names = names or EXPERIMENTS
    recipes = Path(sims) if sims is not None else shipped_dir("sims")
    workdir = Path(workdir)
    results = workdir / "sims" / "results"
    inline = executor == "local" and int(workers) == 1
    # each experiment a task; a remote one gets and sends back its run folder, its results folder and the
    # exports folder as bytes
    tasks = [
        Task(
            name=f"experiment {name}",
            fn=run_experiment,
            kwargs={
                "cfg": load_config(recipes / f"{name}.toml"),
                "name": name,
                "run_dir": str(workdir / "runs" / name),
                "export_dir": str(workdir / "netx_exports"),
                "out": str(results / name),
                "retrain": retrain,
                "lava_samples": lava_samples,
                "log": log if inline else print,
            },
            files={"run_dir": "dir", "export_dir": "dir", "out": "dir"},
            cost=training_cost(load_config(recipes / f"{name}.toml")),
        )
        for name in names
    ]
    with get_executor(executor, workers=workers) as ex:
        ex.map(tasks, progress=not inline, desc="experiments", unit="experiment")
    table = results_table(results, EXPERIMENTS)
    atomic_write_text(results / "README.md", table)
    plot_rcs_comparison(results)
    return results / "README.md"


def run_experiment(
    cfg: RunConfig,
    name: str,
    run_dir: str | Path,
    export_dir: str | Path,
    out: str | Path,
    retrain: bool = False,
    lava_samples: int = 0,
    log=print,
) -> None:
    """One experiment, a task of :func:`run_experiments`: train, export to
    ``export_dir/NAME.net``, calibrate, evaluate; reports into ``out``."""
    run_dir, out = Path(run_dir), Path(out)
    export = Path(export_dir) / f"{name}.net"
    train_export_calibrate(cfg, run_dir, export, name, retrain=retrain, log=log)
    out.mkdir(parents=True, exist_ok=True)
    for f in ("metrics.json", "training_curve.png"):  # accuracy and training time, recorded with the config
        if (run_dir / f).exists():
            with atomic_path(out / f"training_{f.replace('training_', '')}") as tmp:
                shutil.copyfile(run_dir / f, tmp)
    for policy in rule_names():  # every registered stop rule
        rep = evaluate_export(
            RunRequest(export, split="test", samples=0),
            engine="torch",
            policy=policy,
            with_sweeps=(policy == "topk"),
            neurobench=(policy == "topk"),
        )
        write_report(rep, out / f"torch_{policy}.json", per_sample_in_json=False)
        log(
            f"   {policy:<10} acc {100 * rep['accuracy_full']:.2f} -> {100 * rep['accuracy_cutoff']:.2f} %, "
            f"t {rep['mean_t_cutoff']:.2f}/{rep['T']} ({rep['timestep_ratio']:.2f}x)"
        )
    rep = evaluate_export(
        RunRequest(export, split="test", samples=lava_samples),
        engine="lava",
        policy=cfg.cutoff.policy,
        mode="halt",
        backend="cpu",
        with_sweeps=False,
        neurobench=False,
    )
    write_report(rep, out / f"lava_{cfg.cutoff.policy}.json", per_sample_in_json=False)
    log(
        f"   lava {cfg.cutoff.policy}: engines agree {rep.get('engines_agree')}, wall ratio "
        f"{rep['wall_ratio']:.2f} vs timestep ratio {rep['timestep_ratio']:.2f}"
    )


def _figure(x: float | None) -> str:
    """A table cell: a figure to 2 decimals, '-' where the report has none."""
    return "-" if x is None else f"{x:.2f}"


def training_cost(cfg: RunConfig) -> float:
    """A training's relative run time, to start the longest first: epochs,
    a conv epoch as 4 dense ones (sims/results: 24 epochs took 218-282 s conv,
    47-55 s dense)."""
    return cfg.train.epochs * (4.0 if cfg.net.kind == "conv" else 1.0)


def train_export_calibrate(
    cfg: RunConfig, run_dir: Path, export: Path, name: str, retrain: bool = False, log=print, progress: bool = True
) -> bool:
    """One recipe's network, ready to evaluate: train ``cfg`` into
    ``run_dir`` (unless its training finished there: ``best.pt`` and
    ``metrics.json``; an interrupted one, ``last.pt`` without
    ``metrics.json``, is resumed), export ``best.pt`` to ``export`` (unless
    that exists and nothing was trained now) and calibrate its stop rules on
    the training split (``cfg``'s ``[cutoff]``: eps, default policy). Returns
    whether the export was (re)written."""
    run_dir, export = Path(run_dir), Path(export)
    finished = (run_dir / "best.pt").exists() and (run_dir / "metrics.json").exists()
    trained = retrain or not finished
    if trained:
        resume = not retrain and (run_dir / "last.pt").exists()
        log(f"== {name}: {'resuming the interrupted training' if resume else 'training'}")
        train(cfg, run_dir, resume=resume, progress=progress)
    exported = trained or not export.exists()
    if exported:
        log(f"== {name}: export -> {export}")
        export_checkpoint(run_dir / "best.pt", export, name, progress=progress)
    log(f"== {name}: calibrate")
    # calibrate_export decides eps, the default policy and the drop budget
    # from the config; the recipe's [cutoff] is that config (over the one
    # stored in the export, which a recipe edited since training differs from)
    recipe_cutoff = tuple(f"cutoff.{k}={json.dumps(v)}" for k, v in asdict(cfg.cutoff).items())
    for line in calibrate_export(RunRequest(export, overrides=recipe_cutoff), progress=progress):
        if line.lstrip().startswith("topk:"):  # eps, chosen or given
            log(f"   {line.strip()}")
    return exported


def _load(p: Path) -> dict | None:
    return json.loads(p.read_text()) if p.exists() else None


def results_table(results: Path, names: list[str]) -> str:
    lines = [
        "# Recorded results (embedded data set, test split)",
        "",
        "Regenerate with `lavacut experiments` (see sims/*.toml). Accuracy in %, t = mean timesteps "
        "per sample (T = 30), ratio = T / t; T' = best static truncation at the same accuracy drop; "
        "OCT = oracle mean cutoff. Torch engine = SLAYER; Lava = CPU simulation (Loihi2SimCfg fixed_pt) "
        "with the CutoffMonitor.",
        "",
        "| network | policy | acc full | acc cutoff | drop pp | t | ratio vs T | T' | ratio vs T' | OCT "
        "| synops ratio | energy uJ full -> cut |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        for policy in rule_names():
            r = _load(results / name / f"torch_{policy}.json")
            if not r:
                continue
            ops = r["operations"]
            label = f"topk (eps {r['policy_params']['eps']:g})" if policy == "topk" else policy
            lines.append(
                f"| {name} | {label} | {100 * r['accuracy_full']:.2f} | {100 * r['accuracy_cutoff']:.2f} "
                f"| {r['accuracy_drop_pp']:.2f} | {r['mean_t_cutoff']:.2f} | {r['timestep_ratio']:.2f} "
                f"| {r['static_truncation']['T_prime']} | {_figure(r['ratio_vs_static_truncation'])} "
                f"| {r['mean_oct']:.2f} | {_figure(ops['synops_ratio'])} "
                f"| {ops['energy_uj_full_mean']:.2f} -> {ops['energy_uj_cutoff_mean']:.2f} |"
            )
    lines += [
        "",
        "## Training (full T, test split; time on this 2-core machine)",
        "",
        "| network | loss | RCS | epochs | test acc | best val acc | train s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        m = _load(results / name / "training_metrics.json")
        if m:
            c = m["config"]
            lines.append(
                f"| {name} | {c['loss']['name']} | {'alpha ' + str(c['rcs']['alpha']) if c['rcs']['enabled'] else 'off'} "
                f"| {m['epochs']} | {100 * m['test_acc_full_T']:.2f} | {100 * m['best_val_acc']:.2f} "
                f"| {m['train_seconds_this_session']:.0f} |"
            )
    lines += [
        "",
        "## Lava runtime (CPU simulation, halt mode)",
        "",
        "| network | policy | samples | engines agree | acc cutoff | t | timestep ratio | wall s full | "
        "wall s cutoff | wall ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        for p in sorted((results / name).glob("lava_*.json")) if (results / name).exists() else []:
            r = _load(p)
            lines.append(
                f"| {name} | {r['policy']} | {r['n_samples']} | {r.get('engines_agree')} "
                f"| {100 * r['accuracy_cutoff']:.2f} | {r['mean_t_cutoff']:.2f} | {r['timestep_ratio']:.2f} "
                f"| {r['wall_s_full']:.1f} | {r['wall_s_cutoff']:.1f} | {_figure(r['wall_ratio'])} |"
            )
    if (results / "rcs_sweep.md").exists():
        lines += [
            "",
            "RCS against no RCS over alphas and training seeds: [rcs_sweep.md](rcs_sweep.md) (`lavacut rcs-sweep`).",
        ]
    lines += [
        "",
        "Plots: `<network>/torch_topk_tradeoff.png` (accuracy vs timesteps for every rule and the "
        "fixed-T curve), `<network>/*_tcutoff.png` (distribution of t_c), `rcs_comparison.png`.",
        "",
    ]
    return "\n".join(lines)


def plot_rcs_comparison(results: Path) -> Path | None:
    """Top-K accuracy-vs-timesteps curves with and without RCS, both nets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    any_ = False
    for name, style in (
        ("embedded_dense", "o-"),
        ("embedded_dense_rcs", "o--"),
        ("embedded_conv", "s-"),
        ("embedded_conv_rcs", "s--"),
    ):
        r = _load(results / name / "torch_topk.json")
        if not r or "sweeps" not in r:
            continue
        pts = r["sweeps"]["topk"]
        drop = [100 * (r["accuracy_full"] - p["accuracy"]) for p in pts]
        ax.plot([p["mean_t"] for p in pts], drop, style, label=name, ms=4)
        any_ = True
    if not any_:
        plt.close(fig)
        return None
    ax.set_xlabel("mean timesteps per sample (Top-K, eps sweep)")
    ax.set_ylabel("accuracy drop vs full T (pp)")
    ax.axhline(0.3, color="gray", ls=":", lw=1, label="0.3 pp")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("RCS vs no RCS: timesteps at equal accuracy drop", fontsize=9)
    return save_figure(fig, results / "rcs_comparison.png")
