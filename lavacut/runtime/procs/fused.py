"""FusedNetwork: a whole netx CUBA network as ONE Lava process (one OS
process instead of two per layer), with the sample reset carried by a port.

The layer parameters are those of the Processes netx built (read on the host
by :func:`lavacut.runtime.network.fused_layers`: Var inits and proc params of
each synapse and LIF), and each layer runs the kernels of
:mod:`.fast_models` -- the same code as the per-process fast models, which
are bit-exact with Lava's stock fixed_pt models. Within one Lava step the
model reproduces the step of the process graph netx builds:

    for each layer l (in order):
        a = a_buff_l                      # the synapse sends what it computed at the previous step
        a_buff_l = synapse_l(x_l)         # ... and integrates this step's input x_l
        x_{l+1} = lif_l(a (+ recurrent a_rec_l))
        a_rec_l = recurrent synapse of the spikes (if any)
    send x_{L}                            # a voltage readout: the last layer's v instead

An input layer with neurons has no synapse (the source drives its a_in). A
dense layer after a 3-D layer reads the spikes transposed to (C, H, W) and
flattened, as netx's flatten connection does. Synapse outputs are cast to
int32 as the int32 ports of the process graph carry them.

``reset_in``: the monitor's switch message. A 1 received at step s zeroes
every state (u, v, synapse buffers) BEFORE step s is computed -- the state a
RefPort reset in the monitor's post-management phase of step s - 1 leaves,
without a management phase or a RefPort round trip.

No host traffic: the model has no Vars the host needs to read.

Lanes (``lanes=B > 1``): B independent copies of the whole state along a
trailing lane axis (u, v of shape (*shape, B), synapse buffers, delay lines,
recurrent buffers), advanced together in one Lava step by the kernels'
``batch`` methods (one product per layer for all lanes). The ports carry the
lane axis last (``s_in`` (*in_shape, B), ``s_out`` (*out_shape, B)) and
``reset_in`` has one flag per lane: a 1 in lane b zeroes lane b's state only.
Lanes never mix (every kernel maps column b to column b), so each lane
computes what a one-lane network computes. With B = 1 the ports have the
shapes of a one-sample network.
"""

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class FusedNetwork(AbstractProcess):
    """Parameters
    ----------
    layers : list of dict
        per layer, in order: ``kind`` ("input", "dense", "delay", "conv"),
        ``lif`` (du, dv, vth, bias_mant, bias_exp, shape), ``in_shape``
        (synapse input shape), the synapse parameters of its kind, and
        ``rec`` (a recurrent dense synapse) or None. See
        :func:`lavacut.runtime.network.fused_layers`.
    in_shape, out_shape : tuple
        the network's input and output port shapes (netx order).
    lanes : int
        B, samples advanced side by side (see module doc).
    send_voltage : bool
        a voltage readout: ``s_out`` sends the last layer's voltage v (int32)
        at every step instead of its spikes.
    """

    def __init__(
        self,
        *,
        layers: list,
        in_shape: tuple,
        out_shape: tuple,
        lanes: int = 1,
        send_voltage: bool = False,
        name: str = None,
    ):
        in_shape, out_shape = tuple(int(s) for s in in_shape), tuple(int(s) for s in out_shape)
        lanes = int(lanes)
        if lanes < 1:
            raise ValueError(f"lanes must be >= 1, got {lanes}")
        super().__init__(
            layers=list(layers),
            in_shape=in_shape,
            out_shape=out_shape,
            lanes=lanes,
            send_voltage=bool(send_voltage),
            name=name,
        )
        lane_axis = (lanes,) if lanes > 1 else ()
        self.s_in = InPort(shape=in_shape + lane_axis)
        self.reset_in = InPort(shape=(lanes,))
        self.s_out = OutPort(shape=out_shape + lane_axis)


