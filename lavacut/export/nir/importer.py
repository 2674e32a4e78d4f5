"""``lavacut import FILE.nir``: a NIR graph (:func:`~lavacut.export.nir.read.from_nir`)
written as a NetX export, with the test accuracy measured when a data set is
bound."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from lavacut.config import RunConfig
from lavacut.data.sources import load_split
from lavacut.export.nir.ops import READOUT_NODES
from lavacut.export.nir.read import from_nir
from lavacut.export.validate import write_export
from lavacut.fixed_point import FIXED_POINT_LIMITS
from lavacut.train.inference import accuracy_from_spikes, forward
from lavacut.util import LavacutError, check_name, check_output_path


def import_nir(
    path: str | Path,
    out_net_path: str | Path | None = None,
    *,
    dt: float | str | None = None,
    threshold: float | None = None,
    input_shape: Sequence[int] | None = None,
    cfg=None,
    overrides: Sequence[str] | None = None,
    name: str | None = None,
    evaluate: bool = True,
    progress: bool = False,
    check_out=None,
):
    """``lavacut import FILE.nir``: :func:`from_nir`, then a NetX export
    (``netx_exports/<name>.net`` by default) written by
    :func:`lavacut.export.validate.write_export`. With ``evaluate`` and a
    bound data set, the test accuracy at full T (SLAYER) is measured as for
    native exports. ``check_out``: the command's checks of the output path,
    called before the accuracy pass. Returns ``(path, meta)``."""

    if out_net_path is not None:
        check_output_path(out_net_path, "import output")
    net, meta = from_nir(
        path, dt=dt, threshold=threshold, input_shape=input_shape, cfg=cfg, overrides=overrides, name=name
    )
    cutoff = meta.pop("cutoff", None)
    default_policy = meta.pop("default_policy", None)
    if out_net_path is None:  # the graph's own name becomes a file name
        check_name(meta["name"], f"{path}: the graph's name (give -o or --name)")
    out = Path(out_net_path) if out_net_path else Path("netx_exports") / f"{meta['name']}.net"
    if check_out is not None:
        check_out(out)
    readout = bool(meta["nir_import"]["layers"]) and meta["nir_import"]["layers"][-1]["neuron_type"] in READOUT_NODES
    if readout and meta["train_config"]:
        meta["nir_import"]["notes"].append(
            "test accuracy not measured: the output is a voltage readout (spike counts would say nothing)"
        )
    if evaluate and meta["train_config"] and meta["n_classes"] > 1 and not readout:
        rc = RunConfig.from_dict(meta["train_config"], source="import")
        try:
            test = load_split(rc, "test", progress=progress)
        except LavacutError as exc:
            meta["nir_import"]["notes"].append(f"test accuracy not measured: {exc}")
        else:
            if progress:  # said also where no bar is drawn (output not a terminal): the pass takes a while
                print(
                    f"measuring the test accuracy on {len(test)} samples (--no-evaluate skips it)",
                    file=sys.stderr,
                    flush=True,
                )
            acc = accuracy_from_spikes(forward(net, test.frames, progress=progress, desc="test accuracy"), test.labels)
            meta["accuracy"] = {**(meta["accuracy"] or {}), "test_full_T_slayer": acc, "n_test": int(len(test))}
            _check_fixed_point(net, test.frames[:64], meta)
    write_export(net, out, meta, cutoff=cutoff or None, default_policy=default_policy if cutoff else None)
    return out, meta


def _check_fixed_point(net, frames, meta) -> None:
    """Record the integer state ranges on a few samples; note when Lava's
    fixed-point limits would be exceeded (then Lava no longer matches SLAYER)."""
    import torch

    from lavacut.train.networks import SlayerNet, fixed_point_ranges  # torch

    if not isinstance(net, SlayerNet):  # SLAYER blocks (recurrent / readout): not measured
        meta["nir_import"]["notes"].append(
            "integer state ranges not measured (recurrent or readout layers); "
            "'lavacut verify' compares the network with Lava"
        )
        return
    ranges = fixed_point_ranges(net, torch.as_tensor(np.asarray(frames), dtype=torch.float32))
    meta["nir_import"]["fixed_point_ranges"] = ranges
    worst = max(r[k] / FIXED_POINT_LIMITS[k] for r in ranges for k in FIXED_POINT_LIMITS)
    if worst > 1:
        meta["nir_import"]["notes"].append(
            f"integer states exceed Loihi's ranges on test samples ({worst:.1f}x the limit): Lava will not "
            f"reproduce SLAYER exactly; import with a smaller threshold"
        )
