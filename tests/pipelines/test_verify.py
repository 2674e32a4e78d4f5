"""Tests of lavacut.pipelines.verify: Lava fixed_pt vs SLAYER, spike for spike.

Small random lavacut nets (dense and strided conv, weights scaled up so that
every layer spikes) exported with lavacut's own write_export, frames from the
embedded data set (default RunConfig; tests/conftest.py points the cache to a
temporary folder). No Lava Process is defined here.
"""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest
from lavacut_testing import descendants as _descendants, new_shm

from lavacut.util import LavacutError
from lavacut.pipelines.run import RunRequest

N_VERIFY = 30


def _export(tmp_path, name, spec_kw, seed=0, with_config=True):
    import torch

    from lavacut.config import RunConfig
    from lavacut.export.validate import write_export
    from lavacut.train.netspec import NetSpec
    from lavacut.train.networks import build_network

    spec = NetSpec(n_classes=10, weight_scale=4.0, weight_norm=False, dropout=0.0, name=name, **spec_kw)
    torch.manual_seed(seed)
    net = build_network(spec).eval()
    meta = {"name": name, "spec": spec.to_dict()}
    if with_config:
        meta["train_config"] = RunConfig().to_dict()
    path = tmp_path / f"{name}.net"
    write_export(net, path, meta)
    return path, net


DENSE = dict(kind="dense", input_shape=(2, 34, 34), hidden=(32,))
CONV = dict(
    kind="conv",
    input_shape=(2, 34, 34),
    hidden=(16,),
    conv_channels=(4,),
    conv_kernels=(3,),
    conv_strides=(2,),
    conv_paddings=(1,),
)


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    d = tmp_path_factory.mktemp("verify")
    return {"dense": _export(d, "dense", DENSE), "conv": _export(d, "conv", CONV)}


@pytest.fixture(scope="module")
def test_frames():
    from lavacut.config import RunConfig
    from lavacut.data.sources import load_split

    return load_split(RunConfig(), "test", progress=False)


@pytest.fixture(scope="module")
def verified(nets):
    """verify_export on both nets (one Lava graph each)."""
    from lavacut.pipelines.verify import verify_export

    return {k: verify_export(RunRequest(p, samples=N_VERIFY), progress=False) for k, (p, _) in nets.items()}


# ---------------------------------------------------------------- pure helpers


def test_compare_spikes_first_difference():
    from lavacut.pipelines.verify import compare_spikes

    a = np.zeros((3, 4, 6), np.uint8)
    b = a.copy()
    b[1, 2, 4] = 1  # step 5, neuron 2
    b[1, 0, 5] = 1  # later
    b[2, 3, 1] = 1  # step 2: lowest differing neuron at that step
    b[2, 1, 1] = 1
    a[2, 0, 3] = 1
    rows = compare_spikes(a, b, labels=[7, 8, 9])
    assert [r["identical"] for r in rows] == [True, False, False]
    assert (rows[0]["first_step"], rows[0]["first_neuron"]) == (None, None)
    assert (rows[1]["first_step"], rows[1]["first_neuron"]) == (5, 2)
    assert (rows[2]["first_step"], rows[2]["first_neuron"]) == (2, 1)
    assert rows[2]["lava_spikes"] == 1 and rows[2]["slayer_spikes"] == 2 and rows[2]["label"] == 9


def test_samples_must_be_0_or_more(nets):
    """--samples has run's meaning: 0 = all (tests/test_cli.py runs that)."""
    from lavacut.pipelines.verify import verify_export

    for bad in (-3, 2.5, True):
        with pytest.raises(LavacutError, match=r"--samples must be 0 \(all\) or a positive number"):
            verify_export(RunRequest(nets["dense"][0], samples=bad), progress=False)


def test_not_a_netx_file_raises(tmp_path):
    from lavacut.export.netx.file import NetxFileError
    from lavacut.pipelines.verify import verify_export

    p = tmp_path / "x.net"
    p.write_text("not hdf5")
    with pytest.raises(NetxFileError, match="not an HDF5 file"):
        verify_export(RunRequest(p, samples=3), progress=False)


def test_input_shape_mismatch_names_both_shapes(tmp_path):
    from lavacut.pipelines.verify import verify_export

    path, _ = _export(tmp_path, "small", dict(kind="dense", input_shape=(2, 17, 17), hidden=(8,)))
    with pytest.raises(
        LavacutError,
        match=r"frames of shape \(2, 34, 34\) per step do not match the network "
        r"input \(2, 17, 17\)",
    ):
        verify_export(RunRequest(path, samples=3), progress=False)


def test_explain_exactness_flags_odd_weights(tmp_path, nets):
    import h5py

    from lavacut.measure.exactness import explain_exactness

    assert explain_exactness(nets["dense"][0]) == []
    path, _ = _export(tmp_path, "odd", DENSE)
    with h5py.File(path, "r+") as f:
        w = f["layer/2/weight"]
        w[0, 0] = 3.0
    notes = explain_exactness(path)
    assert any("layer 2 weight" in n and "even integers" in n for n in notes)


