"""Lanes (of the fused network, or copies of netx's graph): the default,
the check of a requested count, and the host's replay of the monitor's lane
assignment (the step bookkeeping check). How lanes run:
:mod:`lavacut.runtime.procs.monitor`."""

from __future__ import annotations

import numpy as np

from lavacut.util import LavacutError


#: lanes=0 ("automatic"): the lanes of the fused network, chosen from the
#: throughput measured at 1, 8, 32 and 128 lanes on the shipped exports
#: (README, "Lanes"); 1 where the fused network does not run the file
DEFAULT_LANES = 32


def check_lanes(lanes, *, fused: bool, loihi2: bool) -> int:
    """``lanes`` as an int >= 1 (0: automatic, resolved when the graph is
    built), or a LavacutError saying why it cannot run. Lanes live inside
    the fused network (``models="fast"`` on cpu); with netx's own graph
    (models "stock" / "fast-procs", backend loihi2) lanes > 1 are that many
    copies of the whole graph in one runtime (:func:`lavacut.runtime.graph.
    build_split_graph`), never chosen automatically: each copy adds its
    processes to every Lava step."""
    if lanes is None or lanes == 0:  # automatic: DEFAULT_LANES where the fused network runs, else 1
        return 0 if fused and not loihi2 else 1
    if isinstance(lanes, bool) or not isinstance(lanes, (int, np.integer)) or lanes < 1:
        raise LavacutError(f"lanes must be a whole number >= 1 (or 0: automatic), got {lanes!r}")
    return int(lanes)


def lane_schedule(t_c, offset: int, lanes: int) -> np.ndarray:
    """The Lava step at which each sample's decision falls when ``lanes``
    lanes play the samples in order, sample j taking t_c[j] + offset steps
    (lane b starts sample b at step 1; a lane that decides at step s starts
    the next unplayed sample at s + 1, lanes deciding together taking them in
    lane order) -- the monitor's assignment replayed on the host, for the
    step bookkeeping check. With one lane: the cumulative sums."""
    t_c = np.asarray(t_c, dtype=np.int64) + int(offset)
    N = len(t_c)
    done = np.zeros(N, dtype=np.int64)
    lane_free = np.zeros(int(lanes), dtype=np.int64)  # step after which the lane takes its next sample
    for j in range(N):  # in sample order: the earliest free lane, ties in lane order (argmin)
        b = int(np.argmin(lane_free))
        lane_free[b] += t_c[j]
        done[j] = lane_free[b]
    return done
