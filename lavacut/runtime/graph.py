"""Building the Lava graph for one split: SampleSource -> NetX network ->
CutoffMonitor, with the monitor's switch message back to the source and its
RefPorts bound to every state Var of the network; or (``fused=True``, the
default ``models="fast"``) SampleSource -> FusedNetwork -> CutoffMonitor,
the network as one process built from the parameters of netx's processes
(:func:`fused_layers`) and reset by the switch message on its ``reset_in``.

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

Layouts of files lavacut did not write (:func:`net_layout`, rules in
:func:`lavacut.export.netx.inspect.mark_support`):

- an input layer WITH neurons (netx ``Input`` block): its ``inp`` port is
  wired to nothing, so the source drives the neurons' ``a_in`` directly with
  ``frame * weight + bias`` (the layer's ``weight``/``bias`` mantissas, the
  transform netx reads into ``Input.transform`` but never applies; SLAYER's
  Input block computes ``neuron(x * weight + bias)``). No synapse: it adds
  no step of latency; its u, v are reset like every other state Var.
- an ``average`` readout as the last layer (netx: NotImplementedError): the
  network is loaded without it (netx's ``num_layers``) and the monitor counts
  class k as the SUM of the spikes of neurons ``k*G .. (k+1)*G - 1`` of the
  last spiking layer, C-order flattened (SLAYER's Average reshapes
  ``(N, n, T)`` to ``(N, K, G, T)``).
- a voltage readout (the last layer a dense one whose neurons never spike:
  netx's integrator, SLAYER's Affine block; ``NetLayout.readout``
  "voltage"): the fused network sends that layer's voltage v (int32) on its
  output port at every step and the monitor reads Y(t) = v(t); netx's own
  graph (models "stock", "fast-procs") has no port carrying v, so the
  monitor reads the output LIF's v through a RefPort in the management
  phase of every step (slower: one round trip per step).
- a conv (or other non-flat) output layer: netx's port is ``(W, H, C)``; its
  neurons are flattened in SLAYER's C, H, W order (output
  ``k = c*H*W + h*W + w``) for the monitor's counts and the recorded spikes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lavacut.export.netx.inspect import inspect_layers, readout_of, require_support
from lavacut.export.netx.layers import kind_of
from lavacut.runtime.copies import netx_copies
from lavacut.runtime.frames import lava_to_slayer, pack_frames
from lavacut.runtime.lanes import DEFAULT_LANES, check_lanes
from lavacut.util import LavacutError, import_slayer


def load_network(net_path, num_layers: int | None = None):
    """The stock netx loader (imports lava-dl lazily); ``num_layers``: build
    only the file's first layers (netx's own argument)."""
    import_slayer()  # netx imports slayer: without its import-time banners
    from lava.lib.dl import netx

    try:
        return netx.hdf5.Network(net_config=str(net_path), num_layers=num_layers)
    except (OSError, KeyError) as e:
        raise LavacutError(f"cannot load NetX network {net_path}: {e}") from e
    except NotImplementedError as e:
        raise LavacutError(
            f"{net_path} contains a layer netx cannot load ({e}); use dense/conv cuba layers only"
        ) from e
    except Exception as e:  # noqa: BLE001 - netx raises anything on a file it cannot wire
        raise LavacutError(f"netx cannot build {net_path}: {type(e).__name__}: {e}") from e


@dataclass
class NetLayout:
    """What lavacut makes of a NetX file's layers (see :func:`net_layout`)."""

    num_layers: int | None  # netx num_layers (the layers before an average readout); None: all
    input_transform: tuple | None  # (weight, bias) the source applies for an input layer with neurons
    out_shape: tuple  # last spiking layer in SLAYER order: (n,) or (C, H, W)
    groups: int  # K of an average readout; 0: none (output neuron k is class k)
    note: str  # how the outputs become classes ("" for a plain 1-D output layer)
    readout: str = "spike counts"  # or "voltage": the scores are the output layer's voltages

    @property
    def out_size(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def num_classes(self) -> int:
        return self.groups or self.out_size

    def classes_of(self, lava_shape: tuple) -> np.ndarray | None:
        """Class of each neuron of netx's output port, in the C order of its
        (Lava) shape; None when neuron i is class i."""
        if not self.groups and len(lava_shape) <= 1:
            return None
        slayer_class = (
            np.arange(self.out_size) // (self.out_size // self.groups) if self.groups else np.arange(self.out_size)
        )
        return slayer_class[lava_to_slayer(lava_shape)]


def net_layout(net_path, layers=None) -> NetLayout:
    """The layout of a file lavacut runs; raises :class:`LavacutError` naming
    the first layer it cannot run (neuron type, why, what is supported),
    before any Lava process exists. ``layers``: the file's layers already
    read (``Export.layers``), else they are read from the file."""
    layers = inspect_layers(net_path) if layers is None else layers
    require_support(net_path, layers, "run")
    spiking = [L for L in layers if kind_of(L.type).is_spiking(L)]
    last = spiking[-1]
    out_shape = last.shape if kind_of(last.type).image and len(last.shape) > 1 else (int(np.prod(last.shape)),)
    first = layers[0]
    transform = first.transform if kind_of(first.type).elementwise and first.neuron else None
    notes, groups, num_layers = [], 0, None
    if len(out_shape) > 1:
        C, H, W = (tuple(out_shape) + (1, 1))[:3]
        notes.append(
            f"output layer {last.index} ({last.type}, (C, H, W) = {tuple(out_shape)}) flattened to "
            f"{int(np.prod(out_shape))} outputs in C, H, W order (output k = c*{H * W} + h*{W} + w; "
            f"netx's (W, H, C) port transposed)"
        )
    if kind_of(layers[-1].type).host_readout:
        groups, num_layers = int(np.prod(layers[-1].shape)), len(layers) - 1
        G = int(np.prod(out_shape)) // groups
        notes.append(
            f"average readout (layer {layers[-1].index}): class k counts the spikes of outputs "
            f"k*{G} .. k*{G}+{G - 1} of layer {last.index} (their sum; SLAYER averages the group), "
            f"{groups} classes"
        )
    readout = readout_of(layers)
    if readout == "voltage":
        notes.append(
            f"voltage readout (layer {last.index}): class k's score is output neuron k's voltage v(t), "
            f"not a spike count"
        )
    return NetLayout(
        num_layers=num_layers,
        input_transform=transform,
        out_shape=tuple(out_shape),
        groups=groups,
        note="; ".join(notes),
        readout=readout,
    )


def open_network(net_path, loihi2: bool = False):
    """(net, layout, input port): the netx network of a file checked by
    :func:`net_layout`, loaded without an average readout; the input port is
    the input neurons' ``a_in`` for an input layer with neurons.
    ``net_path``: a path, an opened ``Export`` or an :class:`OpenedNetwork`."""
    return as_opened(net_path).network(loihi2)


class OpenedNetwork:
    """A NetX file opened once for every graph of a run (the full-T run and
    the cutoff run, every worker forked from this process): the layout from
    the layers already read (an ``Export``'s), netx's Network loaded once,
    and what the fused network is built from (:func:`fused_layers`) read from
    it once. netx's Processes can be wired into one graph only: a graph that
    wires them (netx's own graph: models "stock" / "fast-procs", backend
    loihi2) takes them (:meth:`take`), and the next graph loads the file
    again. Pickled (a Ray task), it leaves netx's Processes behind."""

    def __init__(self, src):
        self.path = getattr(src, "path", src)
        self.layout = net_layout(self.path, getattr(src, "layers", None))
        self._net = None
        self._specs = None  # fused_layers of the file, read once (False: the fused network cannot run it)

    def network(self, loihi2: bool = False):
        """(net, layout, input port), as :func:`open_network`."""
        layout = self.layout
        if loihi2 and layout.input_transform is not None:
            raise LavacutError(
                f"{self.path}: an input layer with neurons needs graded input (frame x weight + "
                f"bias); the embedded-io spike adapters of backend 'loihi2' carry binary spikes"
            )
        if self._net is None:
            net = load_network(self.path, layout.num_layers)
            out_shape = tuple(int(s) for s in net.out.shape)
            if int(np.prod(out_shape)) != layout.out_size:
                raise LavacutError(
                    f"{self.path}: netx's output port has shape {out_shape}, the file's last "
                    f"spiking layer {layout.out_shape}"
                )
            self._net = net
        net = self._net
        port = net.in_layer.neuron.a_in if layout.input_transform is not None else net.inp
        return net, layout, port

    def fused_specs(self) -> list[dict] | None:
        """:func:`fused_layers` of the file (None: the fused network cannot run it)."""
        if self._specs is None:
            self._specs = fused_layers(self.network()[0]) or False
        return self._specs or None

    def take(self) -> None:
        """The Processes of :meth:`network` were wired into a graph: the next
        graph loads its own."""
        self._net = None

    def __getstate__(self):
        return {**self.__dict__, "_net": None}


def as_opened(src) -> OpenedNetwork:
    """``src`` (a path, an opened ``Export`` or an :class:`OpenedNetwork`) as
    an :class:`OpenedNetwork`."""
    return src if isinstance(src, OpenedNetwork) else OpenedNetwork(src)


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


def _syn_params(syn) -> dict:
    pp = syn.proc_params
    out = {k: pp.get(k) if hasattr(pp, "get") else pp[k] for k in ("weight_exp", "num_weight_bits", "sign_mode")}
    return {k: v for k, v in out.items() if v is not None}


def _init(var):
    return np.asarray(var.init)


def fused_layers(net) -> list[dict] | None:
    """The layer list of a :class:`lavacut.runtime.procs.fused.FusedNetwork`
    for a netx network, read from the Processes netx built (Var inits, proc
    params); None when a layer is of a kind the fused process does not run
    (sparse synapses, neurons other than CUBA LIF): then the per-process
    models run it."""
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.lif.process import LIF

    layers, prev_shape = [], None
    for i, block in enumerate(net.layers):
        neuron = block.neuron
        if type(neuron) is not LIF:
            return None
        lif = {
            "du": int(_init(neuron.du).reshape(-1)[0]),
            "dv": int(_init(neuron.dv).reshape(-1)[0]),
            "vth": int(_init(neuron.vth).reshape(-1)[0]),
            "bias_mant": _init(neuron.bias_mant),
            "bias_exp": _init(neuron.bias_exp),
            "shape": tuple(int(s) for s in neuron.s_out.shape),
        }
        syn = getattr(block, "synapse", None)
        spec: dict = {"lif": lif, "rec": None}
        if syn is None:
            if i != 0:
                return None
            spec.update(kind="input", in_shape=lif["shape"])
        else:
            in_shape = tuple(int(s) for s in syn.s_in.shape)
            spec["in_shape"] = in_shape
            spec["graded"] = bool(int(_init(syn.num_message_bits).reshape(-1)[0]) > 0)
            spec["flatten"] = prev_shape is not None and len(prev_shape) == 3 and len(in_shape) == 1
            if type(syn) is DelayDense:
                spec.update(
                    kind="delay",
                    weights=_init(syn.weights),
                    delays=_init(syn.delays),
                    proc_params=_syn_params(syn),
                    n_cols=int(syn.a_buff.shape[-1]),
                )
            elif type(syn) is Dense:
                spec.update(kind="dense", weights=_init(syn.weights), proc_params=_syn_params(syn))
            elif type(syn) is Conv:
                spec.update(
                    kind="conv",
                    weight=_init(syn.weight),
                    input_shape=tuple(syn.proc_params["input_shape"]),
                    stride=_init(syn.stride),
                    padding=_init(syn.padding),
                    dilation=_init(syn.dilation),
                    groups=int(_init(syn.groups).reshape(-1)[0]),
                )
            else:
                return None
        rec = getattr(block, "synapse_rec", None)
        if rec is not None:
            if type(rec) is not Dense:
                return None
            spec["rec"] = {
                "weights": _init(rec.weights),
                "proc_params": _syn_params(rec),
                "graded": bool(int(_init(rec.num_message_bits).reshape(-1)[0]) > 0),
            }
        layers.append(spec)
        prev_shape = lif["shape"]
    return layers


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
