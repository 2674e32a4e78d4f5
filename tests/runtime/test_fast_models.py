"""lavacut's fast ProcessModels and the fused network process against Lava's
stock fixed_pt models, bit for bit.

- Arithmetic (no Lava runtime): each stock model (PyLifModelBitAcc,
  PyDenseModelBitAcc, PyDelayDenseModelBitAcc, PyConvModelFixed) and its fast
  counterpart driven step by step through stand-in ports with the same
  inputs, over extreme values (24-bit wrap of u, saturation of v, negative
  and positive weight exponents, truncated weight bits, graded inputs,
  strided / padded / dilated / grouped convolutions): every state and every
  output message equal.
- Graphs (slow): every layout of test_layouts.py and every shipped export
  (netx_exports/*.net) through one Lava graph with the stock models, the
  fast per-process models and the fused network process: every output spike
  equal; cutoff decisions (t_c, prediction, counts) equal in halt and stream
  mode; stream progress pauses change nothing; no process or shared memory
  left after an error.

No Lava Process is defined here.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from lavacut_testing import descendants, new_shm

from lavacut.cutoff.rules import FixedT, TopKGap

REPO = Path(__file__).resolve().parents[2]
EXPORTS = sorted((REPO / "netx_exports").glob("*.net"))


class _Port:
    """Stand-in for a PyInPort / PyOutPort: recv() returns ``data``, send() records."""

    def __init__(self, data=None):
        self.data, self.sent = data, []

    def recv(self):
        return self.data

    def send(self, x):
        self.sent.append(np.array(x, copy=True))


def _pair(stock_cls, fast_cls, proc_params, **attrs):
    models = []
    for cls in (stock_cls, fast_cls):
        m = cls(dict(proc_params))
        for k, v in attrs.items():
            setattr(m, k, v.copy() if isinstance(v, np.ndarray) else v)
        models.append(m)
    return models


# --------------------------------------------------------------------------
# arithmetic, no runtime
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_lif_arithmetic_matches_stock(seed):
    from lava.proc.lif.models import PyLifModelBitAcc

    from lavacut.runtime.procs.fast_models import FastLifModel

    rng = np.random.default_rng(seed)
    n = 64
    du = int(rng.choice([0, 1, 410, 2048, 4095]))
    dv = int(rng.choice([0, 1, 128, 3000, 4095]))
    lim = 2**23
    u0 = rng.integers(-lim, lim, n).astype(np.int32)
    u0[:4] = [lim - 1, -lim + 1, lim, -lim]
    v0 = rng.integers(-lim + 1, lim, n).astype(np.int32)
    bias_mant = rng.integers(-4096, 4096, n).astype(np.int16) if seed % 2 else np.zeros(n, np.int16)
    bias_exp = rng.integers(0, 8, n).astype(np.int16)
    vth = int(rng.integers(0, 2**17))
    stock, fast = _pair(
        PyLifModelBitAcc, FastLifModel, {}, u=u0, v=v0, du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp
    )
    for m in (stock, fast):
        m.s_out = _Port()
    for step in range(40):
        scale = [2**7, 2**12, 2**17][step % 3]
        a_in = rng.integers(-scale, scale, n).astype(np.int32)
        for m in (stock, fast):
            m.a_in = _Port(a_in.copy())
            m.run_spk()
        assert np.array_equal(stock.u, fast.u), step
        assert np.array_equal(stock.v, fast.v), step
        assert np.array_equal(stock.s_out.sent[-1], fast.s_out.sent[-1]), step


@pytest.mark.parametrize(
    "weight_exp,num_weight_bits,graded", [(0, 8, False), (-3, 8, False), (2, 6, False), (-1, 7, True), (0, 8, True)]
)
def test_dense_arithmetic_matches_stock(weight_exp, num_weight_bits, graded):
    from lava.proc.dense.models import PyDenseModelBitAcc

    from lavacut.runtime.procs.fast_models import FastDenseModel

    rng = np.random.default_rng(weight_exp + 10 * num_weight_bits)
    n, m = 37, 53
    w = rng.integers(-300, 300, (n, m)).astype(np.int32)  # beyond 8 bits: clipped by both
    pp = {"weight_exp": weight_exp, "num_weight_bits": num_weight_bits}
    stock, fast = _pair(
        PyDenseModelBitAcc,
        FastDenseModel,
        pp,
        weights=w,
        a_buff=np.zeros(n, np.int32),
        num_message_bits=np.array([8 if graded else 0]),
    )
    for m_ in (stock, fast):
        m_.a_out = _Port()
    for step in range(12):
        x = (
            rng.integers(-200, 200, m).astype(np.int32)
            if graded
            else (rng.random(m) < [0.0, 0.1, 0.5, 1.0][step % 4]).astype(np.int32)
        )
        for m_ in (stock, fast):
            m_.s_in = _Port(x.copy())
            m_.run_spk()
        assert np.array_equal(stock.a_out.sent[-1], fast.a_out.sent[-1]), step
        assert np.array_equal(np.asarray(stock.a_buff), np.asarray(fast.a_buff)), step


@pytest.mark.parametrize("weight_exp,graded", [(0, False), (-2, False), (1, True)])
def test_delay_dense_arithmetic_matches_stock(weight_exp, graded):
    from lava.proc.dense.models import PyDelayDenseModelBitAcc

    from lavacut.runtime.procs.fast_models import FastDelayDenseModel

    rng = np.random.default_rng(3 + weight_exp)
    n, m, max_delay = 11, 17, 62
    w = rng.integers(-256, 256, (n, m)).astype(np.int32)
    d = rng.integers(0, 9, (n, m)).astype(np.int32)
    d[0, 0] = 62
    pp = {"weight_exp": weight_exp, "num_weight_bits": 8}
    stock, fast = _pair(
        PyDelayDenseModelBitAcc,
        FastDelayDenseModel,
        pp,
        weights=w,
        delays=d,
        a_buff=np.zeros((n, max_delay + 1), np.int32),
        num_message_bits=np.array([8 if graded else 0]),
    )
    for m_ in (stock, fast):
        m_.a_out = _Port()
    for step in range(30):
        x = rng.integers(-50, 50, m).astype(np.int32) if graded else (rng.random(m) < 0.3).astype(np.int32)
        for m_ in (stock, fast):
            m_.s_in = _Port(x.copy())
            m_.run_spk()
        assert np.array_equal(stock.a_out.sent[-1], fast.a_out.sent[-1]), step
        assert np.array_equal(np.asarray(stock.a_buff), np.asarray(fast.a_buff)), step


CONVS = [  # input (X, Y, Cin), Cout, kernel (Kx, Ky), stride, padding, dilation, groups, graded
    ((9, 7, 2), 3, (3, 3), (1, 1), (0, 0), (1, 1), 1, False),
    ((10, 8, 2), 4, (3, 2), (2, 1), (1, 2), (1, 1), 1, False),
    ((11, 9, 4), 6, (3, 3), (2, 3), (2, 1), (2, 1), 2, False),
    ((8, 8, 3), 3, (5, 5), (2, 2), (2, 2), (1, 1), 3, True),
    ((7, 6, 2), 2, (1, 1), (1, 1), (0, 0), (1, 1), 1, True),
]


@pytest.mark.parametrize("case", range(len(CONVS)))
def test_conv_arithmetic_matches_stock(case):
    from lava.proc.conv.models import PyConvModelFixed

    from lavacut.runtime.procs.fast_models import FastConvModel

    in_shape, cout, k, stride, pad, dil, groups, graded = CONVS[case]
    rng = np.random.default_rng(case)
    w = rng.integers(-256, 256, (cout,) + k + (in_shape[2] // groups,)).astype(np.int32)
    attrs = dict(
        weight=w,
        kernel_size=np.array(k),
        stride=np.array(stride),
        padding=np.array(pad),
        dilation=np.array(dil),
        groups=np.array([groups]),
        num_message_bits=np.array([8 if graded else 0]),
        weight_exp=np.array([0]),
        num_weight_bits=np.array([8]),
    )
    stock, fast = _pair(PyConvModelFixed, FastConvModel, {"input_shape": in_shape}, **attrs)
    from lava.proc.conv import utils

    out_shape = utils.output_shape(in_shape, cout, k, stride, pad, dil)
    for m_ in (stock, fast):
        m_.a_out = _Port()
        m_.a_buf = np.zeros(out_shape, np.int32)
    for step in range(6):
        x = (
            rng.integers(-3000, 3000, in_shape).astype(np.int32)
            if graded
            else (rng.random(in_shape) < [0.2, 1.0, 0.0][step % 3]).astype(np.int32)
        )
        for m_ in (stock, fast):
            m_.s_in = _Port(x.copy())
            m_.run_spk()
        assert np.array_equal(stock.a_out.sent[-1], fast.a_out.sent[-1]), step
        assert np.array_equal(np.asarray(stock.a_buf), np.asarray(fast.a_buf)), step


def test_models_choice_is_checked():
    from lavacut.runtime.session import MODELS, make_run_cfg
    from lavacut.util import LavacutError

    assert MODELS[0] == "fast"
    with pytest.raises(LavacutError, match="unknown models"):
        make_run_cfg("cpu", "turbo")
    assert make_run_cfg("cpu", "stock").exception_proc_model_map == {}
    assert len(make_run_cfg("cpu", "fast").exception_proc_model_map) == 4


# --------------------------------------------------------------------------
# whole graphs, every output spike (slow)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def layout_files(tmp_path_factory):
    from test_layouts import _layouts

    d = tmp_path_factory.mktemp("fast_layouts")
    return {name: (build(d / f"{name}.net"), shape) for name, (build, shape, K, verify) in _layouts().items()}


def _all_models(path, frames):
    from lavacut.runtime.record import lava_output

    outs = {}
    for models in ("stock", "fast-procs", "fast"):
        info: dict = {}
        out, _ = lava_output(path, frames, models=models, info=info)
        outs[models] = (out, info)
    return outs


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["input_conv", "input_dense", "average", "conv_out", "conv_avg", "delays", "per_layer", "recurrent"]
)
def test_layouts_every_spike_fast_vs_stock(layout_files, name):
    from test_layouts import _frames

    path, shape = layout_files[name]
    frames = _frames(shape, seed=11)
    outs = _all_models(path, frames)
    ref = outs["stock"][0]
    assert ref.sum() > 0, "no output spike: the comparison would prove nothing"
    assert outs["fast"][1]["fused"], "the fused process should run this layout"
    for models in ("fast-procs", "fast"):
        assert np.array_equal(outs[models][0], ref), f"{name}: {models} differs from stock"


def _export_frames(path, n):
    from lavacut.pipelines.run import RunRequest, open_run

    export, cfg, split, _ = open_run(RunRequest(path, split="test"))
    data = export.frames(cfg, split, n, progress=False)
    return export, data.frames, data.labels


@pytest.mark.slow
@pytest.mark.parametrize("path", EXPORTS, ids=[p.stem for p in EXPORTS])
def test_shipped_exports_every_spike_fast_vs_stock(path):
    _, frames, _ = _export_frames(path, 12)
    outs = _all_models(path, frames)
    ref = outs["stock"][0]
    assert ref.sum() > 0
    assert outs["fast"][1]["fused"]
    for models in ("fast-procs", "fast"):
        assert np.array_equal(outs[models][0], ref), f"{path.name}: {models} differs from stock"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["halt", "stream"])
def test_cutoff_decisions_fast_vs_stock(layout_files, mode):
    """The fused process resets on the switch message instead of RefPorts:
    the same decisions as the stock graph (biases and delays: a state left
    over from the previous sample would change them)."""
    from test_layouts import _frames

    from lavacut.runtime.runner import run_split

    for name in ("delays", "per_layer"):
        path, shape = layout_files[name]
        frames = _frames(shape, seed=5)
        frames = np.concatenate([frames, _frames(shape, seed=6)])
        rule = TopKGap(beta=np.zeros(16))  # stop at the first strict leader
        res = {
            m: run_split(path, frames, None, rule, mode=mode, progress=(m == "fast"), models=m)
            for m in ("stock", "fast")
        }
        for key in ("t_c", "pred", "counts"):
            assert np.array_equal(getattr(res["stock"], key), getattr(res["fast"], key)), (name, key)
        assert res["stock"].lava_steps == res["fast"].lava_steps
        assert 1 < len(set(res["fast"].t_c.tolist())), "every sample cut at the same step proves little"


@pytest.mark.slow
def test_stream_progress_pauses_change_nothing(layout_files, capsys):
    from test_layouts import _frames

    from lavacut.runtime.runner import run_split

    path, shape = layout_files["average"]
    frames = np.concatenate([_frames(shape, seed=s) for s in range(5)])  # 30 samples: pauses every 2
    rule = TopKGap(beta=np.full(16, 0.5))
    quiet = run_split(path, frames, None, rule, mode="stream", progress=False)
    shown = run_split(path, frames, None, rule, mode="stream", progress=True)
    for key in ("t_c", "pred", "counts"):
        assert np.array_equal(getattr(quiet, key), getattr(shown, key)), key


@pytest.mark.slow
def test_fast_run_leaves_no_process_or_shared_memory(layout_files):
    from test_layouts import _frames

    from lavacut.runtime.runner import run_split

    path, shape = layout_files["per_layer"]
    frames = _frames(shape)
    run_split(path, frames[:2], None, FixedT(), mode="stream", progress=False)  # warm the resource tracker
    procs, shm, handler = descendants(), set(os.listdir("/dev/shm")), signal.getsignal(signal.SIGINT)

    def failing(j, t_c, pred):
        if j == 1:
            raise RuntimeError("injected failure")

    with pytest.raises(RuntimeError, match="injected failure"):
        run_split(path, frames, None, TopKGap(beta=np.full(16, 1.0)), mode="halt", progress=False, on_sample=failing)
    run_split(path, frames, None, FixedT(), mode="stream", progress=True)
    assert not descendants() - procs
    assert not new_shm(shm)
    assert signal.getsignal(signal.SIGINT) is handler
