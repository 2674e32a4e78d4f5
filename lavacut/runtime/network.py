"""The NetX network of a file: netx's loader, the file opened once for every
graph of a run (:class:`OpenedNetwork`: layout, netx's Network, the fused
network's parameters), and :func:`fused_layers`, the layer list of a
:class:`lavacut.runtime.procs.fused.FusedNetwork` read from the Processes
netx built. The graph around it: :mod:`lavacut.runtime.graph`."""

from __future__ import annotations

import numpy as np

from lavacut.runtime.layout import net_layout
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
