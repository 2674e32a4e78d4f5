"""``lavacut export CHECKPOINT``: a trained checkpoint -> netx_exports/<name>.net."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from lavacut.config import RunConfig
from lavacut.data.sources import load_split, open_dataset
from lavacut.export.validate import write_export
from lavacut.train.inference import accuracy_from_spikes, forward
from lavacut.util import LavacutError, check_output_path, first_line


def net_from_checkpoint(state: dict):
    """Rebuild the SLAYER network a checkpoint holds (eval mode, CPU)."""
    from lavacut.train.netspec import NetSpec
    from lavacut.train.networks import build_network  # torch

    spec = NetSpec.from_dict(dict(state["spec"]))
    net = build_network(spec)
    try:
        net.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise LavacutError(f"checkpoint weights do not fit its own spec: {first_line(exc)}") from None
    net.eval()
    return net


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path | None = None,
    name: str | None = None,
    progress: bool = True,
    notice: Callable[[str], None] = print,
    check_out: Callable[[Path], None] | None = None,
) -> tuple[Path, dict]:
    """Export a checkpoint with its metadata (test accuracy at full T measured
    now with SLAYER on the test split). Returns (path, meta). The output
    path is checked before the measuring starts (also by ``check_out``, the
    command's own checks, once the default name is known); ``notice`` hears
    that an existing file will be replaced."""
    from lavacut.train.checkpoint import best_val, load_checkpoint  # torch

    if out is not None:
        check_output_path(out, "export")
    state = load_checkpoint(checkpoint)
    cfg = RunConfig.from_dict(dict(state["config"]), source=f"{checkpoint} (stored config)")
    net = net_from_checkpoint(state)
    name = name or cfg.name
    out = Path(out) if out else Path("netx_exports") / f"{name}.net"
    if check_out is not None:
        check_out(out)
    if check_output_path(out, "export"):
        notice(f"{out} exists: it is replaced when the new export is complete (until then it stays as it is)")
    test = load_split(cfg, "test", progress=progress)
    test_acc = accuracy_from_spikes(forward(net, test.frames, progress=progress, desc="test accuracy"), test.labels)
    classes = list(getattr(open_dataset(cfg.data, "test", progress=False), "classes", []) or [])
    meta = {
        "name": name,
        "dataset": cfg.data.dataset,
        "data_seed": cfg.data.seed,
        "sensor_size": list(test.sensor_size),
        "input_shape": list(net.spec.input_shape),
        "framing": {k: getattr(cfg.framing, k) for k in ("bin_us", "T", "slicing", "downsample", "denoise_us")},
        "classes": [str(c) for c in classes] or [str(i) for i in range(net.spec.n_classes)],
        "n_classes": net.spec.n_classes,
        "latency_steps": net.latency,
        "spec": net.spec.to_dict(),
        "train_config": cfg.to_dict(),
        "accuracy": {
            "test_full_T_slayer": test_acc,
            "best_val": best_val(state),
            "n_test": int(len(test)),
        },
        "checkpoint_epoch": int(state["epoch"]),
    }
    write_export(net, out, meta)
    return out, meta
