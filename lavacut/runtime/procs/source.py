"""SampleSource: plays all N samples of a split into the network, one frame per
Lava step, and jumps to the next sample when the CutoffMonitor says so.

The frames of every sample are held once, bit-packed, as a proc param (never
written through Var.set, which moves data element by element). The source
keeps a LOCAL frame counter (Lava's time_step is global and keeps counting
across runs), so a sample always starts at its frame 1.

Per step (run_spk) the source first receives the monitor's switch flag for
the previous step (the monitor sends it before it receives anything, so the
graph source -> network -> monitor -> source has no cycle inside a step), then
sends the frame:

    if switch: sample += 1; frame = 0
    send frames[sample, frame] if sample < N and frame < T else zeros
    frame += 1

After the last sample (and after frame T of a sample that is still running)
it sends zeros.

With ``weight``/``bias`` (an input layer with neurons, whose ``a_in`` the
source drives) it sends ``frame * weight + bias`` instead, and ``bias``
where it would send zeros: the transform of a zero frame, as a fresh graph
fed zero frames would see.

Lanes (``lanes=B > 1``, the fused network's lanes): B frame counters, one
per lane, and ``s_out`` of shape (*shape, B). Lane b starts with sample b;
``switch_in`` has one flag per lane, and the lanes that switch at a step take
the next unplayed samples in lane order (the monitor replays the same
assignment, so no sample index travels on the graph). A lane with no sample
left plays zero frames.

Copies (``copies=True``, netx's own process graph with lanes): lane b is
copy b of the whole network, fed through its own port ``s_out_<b>`` (shape
``shape``) instead of a lane axis of ``s_out`` (Lava 0.10's virtual ports
cannot slice one port over R networks); the assignment is the same.
"""

import numpy as np

from lava.magma.core.decorator import implements, requires
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

#: Most copies of netx's graph one source feeds (one port per copy; a
#: ProcessModel needs a LavaPyType per port name, so the names are declared
#: once, unused ones stay unconnected). The monitor has the same bound.
MAX_COPIES = 16


def copy_port_name(prefix: str, r: int) -> str:
    """The port of copy ``r`` (``s_out_03``, the monitor's ``s_in_03``)."""
    return f"{prefix}_{r:02d}"


class SampleSource(AbstractProcess):
    """Spike source for a whole split.

    Parameters
    ----------
    packed : np.ndarray of uint8, shape (N, T, ceil(F / 8))
        ``np.packbits`` of the binary frames, per sample and frame, with the
        F = prod(shape) features flattened in C order of ``shape``.
    shape : tuple of int
        shape of one frame as the network's input port expects it (Lava
        order, e.g. (F,) for a dense input or (W, H, C) for a conv input).
    weight, bias : int
        each frame is sent as ``frame * weight + bias`` (default 1, 0: the
        binary frame itself).
    lanes : int
        B, samples played side by side (see module doc).
    copies : bool
        lanes > 1 only: lane b goes out on ``s_out_<b>`` (one copy of
        netx's graph per lane), not on a lane axis of ``s_out``.
    """

    def __init__(
        self,
        *,
        packed: np.ndarray,
        shape: tuple,
        weight: int = 1,
        bias: int = 0,
        lanes: int = 1,
        copies: bool = False,
        name: str = None,
    ):
        packed = np.ascontiguousarray(packed, dtype=np.uint8)
        if packed.ndim != 3:
            raise ValueError(f"packed must be (N, T, bytes), got {packed.shape}")
        shape = tuple(int(s) for s in shape)
        n_features = int(np.prod(shape))
        if packed.shape[2] != (n_features + 7) // 8:
            raise ValueError(
                f"packed has {packed.shape[2]} bytes per frame, shape {shape} needs {(n_features + 7) // 8}"
            )
        lanes = int(lanes)
        copies = bool(copies) and lanes > 1
        if copies and lanes > MAX_COPIES:
            raise ValueError(f"at most {MAX_COPIES} copies, got {lanes}")
        super().__init__(
            packed=packed, shape=shape, weight=int(weight), bias=int(bias), lanes=lanes, copies=copies, name=name
        )
        self.s_out = OutPort(shape=shape + ((lanes,) if lanes > 1 and not copies else ()))
        for r in range(MAX_COPIES):
            setattr(self, copy_port_name("s_out", r), OutPort(shape=shape))
        self.switch_in = InPort(shape=(lanes,))
        # Observable state (read by the host only for diagnostics): per lane
        self.sample = Var(shape=(lanes,), init=np.arange(lanes))
        self.frame = Var(shape=(lanes,), init=0)


@implements(proc=SampleSource, protocol=LoihiProtocol)
@requires(CPU)
class PySampleSourceModel(PyLoihiProcessModel):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32)
    switch_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)
    sample: np.ndarray = LavaPyType(np.ndarray, np.int32)
    frame: np.ndarray = LavaPyType(np.ndarray, np.int32)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._packed = proc_params["packed"]
        self._shape = tuple(proc_params["shape"])
        self._n_features = int(np.prod(self._shape))
        self._num_samples, self._horizon = self._packed.shape[:2]
        self._weight = int(proc_params["weight"])
        self._bias = int(proc_params["bias"])
        self._B = int(proc_params.get("lanes", 1))
        self._copies = bool(proc_params.get("copies", False))
        self._copy_ports = None  # the builder sets the ports after __init__
        self._next = self._B  # the next sample a switching lane takes
        self._idle = np.full(self._shape, self._bias, dtype=np.int32)  # a zero frame, transformed

    def run_spk(self):
        B = self._B
        switch = np.flatnonzero(self.switch_in.recv().reshape(-1)[:B])
        if switch.size:  # lane order: the monitor assigns the same way
            self.sample[switch] = self._next + np.arange(switch.size)
            self.frame[switch] = 0
            self._next += switch.size
        n, k = self.sample.astype(np.int64), self.frame.astype(np.int64)
        live = np.flatnonzero((n < self._num_samples) & (k < self._horizon))
        if B == 1:
            if live.size:
                bits = np.unpackbits(self._packed[n[0], k[0]], count=self._n_features)
                x = bits.reshape(self._shape).astype(np.int32)
                if self._weight != 1 or self._bias:
                    x = x * self._weight + self._bias
                self.s_out.send(x)
            else:
                self.s_out.send(self._idle)
        else:
            # (F, B) in C order, the port's layout: sending a transposed view made the port's copy
            # into shared memory strided, 0.4 ms of a ~1.5 ms 32-lane dense step (measured)
            x = np.zeros((self._n_features, B), dtype=np.int32)
            if live.size:
                x[:, live] = np.unpackbits(self._packed[n[live], k[live]], axis=-1, count=self._n_features).T
            if self._weight != 1 or self._bias:
                x = x * self._weight + self._bias
            if not self._copies:
                self.s_out.send(x.reshape(self._shape + (B,)))
            else:
                if self._copy_ports is None:
                    self._copy_ports = [getattr(self, copy_port_name("s_out", b)) for b in range(B)]
                for b, port in enumerate(self._copy_ports):
                    port.send(np.ascontiguousarray(x[:, b]).reshape(self._shape))
        # saturate: no overflow on endless zeros
        self.frame[:] = np.where(k <= self._horizon, k + 1, k)


for _r in range(MAX_COPIES):
    setattr(PySampleSourceModel, copy_port_name("s_out", _r), LavaPyType(PyOutPort.VEC_DENSE, np.int32))
del _r
