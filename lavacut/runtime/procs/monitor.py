"""CutoffMonitor: the on-graph stop rule, sample switch and state reset.

Step arithmetic (read from lava-nc 0.10.0 models; tested in
tests/test_runtime.py). Lava steps s are global and 1-based; sample j's first
frame is played at step S_j (S_0 = 1).

* Source (procs/source.py) at step s plays frame s - S_j + 1.
* Every synapse (Dense, DelayDense, Conv) sends in run_spk of step s the
  a_buff it computed at step s - 1, then receives its input of step s: one
  step of delay per synapse. A LIF integrates at step s what its synapse sent
  at s and emits spikes at s. So frame f of sample j reaches the neuron of
  layer l at step S_j + f - 1 + l, and the output layer (l = D, D = number of
  synapse layers, the latency) at S_j + D + f - 1. Output timestep t of the
  sample is therefore Lava step S_j + D + t - 1; the monitor keeps a local
  counter k = s - S_j + 1 and uses t = k - D, ignoring k <= D.
* An input layer with neurons has no synapse: the source drives its a_in
  directly, so it integrates frame f at step S_j + f - 1 and adds nothing to
  D; its u, v are reset with the rest (sample j + 1 reaches it at tau_j + 1,
  after the reset).
* The decision (rule fires, or t = T) is taken in run_spk of step
  tau_j = S_j + D + t_c - 1. post_guard() is then true and, in run_post_mgmt
  of the same step tau_j (after every process finished run_spk of tau_j), the
  monitor writes zeros through RefPorts into u and v of every LIF and into
  a_buff / a_buf of every synapse, logs the decision, zeroes its own counts
  and counter, and in halt mode sets _req_pause (a pause requested in
  run_spk would skip this post-management phase: the runtime handles pause
  requests before it would enter it).
* At step tau_j + 1 the monitor first sends switch = 1, the source receives
  it and plays frame 1 of sample j + 1: S_{j+1} = tau_j + 1 = S_j + D + t_c.

Why one synchronous reset at tau_j and not netx's stagger: the whole dynamic
state of the network at a step boundary is {u, v of each LIF; a_buff of each
synapse} (weights are constant, and every port sends and receives exactly one
message per step, so no message is pending between steps). After the reset at
tau_j that state, the source counter and the monitor are exactly those of a
freshly built graph before its step 1, so step S_{j+1} + i - 1 computes what
step i of a fresh graph computes, bit for bit. The per-layer window is met
for every layer at once: what sample j still has in flight at tau_j (frames
t_c + 1 .. t_c + D, in a_buffs and in layers 1..D-1) only feeds output steps
after t_c, which the decision discards, so layer l may be zeroed as early as
tau_j; and sample j+1's first activity reaches synapse l at tau_j + l and
neuron l at tau_j + l + 1, so tau_j is also before it. netx staggers its
periodic reset by layer (reset_offset + 1 + layer index, neurons only)
because it lets the previous sample's tail run to the output; doing that here
would zero neuron l at tau_j + l, which is only exact without biases (a fresh
graph integrates a bias for l steps before input arrives) and without
DelayDense synapses (their a_buff holds old activity for up to 62 future
steps). The synchronous reset is exact in both cases, costs one RefPort burst
per sample, and loses no steps (the next sample cannot start before tau_j + 1
in either scheme).

With the fused network (lavacut.runtime.procs.fused, ``reset_vars`` empty)
the same reset travels on the switch message: the monitor logs the decision
in run_spk of tau_j (no management phase; in halt mode it requests the pause
there), sends switch = 1 at tau_j + 1, and the fused network, which receives
it before computing step tau_j + 1, zeroes u, v and every synapse buffer
first. Nothing changes the network state between the end of tau_j and that
point, so the state it computes step tau_j + 1 from is the one the RefPort
reset leaves: the same bits, without RefPorts or a read-back.

Lanes (``lanes=B > 1``, fused network only): all of the above per lane. The
monitor keeps per lane the class counts, the local counter k and the sample
it holds (lane b starts with sample b); it applies the rule to every live
lane at once (``StopRule.fires`` is vectorised over samples and is the
function ``stops`` calls) and, for each lane that decides at step s (lane
order), logs the decision under the lane's sample index, sends switch = 1 in
that lane at s + 1 and gives the lane the next unplayed sample -- the
assignment the source makes from the same flags. Lanes that do not decide are
untouched, so a lane reset in the same step another lane starts changes
nothing for the other. Stream mode pauses when all N samples are decided.
Halt mode reports ONE decision per pause through ``last_packed`` (5 scalars,
as with one lane): decisions taken in the same step wait in a queue and are
reported at the following steps (the lanes have already switched; only the
report waits), so the host reads a handful of scalars per decision whatever B.

Copies (``copies=True``: lanes with netx's own process graph, models
"stock" / "fast-procs", backend loihi2): lane b is copy b of the whole
network, in the same runtime. Its output arrives on ``s_in_<b>``, and its
state Vars are ``reset_vars[b]``: at a decision of lane b the RefPort reset
above zeroes copy b's Vars only, so the step arithmetic is the one-lane
arithmetic per copy. Assignment, logging and halt mode's reports are the
lanes' (dynamic refill: a copy that decides takes the next unplayed sample).
"""

