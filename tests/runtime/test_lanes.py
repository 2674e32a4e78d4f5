"""Lanes: B samples side by side in the fused network, each with its own
cutoff, a lane refilled the step after it decides.

Fast: the kernels' batched paths equal the one-sample kernels lane by lane
(the one-sample kernels are tested bit-exact against Lava's stock models in
test_fast_models.py), the host's replay of the lane schedule, and the
refusals. Slow: every layout the fused process runs (test_layouts.py's
files) with lanes against one lane and against SLAYER, halt and stream,
lanes combined with workers, the shipped export through the CLI
(``--lanes 32`` == ``--lanes 1``), and process hygiene after success, an
error, Ctrl-C, a crash in a Lava process and SIGTERM. Lanes as copies of
netx's graph (models stock / fast-procs; the loihi2 build up to lava-loihi's
adapters): the same decisions as one lane.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

import numpy as np
import pytest
from lavacut_testing import DENSE, Hygiene, run_cli, signal_during_lava
from test_layouts import LAYOUTS, T, _frames, _group_sums, _layouts

from lavacut.cutoff.rules import FixedT, TopKGap, cutoff
from lavacut.util import LavacutError


# --------------------------------------------------------------------------
# fast: kernels, schedule, refusals (no Lava runtime)
# --------------------------------------------------------------------------


def _lanes_of(kernel_call, xs):
    return np.stack([kernel_call(x) for x in xs], axis=-1)


@pytest.mark.parametrize("graded", [False, True])
def test_dense_kernel_batch_equals_one_lane_kernel(graded):
    from lavacut.runtime.procs.fast_models import DenseKernel

    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, (30, 50)) * 2
    for exp in (-3, 0, 2):
        k = DenseKernel(w, {"weight_exp": exp}, graded)
        x = rng.integers(-(2**20), 2**20, (50, 7)) if graded else (rng.random((50, 7)) < 0.2)
        x[:, 3] = 0  # an idle lane
        np.testing.assert_array_equal(k.batch(x), _lanes_of(k, x.T))
        np.testing.assert_array_equal(k.batch(np.zeros((50, 4), bool)), np.zeros((30, 4)))


def test_delay_kernel_batch_equals_one_lane_kernel():
    from lavacut.runtime.procs.fast_models import DelayDenseKernel

    rng = np.random.default_rng(1)
    w = rng.integers(-128, 128, (12, 20)) * 2
    d = rng.integers(0, 6, (12, 20))
    k = DelayDenseKernel(w, d, {"weight_exp": -1}, 7, False)
    buf = rng.integers(-1000, 1000, (12, 7, 5)).astype(np.int32)
    x = rng.random((20, 5)) < 0.3
    ref = np.stack([k(buf[..., b], x[:, b]) for b in range(5)], axis=-1)
    np.testing.assert_array_equal(k.batch(buf, x), ref)


@pytest.mark.parametrize("groups,stride,graded", [(1, 1, False), (2, 2, False), (1, 1, True)])
def test_conv_kernel_batch_equals_one_lane_kernel(groups, stride, graded):
    from lavacut.runtime.procs.fast_models import ConvKernel

    rng = np.random.default_rng(2)
    w = rng.integers(-128, 128, (4, 3, 3, 4 // groups)) * 2
    k = ConvKernel((6, 5, 4), w, (stride, stride), (1, 1), (1, 1), groups, graded)
    x = rng.integers(-500, 500, (6, 5, 4, 3)) if graded else (rng.random((6, 5, 4, 3)) < 0.3)
    np.testing.assert_array_equal(k.batch(x), _lanes_of(k, np.moveaxis(x, -1, 0)))


def test_lif_kernel_lanes_broadcast_the_bias():
    from lavacut.runtime.procs.fast_models import LifKernel

    rng = np.random.default_rng(3)
    bias = rng.integers(-50, 80, (4, 3))
    k = LifKernel(1024, 256, 40, bias, 3)
    u, v = np.zeros((4, 3, 6), np.int32), np.zeros((4, 3, 6), np.int32)
    u1, v1 = np.zeros((6, 4, 3), np.int32), np.zeros((6, 4, 3), np.int32)
    for _ in range(5):
        a = rng.integers(-3000, 9000, (4, 3, 6)).astype(np.int32)
        s = k(u, v, a)
        s1 = np.stack([k(u1[b], v1[b], a[..., b]) for b in range(6)], axis=-1)
        np.testing.assert_array_equal(s, s1)
    np.testing.assert_array_equal(u, np.moveaxis(u1, 0, -1))
    np.testing.assert_array_equal(v, np.moveaxis(v1, 0, -1))


def test_lane_schedule():
    from lavacut.runtime.lanes import lane_schedule

    tc = np.array([3, 1, 4, 1, 5, 9, 2])
    np.testing.assert_array_equal(lane_schedule(tc, 0, 1), np.cumsum(tc))
    np.testing.assert_array_equal(lane_schedule(tc, 2, 1), np.cumsum(tc + 2))
    # lanes 0, 1: 0 ends 3, 1 ends 1 -> s2 in lane 1 (ends 5), s3 in lane 0 (ends 4), s4 in lane 0 (ends 9),
    # s5 in lane 1 (ends 14), s6 in lane 0 (ends 11)
    np.testing.assert_array_equal(lane_schedule(tc, 0, 2), [3, 1, 5, 4, 9, 14, 11])
    np.testing.assert_array_equal(lane_schedule(tc, 0, 10), tc)


def test_lanes_checked_and_copies_bounded():
    from lavacut.runtime.graph import build_split_graph
    from lavacut.runtime.lanes import check_lanes
    from lavacut.runtime.procs.source import MAX_COPIES

    for bad in (-1, 1.5, True):
        with pytest.raises(LavacutError, match="lanes must be"):
            check_lanes(bad, fused=True, loihi2=False)
    assert check_lanes(0, fused=True, loihi2=False) == 0 and check_lanes(0, fused=False, loihi2=False) == 1
    # netx's own graph and loihi2: lanes are copies of the graph, never automatic
    assert check_lanes(4, fused=False, loihi2=False) == 4 and check_lanes(4, fused=True, loihi2=True) == 4
    assert check_lanes(0, fused=True, loihi2=True) == 1
    x = np.zeros((MAX_COPIES + 1, 2312, 4), bool)
    with pytest.raises(LavacutError, match=f"at most {MAX_COPIES} copies"):
        build_split_graph(DENSE, x, FixedT(), halt=False, lanes=MAX_COPIES + 1)


def test_loihi2_lanes_build_copies_up_to_the_adapters(monkeypatch):
    """``--backend loihi2`` with lanes builds R copies of netx's graph; the
    embedded-io adapters between them and the host ship with lava-loihi
    (absent here): the build says so, and with stand-ins for the two adapter
    classes (plain Lava ports: nothing is compiled or run) every copy is
    wired source port r -> adapter -> its own network -> adapter -> monitor
    port r, and the monitor resets each copy's own state Vars."""
    import types

    from lava.magma.core.process.ports.ports import InPort, OutPort

    from lavacut.runtime.graph import build_split_graph, state_vars
    from lavacut.runtime.procs.monitor import _reset_port_name
    from lavacut.runtime.procs.source import copy_port_name

    x = np.zeros((5, 2312, 4), bool)
    with pytest.raises(LavacutError, match="lava-loihi"):
        build_split_graph(DENSE, x, FixedT(), halt=False, loihi2=True, lanes=3)

    def adapter(shape):
        return types.SimpleNamespace(inp=InPort(shape=shape), out=OutPort(shape=shape))

    eio = types.ModuleType("lava.proc.embedded_io")
    eio.spike = types.SimpleNamespace(PyToNxAdapter=adapter, NxToPyAdapter=adapter)
    monkeypatch.setitem(sys.modules, "lava.proc.embedded_io", eio)
    import lava.proc

    monkeypatch.setattr(lava.proc, "embedded_io", eio, raising=False)
    g = build_split_graph(DENSE, x, FixedT(), halt=False, loihi2=True, lanes=3)
    assert g.lanes == 3 and len(g.copies) == 3 and len({id(n) for n in g.copies}) == 3
    assert len(g.adapters) == 6 and g.fused is None
    n_vars = len(state_vars(g.copies[0]))
    for r, net in enumerate(g.copies):
        a_in, a_out = g.adapters[2 * r], g.adapters[2 * r + 1]
        assert getattr(g.source, copy_port_name("s_out", r)).out_connections == [a_in.inp]
        assert a_in.out.out_connections == [net.inp]
        assert net.out.out_connections == [a_out.inp]
        assert a_out.out.out_connections == [getattr(g.monitor, copy_port_name("s_in", r))]
        assert g.out_ports[r] is a_out.out
        for i, var in enumerate(state_vars(net)):
            port = getattr(g.monitor, _reset_port_name(r * n_vars + i))
            assert port.out_connections[0].var is var
    assert not g.source.s_out.out_connections and not g.monitor.s_in.in_connections


