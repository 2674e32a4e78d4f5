"""The NetX layer kinds lavacut reads, one module each, behind one table:
:func:`kind_of` gives a layer type's :class:`~.base.LayerKind`, which
holds what inspect, the validator, the Loihi 2 check and the SLAYER
rebuild need of that kind. A new kind is one module with a
:class:`~.base.LayerKind` subclass and one entry in :data:`KINDS`
(docs/extending.md)."""

from lavacut.export.netx.layers.average import AVERAGE
from lavacut.export.netx.layers.base import LayerKind
from lavacut.export.netx.layers.conv import CONV
from lavacut.export.netx.layers.dense import DENSE
from lavacut.export.netx.layers.dense_rec import DENSE_REC
from lavacut.export.netx.layers.flatten import FLATTEN
from lavacut.export.netx.layers.input import INPUT
from lavacut.export.netx.layers.refused import DENSE_COMP, NETX_NOT_IMPLEMENTED, NOT_IN_NETX, UNKNOWN

#: layer type (the group's ``type`` dataset) -> its kind
KINDS: dict[str, LayerKind] = {k.name: k for k in (INPUT, FLATTEN, DENSE, DENSE_REC, CONV, AVERAGE, DENSE_COMP)}


def kind_of(layer_type: str) -> LayerKind:
    """The kind of a NetX layer type; one that says why lavacut cannot run
    it for a type netx does not implement or lavacut does not know."""
    kind = KINDS.get(layer_type)
    if kind is not None:
        return kind
    return NOT_IN_NETX if layer_type in NETX_NOT_IMPLEMENTED else UNKNOWN


__all__ = ["KINDS", "LayerKind", "kind_of"]
