"""What lavacut makes of a NetX file's layers (:func:`net_layout`), including
the layouts of files lavacut did not write (rules in
:func:`lavacut.export.netx.inspect.mark_support`):

- an input layer WITH neurons (netx ``Input`` block): its ``inp`` port is
  wired to nothing, so the source drives the neurons' ``a_in`` directly with
  ``frame * weight + bias`` (the layer's ``weight``/``bias`` mantissas, the
  transform netx reads into ``Input.transform`` but never applies; SLAYER's
  Input block computes ``neuron(x * weight + bias)``). No synapse: it adds
  no step of latency; its u, v are reset like every other state Var.
- an ``average`` readout as the last layer (netx: NotImplementedError): the
  network is loaded without it (netx's ``num_layers``) and the monitor counts
  class k as the SUM of the spikes of neurons ``k*G .. (k+1)*G - 1`` of the
  last spiking layer, C-order flattened (SLAYER's Average reshapes
  ``(N, n, T)`` to ``(N, K, G, T)``).
- a voltage readout (the last layer a dense one whose neurons never spike:
  netx's integrator, SLAYER's Affine block; ``NetLayout.readout``
  "voltage"): the fused network sends that layer's voltage v (int32) on its
  output port at every step and the monitor reads Y(t) = v(t); netx's own
  graph (models "stock", "fast-procs") has no port carrying v, so the
  monitor reads the output LIF's v through a RefPort in the management
  phase of every step (slower: one round trip per step).
- a conv (or other non-flat) output layer: netx's port is ``(W, H, C)``; its
  neurons are flattened in SLAYER's C, H, W order (output
  ``k = c*H*W + h*W + w``) for the monitor's counts and the recorded spikes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lavacut.export.netx.inspect import inspect_layers, readout_of, require_support
from lavacut.export.netx.layers import kind_of
from lavacut.runtime.frames import lava_to_slayer


@dataclass
class NetLayout:
    """What lavacut makes of a NetX file's layers (see :func:`net_layout`)."""

    num_layers: int | None  # netx num_layers (the layers before an average readout); None: all
    input_transform: tuple | None  # (weight, bias) the source applies for an input layer with neurons
    out_shape: tuple  # last spiking layer in SLAYER order: (n,) or (C, H, W)
    groups: int  # K of an average readout; 0: none (output neuron k is class k)
    note: str  # how the outputs become classes ("" for a plain 1-D output layer)
    readout: str = "spike counts"  # or "voltage": the scores are the output layer's voltages

    @property
    def out_size(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def num_classes(self) -> int:
        return self.groups or self.out_size

    def classes_of(self, lava_shape: tuple) -> np.ndarray | None:
        """Class of each neuron of netx's output port, in the C order of its
        (Lava) shape; None when neuron i is class i."""
        if not self.groups and len(lava_shape) <= 1:
            return None
        slayer_class = (
            np.arange(self.out_size) // (self.out_size // self.groups) if self.groups else np.arange(self.out_size)
        )
        return slayer_class[lava_to_slayer(lava_shape)]


def net_layout(net_path, layers=None) -> NetLayout:
    """The layout of a file lavacut runs; raises :class:`LavacutError` naming
    the first layer it cannot run (neuron type, why, what is supported),
    before any Lava process exists. ``layers``: the file's layers already
    read (``Export.layers``), else they are read from the file."""
    layers = inspect_layers(net_path) if layers is None else layers
    require_support(net_path, layers, "run")
    spiking = [L for L in layers if kind_of(L.type).is_spiking(L)]
    last = spiking[-1]
    out_shape = last.shape if kind_of(last.type).image and len(last.shape) > 1 else (int(np.prod(last.shape)),)
    first = layers[0]
    transform = first.transform if kind_of(first.type).elementwise and first.neuron else None
    notes, groups, num_layers = [], 0, None
    if len(out_shape) > 1:
        C, H, W = (tuple(out_shape) + (1, 1))[:3]
        notes.append(
            f"output layer {last.index} ({last.type}, (C, H, W) = {tuple(out_shape)}) flattened to "
            f"{int(np.prod(out_shape))} outputs in C, H, W order (output k = c*{H * W} + h*{W} + w; "
            f"netx's (W, H, C) port transposed)"
        )
    if kind_of(layers[-1].type).host_readout:
        groups, num_layers = int(np.prod(layers[-1].shape)), len(layers) - 1
        G = int(np.prod(out_shape)) // groups
        notes.append(
            f"average readout (layer {layers[-1].index}): class k counts the spikes of outputs "
            f"k*{G} .. k*{G}+{G - 1} of layer {last.index} (their sum; SLAYER averages the group), "
            f"{groups} classes"
        )
    readout = readout_of(layers)
    if readout == "voltage":
        notes.append(
            f"voltage readout (layer {last.index}): class k's score is output neuron k's voltage v(t), "
            f"not a spike count"
        )
    return NetLayout(
        num_layers=num_layers,
        input_transform=transform,
        out_shape=tuple(out_shape),
        groups=groups,
        note="; ".join(notes),
        readout=readout,
    )
