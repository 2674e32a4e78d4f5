"""``lavacut run``: an export (or any NetX file) on a split in Lava, with and
without the cutoff, and the JSON report both ``run`` and ``evaluate --engine
lava`` write.

Report keys: n_samples, T, policy, policy_params, accuracy_full,
accuracy_cutoff, mean_t_cutoff, timestep_ratio, wall_s_full, wall_s_cutoff,
wall_ratio, backend, mode, versions, plus Lava step counts, compile time and
per-sample wall-clock statistics. Timesteps are SLAYER's (see
:func:`lavacut.runtime.graph.build_split_graph`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from lavacut.util import LavacutError, versions


def run_full_and_cutoff(path, frames, labels, rule, mode: str = "halt", backend: str = "cpu",
                        progress: bool = True, on_sample: Callable | None = None):
    """The same split twice through one compiled graph each: full T
    (``FixedT``, the baseline, timed the same way) and with ``rule``."""
    from lavacut.measure.policies import FixedT
    from lavacut.runtime.runner import run_split

    full = run_split(path, frames, labels, FixedT(), mode=mode, backend=backend, progress=progress)
    cut = run_split(path, frames, labels, rule, mode=mode, backend=backend, progress=progress,
                    on_sample=on_sample if mode == "halt" else None)
    return full, cut


def lava_report(full, cut, T: int) -> dict[str, Any]:
    """The Lava part of a report from the two runs."""
    acc_full, acc_cut = float(np.mean(full.pred == full.labels)), float(np.mean(cut.pred == cut.labels))
    mean_t = float(np.mean(cut.t_c))
    out = {
        "n_samples": int(len(cut.t_c)), "T": int(T),
        "policy": cut.rule.get("policy"), "policy_params": cut.rule,
        "accuracy_full": acc_full, "accuracy_cutoff": acc_cut,
        "accuracy_drop_pp": 100.0 * (acc_full - acc_cut),
        "mean_t_cutoff": mean_t, "timestep_ratio": T / mean_t,
        "t_cutoff_histogram": np.bincount(cut.t_c, minlength=T + 1)[1:].tolist(),
        "wall_s_full": float(full.wall_s), "wall_s_cutoff": float(cut.wall_s),
        "wall_ratio": float(full.wall_s / cut.wall_s) if cut.wall_s > 0 else None,
        "backend": cut.backend, "mode": cut.mode,
        "lava_steps_full": int(full.lava_steps), "lava_steps_cutoff": int(cut.lava_steps),
        "latency_steps": int(cut.latency), "compile_s": float(cut.compile_s), "init_s": float(cut.init_s),
    }
    if cut.wall_s_per_sample:
        ps = np.asarray(cut.wall_s_per_sample)
        pf = np.asarray(full.wall_s_per_sample)
        out["wall_ms_per_sample"] = {"cutoff_median": 1e3 * float(np.median(ps)),
                                     "full_median": 1e3 * float(np.median(pf))}
    out["wall_ratio_over_timestep_ratio"] = (out["wall_ratio"] / out["timestep_ratio"]
                                             if out["wall_ratio"] else None)
    return out


def netx_input_size(path) -> int:
    """Number of input features the first layer of a NetX file takes."""
    from lavacut.export.inspect import inspect_layers

    layers = inspect_layers(path)
    for L in layers:
        if L.type == "input" and L.shape:
            return int(np.prod(L.shape))
        if L.type == "dense" and L.weight_shape:
            return int(L.weight_shape[1])
        if L.type == "conv":
            raise LavacutError(f"{path}: conv network without an input layer giving its frame shape")
    raise LavacutError(f"{path}: cannot tell the network's input size")


def run_export(path: str | Path, split: str = "test", samples: int = 0, mode: str = "halt",
               policy: str | None = None, params: dict | None = None, cfg=None, backend: str = "cpu",
               progress: bool = True, on_sample: Callable | None = None):
    """Run a NetX file on a split in Lava. Returns (report, full, cut)."""
    import lavacut.runtime  # noqa: F401  (fixes multiprocessing for Lava before any progress bar)
    from lavacut.data.sources import load_split
    from lavacut.export.netx_file import read_metadata
    from lavacut.measure.evaluate import data_config_for, resolve_rule

    meta = read_metadata(path)
    cfg = data_config_for(meta, cfg)
    if mode == "stream":
        # the split as one continuous event stream (segments of T bins laid
        # end to end); the monitor moves the graph from segment to segment
        from lavacut.data.framing import frame_stream
        from lavacut.data.sources import open_dataset
        from lavacut.data.stream import make_stream

        ds = open_dataset(cfg.data, split, progress=progress)
        n = min(samples or len(ds), len(ds))
        stream = make_stream(ds, range(n), segment_us=cfg.framing.T * cfg.framing.bin_us)
        data = frame_stream(stream, cfg.framing, progress=progress)
    else:
        data = load_split(cfg, split, progress=progress)
    frames, labels = data.frames, data.labels
    if samples:
        frames, labels = frames[:samples], labels[:samples]
    need = netx_input_size(path)
    got = int(np.prod(frames.shape[1:4]))
    if need != got:
        raise LavacutError(f"{path}: the network takes {need} inputs per step but the data set frames are "
                           f"(C, H, W) = {tuple(frames.shape[1:4])} = {got}; use matching data/framing")
    T = frames.shape[-1]
    rule = resolve_rule(meta, policy, params, T)
    full, cut = run_full_and_cutoff(path, frames, labels, rule, mode=mode, backend=backend, progress=progress,
                                    on_sample=on_sample)
    report = {"engine": "lava", "export": str(path), "split": split,
              "content_sha256": (meta or {}).get("content_sha256"),
              "calibrated": bool(meta and meta.get("cutoff")), **lava_report(full, cut, T),
              "versions": versions(), "config": cfg.to_dict()}
    if rule.name == "fixed" and policy is None:
        report["note"] = "no calibration in this file and no --policy: ran fixed T (no cutoff)"
    return report, full, cut