import numpy as np

from lava.magma.core.decorator import implements, requires
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort, PyRefPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort, RefPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from lavacut.cutoff.rules import predict, rule_from_params
from lavacut.runtime.procs.source import MAX_COPIES, copy_port_name

#: Upper bound on the number of state Vars the monitor can reset (3 per
#: layer: u, v, a_buff). A ProcessModel needs a LavaPyType per port name, so
#: the names reset_00 .. reset_95 are declared once; unused ones stay
#: unconnected (their write is a no-op).
MAX_RESET_PORTS = 96


def _reset_port_name(i: int) -> str:
    return f"reset_{i:02d}"


class CutoffMonitor(AbstractProcess):
    """Counts output spikes, applies a stop rule, switches samples on the graph.

    Parameters
    ----------
    num_classes : int
        K, the number of classes counted.
    in_shape : tuple of int, optional
        shape of the network's output port (``s_in``); default ``(K,)``.
    classes : int array, optional
        class of each output neuron (C order of ``in_shape``): class k
        counts the SUM of its neurons' spikes (an average readout's groups,
        a conv output flattened in SLAYER order). None: neuron k is class k.
    num_samples : int
        N; after N decisions the monitor idles (the source then plays zeros).
    latency : int
        D, Lava steps from a sample's first frame to its first output step
        (one per synapse layer).
    horizon : int
        T; the decision is forced at output step T.
    rule_params : dict
        ``StopRule.params()``; rebuilt with ``rule_from_params`` in the
        model, so the monitor runs the same ``StopRule.stops`` code as
        ``policies.cutoff``.
    halt : bool
        True: request a pause after every decision (halt mode). False
        (stream mode): run on and pause only after the last sample.
    reset_vars : list of Var
        state Vars zeroed at every decision (u, v, a_buff of every layer).
        Empty when the network resets itself on the switch message (the
        fused network's ``reset_in``): then the decision is logged in the
        spiking phase of the decision step and no management phase runs.
    progress_every : int
        stream mode: also pause after every that many decisions, so the host
        can read ``n_done`` for a progress bar (0: never).
    lanes : int
        B, samples side by side (see module doc).
    copies : bool
        lanes > 1 as B copies of netx's graph (module doc): copy b's output
        on ``s_in_<b>``, ``reset_vars`` a list of B lists (copy b's Vars).
    readout : str
        "spike counts" (``s_in`` carries spikes, Y(t) is their running sum)
        or "voltage" (``s_in`` carries the output layer's voltages, Y(t) is
        the latest of them).
    voltage_var : Var, optional
        a voltage readout in netx's own process graph, whose ports carry no
        voltage: the output LIF's ``v``, read through a RefPort in the
        management phase of every step (after every process computed the
        step, before the reset), where the rule is then applied. ``s_in``
        is still connected (it carries the readout's spikes: none). With
        copies: a list, copy b's ``v`` (read on ``v_ref_<b>``).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        num_samples: int,
        latency: int,
        horizon: int,
        rule_params: dict,
        halt: bool,
        reset_vars=(),
        in_shape: tuple = None,
        classes=None,
        progress_every: int = 0,
        lanes: int = 1,
        copies: bool = False,
        readout: str = "spike counts",
        voltage_var=None,
        name: str = None,
    ):
        lanes = int(lanes)
        copies = bool(copies) and lanes > 1
        if copies:
            per_copy = [list(v) for v in reset_vars]
            if len(per_copy) != lanes or len({len(v) for v in per_copy}) != 1 or lanes > MAX_COPIES:
                raise ValueError(
                    f"copies: reset_vars must be {lanes} lists of equal length, one per copy "
                    f"(at most {MAX_COPIES} copies)"
                )
            reset_vars = [v for vs in per_copy for v in vs]  # copy after copy
        else:
            reset_vars = list(reset_vars)
        if lanes < 1 or (lanes > 1 and reset_vars and not copies):
            raise ValueError(
                f"lanes must be >= 1 and need a network that resets on the switch message "
                f"(no reset_vars) or copies of the network, got lanes={lanes}"
            )
        if len(reset_vars) > MAX_RESET_PORTS:
            raise ValueError(f"{len(reset_vars)} state Vars to reset; the monitor supports at most {MAX_RESET_PORTS}")
        K, N = int(num_classes), int(num_samples)
        in_shape = (K,) if in_shape is None else tuple(int(s) for s in in_shape)
        if classes is not None:
            classes = np.asarray(classes, dtype=np.int64).reshape(-1)
            if classes.size != int(np.prod(in_shape)) or classes.min() < 0 or classes.max() >= K:
                raise ValueError(f"classes must give one class in 0..{K - 1} per neuron of {in_shape}")
        elif int(np.prod(in_shape)) != K:
            raise ValueError(f"an output port of shape {in_shape} needs classes for K = {K}")
        super().__init__(
            num_classes=K,
            num_samples=N,
            latency=int(latency),
            horizon=int(horizon),
            rule_params=dict(rule_params),
            halt=bool(halt),
            num_resets=len(reset_vars),
            classes=classes,
            progress_every=max(int(progress_every), 0),
            lanes=lanes,
            copies=copies,
            readout=str(readout),
            read_voltage=voltage_var is not None,
            name=name,
        )
        v_vars = list(voltage_var) if copies and voltage_var is not None else []
        if voltage_var is not None and (len(v_vars) != lanes if copies else lanes > 1):
            raise ValueError("a voltage read through a RefPort (netx's own graph) needs one lane, or one Var per copy")
        one_v = voltage_var if voltage_var is not None and not copies else None
        self.v_ref = RefPort(one_v.shape if one_v is not None else (1,))
        if one_v is not None:
            self.v_ref.connect_var(one_v)
        for r in range(MAX_COPIES):  # copies: copy r's readout v
            port = RefPort(v_vars[r].shape if r < len(v_vars) else (1,))
            setattr(self, copy_port_name("v_ref", r), port)
            if r < len(v_vars):
                port.connect_var(v_vars[r])
        self.s_in = InPort(shape=in_shape + ((lanes,) if lanes > 1 and not copies else ()))
        for r in range(MAX_COPIES):
            setattr(self, copy_port_name("s_in", r), InPort(shape=in_shape))
        self.switch_out = OutPort(shape=(lanes,))
        # Small Vars the host reads (Var.get moves element by element).
        self.n_done = Var(shape=(1,), init=0)
        self.last_tc = Var(shape=(1,), init=0)
        self.last_pred = Var(shape=(1,), init=0)
        self.last_step = Var(shape=(1,), init=0)  # Lava time_step of the last decision
        # packed for ONE host read per decision: decisions reported, t_c, pred, step, sample index
        self.last_packed = Var(shape=(5,), init=0)
        # Decision log, read once at the end of a run.
        self.log_tc = Var(shape=(N,), init=0)
        self.log_pred = Var(shape=(N,), init=0)
        self.log_counts = Var(shape=(N, K), init=0)
        for i in range(MAX_RESET_PORTS):
            if i < len(reset_vars):
                port = RefPort(reset_vars[i].shape)
                setattr(self, _reset_port_name(i), port)
                port.connect_var(reset_vars[i])
            else:
                setattr(self, _reset_port_name(i), RefPort((1,)))


@implements(proc=CutoffMonitor, protocol=LoihiProtocol)
@requires(CPU)
class PyCutoffMonitorModel(PyLoihiProcessModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    switch_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32)
    n_done: np.ndarray = LavaPyType(np.ndarray, np.int32)
    last_tc: np.ndarray = LavaPyType(np.ndarray, np.int32)
    last_pred: np.ndarray = LavaPyType(np.ndarray, np.int32)
    last_step: np.ndarray = LavaPyType(np.ndarray, np.int32)
    last_packed: np.ndarray = LavaPyType(np.ndarray, np.int32)
    log_tc: np.ndarray = LavaPyType(np.ndarray, np.int32)
    log_pred: np.ndarray = LavaPyType(np.ndarray, np.int32)
    log_counts: np.ndarray = LavaPyType(np.ndarray, np.int32)
    v_ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._predict = predict
        self._rule = rule_from_params(proc_params["rule_params"])
        self._K = int(proc_params["num_classes"])
        self._N = int(proc_params["num_samples"])
        self._D = int(proc_params["latency"])
        self._T = int(proc_params["horizon"])
        self._halt = bool(proc_params["halt"])
        self._num_resets = int(proc_params["num_resets"])
        self._classes = proc_params["classes"]  # None: output neuron k is class k
        self._every = int(proc_params.get("progress_every", 0) or 0)
        self._B = B = int(proc_params.get("lanes", 1))
        self._copies = bool(proc_params.get("copies", False))
        self._copy_ports = None  # copies: the s_in_<b> ports (set by the builder after __init__)
        self._voltage = proc_params.get("readout", "spike counts") == "voltage"
        self._read_v = bool(proc_params.get("read_voltage", False))
        self._pending = None  # read_voltage: (lanes, output steps) whose v the management phase reads
        self._resets = None  # the builder sets the ports after __init__
        self._counts = np.zeros((B, self._K), dtype=np.int64)
        self._k = np.zeros(B, dtype=np.int64)  # per lane: Lava steps since its sample's frame 1
        self._sample = np.arange(B)  # per lane: the sample it plays (>= N: idle)
        self._next = B  # the next sample a switching lane takes (as the source)
        self._switch = np.zeros(B, dtype=np.int32)
        self._decided = []  # lanes deciding at this step (RefPort reset: post-mgmt)
        self._queue = []  # halt mode: decisions not yet reported
        self._reported = 0
        self._onehot = None
        if self._classes is not None:
            n_out = len(self._classes)
            self._onehot = np.zeros((self._K, n_out), dtype=np.int64)
            self._onehot[np.asarray(self._classes), np.arange(n_out)] = 1

    def run_spk(self):
        # Send first (the decision of the previous step), receive after: the
        # source waits for this message before it plays its frame.
        self.switch_out.send(self._switch)
        self._switch = np.zeros(self._B, dtype=np.int32)
        if self._copies:
            if self._copy_ports is None:
                self._copy_ports = [getattr(self, copy_port_name("s_in", b)) for b in range(self._B)]
            spikes = np.stack([port.recv() for port in self._copy_ports], axis=-1)  # (*out, B)
        else:
            spikes = self.s_in.recv()
        if int(self.n_done[0]) < self._N:
            self._count(spikes)
        if self._pending is not None or (self._decided and self._num_resets):
            return  # score, log, reset and switch in run_post_mgmt of this step
        self._finish_step()

    def _count(self, spikes):
        live = self._sample < self._N
        self._k[live] += 1
        t = self._k - self._D
        act = np.flatnonzero(live & (t >= 1))
        if not act.size:
            return
        if self._read_v:  # one lane: v is read, and the rule applied, in run_post_mgmt of this step
            self._pending = (act, t[act])
            return
        self._score(np.asarray(spikes), act, t[act])

    def _score(self, data, act, ta):
        """Y(t) of the active lanes ``act`` from this step's output (spikes,
        or voltages), then the rule."""
        x = np.asarray(data).reshape(-1, self._B)[:, act].astype(np.int64)  # (n_out, lanes)
        y = (x if self._onehot is None else self._onehot @ x).T
        if self._voltage:  # Y(t) is the voltage itself, not a sum
            self._counts[act] = y
        else:
            self._counts[act] += y
        fire = (ta >= self._T) | self._rule.stops_many(self._counts[act], ta)
        self._decided = [(int(b), int(tc)) for b, tc in zip(act[fire], ta[fire])]

    def post_guard(self):
        return self._pending is not None or (bool(self._decided) and bool(self._num_resets))

    def run_post_mgmt(self):
        if self._pending is not None:
            (act, ta), self._pending = self._pending, None
            if self._copies:  # the active copies' v, one RefPort read each
                v = {int(b): np.asarray(getattr(self, copy_port_name("v_ref", int(b))).read()).reshape(-1) for b in act}
                data = np.zeros((len(v[int(act[0])]), self._B), dtype=np.int64)
                for b, vb in v.items():
                    data[:, b] = vb
            else:
                data = np.asarray(self.v_ref.read())
            self._score(data, act, ta)
        self._finish_step()

    def _finish_step(self):
        """Log this step's decisions, switch their lanes; then the pause
        (halt: one queued decision reported per pause)."""
        before = int(self.n_done[0])
        decided = [b for b, _ in self._decided]
        for b, tc in self._decided:
            self._decide(b, tc)
        self._decided = []
        if self._resets is None:
            self._resets = [getattr(self, _reset_port_name(i)) for i in range(self._num_resets)]
        if self._resets and int(self.n_done[0]) > before:
            if self._copies:  # the deciding copies' Vars only
                n = self._num_resets // self._B
                _write_zeros_and_sync([p for b in decided for p in self._resets[b * n : (b + 1) * n]])
            else:
                _write_zeros_and_sync(self._resets)
        after = int(self.n_done[0])
        if self._halt:
            if self._queue:
                n, tc, pred, step = self._queue.pop(0)
                self._reported += 1
                self.last_packed[:] = (self._reported, tc, pred, step, n)
                self._req_pause = True
        elif after > before and (after >= self._N or (self._every and after // self._every > before // self._every)):
            self._req_pause = True

    def _decide(self, b: int, tc: int):
        n = int(self._sample[b])
        counts = self._counts[b]
        pred = self._predict(counts)
        self.log_tc[n] = tc
        self.log_pred[n] = pred
        self.log_counts[n, :] = counts
        self.last_tc[0] = tc
        self.last_pred[0] = pred
        self.last_step[0] = self.time_step
        self.n_done[0] = int(self.n_done[0]) + 1
        if self._halt:
            self._queue.append((n, tc, pred, self.time_step))
        counts[:] = 0
        self._k[b] = 0
        self._switch[b] = 1
        self._sample[b] = self._next  # the source gives the lane the same sample
        self._next += 1


def _write_zeros_and_sync(ports) -> None:
    """Write zeros through every RefPort, then make sure every write has been
    applied before this management phase ends.

    PyRefPort.wait() is a read() (GET request + reply); calling it port by
    port costs one inter-process round trip per Var. Here all GET requests
    go out first and the replies are collected after, so the round trips to
    the different processes overlap. A VarPort serves requests in order, so
    the reply to the GET proves the preceding SET was applied. (Without the
    sync, a write could be applied after the next step's command: the
    receiving side of a channel is fed by a thread, not in send order.)"""
    from lava.magma.core.model.py.ports import VarPortCmd

    for port in ports:
        port.write(np.zeros(port._shape, dtype=np.int32))
    pending = []
    for port in ports:
        send, recv = port._csp_send_port, port._csp_recv_port
        if send is None or recv is None:
            continue
        header = getattr(port, "get_header", None)
        if header is None:
            header = port.get_header = np.ones(send.shape) * VarPortCmd.GET
        send.send(header)
        pending.append(recv)
    for recv in pending:
        recv.recv()


for _i in range(MAX_RESET_PORTS):
    setattr(PyCutoffMonitorModel, _reset_port_name(_i), LavaPyType(PyRefPort.VEC_DENSE, np.int32))
del _i
for _r in range(MAX_COPIES):
    setattr(PyCutoffMonitorModel, copy_port_name("s_in", _r), LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24))
del _r
for _r in range(MAX_COPIES):
    setattr(PyCutoffMonitorModel, copy_port_name("v_ref", _r), LavaPyType(PyRefPort.VEC_DENSE, np.int32))
del _r
