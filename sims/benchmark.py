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
- Lava vs SLAYER per-step cost (batch 1, and SLAYER batched);
- torch-engine evaluation throughput (samples/s of the batched SLAYER pass).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from lavacut.cutoff.rules import FixedT
from lavacut.pipelines.run import RunRequest, open_run, run_split
from lavacut.util import atomic_write_json, versions


def bench_export(path: Path, samples: int) -> dict:
    import torch

    export, cfg, split, _ = open_run(RunRequest(path, split="test"))
    net = export.slayer_net()
    test = export.frames(cfg, split, samples, progress=False)
    frames, labels = test.frames, test.labels
    N, T = len(labels), frames.shape[-1]
    rule = export.rule(None, None, T)
    out: dict = {"export": str(path), "n_samples": N, "T": T, "policy": rule.name}

    for mode in ("halt", "stream"):
        full = run_split(path, frames, labels, FixedT(), mode=mode, progress=False)
        cut = run_split(path, frames, labels, rule, mode=mode, progress=False)
        ts_ratio = T / float(np.mean(cut.t_c))
        wall_ratio = full.wall_s / cut.wall_s
        out[mode] = {"wall_ms_per_sample_full": 1e3 * full.wall_s / N, "wall_ms_per_sample_cutoff": 1e3 * cut.wall_s / N,
                     "timestep_ratio": ts_ratio, "wall_ratio": wall_ratio,
                     "wall_ratio_over_timestep_ratio": wall_ratio / ts_ratio,
                     "ms_per_lava_step_full": 1e3 * full.wall_s / full.lava_steps}

        # switch overhead: N samples of T steps vs N/2 samples of 2T steps (same Lava steps)
        n2 = (N // 2) * 2
        pairs = np.concatenate([frames[0:n2:2], frames[1:n2:2]], axis=-1)
        one = run_split(path, frames[:n2], labels[:n2], FixedT(), mode=mode, progress=False)
        two = run_split(path, pairs, labels[0:n2:2], FixedT(), mode=mode, progress=False)
        per_switch = (one.wall_s - two.wall_s) / (n2 - n2 // 2)
        out[mode]["switch_overhead_ms"] = 1e3 * per_switch
        out[mode]["switch_overhead_over_cutoff_sample_time"] = per_switch / (cut.wall_s / N)
        out[mode]["switch_overhead_over_full_sample_time"] = per_switch / (full.wall_s / N)

    # SLAYER per step, batch 1 and batched; torch-engine throughput
    x = torch.from_numpy(frames.astype(np.float32))
    with torch.no_grad():
        net(x[:1], record=False)
        t0 = time.perf_counter()
        for i in range(min(N, 50)):
            net(x[i:i + 1], record=False)
        slayer_b1 = (time.perf_counter() - t0) / min(N, 50)
        t0 = time.perf_counter()
        for lo in range(0, N, 64):
            net(x[lo:lo + 64], record=False)
        slayer_batched = (time.perf_counter() - t0) / N
    lava_step = out["stream"]["ms_per_lava_step_full"] / 1e3
    out["slayer_ms_per_step_batch1"] = 1e3 * slayer_b1 / T
    out["lava_over_slayer_per_step_batch1"] = lava_step / (slayer_b1 / T)
    out["torch_engine_samples_per_s"] = 1.0 / slayer_batched
    out["torch_engine_over_lava_stream_throughput"] = (1.0 / slayer_batched) / (N / (out["stream"]["wall_ms_per_sample_full"] * N / 1e3))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--exports", nargs="*", default=["netx_exports/embedded_dense.net",
                                                     "netx_exports/embedded_conv.net"])
    ap.add_argument("--out", default="sims/results/benchmark.json")
    args = ap.parse_args(argv)
    results = {"versions": versions(), "samples": args.samples, "exports": []}
    for e in args.exports:
        if not Path(e).exists():
            print(f"skip {e}: missing", file=sys.stderr)
            continue
        r = bench_export(Path(e), args.samples)
        results["exports"].append(r)
        print(f"\n{e}  ({r['n_samples']} test samples, T={r['T']}, policy {r['policy']})")
        for mode in ("halt", "stream"):
            m = r[mode]
            print(f"  {mode:<6} per sample {m['wall_ms_per_sample_full']:.1f} ms full -> "
                  f"{m['wall_ms_per_sample_cutoff']:.1f} ms cutoff: wall ratio {m['wall_ratio']:.2f} vs timestep "
                  f"ratio {m['timestep_ratio']:.2f} -> {m['wall_ratio_over_timestep_ratio']:.2f} (target >= 0.9)")
            print(f"         switch+reset overhead {m['switch_overhead_ms']:.2f} ms/sample = "
                  f"{100 * m['switch_overhead_over_cutoff_sample_time']:.1f} % of a cutoff sample, "
                  f"{100 * m['switch_overhead_over_full_sample_time']:.1f} % of a full-T sample (target <= 5 %)")
        print(f"  Lava {r['stream']['ms_per_lava_step_full']:.2f} ms/step vs SLAYER batch-1 "
              f"{r['slayer_ms_per_step_batch1']:.2f} ms/step: Lava is {r['lava_over_slayer_per_step_batch1']:.1f}x slower")
        print(f"  torch engine {r['torch_engine_samples_per_s']:.0f} samples/s = "
              f"{r['torch_engine_over_lava_stream_throughput']:.1f}x the Lava stream throughput (full T)")
    atomic_write_json(args.out, results)
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
