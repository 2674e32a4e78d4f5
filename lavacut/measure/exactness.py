"""Why Lava fixed_pt and the SLAYER rebuild of a NetX file could differ:
the layers ``lavacut verify`` cannot rebuild (see ``LayerInfo.verify_issue``),
weights an edited lavacut export's spec rebuild would round, and the
fixed-point headroom (:data:`lavacut.fixed_point.FIXED_POINT_LIMITS`) used
by the samples that differed.
"""

from __future__ import annotations

import numpy as np

from lavacut.export.rebuild.network import net_from_export
from lavacut.export.netx.inspect import inspect_layers
from lavacut.export.netx.file import read_stored_metadata
from lavacut.fixed_point import FIXED_POINT_LIMITS, W_MAX, W_MIN


def explain_exactness(path, frames: np.ndarray | None = None, net=None) -> list[str]:
    """Notes (strings) on what in ``path`` is not known to be exact: per-layer
    facts, weight checks and, given ``frames`` (N, C, H, W, T), the
    fixed-point headroom measured on them with ``net`` (default: the SLAYER
    rebuild of the file)."""
    import h5py

    notes: list[str] = []
    # lavacut's own exports are rebuilt from their spec, whose 8-bit
    # quantiser rounds weights to even mantissas: an edited file differs
    via_spec = bool((read_stored_metadata(path, check_hash=False) or {}).get("spec"))
    with h5py.File(path, "r") as f:
        for L in inspect_layers(path):
            issue = L.verify_issue or L.run_issue
            if issue:
                notes.append(f"layer {L.index} ({L.type}): {issue}")
                continue
            g = f["layer"][L.index]
            for key in ("weight", "weight_rec") if via_spec else ():
                if key in g and hasattr(g[key], "shape"):
                    w = np.asarray(g[key][()], dtype=np.float64)
                    if not np.all(np.isfinite(w)):
                        notes.append(f"layer {L.index} {key}: NaN/inf weights")
                        continue
                    wi = np.trunc(w)
                    bad = (w != wi) | (wi % 2 != 0) | (wi < W_MIN) | (wi > W_MAX)
                    if bad.any():
                        notes.append(
                            f"layer {L.index} {key}: {int(bad.sum())} weights are not even integers in "
                            f"[{W_MIN}, {W_MAX}] (e.g. {w[bad].reshape(-1)[0]:g}); netx casts to int, the "
                            f"SLAYER rebuild from the stored spec rounds to even integers: they compute "
                            f"differently"
                        )
    if frames is not None and len(frames):
        import torch

        from lavacut.train.networks import fixed_point_ranges  # torch

        if net is None:
            net, _ = net_from_export(path)
        if not hasattr(net, "_warm_up"):  # a NetxRebuild (foreign file): fixed_point_ranges reads SlayerNet only
            notes.append("fixed-point headroom not measured (measured on networks lavacut trained, not on a rebuild)")
            return notes
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
                notes.append(
                    "fixed-point overflow on these samples (Lava u wraps at 24 bits, v saturates, "
                    "a_in is int16; SLAYER does not): " + "; ".join(over)
                )
            else:
                peak = max((r["current"] for r in ranges), default=0)
                notes.append(
                    f"no fixed-point overflow on these samples (peak |u| {peak} <= "
                    f"{FIXED_POINT_LIMITS['current']}); if the file's layers are all known exact, "
                    f"suspect the reference net or the input, not Lava"
                )
    return notes
