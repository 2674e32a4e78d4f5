"""Benchmark of the shipped default exports, every figure measured side by
side in one run and printed as a ratio (not a test: timings depend on the
machine and its load). Writes sims/results/benchmark.json.

    .venv/bin/python sims/benchmark.py [--samples 200] [--out sims/results/benchmark.json]

Figures, per export (netx_exports/embedded_dense.net, embedded_conv.net):
- Lava wall-clock per sample, full T vs calibrated Top-K cutoff, halt and
  stream modes, and wall ratio / timestep ratio (issue target >= 0.9);
- per-sample switch + reset overhead: the same frames run as N samples of T
  steps and as N/2 samples of 2T steps (pairs concatenated), so both runs do
  the same Lava steps and differ only in N/2 sample switches (each with the
  on-graph reset); overhead per switch vs mean per-sample run time (target
  <= 5 %);
- Lava vs SLAYER per-step cost (batch 1: median per-sample time of 50
  samples; and SLAYER batched);
- torch-engine evaluation throughput (samples/s of the batched SLAYER pass);
- ProcessModels side by side (``models``): ms per Lava step of the same
  full-T stream run with Lava's stock models, lavacut's fast per-process
  models and the fused one-process network (the default), their ratios, and
  whether the fast runs' decisions (t_c, prediction, counts) and recorded
  output spikes equal the stock run's (``spike_exact_fast_vs_stock``);
- ``workers``: the cutoff stream run sharded over 2 worker processes vs one
  graph (elapsed wall-clock including compile, and same decisions). On a
  2-core machine shared with other work this is not expected to pay.
- ``lanes`` (issue 24): Lava samples/s at full T and with the cutoff (stream
  mode, fused network) for 1, 8, 32 and 128 lanes, the torch engine's
  samples/s on the same samples (``lava_lanes_over_torch_engine_throughput``),
  Lava wall-clock per sample-step (wall / the samples' summed steps) over
  SLAYER's batch-1 step (``lava_lanes_per_sample_step_over_slayer_batch1``),
  the cutoff's wall gain over its timestep gain per lane count, decisions
  equal to one lane, and the issue's targets checked at the default lanes;
  with the load average before and after the section, the runtime start-up
  (``init_s``: Lava forks its processes, the fused network builds its
  kernels) kept out of the wall-clock figures as compile is, and the peak
  memory of the whole process tree (host and Lava processes, proportional
  set size summed, polled every 0.1 s) during the default-lanes cutoff run.
  ``--only-lanes`` measures this section alone and replaces the ``lanes``
  key of each export in ``--out`` (the other figures are kept).
  The other sections run one lane (``run_split``'s default).

The halt / stream / switch figures use ``--models`` (default fast).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from lavacut.cutoff.rules import FixedT
from lavacut.pipelines.run import RunRequest, open_run, run_split
from lavacut.runtime.lanes import DEFAULT_LANES
from lavacut.util import atomic_write_json, descendant_pids, versions


#: alternated repetitions of the switch-overhead runs (medians compared)
SWITCH_REPEATS = 5
#: lane counts of the ``lanes`` section
LANES = (1, 8, 32, 128)


def bench_export(
    path: Path,
    samples: int,
    models: str = "fast",
    exact_samples: int = 20,
    sections: tuple = ("modes", "models", "workers", "lanes"),
) -> dict:
    import torch

    export, cfg, split, _ = open_run(RunRequest(path, split="test"))
    net = export.slayer_net()
    test = export.frames(cfg, split, samples, progress=False)
    frames, labels = test.frames, test.labels
    N, T = len(labels), frames.shape[-1]
    rule = export.rule(None, None, T)
    out: dict = {"export": str(path), "n_samples": N, "T": T, "policy": rule.name, "models_used": models}

    for mode in ("halt", "stream") if "modes" in sections else ():
        full = run_split(path, frames, labels, FixedT(), mode=mode, progress=False, models=models)
        cut = run_split(path, frames, labels, rule, mode=mode, progress=False, models=models)
        ts_ratio = T / float(np.mean(cut.t_c))
        wall_ratio = full.wall_s / cut.wall_s
        out[mode] = {
            "wall_ms_per_sample_full": 1e3 * full.wall_s / N,
            "wall_ms_per_sample_cutoff": 1e3 * cut.wall_s / N,
            "timestep_ratio": ts_ratio,
            "wall_ratio": wall_ratio,
            "wall_ratio_over_timestep_ratio": wall_ratio / ts_ratio,
            "ms_per_lava_step_full": 1e3 * full.wall_s / full.lava_steps,
        }

        # switch overhead: N samples of T steps vs N/2 samples of 2T steps (same Lava steps)
        n2 = (N // 2) * 2
        pairs = np.concatenate([frames[0:n2:2], frames[1:n2:2]], axis=-1)
        # run-to-run variation (~10 % here) exceeds a switch's cost on one pair of
        # runs: alternate the two runs SWITCH_REPEATS times, take the medians
        walls_one, walls_two = [], []
        for _ in range(SWITCH_REPEATS):
            walls_one.append(
                run_split(path, frames[:n2], labels[:n2], FixedT(), mode=mode, progress=False, models=models).wall_s
            )
            walls_two.append(
                run_split(path, pairs, labels[0:n2:2], FixedT(), mode=mode, progress=False, models=models).wall_s
            )
        per_switch = (np.median(walls_one) - np.median(walls_two)) / (n2 - n2 // 2)
        out[mode]["switch_overhead_ms"] = 1e3 * per_switch
        out[mode]["switch_overhead_runs_s"] = {"N_samples_of_T": walls_one, "N/2_samples_of_2T": walls_two}
        out[mode]["switch_overhead_over_cutoff_sample_time"] = per_switch / (cut.wall_s / N)
        out[mode]["switch_overhead_over_full_sample_time"] = per_switch / (full.wall_s / N)

    # SLAYER per step, batch 1 and batched; torch-engine throughput
    x = torch.from_numpy(frames.astype(np.float32))
    with torch.no_grad():
        net(x[:1], record=False)
        per = []
        for i in range(min(N, 50)):
            t0 = time.perf_counter()
            net(x[i : i + 1], record=False)
            per.append(time.perf_counter() - t0)
        slayer_b1 = float(np.median(per))  # median: robust to bursts of load from other processes
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as one Lava process: single-threaded, steadier under load
        try:
            per1 = []
            for i in range(min(N, 50)):
                t0 = time.perf_counter()
                net(x[i : i + 1], record=False)
                per1.append(time.perf_counter() - t0)
        finally:
            torch.set_num_threads(threads)
        slayer_b1_1t = float(np.median(per1))
        t0 = time.perf_counter()
        for lo in range(0, N, 64):
            net(x[lo : lo + 64], record=False)
        slayer_batched = (time.perf_counter() - t0) / N
    out["slayer_ms_per_step_batch1"] = 1e3 * slayer_b1 / T
    out["torch_engine_samples_per_s"] = 1.0 / slayer_batched
    if "lanes" in sections:
        out["lanes"] = bench_lanes(path, frames, labels, rule, slayer_b1 / T, 1.0 / slayer_batched)
        out["lanes"]["lava_lanes_per_sample_step_over_slayer_batch1_one_thread"] = {  # steadier under load
            k: v / 1e3 / (slayer_b1_1t / T) for k, v in out["lanes"]["ms_per_sample_step_full"].items()
        }
    if "modes" not in sections:
        return out
    lava_step = out["stream"]["ms_per_lava_step_full"] / 1e3
    out["lava_over_slayer_per_step_batch1"] = lava_step / (slayer_b1 / T)
    out["slayer_ms_per_step_batch1_one_thread"] = 1e3 * slayer_b1_1t / T
    out["lava_over_slayer_per_step_batch1_one_thread"] = lava_step / (slayer_b1_1t / T)
    out["models"] = bench_models(path, frames, labels, rule, slayer_b1 / T, exact_samples)
    out["models"]["lava_over_slayer_per_step_batch1_one_thread"] = {
        m: v / 1e3 / (slayer_b1_1t / T) for m, v in out["models"]["ms_per_lava_step_full_stream"].items()
    }
    out["workers"] = bench_workers(path, frames, labels, rule, models)
    out["torch_engine_over_lava_stream_throughput"] = (1.0 / slayer_batched) / (
        N / (out["stream"]["wall_ms_per_sample_full"] * N / 1e3)
    )
    return out


def bench_models(path, frames, labels, rule, slayer_step_s: float, exact_samples: int, rounds: int = 2) -> dict:
    """Stock vs fast per-process vs fused models: ms per step of the same
    full-T stream run, side by side (``rounds`` alternated rounds, the best
    of each); decisions and output spikes compared."""
    from lavacut.runtime.record import lava_output

    res, step = {}, {}
    for rnd in range(rounds):  # alternated rounds, best per model: load bursts hit all alike
        for m in ("stock", "fast-procs", "fast"):
            full = run_split(path, frames, labels, FixedT(), mode="stream", progress=False, models=m)
            step[m] = min(step.get(m, np.inf), full.wall_s / full.lava_steps)
            if rnd == 0:
                res[m] = run_split(path, frames, labels, rule, mode="stream", progress=False, models=m)
    same = {
        m: all(np.array_equal(getattr(res[m], k), getattr(res["stock"], k)) for k in ("t_c", "pred", "counts"))
        for m in ("fast-procs", "fast")
    }
    n = min(exact_samples, len(frames))
    ref = lava_output(path, frames[:n], models="stock")[0]
    spikes = {m: bool(np.array_equal(lava_output(path, frames[:n], models=m)[0], ref)) for m in ("fast-procs", "fast")}
    return {
        "ms_per_lava_step_full_stream": {m: 1e3 * v for m, v in step.items()},
        "stock_over_fast_per_step": step["stock"] / step["fast"],
        "stock_over_fast_procs_per_step": step["stock"] / step["fast-procs"],
        "lava_over_slayer_per_step_batch1": {m: v / slayer_step_s for m, v in step.items()},
        "rounds": rounds,
        "spike_exact_fast_vs_stock": {
            "decisions_all_samples": same,
            f"output_spikes_first_{n}_samples": spikes,
            "all": bool(all(same.values()) and all(spikes.values())),
        },
    }


def _tree_pss_kib(root: int) -> int:
    """Proportional set size summed over ``root`` and its descendants (shared
    pages of the forked Lava processes counted once overall)."""
    total = 0
    for pid in {root} | descendant_pids(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except OSError:
            pass
    return total


def peak_tree_memory_mib(fn):
    """(fn(), peak PSS of this process tree in MiB while fn ran, polled every 0.1 s)."""
    import threading

    peak, done = [0], threading.Event()

    def poll():
        while not done.is_set():
            peak[0] = max(peak[0], _tree_pss_kib(os.getpid()))
            done.wait(0.1)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    try:
        return fn(), peak[0] / 1024
    finally:
        done.set()
        th.join()


def bench_lanes(path, frames, labels, rule, slayer_step_s: float, torch_sps: float, rounds: int = 2) -> dict:
    """Issue 24: stream runs of the fused network at ``LANES`` lanes, full T
    and with the cutoff, against the torch engine and SLAYER batch 1 (see
    module doc)."""
    N, T = len(frames), frames.shape[-1]
    out = {
        "lanes": list(LANES),
        "default_lanes": DEFAULT_LANES,
        "rounds": rounds,
        "load_average_before": os.getloadavg()[0],
        "torch_engine_samples_per_s": torch_sps,
        "init_s_full": {},
        "init_s_cutoff": {},
        "samples_per_s_full": {},
        "samples_per_s_cutoff": {},
        "lava_steps_full": {},
        "lava_steps_cutoff": {},
        "lava_lanes_over_torch_engine_throughput": {},
        "lava_lanes_over_torch_engine_throughput_full": {},
        "lava_lanes_per_sample_step_over_slayer_batch1": {},
        "ms_per_sample_step_full": {},
        "wall_ratio_over_timestep_ratio": {},
        "speedup_over_lanes1_cutoff": {},
        "same_decisions_as_lanes1": {},
    }
    ref = None
    for b in LANES:
        # best of ``rounds`` (load bursts from other processes only ever slow a run down)
        full = min(
            (run_split(path, frames, labels, FixedT(), mode="stream", progress=False, lanes=b) for _ in range(rounds)),
            key=lambda r: r.wall_s,
        )
        cut = min(
            (run_split(path, frames, labels, rule, mode="stream", progress=False, lanes=b) for _ in range(rounds)),
            key=lambda r: r.wall_s,
        )
        ref = ref or cut
        k = str(b)
        out["init_s_full"][k], out["init_s_cutoff"][k] = full.init_s, cut.init_s
        sps_full, sps_cut = N / full.wall_s, N / cut.wall_s
        step = full.wall_s / (N * T)  # wall per sample-step, full T
        out["samples_per_s_full"][k], out["samples_per_s_cutoff"][k] = sps_full, sps_cut
        out["lava_steps_full"][k], out["lava_steps_cutoff"][k] = int(full.lava_steps), int(cut.lava_steps)
        out["lava_lanes_over_torch_engine_throughput"][k] = sps_cut / torch_sps
        out["lava_lanes_over_torch_engine_throughput_full"][k] = sps_full / torch_sps
        out["ms_per_sample_step_full"][k] = 1e3 * step
        out["lava_lanes_per_sample_step_over_slayer_batch1"][k] = step / slayer_step_s
        out["wall_ratio_over_timestep_ratio"][k] = (full.wall_s / cut.wall_s) / (T / float(np.mean(cut.t_c)))
        out["speedup_over_lanes1_cutoff"][k] = sps_cut / out["samples_per_s_cutoff"]["1"]
        out["same_decisions_as_lanes1"][k] = bool(
            all(np.array_equal(getattr(cut, a), getattr(ref, a)) for a in ("t_c", "pred", "counts"))
        )
    d = str(DEFAULT_LANES) if str(DEFAULT_LANES) in out["samples_per_s_cutoff"] else str(LANES[-1])
    _, out["peak_tree_pss_mib_cutoff_at_default_lanes"] = peak_tree_memory_mib(
        lambda: run_split(path, frames, labels, rule, mode="stream", progress=False, lanes=int(d))
    )
    out["load_average_after"] = os.getloadavg()[0]
    out["targets"] = {
        "torch_throughput_at_default_lanes_ge_0.5": out["lava_lanes_over_torch_engine_throughput"][d] >= 0.5,
        "speedup_over_lanes1_cutoff_ge_10_at_default_lanes": out["speedup_over_lanes1_cutoff"][d] >= 10,
        "per_sample_step_le_slayer_batch1_at_default_lanes": out["lava_lanes_per_sample_step_over_slayer_batch1"][d]
        <= 1,
        "cutoff_wall_gain_ge_0.9_timestep_gain_at_default_lanes": out["wall_ratio_over_timestep_ratio"][d] >= 0.9,
    }
    return out


def bench_workers(path, frames, labels, rule, models: str, workers: int = 2) -> dict:
    """Cutoff stream run: one graph vs ``workers`` worker processes (elapsed
    wall-clock, compile included, since the workers compile concurrently)."""
    out = {}
    for w in (1, workers):
        t0 = time.perf_counter()
        r = run_split(path, frames, labels, rule, mode="stream", progress=False, models=models, workers=w)
        out[w] = (time.perf_counter() - t0, r)
    same = all(np.array_equal(getattr(out[1][1], k), getattr(out[workers][1], k)) for k in ("t_c", "pred", "counts"))
    return {
        "workers": workers,
        "elapsed_s_one_graph": out[1][0],
        "elapsed_s_workers": out[workers][0],
        "one_graph_over_workers_elapsed": out[1][0] / out[workers][0],
        "same_decisions": bool(same),
        "cpu_count": os.cpu_count(),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument(
        "--exports", nargs="*", default=["netx_exports/embedded_dense.net", "netx_exports/embedded_conv.net"]
    )
    ap.add_argument("--out", default="sims/results/benchmark.json")
    ap.add_argument(
        "--models",
        default="fast",
        choices=["fast", "fast-procs", "stock"],
        help="ProcessModels of the halt/stream/switch figures (default fast)",
    )
    ap.add_argument(
        "--only-lanes",
        action="store_true",
        help="measure the lanes section only (to a file other than the full benchmark's)",
    )
    args = ap.parse_args(argv)
    sections = ("lanes",) if args.only_lanes else ("modes", "models", "workers", "lanes")
    results = {"versions": versions(), "samples": args.samples, "exports": []}
    for e in args.exports:
        if not Path(e).exists():
            print(f"skip {e}: missing", file=sys.stderr)
            continue
        r = bench_export(Path(e), args.samples, args.models, sections=sections)
        results["exports"].append(r)
        print(f"\n{e}  ({r['n_samples']} test samples, T={r['T']}, policy {r['policy']})")
        if "lanes" in r:
            ln = r["lanes"]
            for k in map(str, ln["lanes"]):
                print(
                    f"  lanes {k:>3}: {ln['samples_per_s_full'][k]:7.0f} samples/s full T, "
                    f"{ln['samples_per_s_cutoff'][k]:7.0f} with cutoff "
                    f"({ln['lava_lanes_over_torch_engine_throughput'][k]:.2f}x torch engine, "
                    f"{ln['speedup_over_lanes1_cutoff'][k]:.1f}x lanes 1); per sample-step "
                    f"{ln['lava_lanes_per_sample_step_over_slayer_batch1'][k]:.2f}x SLAYER b1; cutoff wall/timestep "
                    f"gain {ln['wall_ratio_over_timestep_ratio'][k]:.2f}; same decisions {ln['same_decisions_as_lanes1'][k]}"
                )
            print(
                f"  torch engine {r['torch_engine_samples_per_s']:.0f} samples/s; targets at default lanes "
                f"{ln['default_lanes']}: {ln['targets']}"
            )
            print(
                f"  load average {ln['load_average_before']:.1f} -> {ln['load_average_after']:.1f}; peak memory "
                f"(process tree PSS) {ln['peak_tree_pss_mib_cutoff_at_default_lanes']:.0f} MiB"
            )
        if "modes" not in sections:
            continue
        for mode in ("halt", "stream"):
            m = r[mode]
            print(
                f"  {mode:<6} per sample {m['wall_ms_per_sample_full']:.1f} ms full -> "
                f"{m['wall_ms_per_sample_cutoff']:.1f} ms cutoff: wall ratio {m['wall_ratio']:.2f} vs timestep "
                f"ratio {m['timestep_ratio']:.2f} -> {m['wall_ratio_over_timestep_ratio']:.2f} (target >= 0.9)"
            )
            print(
                f"         switch+reset overhead {m['switch_overhead_ms']:.2f} ms/sample = "
                f"{100 * m['switch_overhead_over_cutoff_sample_time']:.1f} % of a cutoff sample, "
                f"{100 * m['switch_overhead_over_full_sample_time']:.1f} % of a full-T sample (target <= 5 %)"
            )
        print(
            f"  Lava {r['stream']['ms_per_lava_step_full']:.2f} ms/step vs SLAYER batch-1 "
            f"{r['slayer_ms_per_step_batch1']:.2f} ms/step: ratio {r['lava_over_slayer_per_step_batch1']:.2f} "
            f"(SLAYER on one thread {r['slayer_ms_per_step_batch1_one_thread']:.2f} ms/step: ratio "
            f"{r['lava_over_slayer_per_step_batch1_one_thread']:.2f})"
        )
        print(
            f"  torch engine {r['torch_engine_samples_per_s']:.0f} samples/s = "
            f"{r['torch_engine_over_lava_stream_throughput']:.1f}x the Lava stream throughput (full T)"
        )
        mm = r["models"]
        print(
            "  models, ms/step (full-T stream): "
            + ", ".join(
                f"{m} {v:.2f} ({mm['lava_over_slayer_per_step_batch1'][m]:.1f}x SLAYER b1)"
                for m, v in mm["ms_per_lava_step_full_stream"].items()
            )
            + f"; stock/fast {mm['stock_over_fast_per_step']:.1f}x; spike-exact: {mm['spike_exact_fast_vs_stock']['all']}"
        )
        wk = r["workers"]
        print(
            f"  workers: {wk['workers']} workers {wk['elapsed_s_workers']:.1f} s vs one graph "
            f"{wk['elapsed_s_one_graph']:.1f} s elapsed (compile included), same decisions: {wk['same_decisions']}"
        )
    if args.only_lanes and Path(args.out).is_file():  # replace the lanes of a full report, keep the rest
        full = json.loads(Path(args.out).read_text())
        lanes = {r["export"]: r["lanes"] for r in results["exports"]}
        for r in full.get("exports", []):
            if r.get("export") in lanes:
                r["lanes"] = lanes.pop(r["export"])
        full.setdefault("exports", []).extend(r for r in results["exports"] if r["export"] in lanes)
        full["lanes_versions"], full["lanes_samples"] = results["versions"], args.samples
        results = full
    atomic_write_json(args.out, results)
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
