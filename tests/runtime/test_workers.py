"""``workers=N``: a split sharded over worker processes gives the decisions of
one graph, merged in order; a failing worker or a Ctrl-C in the host leaves
no process and no shared memory behind. No Lava Process is defined here."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest
from lavacut_testing import Hygiene, run_shard_failing

from lavacut.cutoff.rules import FixedT, TopKGap


def test_shards_cover_in_order():
    from lavacut.runtime.workers import shards

    for n, w in [(1, 3), (5, 2), (7, 3), (4, 4), (10, 1)]:
        parts = shards(n, w)
        assert np.array_equal(np.concatenate(parts), np.arange(n))
        assert all(len(p) for p in parts) and len(parts) == min(n, w)


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    from test_layouts import _frames, _layouts

    build, shape, _, _ = _layouts()["delays"]  # biases and delays: leftover state would show
    path = build(tmp_path_factory.mktemp("workers") / "delays.net")
    frames = np.concatenate([_frames(shape, seed=s) for s in range(3)])  # 18 samples
    return path, frames


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["halt", "stream"])
def test_workers_same_decisions_as_one_graph(net, mode):
    from lavacut.runtime.runner import run_split

    path, frames = net
    labels = np.arange(len(frames)) % 4
    rule = TopKGap(beta=np.zeros(16))
    one = run_split(path, frames, labels, rule, mode=mode, progress=False)
    two = run_split(path, frames, labels, rule, mode=mode, progress=False, workers=2)  # <= the cores
    assert two.workers == 2 and one.workers == 1
    for key in ("t_c", "pred", "counts", "labels"):
        assert np.array_equal(getattr(one, key), getattr(two, key)), key
    assert one.lava_steps == two.lava_steps
    assert len(set(one.t_c.tolist())) > 1
    if mode == "halt":
        assert len(two.wall_s_per_sample) == len(frames)


@pytest.mark.slow
def test_failing_worker_leaves_nothing(net, monkeypatch):
    from lavacut.runtime import workers

    path, frames = net
    run_one = workers.run_shard

    def sabotage(**shard):
        if np.array_equal(shard["frames"], frames[len(frames) // 2 :]):  # the second shard fails mid-run
            return run_shard_failing(shard, "injected worker failure")
        return run_one(**shard)

    monkeypatch.setattr(workers, "run_shard", sabotage)
    from lavacut.runtime.runner import run_split

    run_split(path, frames[:2], None, FixedT(), mode="stream", progress=False)  # warm the resource tracker
    clean = Hygiene()
    from lavacut.runtime.executors import TaskFailed

    # an error that is not bad input is an internal error (exit 3), naming the shard
    with pytest.raises(TaskFailed, match=r"shard 1 \(samples 9\.\.17\) failed: RuntimeError: injected worker failure"):
        run_split(path, frames, None, FixedT(), mode="stream", progress=False, workers=2)
    clean.check()


@pytest.mark.slow
def test_ctrl_c_in_host_stops_every_worker(net):
    from lavacut.runtime.runner import run_split

    path, frames = net
    # long enough to be interrupted mid-run even with the fused models on an idle machine
    # (18 x 200 samples of 30 steps: about a minute over two workers)
    many = np.concatenate([frames] * 200)
    run_split(path, frames[:2], None, FixedT(), mode="stream", progress=False)
    clean = Hygiene()
    timer = threading.Timer(4.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_split(path, many, None, FixedT(), mode="stream", progress=False, workers=2)
    finally:
        timer.cancel()
    clean.check()
