"""Output spikes of many samples from one compiled Lava graph, each sample
computing exactly what it would alone in a fresh graph (the monitor resets
the network state on the graph between samples)."""

from __future__ import annotations

import sys
import time

import numpy as np

from lavacut.cutoff.rules import FixedT
from lavacut.runtime.frames import to_slayer_order
from lavacut.runtime.graph import build_split_graph
from lavacut.runtime.session import LavaSession, make_run_cfg
from lavacut.util import LavacutError


def lava_output(
    path,
    frames: np.ndarray,
    backend: str = "cpu",
    progress: bool = False,
    models: str = "fast",
    info: dict | None = None,
    lanes: int = 1,
) -> tuple[np.ndarray, dict[str, float]]:
    """All samples of ``frames`` (N, C, H, W, T) through ONE Lava graph for
    their full T steps; returns the network's output spikes (N, n, T) uint8
    (a voltage readout: its voltages v (N, n, T) int64)
    (SLAYER-aligned: [:, :, t - 1] is local Lava step t) and timings. The n
    outputs are in SLAYER's flat order (C, H, W for a conv output); for an
    average readout they are the last spiking layer's neurons, whose group
    sums the monitor counts (``timings`` holds no layout: see
    :func:`lavacut.runtime.layout.net_layout`). ``models``: ``"fast"`` or
    ``"stock"`` ProcessModels (:func:`lavacut.runtime.session.make_run_cfg`);
    ``info`` (a dict) receives ``fused``: whether the network ran as one
    fused process.

    Step arithmetic: with ``FixedT`` sample j is played at Lava steps
    j*T + 1 .. (j+1)*T and the monitor pauses at step N*T; the sink writes
    step s into column (s - 1) % (N*T), so sample j's local step t is column
    j*T + t - 1.

    ``lanes`` B > 1 (fused network, or copies of netx's graph, one sink
    each): every lane decides at T, so the lanes
    move in rounds: sample j = r*B + b plays in lane b at steps r*T + 1 ..
    (r+1)*T, the sink records (*out_shape, B) per step and the monitor pauses
    at step ceil(N/B)*T."""
    from lava.proc.io.sink import RingBuffer as Sink

    timings: dict[str, float] = {}
    run_cfg = make_run_cfg(backend, models)  # raises early when loihi2 is missing
    t0 = time.perf_counter()
    g = build_split_graph(
        path, frames, FixedT(), halt=False, loihi2=(backend == "loihi2"), fused=(models == "fast"), lanes=lanes
    )
    N, T, K, B = g.num_samples, g.horizon, int(np.prod(g.out_shape)), g.lanes
    R = -(-N // B)  # rounds of B lanes
    if g.layout.readout == "voltage" and g.fused is None:
        raise LavacutError(
            f"{path}: recording a voltage readout's v at every step needs the fused network (models "
            f"'fast' on the cpu backend); netx's graph has no port carrying v (its decisions still "
            f"run there: the monitor reads v)"
        )
    if g.offset != 0:
        raise LavacutError(f"internal: expected SLAYER-aligned timesteps (offset 0), got offset {g.offset}")
    if g.copies:  # lanes as copies of netx's graph: one sink per copy
        sinks = [Sink(shape=g.out_shape, buffer=R * T) for _ in g.out_ports]
    else:
        sinks = [Sink(shape=g.out_shape + ((B,) if B > 1 else ()), buffer=R * T)]
    for port, sink in zip(g.out_ports or [g.out_port], sinks):
        port.connect(sink.a_in)  # loihi2: the host side of the output adapter
    timings["build_s"] = time.perf_counter() - t0
    if info is not None:
        info["fused"] = g.fused is not None
    mon = g.monitor
    with LavaSession(mon, run_cfg) as session:
        timings["compile_s"], timings["init_s"] = session.compile_s, session.init_s
        t0 = time.perf_counter()
        session.run_until_pause()  # the monitor pauses after sample N, at step N*T
        timings["run_s"] = time.perf_counter() - t0
        if progress:
            print(
                f"lavacut verify: {N} samples, {R * T} Lava steps ({B} lanes) in {timings['run_s']:.2f} s",
                file=sys.stderr,
            )
        t0 = time.perf_counter()
        n_done = int(np.asarray(mon.n_done.get()).reshape(-1)[0])
        last_step = int(np.asarray(mon.last_step.get()).reshape(-1)[0])
        raw = np.stack([np.asarray(s.data.get()).reshape(g.out_shape + (-1, R * T)) for s in sinks], axis=-2).reshape(
            g.out_shape + (B, R * T)
        )  # element by element
        # (K, B, R*T) in SLAYER's order per lane
        data = np.stack([to_slayer_order(raw[..., b, :], g.out_shape) for b in range(B)], axis=1)
        timings["readout_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
    timings["stop_s"] = time.perf_counter() - t0
    if n_done != N or last_step != R * T:
        raise LavacutError(
            f"step bookkeeping broken: the monitor made {n_done} of {N} decisions, the last "
            f"at Lava step {last_step}, expected step ceil(N/lanes)*T = {R * T}"
        )
    if data.shape != (K, B, R * T):
        raise LavacutError(f"internal: sink returned shape {data.shape}, expected {(K, B, R * T)}")
    # lane b, column r*T + t - 1 is sample r*B + b, local step t
    out = data.reshape(K, B, R, T).transpose(2, 1, 0, 3).reshape(R * B, K, T)[:N]
    if g.layout.readout == "voltage":  # the fused network sent the readout's voltages
        return np.ascontiguousarray(out.astype(np.int64)), timings
    if data.size and not np.isin(data, (0, 1)).all():
        raise LavacutError("the Lava output is not binary (graded spikes); verify compares binary spikes")
    return np.ascontiguousarray(out.astype(np.uint8)), timings
