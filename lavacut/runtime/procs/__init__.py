"""lavacut's Lava Processes and their ProcessModels (and nothing else).

Lava re-executes every module in this folder at each compile while it looks
for ProcessModels (lava/magma/compiler/compiler_graphs.py, _find_proc_models),
so the modules here must have no import-time side effects, import only numpy,
lava (core and lava.proc models) and the numpy-only cutoff core at module
level, and stay few:

- :mod:`.source`  -- ``SampleSource``: plays N packed samples frame by frame,
  jumps to the next sample when the monitor says so.
- :mod:`.monitor` -- ``CutoffMonitor``: counts output spikes, applies a
  :class:`lavacut.cutoff.rules.StopRule`, logs decisions, resets the
  network state on the graph through RefPorts (netx's process graph) or
  through its switch message (the fused network), and (halt mode) pauses
  the runtime at each decision.
- :mod:`.fast_models` -- fast bit-exact ProcessModels for the processes
  netx builds (Dense, DelayDense, Conv, LIF at fixed_pt) and the kernels
  they share with the fused network.
- :mod:`.fused` -- ``FusedNetwork``: a netx CUBA network as one Lava
  process, reset by a port.

Graph building lives in :mod:`lavacut.runtime.graph`, never here.
"""
