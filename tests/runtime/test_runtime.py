"""Tests of lavacut.runtime: the Lava cutoff monitor, the sample source, the
on-graph reset, the runner and its process hygiene.

The networks are small SLAYER cuba nets with random weights, exported block
by block into a NetX 'layer' group (no dependency on lavacut.train). No Lava
Process is defined here (Lava would execute this file while it looks for
ProcessModels).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from lavacut_testing import DENSE, Hygiene

from lavacut.cutoff import rules as policies
from lavacut.cutoff.rules import Confidence, Conformal, Entropy, FixedT, TopKGap, cutoff
from lavacut.util import LavacutError

T = 25  # frames per sample in the isolation set
N_ISO = 56  # samples in one compiled graph for the isolation test
N_SINGLE = 8  # of them, run alone in fresh Lava graphs to show SLAYER equal to that
LATENCY = 3  # output steps behind the input in the dense isolation net: one per synapse layer
NEURON = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03, "tau_grad": 1, "scale_grad": 1}


# --------------------------------------------------------------------------
# helpers: build and export nets, SLAYER reference
# --------------------------------------------------------------------------


def _export(blocks, path, input_chw=None):
    import h5py
    import torch

    with torch.no_grad():  # SLAYER needs one forward before export
        shape = (1,) + (tuple(input_chw) if input_chw else (blocks[0].synapse.in_channels,)) + (3,)
        x = torch.zeros(shape)
        for b in blocks:
            x = b(x)
    with h5py.File(path, "w") as f:
        lay = f.create_group("layer")
        off = 0
        if input_chw is not None:  # conv nets: netx needs the input shape
            g = lay.create_group("0")
            g.create_dataset("type", (1,), "S10", [b"input"])
            g.create_dataset("shape", data=np.array(input_chw))
            off = 1
        for i, b in enumerate(blocks):
            b.export_hdf5(lay.create_group(str(i + off)))


def _dense_blocks(sizes, scales, seed):
    import torch
    from lava.lib.dl import slayer

    torch.manual_seed(seed)
    return torch.nn.ModuleList(
        [slayer.block.cuba.Dense(NEURON, sizes[i], sizes[i + 1], weight_scale=scales[i]) for i in range(len(sizes) - 1)]
    )


def _conv_blocks(chw, seed):
    import torch
    from lava.lib.dl import slayer

    torch.manual_seed(seed)
    C, H, W = chw
    h, w = (H + 1) // 2, (W + 1) // 2
    return torch.nn.ModuleList(
        [
            slayer.block.cuba.Conv(NEURON, C, 4, 3, stride=2, padding=1, weight_scale=4),
            slayer.block.cuba.Flatten(),
            slayer.block.cuba.Dense(NEURON, 4 * h * w, 3, weight_scale=3),
        ]
    )


def _slayer(blocks, x):
    import torch

    with torch.no_grad():
        y = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        for b in blocks.eval():
            y = b(y)
    return y.numpy().astype(np.int64)


def _slayer_aligned(blocks, x):
    """SLAYER without its one-step shift per block (delay_shift=False): the
    output frame-aligned with the input."""
    for b in blocks:
        b.delay_shift = False
    try:
        return _slayer(blocks, x)
    finally:
        for b in blocks:
            b.delay_shift = True


def _iso_frames(n, features, seed):
    """Sample 0 all ones, sample 1 all zeros (never fires), then random
    densities."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.03, 0.5, (n - 2, 1, 1))
    x = rng.random((n - 2, features, T)) < p
    return np.concatenate([np.ones((1, features, T), bool), np.zeros((1, features, T), bool), x])


def _single_all(path, frames, frame_aligned=False):
    from lavacut.runtime.runner import run_single

    return np.stack([run_single(path, f, frame_aligned=frame_aligned) for f in frames])


def _check_against_single(res, single, rule):
    """Per sample: counts == run_single truncated at t_c, and t_c, pred ==
    policies.cutoff on run_single's spikes."""
    tc_ref, pred_ref = cutoff(rule, single)
    np.testing.assert_array_equal(res.t_c, tc_ref)
    np.testing.assert_array_equal(res.pred, pred_ref)
    Y = np.cumsum(single, axis=-1)
    np.testing.assert_array_equal(res.counts, Y[np.arange(len(single)), :, res.t_c - 1])
    assert res.lava_steps == int(np.sum(res.t_c + res.offset))


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("rt") / "dense.net")
    blocks = _dense_blocks((24, 16, 12, 4), (4.0, 3.0, 3.0), seed=0)
    _export(blocks, path)
    x = _iso_frames(N_ISO, 24, seed=0)
    return SimpleNamespace(path=path, blocks=blocks, x=x, ref=_slayer(blocks, x), ref_fa=_slayer_aligned(blocks, x))


