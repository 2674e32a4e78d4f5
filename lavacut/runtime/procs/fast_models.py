"""Fast bit-exact CPU ProcessModels for the processes netx builds at fixed_pt:
``lava.proc.dense`` Dense and DelayDense, ``lava.proc.conv`` Conv and the
CUBA ``lava.proc.lif`` LIF. Selected with the run config's
``exception_proc_model_map`` (:func:`lavacut.runtime.session.fast_model_map`);
the stock models stay the reference.

Each model reproduces the integer arithmetic of the stock model it replaces
(lava-nc 0.10.0, lava/proc/{dense,conv,lif}/models.py) bit for bit; only the
way it is computed changes:

- Dense (PyDenseModelBitAcc): the same weight clip (8 bits) and truncation
  (num_weight_bits, sign mode) at the first step; binary input: the sum of
  the rows of the transposed weight matrix of the active inputs (int64, as
  the stock ``weights[:, s].sum(axis=1)``), then ``<< weight_exp`` or
  arithmetic ``>> -weight_exp``; graded input: the stock ``weights.dot(s)``.
  Sent at step t: what was computed at t - 1 (one step of delay).
- DelayDense (PyDelayDenseModelBitAcc): the stock model rebuilds a
  (n * 63, m) delay-split weight matrix every step; here the weights are
  split once, by delay, into (m, K, n) for the K delays in use. The buffer
  update is the stock one: column 0 sent, zeroed, shifted left by one column
  (the stock flat np.roll of a buffer whose column 0 was just zeroed is that
  shift), plus the shifted activation.
- Conv (PyConvModelFixed): the stock model loops ``scipy.signal.convolve2d``
  over every (output, input) channel pair in float64. Here: im2col (index
  tables built once from the geometry: true convolution as convolve2d, kernel
  flipped; stride, padding, dilation, groups) and one float64 matrix
  product, exact because every partial sum is an integer below 2**53 (checked
  at build); then the stock ``astype(int32)`` and 24-bit signed wrap. Like
  the stock model it does not apply weight_exp or truncate weights.
- LIF (PyLifModelBitAcc): the same decays (int64 product, right shift of the
  magnitude, sign restored: rounding toward zero), ``a_in << 6``, the
  24-bit wrap of u (> 2**23 wraps down, <= -2**23 wraps up), the 24-bit
  saturation of v, ``v > vth << 6``, v reset to 0. The bias (bias_mant
  shifted by bias_exp) is computed once at the first step rather than every
  step: it is a constant of the graphs lavacut builds (no Var.set of
  bias_mant / bias_exp during a run).

This module, like every module of this folder, is re-executed by Lava at each
compile: numpy and lava imports only, no side effects.
"""

import numpy as np

from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.conv.models import AbstractPyConvModel
from lava.proc.conv.process import Conv
from lava.proc.dense.models import AbstractPyDenseModelBitAcc
from lava.proc.dense.process import DelayDense, Dense
from lava.proc.lif.models import AbstractPyLifModelFixed
from lava.proc.lif.process import LIF
from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

from lavacut.fixed_point import DECAY_SHIFT, P_SCALE, VTH_SHIFT


def _prepare_weights(weights, proc_params):
    """The stock fixed_pt Dense/DelayDense weight preparation (first step)."""
    num_weight_bits = proc_params.get("num_weight_bits", 8)
    sign_mode = proc_params.get("sign_mode") or determine_sign_mode(weights)
    w = clip_weights(weights, sign_mode, num_bits=8)
    return truncate_weights(w, sign_mode, num_weight_bits)


def _shift(a, weight_exp: int):
    return np.left_shift(a, weight_exp) if weight_exp > 0 else np.right_shift(a, -weight_exp)


