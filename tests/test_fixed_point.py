"""Loihi's fixed-point facts are stated once (lavacut.fixed_point) and are
Lava's: its bit-accurate LIF model's own shifts and scales; the code that
reproduces that model (lif_voltage, the fast LIF kernel) reads them from
there, and lif_voltage equals the stock model step for step."""

from __future__ import annotations

import inspect
import io
import re
import textwrap
import tokenize

import numpy as np
import pytest

from lavacut import fixed_point
from lavacut.fixed_point import DECAY_SHIFT, FIXED_POINT_LIMITS, P_SCALE, VTH_SHIFT, lif_voltage


def _stock_lif():
    from lava.proc.lif.models import PyLifModelBitAcc

    return PyLifModelBitAcc({})


def test_the_fixed_point_facts_are_lavas():
    m = _stock_lif()
    assert (m.decay_shift, m.decay_unity) == (DECAY_SHIFT, P_SCALE)
    assert m.vth_shift == m.act_shift == VTH_SHIFT
    assert m.max_uv_val == FIXED_POINT_LIMITS["voltage"] + 1


def _code(obj) -> str:
    """The source of ``obj`` without its comments and strings (which may say the numbers)."""
    tokens = tokenize.generate_tokens(io.StringIO(textwrap.dedent(inspect.getsource(obj))).readline)
    return " ".join(t.string for t in tokens if t.type not in (tokenize.COMMENT, tokenize.STRING))


def test_lif_arithmetic_spells_no_constant_of_fixed_point():
    from lavacut.runtime.procs.fast_models import LifKernel

    spelled = re.compile(r"\b409[56]\b|<<\s*6\b|>>=?\s*12\b|left_shift\([^)]*,\s*6\s*\)")
    for obj in (lif_voltage, LifKernel):
        code = _code(obj)
        assert "P_SCALE" in code and "VTH_SHIFT" in code
        assert not spelled.findall(code), f"{obj.__qualname__} spells {spelled.findall(code)}"
    assert fixed_point.P_SCALE == 1 << fixed_point.DECAY_SHIFT


class _Port:
    def __init__(self, data=None):
        self.data, self.sent = data, []

    def recv(self):
        return self.data

    def send(self, x):
        self.sent.append(np.array(x, copy=True))


@pytest.mark.parametrize("seed", range(3))
def test_lif_voltage_equals_the_stock_model(seed):
    rng = np.random.default_rng(seed)
    n, T = 32, 30
    du, dv = int(rng.integers(0, 4095)), int(rng.integers(0, 4095))
    bias = rng.integers(-4096, 4096, n)
    a_in = rng.integers(-(2**15), 2**15, (n, T))
    m = _stock_lif()
    m.u, m.v = np.zeros(n, np.int32), np.zeros(n, np.int32)
    m.du, m.dv, m.vth = du, dv, fixed_point.READOUT_VTH_MANT  # never spikes: a voltage readout
    m.bias_mant, m.bias_exp = bias.astype(np.int16), np.full(n, VTH_SHIFT, np.int16)
    m.s_out = _Port()
    stock = np.empty((n, T), np.int64)
    for t in range(T):
        m.a_in = _Port(a_in[:, t].astype(np.int32))
        m.run_spk()
        stock[:, t] = m.v
    assert not any(s.any() for s in m.s_out.sent)
    # netx stores du = iDecay - 1 (the model adds ds_offset 1 back), dv = vDecay
    assert np.array_equal(lif_voltage(a_in, du + 1, dv, bias), stock)