@implements(proc=FusedNetwork, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyFusedNetworkModel(PyLoihiProcessModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    reset_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._specs = proc_params["layers"]
        self._B = int(proc_params.get("lanes", 1))
        self._in_shape = tuple(proc_params["in_shape"])
        self._out_shape = tuple(proc_params["out_shape"])
        self._send_voltage = bool(proc_params.get("send_voltage", False))
        # Built here, in the Lava process as the runtime starts it (Runtime.initialize waits for every
        # model's __init__): kernels, weights and one warm-up step cost ~35-50 ms that the first
        # step would otherwise pay inside the timed run (a 32-lane cutoff run of the dense export
        # is 80 steps of ~2 ms: that first step alone made its steps look 1.4x a full-T run's).
        self._build()
        self._warm_up()

    def _build(self):
        from lavacut.runtime.procs.fast_models import ConvKernel, DelayDenseKernel, DenseKernel, LifKernel

        layers = []
        for sp in self._specs:
            L = dict(kind=sp["kind"], in_shape=tuple(sp["in_shape"]), flatten=bool(sp.get("flatten", False)))
            lif = sp["lif"]
            L["lif"] = LifKernel(lif["du"], lif["dv"], lif["vth"], lif["bias_mant"], lif["bias_exp"])
            L["shape"] = tuple(lif["shape"])
            lanes = (self._B,)  # every state array carries the lane axis last
            L["u"] = np.zeros(L["shape"] + lanes, dtype=np.int32)
            L["v"] = np.zeros(L["shape"] + lanes, dtype=np.int32)
            graded = bool(sp.get("graded", False))
            if sp["kind"] == "dense":
                L["syn"] = DenseKernel(sp["weights"], sp["proc_params"], graded)
                L["buf"] = np.zeros((int(np.prod(L["shape"])),) + lanes, dtype=np.int64)
            elif sp["kind"] == "delay":
                L["syn"] = DelayDenseKernel(sp["weights"], sp["delays"], sp["proc_params"], sp["n_cols"], graded)
                L["buf"] = np.zeros((int(np.prod(L["shape"])), int(sp["n_cols"])) + lanes, dtype=np.int32)
            elif sp["kind"] == "conv":
                L["syn"] = ConvKernel(
                    sp["input_shape"], sp["weight"], sp["stride"], sp["padding"], sp["dilation"], sp["groups"], graded
                )
                L["buf"] = np.zeros(L["shape"] + lanes, dtype=np.int32)
            elif sp["kind"] != "input":
                raise ValueError(f"FusedNetwork: unknown layer kind {sp['kind']!r}")
            rec = sp.get("rec")
            if rec is not None:
                L["rec"] = DenseKernel(rec["weights"], rec["proc_params"], False)
                L["rec_buf"] = np.zeros((int(np.prod(L["shape"])),) + lanes, dtype=np.int64)
            layers.append(L)
        self._layers = layers

    def _reset(self, lanes):
        """Zero the state of the lanes flagged in ``lanes`` (bool, (B,))."""
        for L in self._layers:
            for key in ("u", "v", "buf", "rec_buf"):
                if key in L:
                    L[key][..., lanes] = 0

    def _warm_up(self):
        """One step on an all-ones input, then every lane zeroed: the first
        products, allocations and BLAS set-up happen before the run."""
        self._step(np.ones(self._in_shape + (self._B,), dtype=np.int32))
        self._reset(np.ones(self._B, dtype=bool))

    def run_spk(self):
        B = self._B
        reset = self.reset_in.recv().reshape(-1)[:B] != 0
        if reset.any():
            self._reset(reset)
        out = self._step(np.reshape(self.s_in.recv(), self._in_shape + (B,)))
        self.s_out.send(out if B > 1 else out.reshape(self._out_shape))

    def _step(self, x):
        """Advance every lane one step on input ``x`` (*in_shape, B); returns
        what ``s_out`` sends (the last layer's spikes, or its voltages)."""
        B = self._B
        for L in self._layers:
            kind = L["kind"]
            if kind == "input":
                a = x  # the source drives a_in: no synapse
            else:
                if L["flatten"]:
                    x = np.transpose(x, (2, 1, 0, 3))  # netx: out.transpose([2, 1, 0]).flatten()
                x = np.reshape(x, L["in_shape"] + (B,))
                if kind == "delay":
                    a = L["buf"][:, 0].astype(np.int32)
                    L["buf"] = L["syn"].batch(L["buf"], x)
                else:
                    a = np.asarray(L["buf"]).astype(np.int32)
                    L["buf"] = L["syn"].batch(x.reshape(-1, B)) if kind == "dense" else L["syn"].batch(x)
            if "rec" in L:
                a = a.reshape(-1, B).astype(np.int32) + L["rec_buf"].astype(np.int32)
            a = np.reshape(a, L["shape"] + (B,)).astype(np.int32, copy=False)
            s = L["lif"](L["u"], L["v"], a)
            if "rec" in L:
                L["rec_buf"] = L["rec"].batch(s.reshape(-1, B))
            x = s
        return self._layers[-1]["v"].copy() if self._send_voltage else x
