"""``lavacut rcs-sweep``: is the RCS regulariser worth it, measured over seeds.

For each recipe (``sims/NAME.toml``), each RCS weight alpha (0 = RCS off) and
each training seed: train into ``runs/rcs_sweep/NAME/a{alpha}_s{seed}``,
export, calibrate on the training split and evaluate the Top-K rule with
the torch engine on the test split (with its eps sweep). Per run the figure
compared is the *mean timesteps at equal accuracy drop*: the smallest mean
cutoff step over the Top-K eps sweep whose accuracy drop against the run's
own full-T accuracy is at most ``drop_pp`` (full T when no eps meets it).
Per (network, alpha): mean, sample standard deviation, min and max over the
seeds; each alpha against alpha 0 (no RCS): the difference in means with its
combined standard error, Welch's t-test over the seeds, and a verdict in
plain words (:mod:`lavacut.measure.rcs_stats`). Writes
``sims/results/rcs_sweep.{json,png,md}`` under the working folder.

The data split (``data.seed``) is the same for every run: only
``train.seed`` (initialisation, batch order, hold-out, calibration dropout)
changes between seeds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from lavacut.config import RunConfig, load_config, parse_override
from lavacut.pipelines.evaluate import evaluate_export
from lavacut.pipelines.experiments import train_export_calibrate, training_cost
from lavacut.measure.rcs_report import plot_sweep, sweep_markdown
from lavacut.measure.rcs_stats import VERDICT_RULE, aggregate, compare, network_verdicts
from lavacut.pipelines.run import RunRequest, report_stamp
from lavacut.runtime.executors import Task, get_executor
from lavacut.shipped import shipped_dir
from lavacut.util import LavacutError, atomic_write_json, atomic_write_text, check_output_path, json_default, versions

DEFAULT_NETWORKS = ["embedded_dense", "embedded_conv"]
DEFAULT_ALPHAS = [0.0, 0.001, 0.002, 0.005]
DEFAULT_SEEDS = [0, 1, 2]
DEFAULT_DROP_PP = 0.3
#: config keys the sweep sets itself (``--alphas``, ``--seeds``)
SWEPT_KEYS = ("rcs.enabled", "rcs.alpha", "train.seed")
#: the file in each run folder caching its evaluation (a resumed sweep skips calibrating and evaluating again)
EVALUATION_FILE = "rcs_sweep_evaluation.json"
_EPS = 1e-9  # accuracy drops are ratios of sample counts: compare with a rounding margin


# ----------------------------------------------------------------------------- settings
def sweep_overrides(alpha: float, seed: int) -> list[str]:
    """The config overrides of one run: RCS off at alpha 0, else on with ``alpha``; the training seed."""
    rcs = ["rcs.enabled=false"] if alpha == 0 else ["rcs.enabled=true", f"rcs.alpha={float(alpha)!r}"]
    return rcs + [f"train.seed={int(seed)}"]


def run_label(alpha: float, seed: int) -> str:
    """The run folder's name: ``a0.002_s1`` (``a0`` without RCS)."""
    return f"a{float(alpha):g}_s{int(seed)}"


def check_settings(
    names: list[str], alphas: list[float], seeds: list[int], drop_pp: float, overrides: list[str]
) -> None:
    """Refuse a sweep that cannot answer the question, before any work."""
    if not names:
        raise LavacutError("no networks to sweep (give recipe names, e.g. embedded_dense)")
    if len(set(names)) != len(names):
        raise LavacutError(f"networks listed twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    bad = [a for a in alphas if not (isinstance(a, (int, float)) and math.isfinite(a) and a >= 0)]
    if bad:
        raise LavacutError(f"--alphas must be finite numbers >= 0 (0 = RCS off), got {bad}")
    if 0 not in [float(a) for a in alphas]:
        raise LavacutError("--alphas must include 0: RCS off is the baseline every alpha is compared against")
    labels = [f"{float(a):g}" for a in alphas]
    if len(set(labels)) != len(labels):
        raise LavacutError(f"--alphas lists a value twice: {' '.join(labels)}")
    if not seeds:
        raise LavacutError("--seeds: give at least one training seed (3 or more to measure the spread)")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int) or s < 0]
    if bad:
        raise LavacutError(f"--seeds must be integers >= 0, got {bad}")
    if len(set(seeds)) != len(seeds):
        raise LavacutError(f"--seeds lists a seed twice: {' '.join(map(str, seeds))}")
    if not (isinstance(drop_pp, (int, float)) and math.isfinite(drop_pp) and drop_pp >= 0):
        raise LavacutError(f"--drop-pp must be a number >= 0 (percentage points), got {drop_pp!r}")
    for item in overrides:
        key = parse_override(item)[0]
        if key in SWEPT_KEYS:
            raise LavacutError(f"--set {item}: the sweep sets {key} itself (use --alphas and --seeds)")