class DenseKernel:
    """PyDenseModelBitAcc's arithmetic: ``a_buff`` of the next step from the
    input of this step (weights prepared once)."""

    def __init__(self, weights, proc_params, graded: bool):
        self.weight_exp = int(proc_params.get("weight_exp", 0))
        self.weights = _prepare_weights(np.asarray(weights), proc_params)
        self.wt = np.ascontiguousarray(self.weights.T)  # (m, n): one row per input
        self.graded = bool(graded)

    def __call__(self, s_in):
        if self.graded:
            a_accum = self.weights.dot(s_in)
        else:
            idx = np.flatnonzero(s_in)
            a_accum = self.wt[idx].sum(axis=0) if idx.size else np.zeros(self.wt.shape[1], dtype=np.int64)
        return _shift(a_accum, self.weight_exp)

    def batch(self, s_in):
        """Lanes: ``s_in`` (m, B) -> (n, B) int64, column b what ``self(s_in[:, b])``
        returns. One float product over the inputs active in any lane; exact
        (every partial sum an integer below the float's 2**24 / 2**53)."""
        if getattr(self, "_wf", None) is None:
            self._dt = _exact_dtype(self.weights, 2**24 if self.graded else 1)
            self._wf = (self.weights if self.graded else self.wt).astype(self._dt)
        if self.graded:
            a = self._wf @ np.asarray(s_in).astype(self._dt)
        else:
            s = np.asarray(s_in) != 0
            idx = np.flatnonzero(s.any(axis=1))  # inputs active in some lane
            if not idx.size:
                return np.zeros((self.wt.shape[1], s.shape[1]), dtype=np.int64)
            a = self._wf[idx].T @ s[idx].astype(self._dt)
        return _shift(a.astype(np.int64), self.weight_exp)


def _exact_dtype(w, x_bound: int):
    """The cheapest dtype in which ``w @ x`` (|x| <= ``x_bound``) is exact in
    any summation order (so BLAS may reorder): float32 when |w| summed over
    the contraction axis (the last) times ``x_bound`` stays below 2**24,
    float64 below 2**53, else int64."""
    bound = int(np.abs(np.asarray(w)).astype(np.int64).sum(axis=-1).max(initial=0)) * int(x_bound)
    return np.float32 if bound < 2**24 else np.float64 if bound < 2**53 else np.int64


class DelayDenseKernel:
    """PyDelayDenseModelBitAcc's arithmetic: the next (n, max_delay + 1)
    buffer from the current one and this step's input."""

    def __init__(self, weights, delays, proc_params, n_cols: int, graded: bool):
        self.weight_exp = int(proc_params.get("weight_exp", 0))
        w = _prepare_weights(np.asarray(weights), proc_params)
        delays = np.asarray(delays)
        if np.max(delays) > 63:
            raise ValueError(f"DelayDense Process 'delays' expects values between 0 and 63 for Loihi, got {delays}.")
        ks = np.unique(delays[w != 0]) if np.any(w != 0) else np.zeros(1, dtype=np.int64)
        ks = ks[ks < n_cols]  # the stock model has no column for larger delays
        self.ks = (ks if ks.size else np.zeros(1, dtype=np.int64)).astype(np.int64)
        # (m, K, n): weight of input j to output i with delay ks[k]
        self.wd = np.ascontiguousarray(
            np.stack([np.where(delays == k, w, 0).T for k in self.ks], axis=1).astype(np.int32)
        )
        self.weights = w
        self.graded = bool(graded)

    def __call__(self, a_buff, s_in):
        n, n_cols = a_buff.shape
        act = np.zeros((n, n_cols), dtype=np.int64)
        if self.graded:
            act[:, self.ks] = np.tensordot(s_in.astype(np.int64), self.wd, axes=(0, 0)).T
        else:
            idx = np.flatnonzero(s_in)
            if idx.size:
                act[:, self.ks] = self.wd[idx].sum(axis=0).T
        buf = np.zeros_like(a_buff)
        buf[:, :-1] = a_buff[:, 1:]
        buf += _shift(act, self.weight_exp)
        return buf

    def batch(self, a_buff, s_in):
        """Lanes: ``a_buff`` (n, n_cols, B), ``s_in`` (m, B) -> the next
        buffers, lane b as ``self(a_buff[..., b], s_in[:, b])``."""
        n, n_cols, B = a_buff.shape
        K = len(self.ks)
        wd = self._wd_flat()  # (K * n, m)
        x = (np.asarray(s_in) if self.graded else (np.asarray(s_in) != 0)).astype(wd.dtype)
        act = np.zeros((n, n_cols, B), dtype=np.int64)
        act[:, self.ks, :] = (wd @ x).astype(np.int64).reshape(K, n, B).transpose(1, 0, 2)
        buf = np.zeros_like(a_buff)
        buf[:, :-1] = a_buff[:, 1:]
        buf += _shift(act, self.weight_exp)
        return buf

    def _wd_flat(self):
        if getattr(self, "_wdf", None) is None:
            m = self.wd.shape[0]
            wdf = self.wd.reshape(m, -1).T  # (K * n, m), row k * n + i
            self._wdf = np.ascontiguousarray(wdf.astype(_exact_dtype(wdf, 2**24 if self.graded else 1)))
        return self._wdf


