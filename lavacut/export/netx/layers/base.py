"""What every NetX layer kind answers (:class:`LayerKind`, the defaults)
and the record :func:`lavacut.export.netx.inspect.inspect_layers` keeps of
each layer (:class:`LayerInfo`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from lavacut.export.netx.file import values


@dataclass
class LayerInfo:
    index: str
    type: str
    shape: tuple
    supported: bool  # stock netx loads this layer type
    neuron: dict = field(default_factory=dict)
    weight_shape: tuple | None = None
    weight_bits: int | None = None
    delays: str = "none"
    neurons: int = 0
    synapses: int = 0
    weights_stored: int = 0
    weight_memory_bits: int = 0
    note: str = ""
    neuron_type: str = ""  # "" when the layer has no neuron group
    threshold: float | None = None  # vThMant / 64 (SLAYER units)
    current_decay: float | None = None  # iDecay / 4096
    voltage_decay: float | None = None  # vDecay / 4096
    transform: tuple | None = None  # input layer with neurons: (weight, bias) mantissas netx reads
    role: str = ""  # what lavacut makes of it (input neurons, readout, ...)
    run_issue: str = ""  # why 'lavacut run' cannot handle it ("" = it can)
    verify_issue: str = ""  # why 'lavacut verify' cannot rebuild it in SLAYER ("" = it can)


@dataclass
class SupportState:
    """What :func:`lavacut.export.netx.inspect.mark_support` carries from
    layer to layer while each kind judges its layer."""

    layers: list[LayerInfo]
    position: int = 0
    prev: LayerInfo | None = None  # the previous spiking layer
    prev_kind: LayerKind | None = None  # and its kind
    flat: bool = False  # a flatten layer since it
    have_shape: bool = False  # an input layer gave the frame shape
    frame_shape: tuple = ()  # and that shape


@dataclass
class Connectivity:
    """How a layer's neurons read the layer before, for the Loihi 2 core map
    (:mod:`lavacut.export.loihi2.core_map`): ``units`` partition units
    (neurons, or conv output positions) of ``per_unit`` neurons each, the
    synapses of each unit, and ``in_mask(lo, hi)``: the inputs units
    lo..hi-1 read (a bool mask over the ``n_in`` inputs)."""

    units: int
    per_unit: int
    syn_per_unit: np.ndarray
    in_mask: Callable[[int, int], np.ndarray]
    n_in: int


def signed_bits(w: np.ndarray) -> int:
    """Bits of a signed integer weight mantissa holding every value of w."""
    m = int(np.max(np.abs(w))) if w.size else 0
    return max(1, math.ceil(math.log2(m + 1)) + 1)


class LayerKind:
    """One NetX layer type (the ``type`` dataset of a layer group) and what
    lavacut's stages need of it: inspect (:meth:`read`, :meth:`support`),
    the validator (:meth:`weight_shape_problem`), the Loihi 2 check
    (:meth:`connectivity`, :meth:`fan_in_rows`) and the SLAYER rebuild
    (:meth:`rebuild`). The defaults describe a layer lavacut does not run."""

    name: str = ""
    #: stock netx (lava-dl 0.6.0 netx.hdf5.Network) builds it
    netx_loads: bool = True
    #: inspect's note on a kind netx does not load
    note: str = ""
    #: a spiking layer with synapses from the layer before (its ``weight``)
    synaptic: bool = False
    #: its neurons are one flat vector (a dense layer reads them without a flatten)
    flat: bool = False
    #: its output is (C, H, W), what a conv layer reads
    image: bool = False
    #: each neuron is driven by one input, without synapses (input neurons)
    elementwise: bool = False
    #: only reshapes (no neurons, no synapses)
    reshape_only: bool = False
    #: a readout lavacut applies on the host (netx does not build it)
    host_readout: bool = False
    #: may be the voltage readout (the last layer, its neurons never spike)
    voltage_readout: bool = False
    #: recurrent weights (``weight_rec``) onto its own neurons
    recurrent: bool = False
    #: the rebuild reads its axonal delays (``delay``)
    axonal_delays: bool = False
    #: the shape a per-channel or per-neuron bias takes in the rebuild
    bias_shape: tuple = (-1, 1)

    # ------------------------------------------------------------------ inspect
    def counts_neurons(self, info: LayerInfo) -> bool:
        """Whether inspect counts the layer's shape as neurons."""
        return True

    def is_spiking(self, info: LayerInfo) -> bool:
        """A layer of neurons that spike into the next layer."""
        return self.synaptic

    def read(self, info: LayerInfo, g, prev_shape: tuple | None) -> None:
        """Fill the weight fields of ``info`` from the layer group ``g``."""
        if "weight" not in g or not hasattr(g["weight"], "shape"):
            return
        w = np.asarray(values(g["weight"]))
        info.weight_shape = tuple(w.shape)
        info.weights_stored = int(np.count_nonzero(w))
        wi = np.round(w).astype(np.int64) if np.all(np.isfinite(w)) else np.zeros(1, np.int64)
        info.weight_bits = signed_bits(wi)
        info.weight_memory_bits = info.weights_stored * info.weight_bits
        info.synapses = self.synapses(g, w, info.shape, prev_shape, info.weights_stored)

    def synapses(self, g, w: np.ndarray, shape: tuple, prev_shape: tuple | None, stored: int) -> int:
        """Synaptic connections: the nonzero weights."""
        return stored

    def support(self, L: LayerInfo, g, state: SupportState, voltage: bool) -> tuple[str, str]:
        """(why ``lavacut run`` cannot handle ``L``, why ``lavacut verify``
        cannot either beyond that); "" = it can. ``voltage``: ``L`` is the
        file's voltage readout. May set ``L.role`` and move ``state`` on."""
        return L.note or "unknown layer type", ""

    # ------------------------------------------------------------------ validator, Loihi 2 check
    def weight_shape_problem(self, g, shape: tuple, prev: tuple | None) -> str:
        """Why the ``weight`` of a layer of ``shape`` after a layer of shape
        ``prev`` does not fit ("" = it does)."""
        return ""

    def weights(self, L: LayerInfo, g) -> np.ndarray:
        """Every weight the layer stores (float64)."""
        return np.asarray(values(g["weight"]), dtype=np.float64)

    def fan_in_rows(self, L: LayerInfo, w: np.ndarray) -> np.ndarray:
        """The file's ``weight`` as (outputs, inputs): the weights summed
        into one neuron's input per row."""
        return w.reshape(L.neurons, -1)

    def connectivity(self, L: LayerInfo, g, prev_shape: tuple | None) -> Connectivity | str:
        """How its neurons read the layer before, or why that is unknown."""
        return "no real weight dataset (complex weights of RF neurons are not covered)"

    # ------------------------------------------------------------------ SLAYER rebuild
    def rebuild(self, L: LayerInfo, g, npar: dict, where: str) -> Any:
        """The lava-dl SLAYER block computing what Lava computes for ``L``
        (``npar``: its neuron parameters; ``where`` names it in errors)."""
        from lavacut.util import LavacutError

        raise LavacutError(f"{where}: layer type {L.type!r} has no SLAYER rebuild")
