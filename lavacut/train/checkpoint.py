"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint is a dict of tensors and plain values only (no pickled objects):
``model`` and ``optim`` state dicts, ``epoch`` (last finished, 1-based),
``spec`` (NetSpec dict), ``config`` (RunConfig dict), ``history`` (per-epoch
metrics), ``best_val_acc``, ``torch_rng``, ``versions``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lavacut.util import LavacutError, atomic_path, first_line

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    import torch

    state = {"format": CHECKPOINT_FORMAT, **state}
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely (no arbitrary pickles); clear errors for a
    missing file or something that is not a lavacut checkpoint."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise LavacutError(f"checkpoint {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    if path.stat().st_size == 0:
        raise LavacutError(f"checkpoint {path} is an empty file (0 bytes), not a lavacut checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LavacutError(
            f"checkpoint {path} cannot be read as a lavacut checkpoint "
            f"(torch.load with weights_only=True failed: {first_line(exc)})"
        ) from None
    if not isinstance(state, dict) or "model" not in state or "spec" not in state:
        raise LavacutError(f"checkpoint {path} is not a lavacut checkpoint (no model/spec entries)")
    return state


def check_same_architecture(state: dict[str, Any], spec, path: str | Path = "checkpoint") -> None:
    """Raise if the checkpoint's network is not ``spec``'s (names the fields)."""
    saved = dict(state["spec"])
    want = spec.to_dict()
    arch_keys = (
        "kind",
        "input_shape",
        "n_classes",
        "hidden",
        "conv_channels",
        "conv_kernels",
        "conv_strides",
        "conv_paddings",
        "threshold",
        "current_decay",
        "voltage_decay",
        "weight_norm",
    )
    diff = [
        f"{k}: checkpoint {saved.get(k)!r} vs config {want.get(k)!r}"
        for k in arch_keys
        if list(_aslist(saved.get(k))) != list(_aslist(want.get(k)))
    ]
    if diff:
        raise LavacutError(f"checkpoint {path} holds another architecture:\n  " + "\n  ".join(diff))


def _aslist(v):
    return v if isinstance(v, (list, tuple)) else [v]


def best_val(state: dict) -> float | None:
    """A checkpoint's best validation accuracy; None without one (no
    hold-out: the trainer's -1 placeholder, or NaN in older checkpoints)."""
    v = state.get("best_val_acc")
    return float(v) if v is not None and 0 <= v <= 1 else None