class LifKernel:
    """PyLifModelBitAcc's arithmetic for one step (u, v updated in place;
    returns the bool spikes)."""

    def __init__(self, du, dv, vth, bias_mant, bias_exp):
        bias_mant = np.asarray(bias_mant).astype(np.int32)
        bias_exp = np.asarray(bias_exp)
        self.bias = np.where(
            bias_exp >= 0, np.left_shift(bias_mant, bias_exp), np.right_shift(bias_mant, -bias_exp)
        )  # int32, as the stock scale_bias
        self.fu = int(P_SCALE - (int(du) + 1))  # ds_offset = 1
        self.fv = int(P_SCALE - (int(dv) + 0))  # dm_offset = 0
        self.vth = int(np.left_shift(np.int64(int(vth)), VTH_SHIFT))
        self.lim = 2**23
        self.has_bias = bool(np.any(self.bias != 0))

    @staticmethod
    def _decay(x, f: int):
        """sign(x*f) * (|x*f| >> 12) as int32 (rounding toward zero, as the
        stock): for p < 0, (p + 4095) >> 12 with an arithmetic shift."""
        if f == 0:
            return np.zeros(x.shape, dtype=np.int32)
        if f == P_SCALE:
            return np.array(x, dtype=np.int32)
        p = x.astype(np.int64)
        p *= f
        p += np.right_shift(p, 63) & (P_SCALE - 1)
        p >>= DECAY_SHIFT
        return p.astype(np.int32)

    def __call__(self, u_var, v_var, a_in):
        lim = self.lim
        # u: decay, += a_in << 6 (int32, in place as the stock), 24-bit wrap (> 2**23 down, <= -2**23 up)
        u = self._decay(u_var, self.fu)
        u += np.left_shift(a_in, VTH_SHIFT)
        if u.size and (u.max() > lim or u.min() <= -lim):
            u = np.where(u > lim, u - 2 * lim, u)
            u = np.where(u <= -lim, u + 2 * lim, u)
        u_var[:] = u
        # v: decay, + u + bias (int32), saturate to +-(2**23 - 1); spike where v > vth << 6; v reset to 0
        v = self._decay(v_var, self.fv)
        v += u_var
        if self.has_bias:
            b = self.bias
            if b.ndim and v.ndim > b.ndim:  # lanes: state (*shape, B)
                b = b.reshape(b.shape + (1,) * (v.ndim - b.ndim))
            v += b
        if v.size and (v.max() >= lim or v.min() <= -lim):
            np.clip(v, -lim + 1, lim - 1, out=v)
        s = v > self.vth
        v[s] = 0
        v_var[:] = v
        return s