def run_configs(
    names: list[str], alphas: list[float], seeds: list[int], overrides: list[str], recipes: Path
) -> dict[tuple[str, float, int], RunConfig]:
    """Every run's configuration, read and checked before anything is trained."""
    out = {}
    for name in names:
        recipe = recipes / f"{name}.toml"
        if not recipe.is_file():
            shipped = sorted(p.stem for p in recipes.glob("*.toml"))
            raise LavacutError(f"no recipe {recipe} (recipes there: {', '.join(shipped) or 'none'})")
        for a in alphas:
            for s in seeds:
                cfg = load_config(recipe, list(overrides) + sweep_overrides(a, s))
                if cfg.cutoff.calib_split != "train":
                    raise LavacutError(
                        f"{recipe}: cutoff.calib_split is {cfg.cutoff.calib_split!r}; the sweep "
                        f"calibrates on the training split only (never on the test split)"
                    )
                out[(name, float(a), int(s))] = cfg
    return out


def _plain(cfg: RunConfig) -> dict[str, Any]:
    """A configuration as its JSON records it (tuples as lists), to compare with a stored one."""
    return json.loads(json.dumps(cfg.to_dict(), default=json_default))


def _with_defaults(stored: dict, source: Path) -> dict[str, Any]:
    """A stored configuration with the keys added to lavacut since it was
    written at their defaults (which reproduce the behaviour before they
    existed); as stored if it no longer reads (e.g. a key lavacut no longer
    has, which the comparison then names)."""
    try:
        return _plain(RunConfig.from_dict(stored, source=str(source)))
    except LavacutError:
        return stored


def _config_diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += _config_diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            keys.append(f"{prefix}{k}")
    return keys


def check_existing_runs(
    run_dirs: dict[tuple[str, float, int], Path], cfgs: dict[tuple[str, float, int], RunConfig]
) -> None:
    """A run folder is reused (finished: ``metrics.json``) or resumed
    (interrupted: ``last.pt``) only for the configuration it was trained with."""
    for key, run_dir in run_dirs.items():
        if (run_dir / "metrics.json").is_file():
            stored = json.loads((run_dir / "metrics.json").read_text()).get("config") or {}
        elif (run_dir / "last.pt").is_file():
            from lavacut.train.checkpoint import load_checkpoint  # torch

            stored = json.loads(
                json.dumps(load_checkpoint(run_dir / "last.pt").get("config") or {}, default=json_default)
            )
        else:
            continue
        diff = _config_diff(_with_defaults(stored, run_dir), _plain(cfgs[key]))
        if diff:
            raise LavacutError(
                f"{run_dir} was trained with another configuration ({', '.join(diff)} "
                f"differ); remove the folder or run the sweep in another working folder"
            )


# ----------------------------------------------------------------------------- one run
def evaluation_extract(rep: dict[str, Any]) -> dict[str, Any]:
    """What the sweep keeps of a torch-engine Top-K report (with sweeps)."""
    st = rep["static_truncation"]
    return {
        "T": rep["T"],
        "n_test": rep["n_samples"],
        "accuracy_full": rep["accuracy_full"],
        "eps": rep["policy_params"].get("eps"),
        "accuracy_cutoff": rep["accuracy_cutoff"],
        "mean_t_cutoff": rep["mean_t_cutoff"],
        "T_prime": st["T_prime"],
        "ratio_vs_static_truncation": rep["ratio_vs_static_truncation"],
        "mean_oct": rep["mean_oct"],
        "topk_sweep": [dict(p) for p in rep["sweeps"]["topk"]],
        "fixed_sweep": [dict(p) for p in rep["sweeps"]["fixed"]],
    }


def _at_drop(points: list[dict], accuracy_full: float, drop_pp: float, key: str = "mean_t") -> dict | None:
    """The point of a sweep with the smallest ``key`` whose accuracy drop is <= drop_pp, or None."""
    ok = [p for p in points if 100.0 * (accuracy_full - p["accuracy"]) <= drop_pp + _EPS]
    return min(ok, key=lambda p: (p[key], -p["accuracy"])) if ok else None


