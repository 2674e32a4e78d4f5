"""``calibrate`` and ``evaluate --engine torch`` with ``--workers 2`` on the
local executor: the SLAYER passes in two forked shards of whole batches give
what one process gives -- the same stored calibration (the dropout pass
included), the same report but for its timings. The Ray counterpart is in
tests/runtime/test_ray_executor.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lavacut_testing import run_cli, without_timings

REPO = Path(__file__).resolve().parents[2]
DENSE = REPO / "netx_exports" / "embedded_dense.net"


def test_batch_shards_are_whole_batches_in_order():
    from lavacut.pipelines.shards import batch_shards

    assert batch_shards(150, 2, 64) == [(0, 0, 128), (2, 128, 150)]  # 3 batches: 2 + 1
    assert batch_shards(150, 8, 64) == [(0, 0, 64), (1, 64, 128), (2, 128, 150)]
    assert batch_shards(10, 4, 64) == [(0, 0, 10)]
    assert batch_shards(0, 2, 64) == []
    parts = batch_shards(1438, 2, 64)
    assert [p[1] for p in parts] == [0, 768] and parts[-1][2] == 1438 and all(p[1] == 64 * p[0] for p in parts)


@pytest.mark.slow
def test_calibrate_two_workers_stores_the_same_calibration(tmp_path):
    from lavacut.export.validate import read_metadata

    stored = {}
    for workers in (1, 2):
        net = tmp_path / f"w{workers}.net"
        shutil.copy(DENSE, net)
        out = run_cli("calibrate", net, "--workers", workers, "--executor", "local").stdout
        meta = read_metadata(net)
        stored[workers] = (meta["cutoff"], meta["calibration"], out.replace(str(net), "NET"))
    assert stored[1] == stored[2]
    assert stored[2][1]["dropout"] > 0  # the sharded pass drew dropout masks, the same ones


@pytest.mark.slow
def test_torch_evaluate_two_workers_same_report(tmp_path):
    """Two shards of whole batches (150 samples: 128 + 22) and the sweeps'
    calibration passes sharded after the driver ran torch itself (NeuroBench,
    operation counts): a forked shard must not hang in OpenMP."""
    reports = {}
    for workers in (1, 2):
        reports[workers] = tmp_path / f"w{workers}.json"
        run_cli(
            "evaluate",
            DENSE,
            "--engine",
            "torch",
            "--samples",
            150,
            "--workers",
            workers,
            "--executor",
            "local",
            "--report",
            reports[workers],
        )
    one, two = (json.loads(reports[w].read_text()) for w in (1, 2))
    assert one["n_samples"] == 150 and len(two["per_sample"]) == 150
    assert two["config"]["run"]["workers"] == 2
    assert "sweeps" in two and "error" not in two["neurobench"]
    assert without_timings(one) == without_timings(two)
