"""SLAYER network -> NetX HDF5: the ``layer`` group netx loads, written by
each SLAYER block's own ``export_hdf5``, plus the lavacut spec."""

from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np
import torch

from lavacut.fixed_point import W_SCALE
from lavacut.train.netspec import NetSpec
from lavacut.train.networks import SlayerNet, build_network
from lavacut.util import LavacutError, atomic_path

HDF5_SPEC_ATTR = "lavacut_netspec"


def _write_input_group(group, shape: Sequence[int]) -> None:
    # the same datasets slayer's AbstractInput.export_hdf5 writes for an input
    # block without neuron: NetX only takes the input shape from it.
    group.create_dataset("type", (1,), "S10", ["input".encode("ascii")])
    group.create_dataset("shape", data=np.array(shape))


def export_hdf5(net: SlayerNet, path: str | os.PathLike) -> None:
    """Write ``net`` as a NetX network file (a ``layer`` group with one
    subgroup per block, each written by that block's own ``export_hdf5``),
    atomically (temporary file, then ``os.replace``).

    ``layer/0`` is an input group holding only the frame shape (C, H, W)
    (NetX needs it to size the first convolution; for dense nets it is
    informational). NetX builds no process for it, so ``netx.Network.layers``
    are the spiking blocks only, in order. The spec is stored as JSON in the
    root attribute ``lavacut_netspec``. A layer with a bias gets a ``bias``
    dataset (integer ``bias_mant``; NetX loads it with ``bias_exp`` 6).

    ``net`` itself is not modified: a copy is built from ``net.spec``, loaded
    with ``net.state_dict()``, run once (SLAYER needs the neuron shapes) and
    exported (SLAYER's export removes weight normalisation from the block it
    exports).
    """
    import h5py

    spec = net.spec
    fresh = build_network(spec)
    fresh.load_state_dict(net.state_dict())
    fresh.eval()
    with torch.no_grad():
        fresh(torch.zeros(1, *spec.input_shape, 2), record=False)
    for b in fresh.spiking_blocks:
        idecay = int(b.neuron.cx_current_decay)
        if idecay < 1:
            raise LavacutError(
                f"cannot export: a layer's current decay quantises to iDecay="
                f"{idecay}; NetX needs >= 1 (it stores du = iDecay - 1)"
            )
    with atomic_path(path, suffix=".net") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs[HDF5_SPEC_ATTR] = json.dumps(spec.to_dict())
            layer = f.create_group("layer")
            _write_input_group(layer.create_group("0"), spec.input_shape)
            spiking = iter(spec.layer_bias or ())
            for i, block in enumerate(fresh.blocks, start=1):
                g = layer.create_group(str(i))
                block.export_hdf5(g)
                bias = next(spiking, ()) if hasattr(block, "neuron") else ()
                if bias:  # NetX: bias -> LIF bias_mant (bias_exp 6), per neuron or per channel
                    g.create_dataset("bias", data=np.rint(np.asarray(bias) * W_SCALE).astype(np.int32))


def read_spec_from_hdf5(path: str | os.PathLike) -> NetSpec | None:
    """The :class:`NetSpec` stored by :func:`export_hdf5`, or None if absent."""
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get(HDF5_SPEC_ATTR)
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    return NetSpec.from_dict(json.loads(raw))