def run_record(raw: dict[str, Any], drop_pp: float) -> dict[str, Any]:
    """One run's record: ``raw`` (network, alpha, seed and the
    :func:`evaluation_extract` figures) plus the timesteps at equal drop."""
    T, acc = raw["T"], raw["accuracy_full"]
    best = _at_drop(raw["topk_sweep"], acc, drop_pp)
    rec = {k: v for k, v in raw.items() if k != "fixed_sweep"}
    if best is None:
        rec.update(
            {
                "met_drop": False,
                "t_at_drop": float(T),
                "eps_at_drop": None,
                "drop_at_t_pp": 0.0,
                "note": f"no eps of the Top-K sweep keeps the drop <= {drop_pp:g} pp: counted as full T",
            }
        )
    else:
        rec.update(
            {
                "met_drop": True,
                "t_at_drop": float(best["mean_t"]),
                "eps_at_drop": best["param"],
                "drop_at_t_pp": 100.0 * (acc - best["accuracy"]),
                "note": None,
            }
        )
    rec["ratio_at_drop"] = T / rec["t_at_drop"]
    # the honest baseline (docs/method.md): the best fixed truncation T' within the same drop
    fixed = _at_drop(raw.get("fixed_sweep") or [], acc, drop_pp)
    rec["static_t_at_drop"] = float(fixed["mean_t"]) if fixed else (float(T) if raw.get("fixed_sweep") else None)
    rec["ratio_vs_static_at_drop"] = (
        rec["static_t_at_drop"] / rec["t_at_drop"] if rec["static_t_at_drop"] is not None else None
    )
    return rec


# ----------------------------------------------------------------------------- summary
def summarise_sweep(raws: list[dict[str, Any]], drop_pp: float) -> dict[str, Any]:
    """Records, aggregates, comparisons and verdicts from the runs' raw figures."""
    records = [run_record(r, drop_pp) for r in raws]
    aggs = aggregate(records)
    comps = compare(aggs, drop_pp)
    return {
        "runs": records,
        "aggregates": aggs,
        "comparisons": comps,
        "verdicts": network_verdicts(comps, aggs, drop_pp),
    }