def test_explain_exactness_on_a_foreign_file_says_why_no_headroom(tmp_path):
    """A file with no lavacut spec is rebuilt from its layers; the headroom
    is measured on lavacut's own networks only, and the note says so (was an
    AttributeError's text)."""
    from lavacut_testing import write_netx

    from lavacut.measure.exactness import explain_exactness

    neuron = {"type": b"CUBA", "iDecay": 1024, "vDecay": 123, "vThMant": 80, "refDelay": 1, "gradedSpike": False}
    w = np.random.default_rng(0).integers(-20, 21, (4, 8)).astype(np.float32)
    layers = [{"type": "input", "shape": np.array([8])}]
    layers += [
        {"type": "dense", "shape": np.array([4]), "inFeatures": 8, "outFeatures": 4, "weight": w, "neuron": neuron}
    ]
    path = write_netx(tmp_path / "foreign.net", layers)
    notes = explain_exactness(path, frames=np.ones((1, 8, 5), np.float32))
    assert notes == ["fixed-point headroom not measured (measured on networks lavacut trained, not on a rebuild)"]


# ---------------------------------------------------------------- slow: Lava


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_verify_is_exact_on_dense_and_conv(verified, nets, kind):
    r = verified[kind]
    assert r.n_samples == N_VERIFY and r.backend == "cpu"
    assert r.n_identical == N_VERIFY and r.agreement_rate == 1.0, r.format()
    assert r.lava_out.shape == (N_VERIFY, 10, 30) and np.array_equal(r.lava_out, r.slayer_out)
    # the nets really spike (exactness on silence would prove nothing) and
    # the first L = latency output steps are silent, in both engines
    assert r.lava_out.sum() > 200 and (r.lava_out.sum(axis=(1, 2)) > 0).mean() > 0.8
    latency = nets[kind][1].latency  # 2 (dense), 3 (conv)
    assert latency == {"dense": 2, "conv": 3}[kind]
    assert not r.lava_out[:, :, :latency].any()
    assert all(s["first_step"] is None and s["first_neuron"] is None for s in r.samples)
    assert r.samples[5]["lava_spikes"] == int(r.lava_out[5].sum())
    assert f"{N_VERIFY}/{N_VERIFY} samples identical (100.00%)" in r.format()
    assert r.lava_wall_s > 0 and r.slayer_wall_s > 0 and r.lava_timings["run_s"] > 0


@pytest.mark.slow
def test_one_graph_slicing_equals_run_single(verified, nets, test_frames):
    """Sample j of the one-graph run (sink columns j*T .. j*T + T - 1) is
    what a fresh graph computes for that sample alone."""
    from lavacut.runtime.runner import run_single

    r = verified["conv"]
    for j in (0, 1, 17):
        single = run_single(nets["conv"][0], test_frames.frames[j])
        assert single.shape == (10, 30)
        np.testing.assert_array_equal(r.lava_out[j], single)
    assert np.asarray(test_frames.labels)[17] == r.samples[17]["label"]


@pytest.mark.slow
def test_broken_export_is_detected(tmp_path, test_frames):
    """One output weight changed in the file after export: Lava runs the
    changed file, the reference is the SLAYER net with the original weights;
    only that output neuron can differ."""
    import h5py

    from lavacut.pipelines.verify import verify_export
    from lavacut.train.inference import forward

    path, net = _export(tmp_path, "broken", DENSE, seed=1)
    out, hidden = forward(net, test_frames.frames[:N_VERIFY], record=True)
    k = int(np.argmax(out.sum(axis=(0, 2))))  # most active output neuron
    i = int(np.argmax(hidden[0].sum(axis=(0, 2))))  # most active hidden neuron
    with h5py.File(path, "r+") as f:
        w = f["layer/2/weight"]  # (10, 32): output layer
        old = float(w[k, i])
        w[k, i] = -256.0 if old > 0 else 254.0
    # the stored content hash catches the change before anything runs ...
    with pytest.raises(LavacutError, match="modified after export"):
        verify_export(RunRequest(path, samples=N_VERIFY), progress=False, reference_net=net)
    # ... and verify, told the change was on purpose, finds it spike by spike
    r = verify_export(RunRequest(path, samples=N_VERIFY, accept_modified=True), progress=False, reference_net=net)
    assert r.reference.startswith("reference_net")
    bad = r.mismatches
    assert bad and r.n_identical < N_VERIFY and r.agreement_rate < 1.0
    for s in bad:
        assert s["first_neuron"] == k
        assert s["first_step"] is not None and s["first_step"] >= 3  # 2-layer net: steps 1, 2 silent
        j, t = s["index"], s["first_step"]
        assert np.array_equal(r.lava_out[j, :, : t - 1], r.slayer_out[j, :, : t - 1])
        assert r.lava_out[j, k, t - 1] != r.slayer_out[j, k, t - 1]
    # untouched samples/neurons agree
    others = np.delete(np.arange(10), k)
    assert np.array_equal(r.lava_out[:, others], r.slayer_out[:, others])
    text = r.format()
    assert len([ln for ln in text.splitlines() if ln.rstrip().endswith(tuple("0123456789")) and " NO " in ln]) == len(
        bad
    )
    assert f"{r.n_identical}/{N_VERIFY} samples identical" in text
    assert any("no fixed-point overflow" in n for n in r.notes)


@pytest.mark.slow
def test_no_processes_or_shared_memory_left(verified, nets):
    """After a verify run (``verified`` ran first, so Python's shared-memory
    resource tracker, which lives as long as this process, already exists)."""
    from lavacut.pipelines.verify import verify_export

    procs, shm, kids = _descendants(), set(os.listdir("/dev/shm")), set(multiprocessing.active_children())
    r = verify_export(RunRequest(nets["dense"][0], samples=4), progress=False)
    assert r.n_identical == 4
    assert set(multiprocessing.active_children()) - kids == set()
    assert _descendants() - procs == set()
    leaked = new_shm(shm)
    assert not leaked, f"/dev/shm entries left behind: {sorted(leaked)}"