# --------------------------------------------------------------------------
# slow: every fused layout, lanes vs one lane vs SLAYER
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("lanes")
    return {
        name: (build(d / f"{name}.net"), shape, K, verify) for name, (build, shape, K, verify) in _layouts().items()
    }


def _same(a, b):
    for key in ("t_c", "pred", "counts"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)


@pytest.mark.slow
@pytest.mark.parametrize("name", LAYOUTS)
def test_layout_lanes_equal_one_lane_and_slayer(files, name):
    from lavacut.export.rebuild.network import net_from_export
    from lavacut.runtime.record import lava_output
    from lavacut.runtime.runner import run_split
    from lavacut.train.inference import forward

    path, shape, K, can_verify = files[name]
    x = np.concatenate([_frames(shape, seed=len(name)), _frames(shape, seed=len(name) + 1)])  # 12 samples
    n = len(x)
    one = lava_output(path, x)[0]  # one lane (== fresh graphs: test_layouts.py)
    lanes, _ = lava_output(path, x, lanes=5)  # 3 rounds, the last with 3 idle lanes
    np.testing.assert_array_equal(lanes, one)
    if can_verify:
        net, _ = net_from_export(path)
        np.testing.assert_array_equal(forward(net, x, readout=False), lanes)
    sums = _group_sums(one.astype(np.int64), K)
    rule = TopKGap(beta=np.zeros(T))  # cuts samples at different steps
    tc, pred = cutoff(rule, sums)
    ref = run_split(path, x, None, rule, mode="stream", progress=False)
    np.testing.assert_array_equal(ref.t_c, tc)
    for mode in ("stream", "halt"):
        res = run_split(path, x, None, rule, mode=mode, progress=False, lanes=4)
        assert res.lanes == 4
        _same(res, ref)
    full = run_split(path, x, None, FixedT(), mode="stream", progress=False, lanes=3)
    np.testing.assert_array_equal(full.counts, sums.sum(-1))
    assert full.lava_steps == -(-n // 3) * T


@pytest.mark.slow
@pytest.mark.parametrize("name", ["input_dense", "conv_avg", "delays"])
def test_layout_copies_equal_one_lane(files, name):
    """Copies of netx's graph (models fast-procs, 3 lanes) on the layouts
    whose wiring differs per copy: input neurons driven on their ``a_in``, a
    conv output with an average readout (a (W, H, C) port per copy), delay
    lines reset per copy; decisions and counts as one lane of the fused
    network, halt and stream."""
    from lavacut.runtime.runner import run_split

    path, shape, K, _ = files[name]
    x = np.concatenate([_frames(shape, seed=len(name)), _frames(shape, seed=len(name) + 1)])  # 12 samples
    rule = TopKGap(beta=np.zeros(T))
    ref = run_split(path, x, None, rule, mode="stream", progress=False)
    for mode in ("stream", "halt"):
        res = run_split(path, x, None, rule, mode=mode, progress=False, models="fast-procs", lanes=3)
        assert res.lanes == 3
        _same(res, ref)


@pytest.mark.slow
def test_copies_read_each_copys_voltage_readout():
    """A voltage readout (lava-dl's mnist.net) with copies of netx's graph:
    the monitor reads each active copy's readout v through its own RefPort;
    decisions and Y(t_c) as one lane of the fused network."""
    from test_voltage_readout import MNIST, _digits

    from lavacut.runtime.runner import run_split

    frames, labels = _digits(7, seed=2)
    rule = TopKGap(beta=np.full(frames.shape[-1], 3000.0))
    ref = run_split(MNIST, frames, labels, rule, mode="stream", progress=False)
    assert 1 < len(set(ref.t_c.tolist())), "every sample decided at the same step"
    for models, mode in (("stock", "halt"), ("fast-procs", "stream")):
        res = run_split(MNIST, frames, labels, rule, mode=mode, progress=False, models=models, lanes=3)
        assert res.lanes == 3
        _same(res, ref)


@pytest.mark.slow
def test_shipped_dense_lanes_halt_stream_workers_and_the_step_schedule():
    """40 test samples of the shipped export under its calibrated rule:
    lanes 8 (stream, halt; with 2 workers) and 64 (more lanes than samples)
    decide exactly as one lane; decisions come back in sample order, halt
    mode reports each sample once; and the schedule contains the cases that
    matter: several lanes deciding in the same step, and a lane deciding in
    the step another lane starts a sample."""
    from lavacut.pipelines.run import RunRequest, open_run
    from lavacut.runtime.lanes import lane_schedule
    from lavacut.runtime.runner import run_split

    export, cfg, split, _ = open_run(RunRequest(DENSE, split="test"))
    data = export.frames(cfg, split, 40, progress=False)
    rule = export.rule(None, None, data.frames.shape[-1])
    ref = run_split(DENSE, data.frames, data.labels, rule, mode="stream", progress=False)
    seen = []
    halt = run_split(
        DENSE,
        data.frames,
        data.labels,
        rule,
        mode="halt",
        progress=False,
        lanes=8,
        on_sample=lambda i, tc, pred: seen.append((i, tc, pred)),
    )
    _same(halt, ref)
    assert sorted(i for i, _, _ in seen) == list(range(40))
    assert all((tc, pred) == (ref.t_c[i], ref.pred[i]) for i, tc, pred in seen)
    for kw in ({"lanes": 8}, {"lanes": 8, "workers": 2}, {"lanes": 64}):
        res = run_split(DENSE, data.frames, data.labels, rule, mode="stream", progress=False, **kw)
        _same(res, ref)
        assert res.lanes == min(kw["lanes"], 40 // kw.get("workers", 1))
    done = lane_schedule(ref.t_c, 0, 8)
    start = done - ref.t_c + 1
    assert len(done) > len(set(done.tolist())), "no two lanes decided in the same step"
    assert set(done.tolist()) & set(start.tolist()), "no lane decided in a step another lane started"


@pytest.mark.slow
def test_cli_run_stream_lanes_32_equals_lanes_1_on_the_test_split(tmp_path):
    """Issue 24's acceptance: ``lavacut run embedded_dense --split test
    --mode stream --lanes 32`` decides every sample as ``--lanes 1``."""
    reps = {}
    for b in (1, 32):
        rep = tmp_path / f"lanes{b}.json"
        run_cli("run", "embedded_dense", "--split", "test", "--mode", "stream", "--lanes", b, "--report", rep)
        reps[b] = json.loads(rep.read_text())
    assert reps[32]["lanes"] == 32 and reps[1]["lanes"] == 1
    assert reps[1]["n_samples"] == reps[32]["n_samples"] > 100
    keys = ("index", "t_c", "pred", "pred_full", "label")
    one = [{k: r[k] for k in keys} for r in reps[1]["per_sample"]]
    assert one == [{k: r[k] for k in keys} for r in reps[32]["per_sample"]]
    assert reps[1]["lava_steps_cutoff"] > 10 * reps[32]["lava_steps_cutoff"]


@pytest.mark.slow
@pytest.mark.parametrize("models", ["stock", "fast-procs"])
def test_copies_of_netx_graph_equal_one_lane(models, tmp_path):
    """Lanes with netx's own graph (R copies in one runtime, each reset
    through its own RefPorts, refilled dynamically): 9 test samples of the
    shipped dense export decide exactly as one lane, halt and stream, in
    sample order, with the lanes' step schedule; verify's recording equals
    one lane's; the CLI's per-sample records (t_c, pred, counts, pred_full,
    counts_full) equal ``--lanes 1``'s; no process or /dev/shm segment is
    left after success or an error."""
    from lavacut.pipelines.run import RunRequest, open_run
    from lavacut.runtime.lanes import lane_schedule
    from lavacut.runtime.record import lava_output
    from lavacut.runtime.runner import run_split

    export, cfg, split, _ = open_run(RunRequest(DENSE, split="test"))
    data = export.frames(cfg, split, 9, progress=False)
    rule = export.rule(None, None, data.frames.shape[-1])
    ref = run_split(DENSE, data.frames, data.labels, rule, mode="stream", progress=False, models=models)
    assert len(set(ref.t_c.tolist())) > 1, "every sample decided at the same step"
    h = Hygiene()
    seen = []
    halt = run_split(
        DENSE,
        data.frames,
        data.labels,
        rule,
        mode="halt",
        progress=False,
        models=models,
        lanes=3,
        on_sample=lambda i, tc, pred: seen.append((i, tc, pred)),
    )
    _same(halt, ref)
    assert halt.lanes == 3 and sorted(i for i, _, _ in seen) == list(range(9))
    stream = run_split(DENSE, data.frames, data.labels, rule, mode="stream", progress=False, models=models, lanes=4)
    _same(stream, ref)
    assert stream.lava_steps == lane_schedule(ref.t_c, 0, 4).max() < ref.lava_steps
    h.check()

    def fail(i, tc, pred, calls=[]):  # noqa: B006 - counts calls
        calls.append(i)
        if len(calls) == 2:
            raise RuntimeError("injected failure")

    with pytest.raises(RuntimeError, match="injected"):
        run_split(
            DENSE, data.frames, data.labels, rule, mode="halt", progress=False, models=models, lanes=3, on_sample=fail
        )
    h.check()
    x = data.frames[:5, ..., :12]
    np.testing.assert_array_equal(
        lava_output(DENSE, x, models=models, lanes=2)[0], lava_output(DENSE, x, models=models)[0]
    )
    reps = {}
    for b in (1, 3):
        rep = tmp_path / f"lanes{b}.json"
        run_cli("run", "embedded_dense", "--samples", "6", "--models", models, "--lanes", b, "--report", rep)
        reps[b] = json.loads(rep.read_text())
    assert reps[3]["lanes"] == 3 and reps[3]["models"] == models
    assert reps[1]["per_sample"] == reps[3]["per_sample"] and len(reps[1]["per_sample"]) == 6


# --------------------------------------------------------------------------
# slow: process hygiene with lanes
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warm(files):
    from lavacut.runtime.runner import run_split

    path, shape, _, _ = files["delays"]
    x = np.concatenate([_frames(shape, seed=s) for s in range(4)])  # 24 samples
    run_split(path, x[:2], None, FixedT(), mode="stream", progress=False, lanes=2)  # the resource tracker
    return path, x


@pytest.mark.slow
def test_hygiene_with_lanes_success_error_interrupt(warm):
    from lavacut.runtime.runner import run_split

    path, x = warm
    rule = TopKGap(beta=np.zeros(T))
    h = Hygiene()
    run_split(path, x, None, rule, mode="stream", progress=False, lanes=4)
    h.check()
    for exc in (RuntimeError("injected failure"), KeyboardInterrupt()):

        def fail(i, tc, pred, calls=[], exc=exc):  # noqa: B006 - counts calls
            calls.append(i)
            if len(calls) == 3:
                raise exc

        with pytest.raises(type(exc)):
            run_split(path, x, None, rule, mode="halt", progress=False, lanes=4, on_sample=fail)
        h.check()


@pytest.mark.slow
def test_hygiene_with_lanes_sigint_and_crash(warm, monkeypatch):
    from lavacut.runtime.runner import run_split

    path, x = warm
    long = np.concatenate([np.repeat(x, 8, axis=0)] * 4, axis=-1)  # 192 samples x 64 steps
    h = Hygiene()
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_split(path, long, None, FixedT(), mode="stream", progress=False, lanes=4)
    finally:
        timer.cancel()
    h.check()
    orig = TopKGap.fires

    def boom(self, counts, t):
        if (np.asarray(t) == 3).any():
            raise ZeroDivisionError("boom in the monitor")
        return orig(self, counts, t)

    monkeypatch.setattr(TopKGap, "fires", boom)
    with pytest.raises(LavacutError, match="boom in the monitor"):
        run_split(path, x, None, TopKGap(beta=np.full(T, 100.0)), mode="stream", progress=False, lanes=4)
    h.check()


@pytest.mark.slow
def test_sigterm_with_lanes_leaves_nothing(tmp_path):
    args = ("run", DENSE, "--samples", 0, "--mode", "stream", "--lanes", 2, "--report", tmp_path / "r.json")
    r, left, leaked = signal_during_lava(*args, cwd=tmp_path, settle=1.0)
    assert r.returncode == 128 + signal.SIGTERM, r.stderr[-2000:]
    assert not left, f"Lava processes left behind: {left}"
    assert not leaked, f"/dev/shm entries left behind: {sorted(leaked)}"
    assert not (tmp_path / "r.json").exists()


# --------------------------------------------------------------------------
# fast: the chip counterpart (check --replicas), the config key
# --------------------------------------------------------------------------


def test_check_replicas_core_map_and_report(tmp_path):
    from lavacut.pipelines.check import check_export

    one, _ = check_export(DENSE)
    k = one.totals["cores"]
    rep, written = check_export(DENSE, report=tmp_path / "c.json", replicas=100)
    d = json.loads(written[0].read_text())
    assert d["replicas"] == 100 and d["replicas_per_chip"] == 128 // k and d["replica_binding"] == "cores_per_chip"
    assert d["totals"]["cores"] == 100 * k and d["totals"]["chips"] == -(-100 // (128 // k))
    assert d["totals"]["input_spikes_per_step_max"] == 100 * 2312
    assert len(d["cores"]) == 100 * k and {c["replica"] for c in d["cores"]} == set(range(100))
    assert all(c["chip"] == c["core"] // 128 for c in d["cores"])
    assert any("input" in a["figure"] for a in d["assumptions"]) and any(p["rule"] == "replicas" for p in d["problems"])
    assert json.loads(json.dumps(check_export(DENSE)[0].to_dict()))["replicas_per_chip"] == 128 // k
    with pytest.raises(LavacutError, match="replicas"):
        check_export(DENSE, replicas=0)


def test_run_lanes_config_key():
    from lavacut.config import ConfigError, load_config

    assert load_config(None, []).run.lanes == 0  # automatic
    assert load_config(None, ["run.lanes=8"]).run.lanes == 8
    with pytest.raises(ConfigError, match="run.lanes"):
        load_config(None, ["run.lanes=-1"])