# ----------------------------------------------------------------------------- the sweep
def run_rcs_sweep(
    names: list[str] | None = None,
    alphas: list[float] | None = None,
    seeds: list[int] | None = None,
    drop_pp: float = DEFAULT_DROP_PP,
    workdir: Path = Path("."),
    sims: Path | None = None,
    overrides: list[str] | None = None,
    log=print,
    progress: bool = True,
    executor: str = "local",
    workers: int = 1,
) -> Path:
    """Run (or resume) the sweep and write ``sims/results/rcs_sweep.{json,png,md}``
    under ``workdir``; returns the JSON's path. ``overrides`` (``--set``)
    apply to every run before the swept keys; a finished run folder is
    reused (its evaluation too) when its configuration is the same.
    ``executor``, ``workers``: where the runs go, and how many at once (each
    run a task: :mod:`lavacut.runtime.executors`; default one after the
    other in this process)."""
    from tqdm import tqdm

    names = list(names or DEFAULT_NETWORKS)
    alphas = [float(a) for a in (DEFAULT_ALPHAS if alphas is None else alphas)]
    seeds = list(DEFAULT_SEEDS if seeds is None else seeds)
    overrides = list(overrides or [])
    check_settings(names, alphas, seeds, drop_pp, overrides)
    recipes = Path(sims) if sims is not None else shipped_dir("sims")
    workdir = Path(workdir)
    results = workdir / "sims" / "results"
    outputs = [results / f"rcs_sweep.{ext}" for ext in ("json", "png", "md")]
    for p in outputs:
        check_output_path(p, "sweep result")
    cfgs = run_configs(names, alphas, seeds, overrides, recipes)
    run_dirs = {k: workdir / "runs" / "rcs_sweep" / k[0] / run_label(k[1], k[2]) for k in cfgs}
    check_existing_runs(run_dirs, cfgs)
    say = tqdm.write if progress and log is print else log

    raws: dict[tuple, dict] = {}

    def record(key, raw, node=None):
        name, alpha, seed = key
        raws[key] = {"network": name, "alpha": alpha, "seed": seed, "run_dir": str(run_dirs[key]), **raw}
        if node is not None:
            raws[key]["node"] = node
        rec = run_record(raws[key], drop_pp)
        say(
            f"   {name}_{run_label(alpha, seed)}: acc full {100 * rec['accuracy_full']:.2f} %, t at <= {drop_pp:g} "
            f"pp drop {rec['t_at_drop']:.2f}/{rec['T']}{'' if rec['met_drop'] else ' (no eps within the drop)'}"
        )

    # finished runs are reused here; the others are tasks (a remote one gets its run folder as bytes and
    # sends it back: checkpoints, export, evaluation)
    tasks, keys = [], []
    for key in cfgs:
        label = f"{key[0]}_{run_label(key[1], key[2])}"
        cached = cached_evaluation(cfgs[key], run_dirs[key], label)
        if cached is not None:
            say(f"== {label}: evaluation reused ({run_dirs[key] / EVALUATION_FILE})")
            record(key, cached)
            continue
        inline = executor == "local" and int(workers) == 1
        tasks.append(
            Task(
                name=f"run {label}",
                fn=train_evaluate_run,
                files={"run_dir": "dir"},
                cost=training_cost(cfgs[key]),
                kwargs={
                    "cfg": cfgs[key],
                    "run_dir": str(run_dirs[key]),
                    "label": label,
                    "progress": progress and inline,
                    "log": say if inline else print,
                },
            )
        )
        keys.append(key)
    if tasks:
        with get_executor(executor, workers=workers) as ex:
            ex.map(
                tasks,
                progress=progress,
                desc="RCS sweep",
                unit="run",
                on_result=lambda i, raw: record(keys[i], raw, None if ex.name == "local" else ex.placements[i]),
            )
    raws = [raws[key] for key in cfgs]

    summary = summarise_sweep(raws, drop_pp)
    base_cfgs = {n: load_config(recipes / f"{n}.toml", overrides).to_dict() for n in names}
    out = {
        **report_stamp(),
        "settings": {
            "networks": names,
            "alphas": alphas,
            "seeds": seeds,
            "drop_pp": float(drop_pp),
            "overrides": overrides,
            "recipes": str(recipes),
            "engine": "torch",
            "policy": "topk",
            "split": "test",
            "calibration_split": "train",
        },
        "definition": (
            f"t_at_drop: per run, the smallest mean cutoff step over the Top-K eps sweep (thresholds "
            f"calibrated on the training split) whose test accuracy is at most {drop_pp:g} pp below "
            f"the run's own full-T accuracy; T (no cutoff) when no eps meets it. ratio_at_drop = "
            f"T / t_at_drop; static_t_at_drop: the smallest fixed T' within the same drop; the "
            f"shipped eps figures (accuracy_cutoff, mean_t_cutoff, T_prime, "
            f"ratio_vs_static_truncation, mean_oct) are those of the run's calibrated eps "
            f"(cutoff.eps, or chosen when cutoff.choose_eps). Spreads are over "
            f"training seeds (train.seed; the data split, data.seed, is fixed)."
        ),
        "verdict_rule": VERDICT_RULE,
        **summary,
        "versions": versions(),
        "config": base_cfgs,
    }
    atomic_write_json(outputs[0], out)
    plot_sweep(out, outputs[1])
    atomic_write_text(outputs[2], sweep_markdown(out))
    for v in out["verdicts"]:
        say(v["line"])
    return outputs[0]


def cached_evaluation(cfg: RunConfig, run_dir: Path, label: str) -> dict[str, Any] | None:
    """A finished run's cached evaluation, if it is for this configuration."""
    export = run_dir / f"{label}.net"
    cache = run_dir / EVALUATION_FILE
    if (
        cache.is_file()
        and export.is_file()
        and (run_dir / "metrics.json").is_file()
        and cache.stat().st_mtime >= export.stat().st_mtime
    ):
        stored = json.loads(cache.read_text())
        if _with_defaults(stored.get("config") or {}, cache) == _plain(cfg):
            return stored["extract"]
    return None


def train_evaluate_run(
    cfg: RunConfig, run_dir: str | Path, label: str, progress: bool = False, log=print
) -> dict[str, Any]:
    """One run, a task of the sweep: train (or resume), export, calibrate and
    evaluate into ``run_dir``; returns the evaluation's extract (also cached there)."""
    run_dir = Path(run_dir)
    export = run_dir / f"{label}.net"
    train_export_calibrate(cfg, run_dir, export, label, log=log, progress=progress)
    rep = evaluate_export(
        RunRequest(export, split="test", samples=0),
        engine="torch",
        policy="topk",
        with_sweeps=True,
        neurobench=False,
        progress=False,
    )
    extract = evaluation_extract(rep)
    atomic_write_json(run_dir / EVALUATION_FILE, {"config": _plain(cfg), "extract": extract})
    return extract
