"""Networks no issue names, written with h5py as users bring them, through
the real ``lavacut`` entry point on the embedded data: every command either
gives a correct result or one line naming the file and what is wrong in it
(exit 2; inspect and check exit 1 with the problem listed), never exit 3 or
a traceback, never a decision the network did not make, never a changed
file. Malformed edits of a shipped export are in :mod:`bad_netx` (run
through tests/export/test_validate.py); here: files that are not NetX at
all, files that are not files, networks built from scratch, and reading
each dataset once per open."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest
from lavacut_testing import DENSE, run_cli, write_netx

from lavacut.export.loihi2.rules import netx_weight_format

N_IN = 2 * 34 * 34  # the embedded data's (P, H, W) per step
CUBA = {"type": b"CUBA", "iDecay": 1024, "vDecay": 123, "vThMant": 80, "refDelay": 1, "gradedSpike": False}
EMBEDDED = ("--set", "data.dataset=embedded")


def _inp(n):
    return {"type": "input", "shape": np.array([n])}


def _dense(n_out, n_in, w=None, seed=0, **neuron):
    if w is None:
        w = np.random.default_rng(seed).integers(-20, 21, (n_out, n_in)).astype(np.float32)
    return {
        "type": "dense",
        "shape": np.array([n_out]),
        "inFeatures": n_in,
        "outFeatures": n_out,
        "weight": np.asarray(w),
        "neuron": {**CUBA, **neuron},
    }


def _cli(*args):
    r = run_cli(*args, check=False)
    assert r.returncode != 3 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return r


def _error(r) -> str:
    lines = [line for line in r.stderr.splitlines() if "error" in line]
    assert len(lines) == 1, r.stderr
    return lines[0]


# --------------------------------------------------------------------------- not a NetX file
def _nir_graph(path):
    nir = pytest.importorskip("nir")
    w = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([4])}),
            "fc": nir.Affine(weight=w, bias=np.zeros(3, np.float32)),
            "output": nir.Output(output_type={"output": np.array([3])}),
        },
        edges=[("input", "fc"), ("fc", "output")],
        type_check=False,
    )
    nir.write(path, graph)
    return path


@pytest.mark.parametrize("suffix", [".nir", ".net", ".h5"])
def test_a_nir_graph_is_named_by_every_command_with_lavacut_import(tmp_path, suffix):
    """Told by its content (a ``node`` group with nodes and edges), whatever
    its name; inspect, check, run, verify, calibrate and evaluate say the same."""
    path = _nir_graph(tmp_path / f"graph{suffix}")
    before = path.read_bytes()
    for argv in (
        ["inspect", path],
        ["check", path, "--report", tmp_path / "r" / "check.json"],
        ["run", path, *EMBEDDED, "--samples", "2", "--report", tmp_path / "r" / "run.json"],
        ["verify", path, *EMBEDDED, "--samples", "2", "--report", tmp_path / "r" / "verify.json"],
        ["calibrate", path, *EMBEDDED],
        ["evaluate", path, *EMBEDDED, "--samples", "2", "--report", tmp_path / "r" / "eval.json"],
    ):
        r = _cli(*argv)
        line = _error(r)
        assert r.returncode == 2, (argv, r.stderr)
        assert f"{path}: a NIR graph, not a NetX file; convert it with 'lavacut import {path}'" in line, line
    assert path.read_bytes() == before and not (tmp_path / "r").exists()


def test_import_of_a_netx_file_says_it_needs_none(tmp_path):
    pytest.importorskip("nir")
    out = tmp_path / "imported.net"
    r = _cli("import", DENSE, "-o", out)
    assert r.returncode == 2 and f"{DENSE}: a NetX file, not a NIR graph" in _error(r), r.stderr
    assert not out.exists()


def _truncated(d):
    write_netx(d / "whole.net", [_inp(N_IN), _dense(10, N_IN)])
    data = (d / "whole.net").read_bytes()
    (d / "f.net").write_bytes(data[: len(data) // 2])


def _loop(d):
    os.symlink(d / "g.net", d / "f.net")
    os.symlink(d / "f.net", d / "g.net")


def _other_hdf5(d):
    with h5py.File(d / "f.net", "w") as f:
        f["x"] = np.arange(3)


NOT_NETX = {
    "empty": (lambda d: (d / "f.net").write_bytes(b""), "not an HDF5 file"),
    "text": (lambda d: (d / "f.net").write_text("layer 0 dense\n"), "not an HDF5 file"),
    "truncated": (_truncated, "not an HDF5 file (Unable to synchronously open file (truncated file"),
    "folder": (lambda d: (d / "f.net").mkdir(), "f.net is a folder; give a NetX .net file"),
    "symlink_loop": (_loop, "f.net: a symbolic link to nothing (dangling, or a loop of links)"),
    "dangling_symlink": (lambda d: os.symlink(d / "gone.net", d / "f.net"), "a symbolic link to nothing"),
    "other_hdf5": (_other_hdf5, "f.net: no 'layer' group: not a NetX network file"),
}


@pytest.mark.parametrize("name", list(NOT_NETX))
def test_what_is_not_a_netx_file_is_named_alike_by_inspect_check_and_run(tmp_path, name):
    build, words = NOT_NETX[name]
    build(tmp_path)
    path = tmp_path / "f.net"
    for argv in (
        ["inspect", path],
        ["check", path, "--report", tmp_path / "r" / "check.json"],
        ["run", path, *EMBEDDED, "--samples", "2", "--report", tmp_path / "r" / "run.json"],
    ):
        r = _cli(*argv)
        assert r.returncode == 2 and words in _error(r), (argv, r.stderr)
    assert not (tmp_path / "r").exists()


# --------------------------------------------------------------------------- networks built from scratch
#: name -> (layers, the words of the refusal); every one refused before Lava runs
REFUSED = {
    "all_zero_hidden_weights": (
        [_inp(N_IN), _dense(16, N_IN, w=np.zeros((16, N_IN))), _dense(10, 16)],
        "layer 1 weight is all zeros: netx cannot build the layer",
    ),
    "inf_decay": ([_inp(N_IN), _dense(16, N_IN, iDecay=np.inf), _dense(10, 16)], "layer 1 neuron iDecay is NaN"),
    "nan_threshold": ([_inp(N_IN), _dense(10, N_IN, vThMant=np.nan)], "layer 1 neuron vThMant is NaN or infinite"),
    "decay_above_4096": ([_inp(N_IN), _dense(10, N_IN, vDecay=5000)], "layer 1 neuron vDecay is 5000..5000"),
    "negative_decay": ([_inp(N_IN), _dense(10, N_IN, iDecay=-1)], "layer 1 neuron iDecay is -1..-1, outside 0..4096"),
    "negative_threshold": ([_inp(N_IN), _dense(10, N_IN, vThMant=-5)], "layer 1 neuron vThMant is negative"),
    "huge_threshold": ([_inp(N_IN), _dense(10, N_IN, vThMant=10**9)], "[threshold] layer 1: vThMant 1000000000"),
    "per_neuron_threshold": (
        [_inp(N_IN), _dense(10, N_IN, vThMant=np.full(10, 80))],
        "[threshold] layer 1: vThMant array([80",
    ),
    "text_threshold": ([_inp(N_IN), _dense(10, N_IN, vThMant=b"80")], "layer/1/neuron/vThMant: not numbers"),
    "float_weights": (
        [_inp(N_IN), _dense(10, N_IN, w=np.full((10, N_IN), 0.5, np.float32))],
        "[weight_integer] layer 1: weights are not all finite integers",
    ),
    "text_weights": ([_inp(N_IN), _dense(10, N_IN, w=np.full((10, N_IN), b"ab"))], "layer/1/weight: not numbers"),
    "zero_size_weights": ([_inp(N_IN), _dense(10, N_IN, w=np.zeros((0, N_IN)))], "layer/1/weight: a dense weight"),
    "zero_size_layer": (
        [{"type": "input", "shape": np.array([0])}, _dense(10, N_IN)],
        "layer/0/shape: [0] is not 1 to 3 positive sizes",
    ),
    "shapes_do_not_chain": (
        [_inp(N_IN), _dense(16, N_IN), _dense(10, 15)],
        "layer/2/weight: a dense weight of shape (10, 15) reading 15 inputs after a layer of 16 neurons",
    ),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_network_netx_or_lava_cannot_run_is_refused_alike(tmp_path, name):
    """inspect and check list the problem (exit 1; check no longer stops on
    NaN or per-neuron thresholds with exit 3), run refuses it naming the layer (exit 2)."""
    layers, words = REFUSED[name]
    path = write_netx(tmp_path / f"{name}.net", layers)
    before = path.read_bytes()
    r = _cli("inspect", path)
    assert r.returncode == 1 and words in r.stdout and "would run: no" in r.stdout, r.stdout
    report = tmp_path / "r" / "check.json"
    r = _cli("check", path, "--report", report)
    assert r.returncode == 1 and words in r.stdout, r.stdout + r.stderr
    core = words.split(": ", 1)[1] if words.startswith("[") else words  # run's "[rule] layer N: " prefix
    assert any(core in p["message"] for p in json.loads(report.read_text())["problems"])
    r = _cli("run", path, *EMBEDDED, "--samples", "2", "--report", tmp_path / "r" / "run.json")
    assert r.returncode == 2 and _error(r).startswith(f"lavacut run: error: {path}: ") and words in _error(r)
    assert path.read_bytes() == before and not (tmp_path / "r" / "run.json").exists()


def test_a_conv_input_that_does_not_fit_the_sensor_is_refused(tmp_path):
    w = np.random.default_rng(0).integers(-8, 9, (4, 2, 3, 3)).astype(np.float32)
    conv = {
        "type": "conv",
        "shape": np.array([4, 9, 9]),
        "inChannels": 2,
        "outChannels": 4,
        "kernelSize": np.array([3, 3]),
        "stride": np.array([2, 2]),
        "padding": np.array([0, 0]),
        "dilation": np.array([1, 1]),
        "groups": 1,
        "weight": w,
        "neuron": CUBA,
    }
    layers = [{"type": "input", "shape": np.array([2, 20, 20])}, conv, {"type": "flatten", "shape": np.array([324])}]
    path = write_netx(tmp_path / "conv.net", [*layers, _dense(10, 324)])
    r = _cli("run", path, *EMBEDDED, "--samples", "2", "--report", tmp_path / "run.json")
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"frames of shape (2, 34, 34) per step do not match the network input (2, 20, 20) of {path}" in _error(r)


@pytest.mark.parametrize("n_out", [1, 4])
def test_fewer_outputs_than_the_data_sets_classes_is_refused(tmp_path, n_out):
    """Labels 4..9 with 4 output neurons: the accuracy would measure the
    mismatch, not the network."""
    path = write_netx(tmp_path / "narrow.net", [_inp(N_IN), _dense(16, N_IN), _dense(n_out, 16, seed=1)])
    r = _cli("run", path, *EMBEDDED, "--samples", "2", "--report", tmp_path / "run.json")
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{path}: {n_out} output neuron" in _error(r) and "whose labels go up to 9" in _error(r)


def test_never_spiking_output_claims_no_decision(tmp_path):
    """An output layer no input drives past threshold: inspect says it never
    spikes, and an adaptive rule runs every sample to T with no prediction
    (a tie is not a decision), saving nothing."""
    silent = _dense(10, 16, w=np.ones((10, 16)), vThMant=131071, iDecay=4096, vDecay=4096)
    path = write_netx(tmp_path / "silent.net", [_inp(N_IN), _dense(16, N_IN), silent])
    r = _cli("inspect", path)
    assert r.returncode == 0 and "it never spikes, so every decision is a tie" in r.stdout, r.stdout
    report = tmp_path / "run.json"
    r = _cli(
        "run", path, *EMBEDDED, "--samples", "3", "--policy", "confidence", "--param", "eps=0.1", "--report", report
    )
    assert r.returncode == 0, r.stderr
    assert "no sample decided" in r.stdout and "fewer" not in r.stdout, r.stdout
    rows = [line.split() for line in r.stdout.splitlines() if line.strip().startswith("sample")]
    assert len(rows) == 3 and all(row[3] == "30" and row[5] == "-1" for row in rows), rows


@pytest.mark.parametrize(
    "name,layers",
    [
        ("no_hidden_layer", [_inp(N_IN), _dense(10, N_IN)]),
        ("no_input_layer", [_dense(10, N_IN)]),
        ("more_outputs_than_classes", [_inp(N_IN), _dense(16, N_IN), _dense(20, 16, seed=1)]),
        (
            "int8_limits",
            [
                _inp(N_IN),
                _dense(16, N_IN, w=np.where(np.random.default_rng(2).random((16, N_IN)) < 0.5, -256, 254)),
                _dense(10, 16),
            ],
        ),
        ("deep", [_inp(N_IN), _dense(16, N_IN)] + [_dense(16, 16, seed=s) for s in range(30)] + [_dense(10, 16)]),
    ],
)
def test_odd_but_valid_networks_run_and_report_fixed_T_honestly(tmp_path, name, layers):
    path = write_netx(tmp_path / f"{name}.net", layers)
    before = path.read_bytes()
    assert _cli("inspect", path).returncode == 0
    report = tmp_path / "run.json"
    r = _cli("run", path, *EMBEDDED, "--samples", "3", "--report", report)
    assert r.returncode == 0, r.stderr
    assert "timesteps 30 of 30: fixed T (no cutoff)" in r.stdout, r.stdout
    assert path.read_bytes() == before


def _flatten(n):
    return {"type": "flatten", "shape": np.array([n])}


@pytest.mark.parametrize(
    "name,layers",
    [
        ("flatten_first", [_flatten(N_IN), _dense(10, N_IN)]),
        ("input_flatten", [_inp(N_IN), _flatten(N_IN), _dense(10, N_IN)]),
    ],
)
def test_a_flatten_of_a_flat_input_verifies(tmp_path, name, layers):
    """netx runs a flatten of what is flat already; the SLAYER rebuild of
    verify skips it (its slayer Flatten indexed (C, H, W): exit 3)."""
    path = write_netx(tmp_path / f"{name}.net", layers)
    r = _cli("verify", path, *EMBEDDED, "--samples", "2", "--report", tmp_path / "verify.json")
    assert r.returncode == 0 and "2/2 samples identical" in r.stdout, r.stdout + r.stderr


def test_a_flatten_after_a_dense_layer_is_refused_as_netx_cannot_build_it(tmp_path):
    path = write_netx(tmp_path / "f.net", [_inp(N_IN), _dense(16, N_IN), _flatten(16), _dense(10, 16)])
    words = "layer 2 has type 'flatten': a flatten after layer 1 of shape (16,) (netx flattens (C, H, W) only)"
    assert "would run: no" in _cli("inspect", path).stdout
    r = _cli("run", path, *EMBEDDED, "--samples", "2", "--report", tmp_path / "run.json")
    assert r.returncode == 2 and words in _error(r), r.stderr


# --------------------------------------------------------------------------- one read per open
def test_export_open_reads_each_dataset_once(monkeypatch):
    """The validator, the hash, the layers and the range rules share one
    read of every dataset (each weight matrix was decompressed 4 times)."""
    from lavacut.export.artifact import Export
    from lavacut.export.netx.file import read_stored_metadata
    from lavacut.export.netx.inspect import inspect_layers

    reads: list[str] = []
    original = h5py.Dataset.__getitem__

    def counting(self, key, *args, **kwargs):
        reads.append(self.name)
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", counting)
    export = Export.open(DENSE)
    assert reads and len(reads) == len(set(reads)), sorted(reads)
    monkeypatch.setattr(h5py.Dataset, "__getitem__", original)
    layer_datasets = []
    with h5py.File(DENSE) as f:
        f["layer"].visititems(lambda n, obj: layer_datasets.append(obj.name) if isinstance(obj, h5py.Dataset) else None)
    assert sorted(r for r in reads if r.startswith("/layer/")) == sorted(layer_datasets)  # all hashed, each once
    assert export.meta == read_stored_metadata(DENSE) and export.layers == inspect_layers(DENSE)


@pytest.mark.parametrize("seed", range(4))
def test_netx_weight_format_is_lava_dls_on_many_weight_sets(seed):
    """The one-pass power-of-two divisor gives lava-dl's optimize_weight_bits
    (which divides by 2**n for n = 8, 7, ...) on every sign mode and step."""
    from lava.lib.dl.netx.utils import optimize_weight_bits

    rng = np.random.default_rng(seed)
    for lo, hi in [(-256, 254), (-8, 8), (0, 255), (-256, 0), (-5, 7), (1, 12), (-1, 0)]:
        for step in (1, 2, 4, 8, 32, 128):
            w = (rng.integers(lo // step, hi // step + 1, (5, 7)) * step).astype(np.float64)
            if not w.any():
                continue
            with np.errstate(divide="ignore"):  # lava-dl's 127 / max for weights <= 0 (numpy's inf, unused)
                _, bits, exp, _ = optimize_weight_bits(w.copy())
            assert netx_weight_format(w)[:2] == (bits, exp), (lo, hi, step)
