"""Building the Lava graph for one split: SampleSource -> NetX network ->
CutoffMonitor, with the monitor's switch message back to the source and its
RefPorts bound to every state Var of the network; or (``fused=True``, the
default ``models="fast"``) SampleSource -> FusedNetwork -> CutoffMonitor,
the network as one process built from the parameters of netx's processes
(:func:`lavacut.runtime.network.fused_layers`) and reset by the switch message on its ``reset_in``.

Input layout (what netx expects, read in lava/lib/dl/netx/hdf5.py):

- dense first layer: the input port is ``(F,)``; lavacut flattens a frame
  ``(C, H, W)`` in C, H, W order (what SLAYER's dense synapse does with an
  NCHWT input);
- conv first layer: netx shapes are (x, y, c) = (W, H, C) (``shape[::-1]`` of
  the SLAYER/h5 shape, kernels transposed to match), so lavacut transposes
  each frame ``(C, H, W)`` to ``(W, H, C)``. netx's own flatten before a dense
  layer transposes back to (C, H, W) order, so the two conventions meet.

Frames are given as ``(N, C, H, W, T)`` or ``(N, C*H*W, T)`` (features in
C, H, W order), binary (bool or 0/1 integers).

Layouts of files lavacut did not write (input layer with neurons, average
or voltage readout, conv output): :mod:`lavacut.runtime.layout`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lavacut.runtime.copies import netx_copies
from lavacut.runtime.frames import pack_frames
from lavacut.runtime.lanes import DEFAULT_LANES, check_lanes
from lavacut.runtime.layout import NetLayout
from lavacut.runtime.network import as_opened
from lavacut.util import LavacutError


def _synapses(block) -> list:
    syn = [s for s in (getattr(block, "synapse", None), getattr(block, "synapse_rec", None)) if s is not None]
    return syn


def network_latency(net) -> int:
    """D: Lava steps from a frame entering the network to the output layer
    spiking on it. Every Dense/DelayDense/Sparse/Conv synapse sends at step
    s the activation it computed at s - 1 (one step), neurons answer in the
    same step, so D = number of synapse layers on the path (a recurrent
    synapse is not on the feed-forward path)."""
    d = 0
    for i, block in enumerate(net.layers):
        if getattr(block, "synapse", None) is None:
            if i == 0:  # an Input block: the source drives its neurons' a_in, no synapse delay
                continue
            raise LavacutError(
                f"layer {i} ({block.block}) has no synapse; only the first layer (an input "
                f"layer with neurons) may have none"
            )
        d += 1
    return d


def state_vars(net) -> list:
    """Every Var holding dynamic state of the network, in layer order:
    (u, v) of each LIF neuron, a_buff / a_buf of each synapse. Zeroing all
    of them gives the state of a freshly built graph."""
    from lava.proc.lif.process import LIF

    out = []
    for i, block in enumerate(net.layers):
        neuron = block.neuron
        if type(neuron) is not LIF:  # LIFReset would add netx's periodic reset
            raise LavacutError(
                f"layer {i} ({block.block}) uses neuron {type(neuron).__name__}; the "
                f"cutoff runtime resets CUBA LIF neurons (u, v) only"
            )
        out += [neuron.u, neuron.v]
        for syn in _synapses(block):
            var = getattr(syn, "a_buff", None)
            if var is None:
                var = getattr(syn, "a_buf", None)
            if var is None:
                raise LavacutError(f"layer {i}: synapse {type(syn).__name__} has no a_buff/a_buf Var to reset")
            out.append(var)
    return out


@dataclass
class SplitGraph:
    """The processes of one compiled split (see :func:`build_split_graph`)."""

    net: Any
    source: Any
    monitor: Any
    latency: int  # D: synapse layers between input and output
    offset: int  # Lava steps per sample before output step 1 (D if frame_aligned, else 0)
    horizon: int
    num_samples: int
    num_classes: int
    in_shape: tuple
    state_vars: list = field(default_factory=list)
    adapters: list = field(default_factory=list)
    out_shape: tuple = ()  # netx's output port (Lava order, e.g. (W, H, C) for a conv output)
    output_note: str = ""  # how outputs become classes: flattened conv output, average readout ("" = plain)
    layout: NetLayout | None = None
    out_port: Any = None  # the port carrying the network's output spikes (netx's net.out or the fused s_out)
    fused: Any = None  # the FusedNetwork process (models="fast" on cpu), else None
    lanes: int = 1  # samples side by side (fused network: lanes; netx's graph: copies)
    copies: list = field(default_factory=list)  # lanes > 1 in netx's graph: the R netx Networks
    out_ports: list = field(default_factory=list)  # with copies: each copy's output port (host side)


def connect_around(net, src_port, dst_port, loihi2: bool, inp=None) -> list:
    """Wire host port -> network -> host port (``inp``: the network's input
    port, default ``net.inp``). On Loihi 2 the host processes sit across the
    chip boundary behind embedded-io spike adapters (the pattern of lava-dl's
    netx tutorials; lava-loihi only); returns them."""
    inp = net.inp if inp is None else inp
    if not loihi2:
        src_port.connect(inp)
        net.out.connect(dst_port)
        return []
    try:
        from lava.proc import embedded_io as eio  # lava-loihi only
    except ImportError as e:
        raise LavacutError(
            f"backend 'loihi2': the graph is built up to the embedded-io spike adapters between the "
            f"host and the chip, which ship with lava-loihi (lava.proc.embedded_io: {e})"
        ) from e

    in_adapter = eio.spike.PyToNxAdapter(shape=inp.shape)
    out_adapter = eio.spike.NxToPyAdapter(shape=net.out.shape)
    src_port.connect(in_adapter.inp)
    in_adapter.out.connect(inp)
    net.out.connect(out_adapter.inp)
    out_adapter.out.connect(dst_port)
    return [in_adapter, out_adapter]


def build_split_graph(
    net_path,
    frames,
    rule,
    *,
    halt: bool,
    horizon: int | None = None,
    loihi2: bool = False,
    frame_aligned: bool = False,
    fused: bool = False,
    progress_every: int = 0,
    lanes: int = 1,
) -> SplitGraph:
    """Source -> network -> monitor for all samples of ``frames``.

    Timesteps: by default the monitor's output step t is the sample's local
    Lava step (t = 1 is the step its first frame is played), which is
    SLAYER's timestep exactly (its blocks' ``delay_shift`` models the Lava
    synapse delays, so outputs agree at zero shift and calibrations made on
    SLAYER outputs apply unchanged); the first D output steps are silent.
    ``frame_aligned=True`` instead counts t from the response to frame 1
    (t = local step - D), runs T + D steps per sample, and matches SLAYER
    blocks built with ``delay_shift=False``.

    The monitor counts ``layout.num_classes`` classes: the output neurons
    (C, H, W-flattened for a conv output) or the group sums of an average
    readout; ``output_note`` says which.

    ``loihi2=True`` puts embedded-io spike adapters (lava.proc.embedded_io,
    part of lava-loihi) between the host-side source/monitor and the network,
    the way lava-dl's netx tutorials do.

    ``fused=True`` (CPU only) replaces netx's process graph by ONE
    :class:`lavacut.runtime.procs.fused.FusedNetwork` process built from the
    same parameters, reset through its ``reset_in`` port by the monitor's
    switch message (no RefPorts, no management phase); when a layer is of a
    kind it does not run, netx's graph is used (``SplitGraph.fused`` None).

    ``progress_every``: stream mode pauses after every that many decisions
    so the host can show progress (0: never).

    ``lanes`` > 1: B samples side by side in one step, each lane with its
    own cutoff and refilled with the next sample the moment it decides (see
    :mod:`lavacut.runtime.procs.monitor`). In the fused network the lanes
    are an axis of its state; in netx's own graph (models "stock" /
    "fast-procs", backend loihi2) they are B copies of the whole network in
    the one runtime (``SplitGraph.copies``), each fed on its own source port,
    read on its own monitor port and reset through its own RefPorts. The
    assignment is dynamic in both: a lane that decides takes the next
    unplayed sample at the next step.
    """
    from lavacut.runtime.procs.monitor import CutoffMonitor  # Lava
    from lavacut.runtime.procs.source import SampleSource, copy_port_name  # Lava

    opened = as_opened(net_path)
    net_path = opened.path
    net, layout, inp = opened.network(loihi2)  # refuses unsupported layers first
    in_shape = tuple(int(s) for s in inp.shape)
    out_shape = tuple(int(s) for s in net.out.shape)
    if getattr(net, "output_message_bits", 0):
        raise LavacutError("the output layer sends graded spikes; the monitor counts binary spikes")
    if getattr(net.in_layer, "input_message_bits", 0):
        raise LavacutError("the first layer expects graded input; lavacut plays binary frames")
    D = network_latency(net)
    offset = D if frame_aligned else 0  # output steps the monitor skips before t = 1
    svars = state_vars(net)
    packed = pack_frames(frames, in_shape)
    N, T_frames = packed.shape[:2]
    T = int(horizon) if horizon is not None else int(T_frames)
    if T < 1:
        raise LavacutError(f"horizon T must be >= 1, got {T}")
    if T > T_frames:
        raise LavacutError(f"horizon T={T} exceeds the {T_frames} frames per sample given")
    if T < T_frames:
        packed = np.ascontiguousarray(packed[:, :T])
    try:
        rule.check_horizon(T)
    except ValueError as e:
        raise LavacutError(str(e)) from e

    lanes = check_lanes(lanes, fused=fused, loihi2=loihi2)
    auto = lanes == 0
    lanes = min(DEFAULT_LANES if auto else lanes, N)  # lanes past the last sample would only idle
    weight, bias = layout.input_transform or (1, 0)
    K = layout.num_classes
    fused_proc = None
    if fused and not loihi2:
        specs = opened.fused_specs()
        if specs is None and auto:
            lanes = 1
        if specs is not None:
            from lavacut.runtime.procs.fused import FusedNetwork  # Lava

            fused_proc = FusedNetwork(
                layers=specs,
                in_shape=in_shape,
                out_shape=out_shape,
                lanes=lanes,
                send_voltage=layout.readout == "voltage",
            )
    copies = netx_copies(opened, (net, inp), lanes, loihi2, len(svars)) if fused_proc is None and lanes > 1 else []
    source = SampleSource(packed=packed, shape=in_shape, weight=weight, bias=bias, lanes=lanes, copies=bool(copies))
    voltage_var = None
    out_ports: list = []
    if layout.readout == "voltage" and fused_proc is None:
        if loihi2:
            raise LavacutError(
                f"{net_path}: a voltage readout on backend 'loihi2' is not supported (the embedded-io "
                f"adapters carry spikes; the readout's voltage would need a host probe per step)"
            )
        # netx's graph: the monitor reads v through a RefPort (one per copy)
        voltage_var = [c.layers[-1].neuron.v for c, _ in copies] if copies else net.layers[-1].neuron.v
    resets = [] if fused_proc else [state_vars(c) for c, _ in copies] if copies else svars
    monitor = CutoffMonitor(
        num_classes=K,
        num_samples=N,
        latency=offset,
        horizon=T,
        copies=bool(copies),
        rule_params=rule.params(),
        halt=halt,
        reset_vars=resets,
        in_shape=out_shape,
        classes=layout.classes_of(out_shape),
        progress_every=progress_every,
        lanes=lanes,
        readout=layout.readout,
        voltage_var=voltage_var,
    )
    if fused_proc is not None:
        source.s_out.connect(fused_proc.s_in)
        fused_proc.s_out.connect(monitor.s_in)
        monitor.switch_out.connect(fused_proc.reset_in)
        adapters, out_port = [], fused_proc.s_out
    elif copies:
        adapters, out_port = [], None
        for r, (c, c_inp) in enumerate(copies):
            a = connect_around(
                c,
                getattr(source, copy_port_name("s_out", r)),
                getattr(monitor, copy_port_name("s_in", r)),
                loihi2,
                inp=c_inp,
            )
            adapters += a
            out_ports.append(a[-1].out if a else c.out)
    else:
        adapters = connect_around(net, source.s_out, monitor.s_in, loihi2, inp=inp)
        opened.take()
        out_port = adapters[-1].out if adapters else net.out
    monitor.switch_out.connect(source.switch_in)
    return SplitGraph(
        net=net,
        source=source,
        monitor=monitor,
        latency=D,
        offset=offset,
        horizon=T,
        num_samples=N,
        num_classes=K,
        in_shape=in_shape,
        state_vars=svars,
        adapters=adapters,
        out_shape=out_shape,
        output_note=layout.note,
        layout=layout,
        out_port=out_port,
        fused=fused_proc,
        lanes=lanes,
        copies=[c for c, _ in copies],
        out_ports=out_ports,
    )
