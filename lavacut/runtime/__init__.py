"""Running exported networks in Lava with the cutoff monitor.

- :mod:`lavacut.runtime.procs` -- the Lava Processes (SampleSource,
  CutoffMonitor) and their ProcessModels, alone in their folder because Lava
  re-executes every module there at each compile.
- :mod:`lavacut.runtime.graph` -- builds source -> NetX network -> monitor for
  a split, binds the monitor's RefPorts to every state Var (u, v, a_buff) and
  documents the input layout netx expects; :mod:`lavacut.runtime.layout`
  (what lavacut makes of a file's layers: readouts, input layers with
  neurons, conv outputs), :mod:`lavacut.runtime.network` (netx's Network of
  a file opened once per run, the fused network's parameters read from it),
  :mod:`lavacut.runtime.frames` (frames to netx's port order and back),
  :mod:`lavacut.runtime.lanes` (the lanes' default, check and schedule
  replay), :mod:`lavacut.runtime.copies` (lanes as copies of netx's graph:
  models stock / fast-procs, loihi2).
- :mod:`lavacut.runtime.session` -- ``LavaSession`` (one runtime, always
  stopped: success, exception, Ctrl-C) and the run config per backend and
  ProcessModel set (``models``: fast / fast-procs / stock).
- :mod:`lavacut.runtime.workers` -- a split sharded over worker processes.
- :mod:`lavacut.runtime.executors` -- where independent tasks run (the
  shards, the sweeps' runs): ``local`` forks or ``ray`` tasks.
- :mod:`lavacut.runtime.runner` -- ``run_split`` (one compile per split, halt
  or stream mode), ``run_single`` (one sample alone in a fresh graph) and
  ``RunResult``; :mod:`lavacut.runtime.record` -- output spikes of many
  samples from one graph (for verify).

The step arithmetic of the on-graph sample switch and reset is explained in
:mod:`lavacut.runtime.procs.monitor`.
"""

import multiprocessing as _mp
import sys as _sys

from lavacut.util import LavacutError

_LAVA_MP = "lava.magma.runtime.message_infrastructure.multiprocessing"


def _prepare_multiprocessing() -> None:
    """Lava calls multiprocessing.set_start_method('fork') when its message
    infrastructure is first imported, which raises if a start method is
    already fixed, and anything that made a multiprocessing lock first (tqdm's
    first progress bar does) fixed one. Import Lava's module now; if the
    default context was already fixed to 'fork', let Lava fix it again (same
    method, so nothing changes for whoever fixed it)."""
    if _LAVA_MP in _sys.modules:
        return
    ctx = _mp.context._default_context
    fixed = ctx._actual_context
    if fixed is not None:
        if fixed.get_start_method() != "fork":
            raise LavacutError(
                f"the multiprocessing start method is already '{fixed.get_start_method()}'; "
                f"Lava needs 'fork' (import lavacut.runtime before setting another)"
            )
        ctx._actual_context = None
    __import__(_LAVA_MP)


_prepare_multiprocessing()