@pytest.fixture(scope="module")
def dense_long(dense):
    """run_single (a fresh graph, the sample alone) for the first N_SINGLE
    isolation samples over their T frames and LATENCY zero frames after: one
    run gives both alignments (output step t depends only on frames 1..t)."""
    x = dense.x[:N_SINGLE]
    return _single_all(dense.path, np.concatenate([x, np.zeros(x.shape[:-1] + (LATENCY,), bool)], axis=-1))


@pytest.fixture(scope="module")
def dense_single(dense):
    """Each isolation sample alone at full T: SLAYER's forward, which
    test_run_single_matches_slayer_dense shows equal, spike for spike, to
    run_single (a fresh Lava graph per sample) on this network."""
    return dense.ref


@pytest.fixture(scope="module")
def dense_single_fa(dense):
    """The same, frame-aligned (latency removed; what run_single with
    frame_aligned runs and keeps): output step 1 already carries the
    response to frame 1, so a rule can cut at step 1 with spikes of the old
    sample still in flight: the hardest case for the reset."""
    return dense.ref_fa


@pytest.fixture(scope="module")
def conv(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("rt") / "conv.net")
    chw = (2, 6, 10)  # non-square: catches an H/W swap
    blocks = _conv_blocks(chw, seed=1)
    _export(blocks, path, input_chw=chw)
    rng = np.random.default_rng(1)
    x = rng.random((8,) + chw + (12,)) < rng.uniform(0.1, 0.5, (8, 1, 1, 1, 1))
    return SimpleNamespace(path=path, blocks=blocks, x=x, ref=_slayer(blocks, x))


#: frame-aligned isolation rule: fires at output step 1 on any spike, later on a gap > 3
ISO_RULE = TopKGap(beta=np.r_[0.0, np.full(T - 1, 3.0)])
#: the same for SLAYER timesteps: the first D = 3 steps are silent, so the
#: earliest informative step is 4
ISO_RULE_SLAYER = TopKGap(beta=np.r_[np.full(3, 99.0), 0.0, np.full(T - 4, 3.0)])


# --------------------------------------------------------------------------
# fast tests (no Lava runtime)
# --------------------------------------------------------------------------


def test_pack_frames_layouts():
    from lavacut.runtime.frames import pack_frames, unpack_frames

    rng = np.random.default_rng(0)
    x = rng.random((3, 2, 3, 5, 4)) < 0.5  # (N, C, H, W, T)
    # conv input: netx shape (W, H, C)
    p = pack_frames(x, (5, 3, 2))
    np.testing.assert_array_equal(unpack_frames(p, (5, 3, 2)), x.transpose(0, 4, 3, 2, 1))
    # dense input: flatten C, H, W; (N, C*H*W, T) gives the same
    p = pack_frames(x, (30,))
    want = np.moveaxis(x.reshape(3, 30, 4), -1, 1)
    np.testing.assert_array_equal(unpack_frames(p, (30,)), want)
    np.testing.assert_array_equal(pack_frames(x.reshape(3, 30, 4).astype(np.uint8), (30,)), p)
    with pytest.raises(LavacutError, match="binary"):
        pack_frames(x.astype(np.int32) * 2, (30,))
    with pytest.raises(LavacutError, match="features"):
        pack_frames(x, (31,))


def test_loihi2_backend_without_lava_loihi_is_a_clear_error(tmp_path):
    from lava.utils import loihi

    from lavacut.runtime.runner import run_single, run_split

    if loihi.is_installed():
        pytest.skip("lava-loihi is installed here")
    x = np.zeros((1, 4, 3), bool)
    with pytest.raises(LavacutError, match="lava-loihi") as e:
        run_split(tmp_path / "absent.net", x, [0], FixedT(), backend="loihi2")
    assert "is_installed" in str(e.value) and "backend='cpu'" in str(e.value)
    with pytest.raises(LavacutError, match="lava-loihi"):
        run_single(tmp_path / "absent.net", x[0], backend="loihi2")


def test_bad_arguments(dense):
    from lavacut.runtime.runner import run_split

    x = dense.x[:2]
    with pytest.raises(LavacutError, match="mode"):
        run_split(dense.path, x, [0, 0], FixedT(), mode="fast")
    with pytest.raises(LavacutError, match="labels"):
        run_split(dense.path, x, [0], FixedT())
    with pytest.raises(LavacutError, match="beta"):
        run_split(dense.path, x, [0, 0], TopKGap(beta=np.ones(T - 1)))