@implements(proc=Dense, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "lavacut_fast")
class FastDenseModel(AbstractPyDenseModelBitAcc):
    """Bit-exact with PyDenseModelBitAcc (see module doc)."""

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._k = None

    def run_spk(self):
        if self._k is None:
            self._k = DenseKernel(self.weights, self.proc_params, int(self.num_message_bits.item()) > 0)
            self.weights, self.weights_set, self.weight_exp = self._k.weights, True, self._k.weight_exp
        self.a_out.send(self.a_buff)
        self.a_buff = self._k(self.s_in.recv())


@implements(proc=DelayDense, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "lavacut_fast")
class FastDelayDenseModel(AbstractPyDenseModelBitAcc):
    """Bit-exact with PyDelayDenseModelBitAcc (see module doc)."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, bool, precision=1)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=16)
    a_buff: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    weights: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    delays: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=6)
    num_message_bits: np.ndarray = LavaPyType(np.ndarray, int, precision=5)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._k = None

    def run_spk(self):
        if self._k is None:
            self._k = DelayDenseKernel(
                self.weights,
                self.delays,
                self.proc_params,
                self.a_buff.shape[-1],
                int(self.num_message_bits.item()) > 0,
            )
            self.weights, self.weights_set, self.weight_exp = self._k.weights, True, self._k.weight_exp
        self.a_out.send(self.a_buff[:, 0])
        self.a_buff = self._k(self.a_buff, self.s_in.recv())


def _signed_clamp(x, bits: int):
    base = 1 << bits
    return (x + base // 2) % base - base // 2  # lava.proc.conv.utils.signed_clamp


class ConvKernel:
    """PyConvModelFixed's arithmetic: ``a_buf`` of the next step from this
    step's (X, Y, Cin) input.

    im2col: the zero-padded input gathered into (Xo*Yo, Kx*Ky*Cin) patches
    times the flipped kernel (Kx*Ky*Cin, Cout), block-diagonal over groups,
    in float64 like the stock scipy path: every product and partial sum is an
    integer of magnitude below 2**53 (checked at build for the input range
    the port can carry), so the float64 result is the exact integer sum in
    any order. Then the stock ``astype(int32)`` and 24-bit signed wrap."""

    def __init__(self, input_shape, weight, stride, padding, dilation, groups, graded: bool):
        X, Y, Cin = (int(s) for s in input_shape)
        weight = np.asarray(weight).astype(np.int64)
        Cout, Kx, Ky, Cg = weight.shape
        sx, sy = (int(s) for s in np.asarray(stride).reshape(-1)[:2])
        px, py = (int(s) for s in np.asarray(padding).reshape(-1)[:2])
        dx, dy = (int(s) for s in np.asarray(dilation).reshape(-1)[:2])
        groups = int(groups)
        Xo = (X + 2 * px - dx * (Kx - 1) - 1) // sx + 1
        Yo = (Y + 2 * py - dy * (Ky - 1) - 1) // sy + 1
        self.out_shape = (Xo, Yo, Cout)
        x = np.arange(Xo)[:, None, None, None, None]
        y = np.arange(Yo)[None, :, None, None, None]
        a = np.arange(Kx)[None, None, :, None, None]
        b = np.arange(Ky)[None, None, None, :, None]
        c = np.arange(Cin)[None, None, None, None, :]
        shape = (Xo, Yo, Kx, Ky, Cin)
        ix = np.broadcast_to(x * sx + a * dx - px, shape)
        iy = np.broadcast_to(y * sy + b * dy - py, shape)
        cc = np.broadcast_to(c, shape)
        ok = (ix >= 0) & (ix < X) & (iy >= 0) & (iy < Y)
        flat = (np.clip(ix, 0, X - 1) * Y + np.clip(iy, 0, Y - 1)) * Cin + cc
        n_in = X * Y * Cin
        self.idx = np.where(ok, flat, n_in).reshape(Xo * Yo, Kx * Ky * Cin)  # n_in: a zero past the input
        # w2[(a, b, c), k] = weight[k, Kx-1-a, Ky-1-b, c - g*Cg] for c in k's group g, else 0
        w2 = np.zeros((Kx, Ky, Cin, Cout), dtype=np.int64)
        k_grp = Cout // groups
        flipped = weight[:, ::-1, ::-1, :]  # (Cout, Kx, Ky, Cg)
        for g in range(groups):
            ks = slice(g * k_grp, (g + 1) * k_grp)
            w2[:, :, g * Cg : (g + 1) * Cg, ks] = flipped[ks].transpose(1, 2, 3, 0)
        self.w2 = w2.reshape(Kx * Ky * Cin, Cout).astype(np.float64)
        bound = int(np.abs(w2).sum(axis=(0, 1, 2)).max()) * (2**24 if graded else 1)
        if bound >= 2**53:
            raise ValueError("ConvKernel: weights too large for exact float64 accumulation")
        self._bound = bound
        self.graded = bool(graded)
        self._ext = np.zeros(n_in + 1, dtype=np.float64)

    def __call__(self, s_in):
        ext = self._ext
        if self.graded:
            ext[:-1] = np.asarray(s_in).reshape(-1)
        else:
            ext[:-1] = np.asarray(s_in).reshape(-1) != 0
        a = ext[self.idx] @ self.w2  # (Xo*Yo, Cout), exact integers
        a = a.astype(np.int32).reshape(self.out_shape)  # the stock output.astype(weight.dtype)
        return _signed_clamp(a, 24)

    def batch(self, s_in):
        """Lanes: ``s_in`` (X, Y, Cin, B) -> (Xo, Yo, Cout, B), lane b as
        ``self(s_in[..., b])``: one im2col product for all lanes."""
        B = s_in.shape[-1]
        x = np.asarray(s_in).reshape(-1, B)
        if getattr(self, "_w2b", None) is None:  # float32 where exact (the bound checked at build)
            self._w2b = self.w2.astype(np.float32) if self._bound < 2**24 else self.w2
        ext = np.zeros((B, x.shape[0] + 1), dtype=self._w2b.dtype)
        ext[:, :-1] = (x if self.graded else (x != 0)).T
        cols = ext[:, self.idx]  # (B, Xo*Yo, Kx*Ky*Cin)
        a = cols.reshape(-1, cols.shape[-1]) @ self._w2b  # (B*Xo*Yo, Cout), exact integers
        a = np.moveaxis(a.astype(np.int32).reshape((B,) + self.out_shape), 0, -1)
        if a.size and (a.max() >= 2**23 or a.min() < -(2**23)):  # the wrap changes nothing in range
            a = _signed_clamp(a, 24)
        return a


@implements(proc=Conv, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "lavacut_fast")
class FastConvModel(AbstractPyConvModel):
    """Bit-exact with PyConvModelFixed (see module doc)."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    a_buf: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    weight: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._k = None

    def run_spk(self):
        if self._k is None:
            self._k = ConvKernel(
                self.proc_params["input_shape"],
                self.weight,
                self.stride,
                self.padding,
                self.dilation,
                self.groups[0],
                int(self.num_message_bits.item()) > 0,
            )
        self.a_out.send(self.a_buf)
        self.a_buf = self._k(self.s_in.recv())


@implements(proc=LIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "lavacut_fast")
class FastLifModel(AbstractPyLifModelFixed):
    """Bit-exact with PyLifModelBitAcc (see module doc)."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    vth: int = LavaPyType(int, np.int32, precision=17)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._k = None

    def run_spk(self):
        a_in = self.a_in.recv()
        if self._k is None:
            self._k = LifKernel(self.du, self.dv, self.vth, self.bias_mant, self.bias_exp)
        self.s_out.send(self._k(self.u, self.v, a_in))
