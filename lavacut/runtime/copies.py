"""Lanes as copies of netx's own process graph (models "stock" /
"fast-procs", backend loihi2): R netx Networks in one runtime, each fed on
its own source port, read on its own monitor port and reset through its own
RefPorts (:func:`lavacut.runtime.graph.build_split_graph` wires them; the
monitor's module doc has the step arithmetic). Samples are assigned as in
the fused network's lanes: dynamically, a copy that decides takes the next
unplayed sample at the next step."""

from __future__ import annotations

from lavacut.util import LavacutError


def netx_copies(opened, first: tuple, lanes: int, loihi2: bool, n_vars: int) -> list:
    """[(net, input port)] * ``lanes``: ``first`` (the network already taken
    from ``opened``, an :class:`~lavacut.runtime.network.OpenedNetwork`) and
    ``lanes`` - 1 more netx Networks loaded from the opened file (netx's
    Processes join one graph only). ``n_vars``: state Vars per copy, which
    the monitor's reset ports bound."""
    from lavacut.runtime.procs.monitor import MAX_RESET_PORTS
    from lavacut.runtime.procs.source import MAX_COPIES

    if lanes > MAX_COPIES or lanes * n_vars > MAX_RESET_PORTS:
        most = min(MAX_COPIES, MAX_RESET_PORTS // n_vars)
        raise LavacutError(
            f"{opened.path}: lanes={lanes} as copies of netx's graph (models 'stock' / 'fast-procs', "
            f"backend 'loihi2'): at most {most} copies of this network ({MAX_COPIES} source "
            f"ports, {MAX_RESET_PORTS} reset ports for {n_vars} state Vars per copy); use "
            f"lanes <= {most}, or --workers N for more graphs"
        )
    out = [first]
    for _ in range(lanes - 1):
        opened.take()
        net, _, inp = opened.network(loihi2)
        out.append((net, inp))
    opened.take()
    return out