def test_lava_session_has_one_blas_thread_and_restores_the_callers(dense, monkeypatch):
    """While a Lava session is open the host (and so each Lava process it
    forks) has one BLAS thread per library; the caller's setting returns
    after it."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from lavacut.runtime.runner import run_single
    from lavacut.runtime.session import LavaSession

    def blas_threads() -> dict[str, int]:
        return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    seen = []
    real = LavaSession.run_steps

    def observed(self, n):
        seen.append(blas_threads())
        return real(self, n)

    monkeypatch.setattr(LavaSession, "run_steps", observed)
    with threadpool_limits(2, user_api="blas"):
        callers = blas_threads()
        assert 2 in callers.values()  # a library the session must change
        run_single(dense.path, dense.x[0])
        assert seen == [dict.fromkeys(callers, 1)]
        assert blas_threads() == callers


def test_model_search_is_lavas_once_per_process_class(monkeypatch):
    """The ProcessModel search lavacut memoizes finds what Lava's own finds,
    and a second search executes no module file."""
    from lava.magma.compiler import compiler_graphs
    from lava.proc.dense.process import Dense
    from lava.proc.lif.process import LIF

    from lavacut.runtime.network import load_network
    from lavacut.runtime.session import _memoize_model_search

    _memoize_model_search()
    search = compiler_graphs.ProcGroupDiGraphs._find_proc_models
    net = load_network(DENSE)  # netx's Network and its blocks
    procs = [LIF(shape=(2,)), Dense(weights=np.eye(2)), net, net.layers[0]]
    for p in procs:
        assert search(p) == search.lava_search(p) and search(p), type(p).__name__

    executed = []
    real = compiler_graphs.import_utils.spec_from_file_location
    monkeypatch.setattr(
        compiler_graphs.import_utils, "spec_from_file_location", lambda *a, **k: executed.append(a) or real(*a, **k)
    )
    for p in procs:
        search(p)
    assert executed == []
    search.lava_search(procs[0])
    assert executed  # the spy sees Lava's own search


# --------------------------------------------------------------------------
# run_single: alignment with SLAYER, latency, conv layout
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_run_single_matches_slayer_dense(dense, dense_long):
    """A fresh Lava graph per sample == SLAYER, in both alignments: what lets
    SLAYER stand for "each sample alone" in the isolation tests below."""
    from lavacut.runtime.graph import network_latency
    from lavacut.runtime.network import load_network
    from lavacut.runtime.runner import run_single

    assert network_latency(load_network(dense.path)) == LATENCY
    assert dense.x[0].all() and not dense.x[1].any()  # the edge cases are among the N_SINGLE
    # run_single == SLAYER's default forward (delay_shift=True) at zero shift
    np.testing.assert_array_equal(dense_long[..., :T], dense.ref[:N_SINGLE])
    assert dense.ref[:, :, :LATENCY].sum() == 0 and dense.ref.sum() > 0  # first D steps silent
    # the latency removed == SLAYER with delay_shift=False, run_single's frame_aligned too
    np.testing.assert_array_equal(dense_long[..., LATENCY:], dense.ref_fa[:N_SINGLE])
    for i in range(2):
        np.testing.assert_array_equal(run_single(dense.path, dense.x[i + 2], frame_aligned=True), dense.ref_fa[i + 2])


@pytest.mark.slow
def test_run_single_matches_slayer_conv(conv):
    """netx conv input order is (W, H, C): the transpose is right on a
    non-square input."""
    from lavacut.runtime.runner import run_single

    for i in range(3):
        s = run_single(conv.path, conv.x[i])
        np.testing.assert_array_equal(s, conv.ref[i])
    assert conv.ref[:3].sum() > 0


# --------------------------------------------------------------------------
# isolation: one compiled graph == each sample alone in a fresh graph
# --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["halt", "stream"])
@pytest.mark.parametrize("frame_aligned", [False, True])
def test_isolation_many_samples_one_graph(dense, dense_single, dense_single_fa, mode, frame_aligned):
    from lavacut.runtime.runner import run_split

    single = dense_single_fa if frame_aligned else dense_single
    rule = ISO_RULE if frame_aligned else ISO_RULE_SLAYER
    first = 1 if frame_aligned else 4  # earliest step with output spikes
    tc_ref, pred_ref = cutoff(rule, single)
    # the explicit edge cases are present
    assert tc_ref[1] == T and pred_ref[1] == -1  # all-zero input: never fires
    early = np.flatnonzero(tc_ref == first)
    never = np.flatnonzero(tc_ref == T)
    assert len(early) >= 2, tc_ref  # cuts at the earliest step
    assert len(never) >= 3, tc_ref  # runs to T
    assert len(set(tc_ref.tolist())) >= 8  # and many in between

    labels = np.arange(N_ISO) % 4
    res = run_split(dense.path, dense.x, labels, rule, mode=mode, progress=False, frame_aligned=frame_aligned)
    assert res.mode == mode and res.latency == LATENCY and res.horizon == T
    assert res.offset == (LATENCY if frame_aligned else 0)
    _check_against_single(res, single, rule)
    np.testing.assert_array_equal(res.labels, labels)
    if mode == "halt":
        assert len(res.wall_s_per_sample) == N_ISO
    else:
        assert res.wall_s_per_sample is None


@pytest.mark.slow
def test_isolation_step1_and_never_stop_back_to_back(dense, dense_single_fa):
    """Explicit order: step-1 sample, never-stop sample, step-1 again, ..."""
    from lavacut.runtime.runner import run_split

    tc_ref, _ = cutoff(ISO_RULE, dense_single_fa)
    a = int(np.flatnonzero(tc_ref == 1)[0])
    b = 1  # all zeros: t_c = T
    c = int(np.flatnonzero((tc_ref == T) & (np.arange(N_ISO) != 1))[0])  # spikes, no decision
    order = np.array([a, b, a, c, a, a, c, b])
    res = run_split(
        dense.path, dense.x[order], np.zeros(len(order), int), ISO_RULE, mode="halt", progress=False, frame_aligned=True
    )
    _check_against_single(res, dense_single_fa[order], ISO_RULE)
    np.testing.assert_array_equal(res.t_c, [1, T, 1, T, 1, 1, T, T])


@pytest.mark.slow
def test_every_sample_cut_at_step_1(dense, dense_single):
    """SLAYER timesteps: a rule that fires at step 1 (a static truncation at
    T' = 1: adaptive rules wait for a decision) switches sample every Lava
    step; nothing has reached the output yet."""
    from lavacut.runtime.runner import run_split

    rule = FixedT(t_stop=1)
    res = run_split(dense.path, dense.x[:10], np.zeros(10, int), rule, mode="stream", progress=False)
    np.testing.assert_array_equal(res.t_c, np.ones(10))
    np.testing.assert_array_equal(res.pred, -np.ones(10))
    assert res.counts.sum() == 0 and res.lava_steps == 10
    _check_against_single(res, dense_single[:10], rule)


@pytest.mark.slow
def test_isolation_conv(conv):
    from lavacut.runtime.runner import run_split

    single = _single_all(conv.path, conv.x)
    np.testing.assert_array_equal(single, conv.ref)
    rule = TopKGap(beta=np.full(12, 1.0))
    res = run_split(conv.path, conv.x, np.zeros(8, int), rule, mode="stream", progress=False)
    assert res.latency == 2
    _check_against_single(res, single, rule)
    assert len(set(res.t_c.tolist())) > 1


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["bias", "delay"])
def test_isolation_bias_and_delay_synapses(tmp_path, variant):
    """The synchronous reset is exact where a netx-style staggered neuron
    reset is not: neurons with a bias (a fresh graph integrates it for l
    steps before input arrives) and DelayDense synapses (a_buff holds old
    activity for future steps)."""
    import h5py

    from lavacut.export.rebuild.network import net_from_export
    from lavacut.runtime.runner import run_split
    from lavacut.train.inference import forward

    path = str(tmp_path / f"{variant}.net")
    _export(_dense_blocks((24, 16, 12, 4), (4.0, 3.0, 3.0), seed=2), path)
    rng = np.random.default_rng(5)
    with h5py.File(path, "r+") as f:
        for i, n in ((0, 16), (1, 12)):  # hidden layers
            g = f["layer"][str(i)]
            if variant == "bias":
                g.create_dataset("bias", data=rng.integers(-20, 30, n).astype(np.float64))
            else:
                g.create_dataset("delay", data=rng.integers(0, 5, n).astype(np.float64))
    x = _iso_frames(10, 24, seed=3)
    # each sample alone: in the SLAYER rebuild of the file (all 10), and in a fresh
    # stock-netx graph (samples 0 and 1: enough to show the two references agree)
    alone = forward(net_from_export(path)[0], x, readout=False).astype(np.int64)
    np.testing.assert_array_equal(_single_all(path, x[:2]), alone[:2])
    rule = TopKGap(beta=np.r_[0.0, np.full(T - 1, 1.0)])
    res = run_split(path, x, np.zeros(10, int), rule, mode="stream", progress=False)
    _check_against_single(res, alone, rule)
    assert len(set(res.t_c.tolist())) > 1
    if variant == "bias":
        assert alone[1].sum() > 0  # bias alone drives output spikes


# --------------------------------------------------------------------------
# every stop rule: Lava decisions == policies.cutoff
# --------------------------------------------------------------------------

RULES = {
    "fixed": FixedT(),
    "fixed_t7": FixedT(t_stop=7),
    "topk": TopKGap(beta=np.linspace(1.0, 6.0, T)),
    "confidence": Confidence(eps=0.2, temperature=1.0),
    "entropy": Entropy(threshold=0.5, temperature=1.0),
    "conformal": Conformal(q=np.full(T, 1.5), temperature=2.0),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RULES))
def test_each_rule_matches_reference_cutoff(dense, dense_single, name):
    from lavacut.runtime.runner import run_split

    rule = RULES[name]
    sel = np.arange(12)
    res = run_split(dense.path, dense.x[sel], np.zeros(len(sel), int), rule, mode="stream", progress=False)
    _check_against_single(res, dense_single[sel], rule)
    # and, sample by sample, the same rule applied in torch to SLAYER's output counts
    tc_torch, pred_torch = cutoff(rule, dense.ref[sel])
    np.testing.assert_array_equal(res.t_c, tc_torch)
    np.testing.assert_array_equal(res.pred, pred_torch)
    if name == "fixed":
        assert (res.t_c == T).all()
    elif name == "fixed_t7":
        assert (res.t_c == 7).all()
    else:  # the rule both fires and does not
        assert res.t_c.min() < T and len(set(res.t_c.tolist())) > 2, res.t_c


# --------------------------------------------------------------------------
# process hygiene
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warm(dense):
    """One run first: Python's multiprocessing resource tracker, started by
    the first shared-memory use, lives as long as the test process by design."""
    from lavacut.runtime.runner import run_split

    run_split(dense.path, dense.x[:2], [0, 0], FixedT(), mode="stream", progress=False)
    return dense


@pytest.mark.slow
def test_hygiene_after_normal_run(warm):
    from lavacut.runtime.runner import run_single, run_split

    h = Hygiene()
    run_split(warm.path, warm.x[:4], np.zeros(4, int), ISO_RULE, mode="halt", progress=False)
    run_single(warm.path, warm.x[2])
    h.check()


@pytest.mark.slow
def test_hygiene_after_exception_in_run_loop(warm):
    from lavacut.runtime.runner import run_split

    def failing(j, t_c, pred):
        if j == 2:
            raise RuntimeError("injected failure")

    h = Hygiene()
    with pytest.raises(RuntimeError, match="injected failure"):
        run_split(warm.path, warm.x[:6], np.zeros(6, int), ISO_RULE, mode="halt", progress=False, on_sample=failing)
    h.check()


@pytest.mark.slow
def test_hygiene_after_keyboard_interrupt_in_run_loop(warm):
    from lavacut.runtime.runner import run_split

    def interrupt(j, t_c, pred):
        if j == 1:
            raise KeyboardInterrupt

    h = Hygiene()
    with pytest.raises(KeyboardInterrupt):
        run_split(warm.path, warm.x[:6], np.zeros(6, int), ISO_RULE, mode="halt", progress=False, on_sample=interrupt)
    h.check()


@pytest.mark.slow
def test_hygiene_after_sigint_during_stream_run(warm):
    """A real SIGINT while the host waits inside Lava (stream mode, long run)."""
    from lavacut.runtime.runner import run_split

    x = np.repeat(warm.x[2:6], 8, axis=0)
    x = np.concatenate([x] * 4, axis=-1)  # 32 samples x 100 steps
    h = Hygiene()
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_split(warm.path, x, np.zeros(len(x), int), FixedT(), mode="stream", progress=False)
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 30
    h.check()


@pytest.mark.slow
def test_hygiene_after_crash_inside_a_lava_process(warm, monkeypatch):
    """A ProcessModel raising (here the monitor's rule, patched before the
    fork) kills Lava's runtime service; Lava's own stop() would then block
    forever. The runner reports the child's traceback and cleans up."""
    from lavacut.runtime.runner import run_split

    orig = policies.TopKGap.fires

    def boom(self, counts, t):
        if int(np.asarray(t).reshape(-1)[0]) == 3:
            raise ZeroDivisionError("boom in the monitor")
        return orig(self, counts, t)

    monkeypatch.setattr(policies.TopKGap, "fires", boom)
    h = Hygiene()
    with pytest.raises(LavacutError, match="boom in the monitor"):
        run_split(
            warm.path, warm.x[2:8], np.zeros(6, int), TopKGap(beta=np.full(T, 100.0)), mode="stream", progress=False
        )
    h.check()
