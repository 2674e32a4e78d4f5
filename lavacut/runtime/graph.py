"""Building the Lava graph for one split: SampleSource -> NetX network ->
CutoffMonitor, with the monitor's switch message back to the source and its
RefPorts bound to every state Var of the network.

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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lavacut.util import LavacutError


def load_network(net_path):
    """The stock netx loader (imports lava-dl lazily)."""
    from lavacut.util import import_slayer

    import_slayer()  # netx imports slayer: without its import-time banners
    from lava.lib.dl import netx

    try:
        return netx.hdf5.Network(net_config=str(net_path))
    except (OSError, KeyError) as e:
        raise LavacutError(f"cannot load NetX network {net_path}: {e}") from e
    except NotImplementedError as e:
        raise LavacutError(f"{net_path} contains a layer netx cannot load ({e}); "
                           f"use dense/conv cuba layers only") from e


def _synapses(block) -> list:
    syn = [s for s in (getattr(block, "synapse", None), getattr(block, "synapse_rec", None))
           if s is not None]
    return syn


def network_latency(net) -> int:
    """D: Lava steps from a frame entering the network to the output layer
    spiking on it. Every Dense/DelayDense/Sparse/Conv synapse sends at step
    s the activation it computed at s - 1 (one step), neurons answer in the
    same step, so D = number of synapse layers on the path (a recurrent
    synapse is not on the feed-forward path)."""
    d = 0
    for block in net.layers:
        if getattr(block, "synapse", None) is None:
            raise LavacutError(
                f"layer {block.block} has no synapse (a netx Input block); lavacut "
                f"needs the first layer to be a cuba Dense or Conv taking binary "
                f"spikes (export without an input-neuron layer)")
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
                f"cutoff runtime resets CUBA LIF neurons (u, v) only")
        out += [neuron.u, neuron.v]
        for syn in _synapses(block):
            var = getattr(syn, "a_buff", None)
            if var is None:
                var = getattr(syn, "a_buf", None)
            if var is None:
                raise LavacutError(f"layer {i}: synapse {type(syn).__name__} has no "
                                   f"a_buff/a_buf Var to reset")
            out.append(var)
    return out


def _lava_frame_layout(frames: np.ndarray, in_shape: tuple) -> np.ndarray:
    """(N, ..., T) user frames -> (N, T, F) in the C order of netx's input
    shape ``in_shape``."""
    frames = np.asarray(frames)
    if frames.ndim < 3:
        raise LavacutError(f"frames must be (N, C, H, W, T) or (N, C*H*W, T); got shape {frames.shape}")
    N, T = frames.shape[0], frames.shape[-1]
    F = int(np.prod(in_shape))
    if int(np.prod(frames.shape[1:-1])) != F:
        raise LavacutError(f"frames have {int(np.prod(frames.shape[1:-1]))} features per "
                           f"step ({frames.shape[1:-1]}); the network input takes {F} "
                           f"(netx shape {tuple(in_shape)})")
    if len(in_shape) == 1:                          # dense input: C, H, W flatten
        x = frames.reshape(N, F, T)
        return np.moveaxis(x, -1, 1)                # (N, T, F)
    if len(in_shape) == 3:                          # conv input, netx (W, H, C)
        W, H, C = in_shape
        x = frames.reshape(N, C, H, W, T)
        return x.transpose(0, 4, 3, 2, 1).reshape(N, T, F)   # (N, T, W, H, C)
    raise LavacutError(f"unsupported network input shape {tuple(in_shape)}")


def pack_frames(frames: np.ndarray, in_shape: tuple) -> np.ndarray:
    """Binary frames -> ``np.packbits`` array (N, T, ceil(F/8)) in netx
    layout, checked to be 0/1."""
    x = _lava_frame_layout(frames, in_shape)
    if x.dtype != bool:
        if not np.issubdtype(x.dtype, np.number):
            raise LavacutError(f"frames must be numeric or bool, got {x.dtype}")
        if x.size and (x.min() < 0 or x.max() > 1):
            raise LavacutError("frames must be binary spikes (0/1); found values "
                               f"in [{x.min()}, {x.max()}]")
        x = x != 0
    return np.packbits(x, axis=-1)


def unpack_frames(packed: np.ndarray, in_shape: tuple) -> np.ndarray:
    """Inverse of :func:`pack_frames` in netx layout: (N, T, *in_shape) int8."""
    F = int(np.prod(in_shape))
    x = np.unpackbits(packed, axis=-1, count=F)
    return x.reshape(packed.shape[:2] + tuple(in_shape))


@dataclass
class SplitGraph:
    """The processes of one compiled split (see :func:`build_split_graph`)."""

    net: Any
    source: Any
    monitor: Any
    latency: int   # D: synapse layers between input and output
    offset: int    # Lava steps per sample before output step 1 (D if frame_aligned, else 0)
    horizon: int
    num_samples: int
    num_classes: int
    in_shape: tuple
    state_vars: list = field(default_factory=list)
    adapters: list = field(default_factory=list)


def connect_around(net, src_port, dst_port, loihi2: bool) -> list:
    """Wire host port -> network -> host port. On Loihi 2 the host processes
    sit across the chip boundary behind embedded-io spike adapters (the
    pattern of lava-dl's netx tutorials; lava-loihi only); returns them."""
    if not loihi2:
        src_port.connect(net.inp)
        net.out.connect(dst_port)
        return []
    from lava.proc import embedded_io as eio  # lava-loihi only

    in_adapter = eio.spike.PyToNxAdapter(shape=net.inp.shape)
    out_adapter = eio.spike.NxToPyAdapter(shape=net.out.shape)
    src_port.connect(in_adapter.inp)
    in_adapter.out.connect(net.inp)
    net.out.connect(out_adapter.inp)
    out_adapter.out.connect(dst_port)
    return [in_adapter, out_adapter]


def build_split_graph(net_path, frames, rule, *, halt: bool, horizon: int | None = None,
                      loihi2: bool = False, frame_aligned: bool = False) -> SplitGraph:
    """Source -> network -> monitor for all samples of ``frames``.

    Timesteps: by default the monitor's output step t is the sample's local
    Lava step (t = 1 is the step its first frame is played), which is
    SLAYER's timestep exactly (its blocks' ``delay_shift`` models the Lava
    synapse delays, so outputs agree at zero shift and calibrations made on
    SLAYER outputs apply unchanged); the first D output steps are silent.
    ``frame_aligned=True`` instead counts t from the response to frame 1
    (t = local step - D), runs T + D steps per sample, and matches SLAYER
    blocks built with ``delay_shift=False``.

    ``loihi2=True`` puts embedded-io spike adapters (lava.proc.embedded_io,
    part of lava-loihi) between the host-side source/monitor and the network,
    the way lava-dl's netx tutorials do.
    """
    from lavacut.runtime.procs.monitor import CutoffMonitor
    from lavacut.runtime.procs.source import SampleSource

    net = load_network(net_path)
    in_shape = tuple(int(s) for s in net.inp.shape)
    out_shape = tuple(int(s) for s in net.out.shape)
    if len(out_shape) != 1:
        raise LavacutError(f"the output layer must be a 1-D layer of K neurons; "
                           f"netx reports shape {out_shape}")
    if getattr(net, "output_message_bits", 0):
        raise LavacutError("the output layer sends graded spikes; the monitor counts "
                           "binary spikes")
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

    source = SampleSource(packed=packed, shape=in_shape)
    monitor = CutoffMonitor(num_classes=out_shape[0], num_samples=N, latency=offset,
                            horizon=T, rule_params=rule.params(), halt=halt,
                            reset_vars=svars)
    adapters = connect_around(net, source.s_out, monitor.s_in, loihi2)
    monitor.switch_out.connect(source.switch_in)
    return SplitGraph(net=net, source=source, monitor=monitor, latency=D, offset=offset, horizon=T,
                      num_samples=N, num_classes=out_shape[0], in_shape=in_shape,
                      state_vars=svars, adapters=adapters)
