"""``calibrate`` and ``evaluate --engine torch`` with ``--workers 2`` on the
local executor: the SLAYER passes and NeuroBench's passes in two forked
shards of whole batches give what one process gives -- the same stored
calibration (the dropout pass included), the same report but for its
timings; the spikes come back bit-packed, unchanged. The Ray counterpart is
in tests/runtime/test_ray_executor.py."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from lavacut_testing import DENSE, local_calibration, local_torch_evaluation, run_cli, without_timings


def test_batch_shards_are_whole_batches_in_order():
    from lavacut.pipelines.shards import batch_shards

    assert batch_shards(150, 2, 64) == [(0, 0, 128), (2, 128, 150)]  # 3 batches: 2 + 1
    assert batch_shards(150, 8, 64) == [(0, 0, 64), (1, 64, 128), (2, 128, 150)]
    assert batch_shards(10, 4, 64) == [(0, 0, 10)]
    assert batch_shards(0, 2, 64) == []
    parts = batch_shards(1438, 2, 64)
    assert [p[1] for p in parts] == [0, 768] and parts[-1][2] == 1438 and all(p[1] == 64 * p[0] for p in parts)


def test_packed_spikes_unpack_to_the_same_array():
    import pickle

    from lavacut.pipelines.shards import pack_spikes, unpack_spikes

    rng = np.random.default_rng(0)
    spikes = (rng.random((70, 9, 15)) < 0.3).astype(np.uint8)  # T = 15: not a multiple of 8
    packed = pickle.loads(pickle.dumps(pack_spikes(spikes)))
    back = unpack_spikes(packed)
    assert back.dtype == np.uint8 and back.shape == spikes.shape and np.array_equal(back, spikes)
    assert packed.bits.nbytes == 70 * 9 * 2  # 15 steps in 2 bytes
    counts = spikes * 2  # not 0/1 (group sums), and other dtypes: sent as they are
    for a in (counts, spikes.astype(np.int64), np.zeros((0, 3, 15), np.uint8)):
        assert pack_spikes(a) is a and unpack_spikes(a) is a


def _small_net():
    import torch

    from lavacut.train.netspec import NetSpec
    from lavacut.train.networks import build_network

    torch.manual_seed(3)
    spec = NetSpec(
        kind="dense", input_shape=(1, 1, 12), hidden=(8,), n_classes=3, threshold=0.5, dropout=0.0, weight_norm=False
    )
    net = build_network(spec)
    with torch.no_grad():
        for b in net.blocks:
            w = b.synapse.weight
            w.copy_(torch.rand(w.shape) * (torch.rand(w.shape) < 0.6))  # some zero weights
    return net.eval()


def test_neurobench_shards_merge_to_one_process():
    """NeuroBench's two passes cut into 3 or 7 shards of whole batches, merged:
    the metrics of one Benchmark.run, float for float. The cutoff pass has
    batches of unequal sizes, and some batches have count (non-binary)
    frames, which NeuroBench counts as MACs, not ACs, per batch."""
    from lavacut.measure.neurobench import neurobench_metrics
    from lavacut.measure.neurobench_passes import pass_batches, shard_parts

    rng = np.random.default_rng(1)
    n, T = 48, 6
    x = (rng.random((n, 1, 1, 12, T)) < 0.4).astype(np.float32)
    x[24:32] *= 2  # counts: these samples' batches are not spiking input for NeuroBench
    labels = rng.integers(0, 3, n)
    t_c = rng.integers(1, T + 1, n)
    net = _small_net()
    one = neurobench_metrics(net, x, labels, t_c, batch_size=8)
    assert one["full_T"]["SynapticOperations"]["Effective_MACs"] > 0
    assert one["full_T"]["SynapticOperations"]["Effective_ACs"] > 0
    passes = pass_batches(t_c, n, T, 8)
    assert len({len(b) for b in passes["cutoff"][1]}) > 1
    for parts in (3, 7):
        kws = shard_parts(passes, x, labels, parts)
        assert len(kws) == parts and sum(len(b) for kw in kws for bs in kw["batches"].values() for b in bs) == 2 * n
        assert neurobench_metrics(net, x, labels, t_c, batch_size=8, parts=parts) == one


@pytest.mark.slow
def test_calibrate_two_workers_stores_the_same_calibration(tmp_path, tmp_path_factory):
    from lavacut.export.validate import read_metadata

    one, one_out = local_calibration(tmp_path_factory)
    net = tmp_path / "w2.net"
    shutil.copy(DENSE, net)
    out = run_cli("calibrate", net, "--workers", 2, "--executor", "local").stdout
    stored = {w: (read_metadata(f)["cutoff"], read_metadata(f)["calibration"]) for w, f in ((1, one), (2, net))}
    assert stored[1] == stored[2] and one_out == out.replace(str(net), "NET")
    assert stored[2][1]["dropout"] > 0  # the sharded pass drew dropout masks, the same ones


@pytest.mark.slow
def test_torch_evaluate_two_workers_same_report(tmp_path, tmp_path_factory):
    """Two shards of whole batches (150 samples: 128 + 22), NeuroBench's two
    passes in two shards, and the sweeps' calibration passes sharded after the
    driver ran torch itself (operation counts, NeuroBench's static metrics): a
    forked shard must not hang in OpenMP. NeuroBench's metrics are those of
    one process, float for float."""
    one = local_torch_evaluation(tmp_path_factory)
    report = tmp_path / "w2.json"
    args = ["evaluate", DENSE, "--engine", "torch", "--samples", 150, "--workers", 2, "--executor", "local"]
    run_cli(*args, "--report", report)
    two = json.loads(report.read_text())
    assert one["n_samples"] == 150 and len(two["per_sample"]) == 150
    assert two["config"]["run"]["workers"] == 2
    assert "sweeps" in two and "error" not in two["neurobench"]
    assert without_timings(one) == without_timings(two)
