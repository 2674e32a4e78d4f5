"""The NetX layer kinds lavacut reads, one module each, behind one table:
:func:`kind_of` gives a layer type's :class:`~.base.LayerKind`, which
holds what inspect, the validator, the Loihi 2 check and the SLAYER
rebuild need of that kind. A new kind is one module in this folder that
names its :class:`~.base.LayerKind` instance ``KIND``: importing the
package registers it in :data:`KINDS` (docs/extending.md)."""

import importlib
import pkgutil

from lavacut.export.netx.layers.base import LayerKind
from lavacut.export.netx.layers.refused import NETX_NOT_IMPLEMENTED, NOT_IN_NETX, UNKNOWN

#: layer type (the group's ``type`` dataset) -> its kind
KINDS: dict[str, LayerKind] = {}
for _module in pkgutil.iter_modules(__path__):
    _kind = getattr(importlib.import_module(f"{__name__}.{_module.name}"), "KIND", None)
    if _kind is not None:
        KINDS[_kind.name] = _kind


def kind_of(layer_type: str) -> LayerKind:
    """The kind of a NetX layer type; one that says why lavacut cannot run
    it for a type netx does not implement or lavacut does not know."""
    kind = KINDS.get(layer_type)
    if kind is not None:
        return kind
    return NOT_IN_NETX if layer_type in NETX_NOT_IMPLEMENTED else UNKNOWN


__all__ = ["KINDS", "LayerKind", "kind_of"]
