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
    """

    def __init__(self, *, packed: np.ndarray, shape: tuple, weight: int = 1, bias: int = 0,
                 name: str = None):
        packed = np.ascontiguousarray(packed, dtype=np.uint8)
        if packed.ndim != 3:
            raise ValueError(f"packed must be (N, T, bytes), got {packed.shape}")
        shape = tuple(int(s) for s in shape)
        n_features = int(np.prod(shape))
        if packed.shape[2] != (n_features + 7) // 8:
            raise ValueError(f"packed has {packed.shape[2]} bytes per frame, "
                             f"shape {shape} needs {(n_features + 7) // 8}")
        super().__init__(packed=packed, shape=shape, weight=int(weight), bias=int(bias), name=name)
        self.s_out = OutPort(shape=shape)
        self.switch_in = InPort(shape=(1,))
        # Observable state (read by the host only for diagnostics).
        self.sample = Var(shape=(1,), init=0)
        self.frame = Var(shape=(1,), init=0)


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
        self._idle = np.full(self._shape, self._bias, dtype=np.int32)   # a zero frame, transformed

    def run_spk(self):
        if self.switch_in.recv()[0]:
            self.sample[0] += 1
            self.frame[0] = 0
        n, k = int(self.sample[0]), int(self.frame[0])
        if n < self._num_samples and k < self._horizon:
            bits = np.unpackbits(self._packed[n, k], count=self._n_features)
            x = bits.reshape(self._shape).astype(np.int32)
            if self._weight != 1 or self._bias:
                x = x * self._weight + self._bias
            self.s_out.send(x)
        else:
            self.s_out.send(self._idle)
        if k <= self._horizon:  # saturate: no overflow on endless zeros
            self.frame[0] = k + 1
