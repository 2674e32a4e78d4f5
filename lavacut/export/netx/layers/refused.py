"""Layer types lavacut reads but does not run: ``dense_comp`` (netx loads
it), the ones netx raises NotImplementedError for, and unknown ones."""

from __future__ import annotations

from lavacut.export.netx.layers.base import LayerInfo, LayerKind, SupportState


class DenseComp(LayerKind):
    """Complex dense synapses of resonate-and-fire neurons."""

    name = "dense_comp"
    flat = True

    def support(self, L: LayerInfo, g, state: SupportState, voltage: bool) -> tuple[str, str]:
        return "a complex dense layer (RF neurons)", ""


class NotRun(LayerKind):
    """A type netx does not load: ``note`` says why."""

    netx_loads = False

    def __init__(self, note: str):
        self.note = note


DENSE_COMP = DenseComp()
#: types lava-dl 0.6.0's netx knows but raises NotImplementedError for (average: :mod:`.average`)
NETX_NOT_IMPLEMENTED = ("pool", "convT", "unpool", "concat")
NOT_IN_NETX = NotRun("netx cannot load this layer type (NotImplementedError)")
UNKNOWN = NotRun("unknown layer type")

#: registered in lavacut.export.netx.layers.KINDS
KIND = DENSE_COMP
