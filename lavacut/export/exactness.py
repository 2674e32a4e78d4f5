"""Why Lava fixed_pt and the SLAYER rebuild of a NetX file could differ.

Known (lava-nc 0.10.0, lava-dl 0.6.0, eval mode): cuba Dense and strided
cuba Conv layers are bit exact at zero shift. Lava's current u is 24-bit and
wraps (v saturates, a_in is int16) where SLAYER does neither; netx casts
weights to int while the SLAYER rebuild rounds weight/64 to even integers in
[-256, 254]; graded spikes are not supported; train mode (dropout) is
stochastic.
"""
from __future__ import annotations

import numpy as np

from lavacut.export.exporter import net_from_export
from lavacut.fixed_point import FIXED_POINT_LIMITS, W_MAX, W_MIN
from lavacut.export.inspect import inspect_layers


def explain_exactness(path, frames: np.ndarray | None = None, net=None) -> list[str]:
    """Notes (strings) on what in ``path`` is not known to be exact: per-layer
    facts, weight checks and, given ``frames`` (N, C, H, W, T), the
    fixed-point headroom measured on them with ``net`` (default: the SLAYER
    rebuild of the file)."""
    import h5py

    notes: list[str] = []
    layers = inspect_layers(path)
    with h5py.File(path, "r") as f:
        for L in layers:
            if L.type in ("input", "flatten"):
                if L.type == "input" and L.neuron:
                    notes.append(f"layer {L.index}: input layer with a neuron: lavacut's runtime refuses it "
                                 f"(no synapse); SLAYER rebuild not supported")
                continue
            if not L.supported:
                notes.append(f"layer {L.index} ({L.type}): {L.note}")
                continue
            kind = L.neuron.get("type", "?")
            if L.type in ("dense", "conv") and kind in ("CUBA", "LOIHI") and L.delays == "none":
                pass  # known exact
            else:
                notes.append(f"layer {L.index} ({L.type}, neuron {kind}, delays {L.delays}): not among the "
                             f"layer types known to be bit exact (cuba dense / strided cuba conv)")
            g = f["layer"][L.index]
            for key in ("weight", "weight_rec"):
                if key in g and hasattr(g[key], "shape"):
                    w = np.asarray(g[key][()], dtype=np.float64)
                    if not np.all(np.isfinite(w)):
                        notes.append(f"layer {L.index} {key}: NaN/inf weights")
                        continue
                    wi = np.trunc(w)
                    bad = (w != wi) | (wi % 2 != 0) | (wi < W_MIN) | (wi > W_MAX)
                    if bad.any():
                        notes.append(f"layer {L.index} {key}: {int(bad.sum())} weights are not even integers in "
                                     f"[{W_MIN}, {W_MAX}] (e.g. {w[bad].reshape(-1)[0]:g}); netx casts to int, the "
                                     f"SLAYER rebuild rounds to even integers: they compute differently")
            bits = L.neuron.get("messageBits", 0)
            if isinstance(bits, (int, float, np.integer)) and bits > 0:
                notes.append(f"layer {L.index}: neuron messageBits = {bits} (graded spikes): not supported")
    if frames is not None and len(frames):
        import torch

        from lavacut.train.networks import fixed_point_ranges  # torch

        if net is None:
            net, _ = net_from_export(path)
        try:
            ranges = fixed_point_ranges(net, torch.from_numpy(np.asarray(frames, dtype=np.float32)))
        except Exception as e:  # noqa: BLE001 - a reference net of another kind
            notes.append(f"fixed-point headroom not measured ({type(e).__name__}: {e})")
        else:
            over = []
            for i, r in enumerate(ranges):
                for k, lim in FIXED_POINT_LIMITS.items():
                    if r[k] > lim:
                        over.append(f"layer {i + 1} {k} reaches {r[k]} > {lim}")
            if over:
                notes.append("fixed-point overflow on these samples (Lava u wraps at 24 bits, v saturates, "
                             "a_in is int16; SLAYER does not): " + "; ".join(over))
            else:
                peak = max((r["current"] for r in ranges), default=0)
                notes.append(f"no fixed-point overflow on these samples (peak |u| {peak} <= "
                             f"{FIXED_POINT_LIMITS['current']}); if the file's layers are all known exact, "
                             f"suspect the reference net or the input, not Lava")
    return notes
