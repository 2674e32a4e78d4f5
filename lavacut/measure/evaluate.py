"""Termination measurements: accuracy, timesteps, oracle, static truncation,
sweeps, synaptic operations and energy, per class; JSON + CSV + PNG.

The report uses the same keys as ``lavacut run`` (n_samples, T, policy,
policy_params, accuracy_full, accuracy_cutoff, mean_t_cutoff, timestep_ratio,
wall_s_full, wall_s_cutoff, wall_ratio, backend, versions) plus the analysis
below; ``engine`` says whether SLAYER (torch) or the Lava runtime produced
the spikes/decisions.

Timesteps are per-sample local steps 1..T of the network output, which
include the network's pipeline latency (an L-layer network's first L output
steps are silent, in SLAYER and in Lava alike).
"""
from __future__ import annotations

import contextlib
import csv
import time
from pathlib import Path
from typing import Any

import numpy as np

from lavacut.measure.policies import (Conformal, Confidence, Entropy, FixedT, StopRule, TopKGap, cutoff,
                                      optimal_cutoff_steps, per_step_predictions)
from lavacut.util import atomic_path, atomic_write_json, save_figure, versions

TOPK_EPS_SWEEP = [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09]
CONF_EPS_SWEEP = [0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.001]
ENTROPY_SWEEP = [0.9, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.02]
CONFORMAL_ALPHA_SWEEP = [0.3, 0.2, 0.15, 0.1, 0.05, 0.02, 0.01]


@contextlib.contextmanager
def calibration_dropout(net, p: float):
    """Temporarily put spike dropout ``p`` on every hidden spiking layer and
    switch to train mode (the reference calibrates with p = 0.3 "to mitigate
    overconfidence"); restores the modules and eval mode afterwards."""
    import torch
    from lava.lib.dl import slayer

    saved = list(net.drops)
    try:
        if p > 0:
            for i, b in enumerate(net.blocks[:-1]):
                if hasattr(b, "neuron"):
                    net.drops[i] = slayer.neuron.Dropout(p=p)
            net.train()
        with torch.no_grad():
            yield net
    finally:
        for i, m in enumerate(saved):
            net.drops[i] = m
        net.eval()


def slayer_layer_spikes(net, frames: np.ndarray, batch_size: int = 64, progress: bool = False,
                        desc: str = "SLAYER") -> tuple[np.ndarray, list[np.ndarray]]:
    """Eval-mode forward keeping every spiking layer's spikes:
    returns (output spikes (N, K, T) uint8, [hidden spikes (N, n_l, T) uint8])."""
    import torch
    from tqdm import tqdm

    net.eval()
    outs, hidden = [], None
    with torch.no_grad():
        for lo in tqdm(range(0, len(frames), batch_size), desc=desc, unit="batch", disable=not progress,
                       leave=False):
            x = torch.from_numpy(frames[lo:lo + batch_size].astype(np.float32))
            out, records = net(x, record=True)
            outs.append(out.numpy().astype(np.uint8))
            hs = [r.spikes.numpy().astype(np.uint8) for r in records]
            hidden = [h[None] for h in hs] if hidden is None else [np.concatenate([a[0], b])[None]
                                                                 for a, b in zip(hidden, hs)]
    return np.concatenate(outs), [h[0] for h in (hidden or [])]


def calibration_spikes(net, frames: np.ndarray, dropout: float, seed: int = 0, batch_size: int = 64,
                       progress: bool = False) -> np.ndarray:
    import torch
    from tqdm import tqdm

    torch.manual_seed(seed)
    outs = []
    with calibration_dropout(net, dropout):
        for lo in tqdm(range(0, len(frames), batch_size), desc="calibration pass", unit="batch",
                       disable=not progress, leave=False):
            out, _ = net(torch.from_numpy(frames[lo:lo + batch_size].astype(np.float32)), record=False)
            outs.append(out.numpy().astype(np.uint8))
    return np.concatenate(outs)


def accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
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


