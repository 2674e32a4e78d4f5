"""``lavacut run`` end to end through the CLI: the shipped export with its
calibration, and a NetX file lavacut did not write (no metadata)."""

import json

import pytest
from lavacut_testing import DENSE as EXPORT, REPO, RUN_REPORT_KEYS, run_cli


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["halt", "stream"])
def test_run_shipped_export_uses_its_calibration(tmp_path, mode):
    report = tmp_path / "run.json"
    r = run_cli("run", EXPORT, "--samples", "12", "--mode", mode, "--report", report)
    rep = json.loads(report.read_text())
    assert RUN_REPORT_KEYS <= set(rep)
    assert rep["policy"] == "topk" and rep["n_samples"] == 12 and rep["T"] == 30 and rep["backend"] == "cpu"
    assert len(rep["policy_params"]["beta"]) == 30  # the export's calibrated beta(t), no flags
    assert 1 <= rep["mean_t_cutoff"] < 30 and rep["timestep_ratio"] > 1
    assert "sample    0  t_c" in r.stdout  # per-sample table for a few samples
    assert "fewer" in r.stdout


@pytest.mark.slow
def test_run_foreign_netx_file_needs_config_and_policy(tmp_path):
    from lavacut.export.slayer_hdf5 import export_hdf5
    from lavacut.train.netspec import NetSpec
    from lavacut.train.networks import build_network

    net = build_network(NetSpec(hidden=(16,), weight_scale=4.0, dropout=0.0))
    path = tmp_path / "foreign.net"
    export_hdf5(net, path)  # plain NetX: no lavacut group
    r = run_cli("run", path, "--samples", "4", "--report", tmp_path / "x.json", check=False)
    assert r.returncode == 2 and "data set unknown" in r.stderr and "--config" in r.stderr and "--input" in r.stderr
    report = tmp_path / "fixed.json"
    r = run_cli("run", path, "-c", REPO / "sims" / "quick.toml", "--samples", "4", "--report", report)
    rep = json.loads(report.read_text())
    assert rep["policy"] == "fixed" and rep["mean_t_cutoff"] == 30 and "ran fixed T" in r.stdout
    report = tmp_path / "conf.json"
    run_cli(
        "run",
        path,
        "-c",
        REPO / "sims" / "quick.toml",
        "--samples",
        "4",
        "--policy",
        "confidence",
        "--param",
        "eps=0.5",
        "--report",
        report,
    )
    rep = json.loads(report.read_text())
    assert rep["policy"] == "confidence" and rep["policy_params"]["eps"] == 0.5
    r = run_cli(
        "run",
        path,
        "-c",
        REPO / "sims" / "quick.toml",
        "--samples",
        "4",
        "--policy",
        "topk",
        "--report",
        tmp_path / "t.json",
        check=False,
    )
    assert r.returncode == 2 and "is not calibrated for topk" in r.stderr and "lavacut calibrate" in r.stderr
