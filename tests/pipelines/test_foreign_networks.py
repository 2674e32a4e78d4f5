"""Networks lavacut did not write, through the commands a user runs:
Intel's ntidigits.net (axonal delays, an average readout of 242 neurons into
11 classes) evaluated and calibrated on the user's own labelled frames, and a
NIR graph imported without a data set, which then needs --input."""

import json
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from lavacut_testing import run_cli

WHEEL = Path(sysconfig.get_paths()["purelib"]) / "tests" / "lava" / "lib" / "dl" / "netx"
NTIDIGITS = WHEEL / "gts" / "ntidigits" / "ntidigits.net"


def _labelled_frames(tmp_path, shape, n=8, T=20, p=0.3, seed=0):
    rng = np.random.default_rng(seed)
    frames = (rng.random((n, *shape, T)) < p).astype(np.uint8)
    path = tmp_path / "mine.npz"
    np.savez(path, frames=frames, labels=np.arange(n) % 11)
    return path, frames


@pytest.mark.slow
def test_average_readout_network_evaluates_with_both_engines_agreeing(tmp_path):
    from lavacut.cutoff.rules import group_sums
    from lavacut.export.artifact import Export
    from lavacut.train.inference import forward

    export = Export.open(NTIDIGITS)
    data, frames = _labelled_frames(tmp_path, export.input_shape)
    reps = {}
    for engine in ("torch", "lava"):
        report = tmp_path / f"{engine}.json"
        run_cli(
            "evaluate",
            NTIDIGITS,
            "--input",
            data,
            "--engine",
            engine,
            "--policy",
            "confidence",
            "--param",
            "eps=0.2",
            "--report",
            report,
        )
        reps[engine] = json.loads(report.read_text())
    torch_rep, lava_rep = reps["torch"], reps["lava"]
    assert lava_rep["engines_agree"] and lava_rep["full_T_matches_slayer"]
    assert [r["t_c"] for r in torch_rep["per_sample"]] == [r["t_c"] for r in lava_rep["per_sample"]]
    assert "average readout" in lava_rep["output_layout"]
    # K = 11 classes counted as group sums of the 242 output neurons, by both engines
    net = export.slayer_net()
    raw = forward(net, frames, readout=False)
    assert raw.shape[1] == 242
    sums = group_sums(raw, net.readout_groups).sum(axis=-1)
    for rep in (torch_rep, lava_rep):
        assert [r["counts_full"] for r in rep["per_sample"]] == sums.tolist()
    ops = torch_rep["operations"]
    assert ops["synops_full_mean"] >= ops["synops_cutoff_mean"]
    # every spiking neuron updates every step: the 242 readout neurons, not the 11 classes
    n_neurons = sum(L.neurons for L in export.layers if L.type in ("dense", "conv"))
    assert 242 < n_neurons and ops["neuron_updates_full_mean"] == n_neurons * frames.shape[-1]


@pytest.mark.slow
def test_foreign_file_calibrates_on_the_users_labelled_input(tmp_path):
    import shutil

    from lavacut.export.validate import read_metadata

    net = tmp_path / "ntidigits.net"
    shutil.copyfile(NTIDIGITS, net)
    data, _ = _labelled_frames(tmp_path, (64,), n=22)
    r = run_cli("calibrate", net, "--input", data)
    assert "calibrated on 22 samples of" in r.stdout
    meta = read_metadata(net)
    assert meta["default_policy"] == "topk" and len(meta["cutoff"]["topk"]["beta"]) == 20
    assert meta["dataset"] is None and meta["input_shape"] == [1, 1, 64]
    # the network itself is untouched: the same layer datasets, byte for byte
    import h5py

    from lavacut.export.netx.file import content_hash

    with h5py.File(NTIDIGITS) as a, h5py.File(net) as b:
        assert content_hash(a) == content_hash(b) == meta["content_sha256"]
    report = tmp_path / "run.json"
    run_cli("run", net, "--input", data, "--samples", "3", "--report", report)
    assert json.loads(report.read_text())["policy"] == "topk"


def test_unbound_nir_import_needs_input(tmp_path):
    import nir

    rng = np.random.default_rng(0)
    w = (rng.integers(-4, 5, (3, 6)) / 8).astype(np.float32)
    n = 3
    graph = nir.NIRGraph.from_list(
        nir.Input(input_type=np.array([6])),
        nir.Linear(weight=w),
        nir.CubaLIF(
            tau_syn=np.full(n, 2e-4),
            tau_mem=np.full(n, 4e-4),
            r=np.full(n, 4.0),
            v_leak=np.zeros(n),
            v_threshold=np.ones(n),
            w_in=np.full(n, 2.0),
        ),
        nir.Output(output_type=np.array([n])),
    )
    nir.write(tmp_path / "g.nir", graph)
    out = tmp_path / "g.net"
    r = run_cli("import", tmp_path / "g.nir", "-o", out, "--dt", "1e-4")
    assert "data set: unknown" in r.stdout
    assert "data set unknown" in run_cli("inspect", out).stdout
    r = run_cli("run", out, "--report", tmp_path / "r.json", check=False)
    assert r.returncode == 2 and "data set unknown" in r.stderr and "--input" in r.stderr
    frames = (rng.random((4, 6, 12)) < 0.5).astype(np.uint8)
    np.save(tmp_path / "x.npy", frames)
    run_cli("run", out, "--input", tmp_path / "x.npy", "--report", tmp_path / "r.json")
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["dataset"] == "user input" and rep["split"] == str(tmp_path / "x.npy")
    assert rep["accuracy_full"] is None and rep["n_samples"] == 4