def summarise(rule: StopRule, spikes: np.ndarray, labels: np.ndarray, t_c: np.ndarray | None = None,
              pred: np.ndarray | None = None) -> dict[str, Any]:
    """Core termination figures of one rule (decisions from the rule applied
    to ``spikes`` unless given, e.g. by the Lava engine)."""
    if t_c is None or pred is None:
        t_c, pred = cutoff(rule, spikes)
    T = spikes.shape[-1]
    labels = np.asarray(labels)
    pred_full = per_step_predictions(spikes)[:, -1]
    acc_full, acc_cut = accuracy(pred_full, labels), accuracy(pred, labels)
    oct_ = optimal_cutoff_steps(spikes, labels)
    st = static_truncation(spikes, labels, max(acc_full - acc_cut, 0.0))
    mean_t = float(np.mean(t_c))
    return {
        "n_samples": int(len(labels)), "T": int(T),
        "policy": rule.name, "policy_params": rule.params(),
        "accuracy_full": acc_full, "accuracy_cutoff": acc_cut,
        "accuracy_drop_pp": 100.0 * (acc_full - acc_cut),
        "mean_t_cutoff": mean_t, "timestep_ratio": T / mean_t,
        "t_cutoff_histogram": np.bincount(t_c, minlength=T + 1)[1:].tolist(),
        "mean_oct": float(np.mean(oct_)), "t_cutoff_over_oct": mean_t / float(np.mean(oct_)),
        "static_truncation": {k: v for k, v in st.items() if k != "curve"},
        "ratio_vs_static_truncation": st["T_prime"] / mean_t,
        "fixed_T_curve": st["curve"],
    }


def per_class(labels: np.ndarray, pred_full: np.ndarray, pred_cut: np.ndarray, t_c: np.ndarray,
              classes: list[str]) -> list[dict[str, Any]]:
    out = []
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
    from lavacut.measure.calibrate import calibrate_conformal, calibrate_topk

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


# ---------------------------------------------------------------------------- outputs
def write_outputs(report: dict[str, Any], path: str | Path, t_c: np.ndarray, pred: np.ndarray,
                  labels: np.ndarray) -> list[Path]:
    """JSON at ``path``; per-sample CSV and PNG plots beside it."""
    path = Path(path)
    atomic_write_json(path, report)
    written = [path]
    csv_path = path.with_suffix(".samples.csv")
    with atomic_path(csv_path, suffix=".csv") as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["sample", "label", "pred_cutoff", "t_cutoff"])
            for i, (y, p, t) in enumerate(zip(labels, pred, t_c)):
                w.writerow([i, int(y), int(p), int(t)])
    written.append(csv_path)
    written += plot_report(report, path.with_suffix(""))
    return written


