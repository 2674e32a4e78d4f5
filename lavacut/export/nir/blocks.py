"""NIR imports a :class:`~lavacut.train.netspec.NetSpec` cannot express (a
recurrent self-loop, a voltage readout) as lava-dl SLAYER blocks:
``cuba.Conv`` / ``cuba.Flatten`` / ``cuba.Dense``, ``cuba.Recurrent`` for a
neuron node with a recurrent Linear/Affine (netx ``dense_rec``) and
``cuba.Affine`` for an LI / CubaLI / I readout (a ``dense`` layer whose
neurons never spike, vThMant 2**18 - 1). Each block writes its own NetX
layer (``export_hdf5``); the network that runs (and that ``lavacut verify``
and the torch engine use) is :class:`~lavacut.export.rebuild.slayer.NetxRebuild` of
those layers, so the import, its export and the SLAYER reference are one
computation on Lava's schedule.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from lavacut.export.rebuild.slayer import NetxRebuild
from lavacut.export.slayer_hdf5 import _write_input_group
from lavacut.fixed_point import W_SCALE
from lavacut.util import import_slayer

slayer = import_slayer()


class ImportedNet(NetxRebuild):
    """The SLAYER rebuild of an import's NetX layers, holding the layer file's
    bytes: :meth:`export_layers` writes exactly the layers it computes."""

    def __init__(self, path: str | Path):
        self.layer_bytes = Path(path).read_bytes()
        super().__init__(path, check=False)  # the readout layer is what ``run`` may refuse, not a rebuild issue

    def export_layers(self, path: str | os.PathLike) -> None:
        Path(path).write_bytes(self.layer_bytes)


def _block(L: dict, n_in: int, theta: float):
    npar = {
        "threshold": theta,
        "current_decay": 1.0,
        "voltage_decay": 0.0,
        "tau_grad": 1,
        "scale_grad": 1,
        "requires_grad": False,
        "shared_param": True,
        "persistent_state": False,
    }
    n = int(L["shape"][0])
    if L["kind"] == "conv":
        c_in = int(L["wq"].shape[1])
        block = slayer.block.cuba.Conv(npar, c_in, n, L["kernel"], stride=L["stride"], padding=L["padding"])
        syns = [(block.synapse, L["wq"])]
    elif L["readout"]:
        block = slayer.block.cuba.Affine(npar, n_in, n)
        syns = [(block.synapse, L["wq"])]
    elif L.get("rec") is not None:
        block = slayer.block.cuba.Recurrent(npar, n_in, n)
        block.neuron.persistent_state = False
        syns = [(block.input_synapse, L["wq"]), (block.recurrent_synapse, L["wq_rec"])]
    else:
        block = slayer.block.cuba.Dense(npar, n_in, n)
        syns = [(block.synapse, L["wq"])]
    with torch.no_grad():
        for syn, w in syns:
            syn.weight.copy_(torch.from_numpy(np.asarray(w, dtype=np.float32)).reshape(syn.weight.shape))
        block.neuron.current_decay.fill_(float(L["iDecay"]))
        block.neuron.voltage_decay.fill_(float(L["vDecay"]))
    return block.eval()


def write_layers(layers: list[dict], input_shape, theta: float, path: str | Path) -> None:
    """The NetX ``layer`` group of an import: an input group (C, H, W), then
    one SLAYER block per neuron layer (a ``cuba.Flatten`` between the last
    convolution and the first dense layer), each exported by itself, with
    the layer's bias as netx's ``bias`` dataset (bias_mant at exponent 6)."""
    import h5py

    shape = tuple(int(v) for v in input_shape)
    blocks: list[tuple] = []
    for L in layers:
        if L["kind"] == "dense" and len(shape) == 3 and blocks:
            blocks.append((slayer.block.cuba.Flatten(), None))
            shape = (int(np.prod(shape)),)
        n_in = int(np.prod(shape))
        blocks.append((_block(L, n_in, theta), L))
        shape = tuple(int(v) for v in L["shape"])
    with torch.no_grad():  # one step sizes the neurons (export_hdf5 needs their shape)
        x = torch.zeros((1,) + tuple(int(v) for v in input_shape) + (1,))
        for b, L in blocks:
            if L is not None and L["kind"] == "dense":
                x = x.reshape(1, -1, 1)
            x = b(x)
    with h5py.File(path, "w") as f:
        g = f.create_group("layer")
        _write_input_group(g.create_group("0"), tuple(int(v) for v in input_shape))
        for i, (b, L) in enumerate(blocks, start=1):
            h = g.create_group(str(i))
            if hasattr(b, "recurrent_synapse"):
                b.synapse_params = None  # lava-dl 0.6.0's Recurrent export deletes it a second time
            b.export_hdf5(h)
            if L is not None and L["bias"]:
                h.create_dataset("bias", data=np.rint(np.asarray(L["bias"]) * W_SCALE).astype(np.int32))
            if L is not None and L["kind"] != "conv" and "neuron" in h:
                assert int(np.asarray(h["neuron/iDecay"][()])) == L["iDecay"], "SLAYER changed a decay"
                assert int(np.asarray(h["neuron/vDecay"][()])) == L["vDecay"], "SLAYER changed a decay"


def block_network(layers: list[dict], input_shape, theta: float) -> ImportedNet:
    """The import's network (eval mode): its layers written by
    :func:`write_layers`, rebuilt by :class:`ImportedNet`."""
    fd, tmp = tempfile.mkstemp(suffix=".net", prefix="lavacut-nir-")
    os.close(fd)
    try:
        write_layers(layers, input_shape, theta, tmp)
        return ImportedNet(tmp).eval()
    finally:
        Path(tmp).unlink(missing_ok=True)


__all__ = ["ImportedNet", "block_network", "write_layers"]
