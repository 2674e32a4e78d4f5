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
plain words. Writes
``sims/results/rcs_sweep.{json,png,md}`` under the working folder.

The data split (``data.seed``) is the same for every run: only
``train.seed`` (initialisation, batch order, hold-out, calibration dropout)
changes between seeds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from lavacut.config import RunConfig, load_config, parse_override
from lavacut.pipelines.evaluate import evaluate_export
from lavacut.pipelines.experiments import train_export_calibrate, training_cost
from lavacut.measure.rcs_report import plot_sweep, sweep_markdown
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
#: the file in each run folder caching its evaluation (a resumed sweep skips calibrating and evaluating again)
EVALUATION_FILE = "rcs_sweep_evaluation.json"
#: two-sided significance level of the verdicts' Welch t-test
SIGNIFICANCE = 0.05
VERDICT_RULE = (
    "Welch's t-test (unequal variances, two-sided) of the seeds' timesteps at equal drop, alpha "
    "against alpha 0: 'helps' when the mean is lower with RCS and p < 0.05, 'costs timesteps' when "
    "higher and p < 0.05, otherwise 'within the seed spread'; 'undetermined' with fewer than 2 "
    "seeds on either side. t, its Welch-Satterthwaite degrees of freedom and p are recorded beside "
    "each verdict; with 3 seeds a side only a large, consistent difference reaches p < 0.05."
)
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


# ----------------------------------------------------------------------------- aggregation and verdicts
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