def plot_report(report: dict[str, Any], stem: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    T = report["T"]
    if report.get("sweeps"):
        fig, ax = plt.subplots(figsize=(6, 4))
        styles = {"fixed": "k-", "topk": "o-", "confidence": "s-", "entropy": "^-", "conformal": "d-"}
        for name, pts in report["sweeps"].items():
            ax.plot([p["mean_t"] for p in pts], [100 * p["accuracy"] for p in pts], styles.get(name, "o-"),
                    label="fixed T'" if name == "fixed" else name, ms=4)
        ax.axhline(100 * report["accuracy_full"], color="gray", ls=":", lw=1, label=f"full T={T}")
        ax.scatter([report["mean_t_cutoff"]], [100 * report["accuracy_cutoff"]], s=120, facecolors="none",
                   edgecolors="red", label=f"{report['policy']} (reported)", zorder=5)
        ax.set_xlabel("mean timesteps per sample")
        ax.set_ylabel("accuracy (%)")
        lo = min(100 * p["accuracy"] for pts in report["sweeps"].values() for p in pts if p["mean_t"] > T * 0.25)
        ax.set_ylim(max(0, lo - 5), 100.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title(f"accuracy vs timesteps ({report.get('engine', '')} engine, {report['n_samples']} samples)",
                     fontsize=9)
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
    ax.set_title(f"{report['policy']}: {report['timestep_ratio']:.2f}x fewer timesteps than T={T}", fontsize=9)
    out.append(save_figure(fig, stem.with_name(stem.name + "_tcutoff.png")))
    return out


# ---------------------------------------------------------------------------- the whole evaluation
def data_config_for(meta: dict | None, cfg=None):
    """The RunConfig whose data/framing match an export: its stored training
    config, unless the user gives one (``--config`` for foreign files)."""
    from lavacut.config import RunConfig
    from lavacut.util import LavacutError

    if cfg is not None:
        return cfg
    if meta and "train_config" in meta:
        return RunConfig.from_dict(dict(meta["train_config"]), source="export metadata (train_config)")
    raise LavacutError("this NetX file has no lavacut metadata: give --config with the data set and framing "
                       "that match its input")


def check_input_matches(net, split, path) -> None:
    from lavacut.util import LavacutError
    got = tuple(split.frames.shape[1:4])
    if got != tuple(net.spec.input_shape):
        raise LavacutError(f"{path}: the network input is (C, H, W) = {tuple(net.spec.input_shape)} but the data "
                           f"set frames are {got}; use a data set / framing that matches")
    if split.frames.shape[-1] < 1:
        raise LavacutError("framing produced no timesteps")


def resolve_rule(meta: dict | None, policy: str | None, params: dict | None, T: int) -> StopRule:
    """The stop rule to run: explicit ``policy`` + ``params``, else the
    export's calibrated default, else fixed T (with a note in the report)."""
    from lavacut.measure.policies import rule_from_params
    from lavacut.util import LavacutError

    params = dict(params or {})
    if policy is None and meta and meta.get("default_policy"):
        policy = meta["default_policy"]
    if policy is None:
        return FixedT()
    if not params and meta and policy in meta.get("cutoff", {}):
        params = dict(meta["cutoff"][policy])
        params.pop("policy", None)
    if policy in ("topk", "conformal") and not params:
        raise LavacutError(f"policy {policy!r} needs calibrated per-step thresholds: run 'lavacut calibrate' on "
                           f"this export, or give them (--param beta=[...])")
    try:
        rule = rule_from_params({"policy": policy, **params})
        rule.check_horizon(T)
    except ValueError as exc:
        raise LavacutError(str(exc)) from None
    return rule


def evaluate_export(path: str | Path, engine: str = "torch", split: str = "test", samples: int = 0,
                    policy: str | None = None, params: dict | None = None, cfg=None, backend: str = "cpu",
                    mode: str = "halt", progress: bool = True, with_sweeps: bool = True) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate an export on a split. Returns (report, t_c, pred, labels)."""
    from lavacut.data.sources import load_split
    from lavacut.export.exporter import net_from_export
    from lavacut.measure.calibrate import calibrate_temperature
    from lavacut.measure.synops import ENERGY_SOURCE, count_ops
    from lavacut.util import LavacutError

    if split not in ("train", "test"):
        raise LavacutError(f"unknown split {split!r} (train or test)")
    if engine == "lava":
        import lavacut.runtime  # noqa: F401  (lets Lava fix 'fork' although tqdm made an mp lock)
    net, meta = net_from_export(path)
    cfg = data_config_for(meta, cfg)
    if with_sweeps and cfg.cutoff.calib_split != "train":
        raise LavacutError(f"cutoff.calib_split is {cfg.cutoff.calib_split!r}: the sweeps calibrate their "
                           f"thresholds on the training split only (never on the test split)")
    data = load_split(cfg, split, progress=progress)
    check_input_matches(net, data, path)
    frames, labels = data.frames, data.labels
    if samples:
        frames, labels = frames[:samples], labels[:samples]
    T = frames.shape[-1]
    rule = resolve_rule(meta, policy, params, T)

    t0 = time.perf_counter()
    spikes, hidden = slayer_layer_spikes(net, frames, progress=progress, desc=f"SLAYER {split}")
    torch_wall = time.perf_counter() - t0
    t_c_ref, pred_ref = cutoff(rule, spikes)
    lava_info: dict[str, Any] = {}
    if engine == "torch":
        t_c, pred = t_c_ref, pred_ref
        wall_full = torch_wall
        wall_cut = None
    elif engine == "lava":
        from lavacut.runtime.run_export import lava_report, run_full_and_cutoff

        res_full, res_cut = run_full_and_cutoff(path, frames, labels, rule, mode=mode, backend=backend,
                                                progress=progress)
        t_c, pred = np.asarray(res_cut.t_c), np.asarray(res_cut.pred)
        lr = lava_report(res_full, res_cut, T)
        wall_full, wall_cut = lr["wall_s_full"], lr["wall_s_cutoff"]
        lava_info = {k: v for k, v in lr.items() if k.startswith(("lava_steps", "compile", "init", "wall_ms",
                                                                  "mode", "latency"))}
        lava_info["engines_agree"] = bool(np.array_equal(t_c, t_c_ref) and np.array_equal(pred, pred_ref))
        lava_info["full_T_matches_slayer"] = bool(np.array_equal(np.asarray(res_full.pred),
                                                                 per_step_predictions(spikes)[:, -1]))
    else:
        raise LavacutError(f"unknown engine {engine!r} (torch or lava)")

    report: dict[str, Any] = {"engine": engine, "export": str(path),
                              "content_sha256": (meta or {}).get("content_sha256"), "split": split}
    report.update(summarise(rule, spikes, labels, t_c, pred))
    report.update({"wall_s_full": wall_full, "wall_s_cutoff": wall_cut,
                   "wall_ratio": (wall_full / wall_cut) if wall_cut else None,
                   "backend": backend if engine == "lava" else "torch-cpu"})
    if engine == "torch":
        report["wall_note"] = ("torch engine: SLAYER runs all T steps in one batched pass, so the wall-clock "
                               "with cutoff is not measured; use --engine lava")
    report.update(lava_info)
    # operations up to the cutoff vs full T, from the actual spikes
    flat = frames.reshape(len(frames), -1, T)
    layer_inputs = [flat] + hidden
    outputs = hidden + [spikes]
    n_neurons = [h.shape[1] for h in hidden] + [spikes.shape[1]]
    ops_cut = count_ops(net.spec, layer_inputs, n_neurons, outputs, t_c)
    ops_full = count_ops(net.spec, layer_inputs, n_neurons, outputs, np.full(len(t_c), T))
    report["operations"] = {
        "synops_full_mean": float(ops_full.synops.mean()), "synops_cutoff_mean": float(ops_cut.synops.mean()),
        "synops_ratio": float(ops_full.synops.mean() / max(ops_cut.synops.mean(), 1e-12)),
        "neuron_updates_full_mean": float(ops_full.neuron_updates.mean()),
        "neuron_updates_cutoff_mean": float(ops_cut.neuron_updates.mean()),
        "energy_uj_full_mean": float(ops_full.energy_uj.mean()),
        "energy_uj_cutoff_mean": float(ops_cut.energy_uj.mean()),
        "energy_ratio": float(ops_full.energy_uj.mean() / max(ops_cut.energy_uj.mean(), 1e-12)),
        "energy_source": ENERGY_SOURCE,
        "definition": "synaptic op = nonzero input spike x fan-out (NeuroBench effective SynOps), "
                      "counted over steps 1..t_c; neuron update = every neuron every step",
    }
    classes = (meta or {}).get("classes") or [str(k) for k in range(spikes.shape[1])]
    report["per_class"] = per_class(labels, per_step_predictions(spikes)[:, -1], pred, t_c, classes)
    if with_sweeps:
        calib = load_split(cfg, cfg.cutoff.calib_split, progress=progress)
        calib_sp = calibration_spikes(net, calib.frames, cfg.cutoff.calib_dropout, seed=cfg.train.seed,
                                      progress=progress)
        temp = calibrate_temperature(calib_sp, calib.labels)
        report["sweeps"] = sweeps(calib_sp, calib.labels, spikes, labels, temp)
        report["sweep_calibration"] = {"split": cfg.cutoff.calib_split, "dropout": cfg.cutoff.calib_dropout,
                                       "temperature": temp}
    report["versions"] = versions()
    report["seed"] = cfg.train.seed
    report["config"] = cfg.to_dict()
    return report, t_c, pred, labels
