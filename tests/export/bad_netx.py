"""Malformed NetX files, each made from a shipped export with h5py (issue 22's
hostile probes): name -> (builder, the words the refusal must contain)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
from lavacut_testing import DENSE, REPO

CONV = REPO / "netx_exports" / "embedded_conv.net"


def _meta(f, fn) -> None:
    m = json.loads(f["lavacut"].attrs["meta"])
    fn(m)
    f["lavacut"].attrs["meta"] = json.dumps(m)


def _cutoff(f, name, fn) -> None:
    a = f["lavacut/cutoff"][name].attrs
    p = json.loads(a["params"])
    fn(p)
    a["params"] = json.dumps(p)


def _replace(g, name, value, **kw) -> None:
    del g[name]
    g.create_dataset(name, data=value, **kw)


def _external_link(f, d):
    with h5py.File(d / "weights.h5", "w") as o:
        o["w"] = f["layer/2/weight"][()]
    del f["layer/2/weight"]
    f["layer/2/weight"] = h5py.ExternalLink("weights.h5", "/w")


def _soft_link(f, d):
    f["stash"] = f["layer/2/weight"][()]
    del f["layer/2/weight"]
    f["layer/2/weight"] = h5py.SoftLink("/stash")


def _dangling_link(f, d):
    del f["layer/2/weight"]
    f["layer/2/weight"] = h5py.SoftLink("/nowhere")


def _layer_dataset(f, d):
    del f["layer"]
    f["layer"] = np.zeros(3)


def _huge(f, d):
    # 60000 x 60000 float32 declared (13.4 GiB once read), a few KB on disk: chunks never written
    del f["layer/2/weight"]
    f["layer/2"].create_dataset("weight", shape=(60000, 60000), dtype="f4", chunks=(1000, 1000), compression="gzip")


def _huge_written(f, d):
    # 2048 x 1024 x 1024 float32 (8 GiB once read), its first chunk written gzip-compressed: a few KB on disk
    del f["layer/2/weight"]
    ds = f["layer/2"].create_dataset(
        "weight", shape=(2048, 1024, 1024), dtype="f4", chunks=(1, 1024, 1024), compression="gzip", compression_opts=9
    )
    ds[0] = np.zeros((1024, 1024), np.float32)


def _no_layers(f, d):
    for k in list(f["layer"]):
        del f["layer"][k]


def _hash_removed_weights_changed(f, d):
    _meta(f, lambda m: m.pop("content_sha256"))
    w = f["layer/2/weight"][()]
    w[0, :5] += 2
    _replace(f["layer/2"], "weight", w)


def _conv_3d(f, d):
    w = f["layer/1/weight"][()]
    _replace(f["layer/1"], "weight", w[:, 0])


#: name -> (source, builder, what the one-line refusal names)
BAD = {
    "external_link": (DENSE, _external_link, "layer/2/weight: an HDF5 external link"),
    "soft_link": (DENSE, _soft_link, "layer/2/weight: an HDF5 soft link"),
    "dangling_link": (DENSE, _dangling_link, "layer/2/weight: an HDF5 soft link (dangling: /nowhere)"),
    "conv_3d_weight": (CONV, _conv_3d, "layer/1/weight: a conv weight of shape (16, 5, 5)"),
    "string_shape": (
        DENSE,
        lambda f, d: _replace(f["layer/1"], "shape", np.array([b"256"])),
        "layer/1/shape: not numbers (dtype |S3)",
    ),
    "layer_dataset": (DENSE, _layer_dataset, "'layer' is a dataset, not a group"),
    "string_weight": (
        DENSE,
        lambda f, d: _replace(f["layer/2"], "weight", np.full((10, 256), b"1")),
        "layer/2/weight: not numbers (dtype |S1)",
    ),
    "missing_shape": (DENSE, lambda f, d: f["layer/2"].__delitem__("shape"), "layer/2: no 'shape' dataset"),
    "shape_1e8": (
        DENSE,
        lambda f, d: _replace(f["layer/2"], "shape", np.array([100_000_000])),
        "layer/2/shape: declares 100000000 elements",
    ),
    "string_train_config": (
        DENSE,
        lambda f, d: _meta(f, lambda m: m.update(train_config="epochs=3")),
        "lavacut/meta train_config: must be an object",
    ),
    "huge_declared": (DENSE, _huge, "layer/2/weight: declares 3600000000 elements"),
    "huge_written": (DENSE, _huge_written, "layer/2/weight: declares 2147483648 elements"),
    "complex_weight": (
        DENSE,
        lambda f, d: _replace(f["layer/2"], "weight", f["layer/2/weight"][()] * (1 + 1j)),
        "layer/2/weight: complex numbers",
    ),
    "bias_1e9": (
        DENSE,
        lambda f, d: f["layer/2"].create_dataset("bias", data=np.full(10, 1e9)),
        "[bias] layer 2: bias mantissas span 1e+09..1e+09",
    ),
    "delay_1000": (
        DENSE,
        lambda f, d: f["layer/2"].create_dataset("delay", data=np.full(256, 1000.0)),
        "[delay] layer 2: axonal delays span 1000..1000",
    ),
    "no_layers": (DENSE, _no_layers, "'layer' group has no layers"),
    "hash_removed": (DENSE, _hash_removed_weights_changed, "lavacut/meta content_sha256: missing"),
    "negative_beta": (
        DENSE,
        lambda f, d: _cutoff(f, "topk", lambda p: p["beta"].__setitem__(0, -1.0)),
        "lavacut/cutoff/topk: topk: beta has negative values (min -1, at step 1)",
    ),
    "short_beta": (
        DENSE,
        lambda f, d: _cutoff(f, "topk", lambda p: p.update(beta=p["beta"][:20])),
        "lavacut/cutoff/topk: topk: beta has 20 entries but the network runs T=30 steps",
    ),
    "wrong_class_count": (
        DENSE,
        lambda f, d: _meta(f, lambda m: m.update(classes=["a", "b", "c"])),
        "lavacut/meta classes: 3 names for 10 outputs",
    ),
    "unknown_dataset": (
        DENSE,
        lambda f, d: _meta(f, lambda m: m.update(dataset="mnist3d")),
        "lavacut/meta dataset: 'mnist3d' is not the data set its train_config runs ('embedded')",
    ),
    # hostile networks (tests/export/test_hostile_networks.py has the files that are not edits of an export)
    "all_zero_weight": (
        DENSE,
        lambda f, d: _replace(f["layer/2"], "weight", np.zeros_like(f["layer/2/weight"][()])),
        "layer 2 weight is all zeros: netx cannot build the layer",
    ),
    "nan_threshold": (
        DENSE,
        lambda f, d: _replace(f["layer/2/neuron"], "vThMant", np.nan),
        "layer 2 neuron vThMant is NaN or infinite",
    ),
    "calibration_under_other_name": (
        DENSE,
        lambda f, d: f["lavacut/cutoff"].move("entropy", "magic"),
        "lavacut/cutoff/magic holds the parameters of policy 'entropy'",
    ),
    "calibration_of_other_rule": (
        DENSE,
        lambda f, d: _cutoff(f, "topk", lambda p: (p.clear(), p.update(policy="confidence", eps=0.01))),
        "lavacut/cutoff/topk holds the parameters of policy 'confidence'",
    ),
    "params_not_an_object": (
        DENSE,
        lambda f, d: f["lavacut/cutoff/topk"].attrs.__setitem__("params", "[1, 2]"),
        "lavacut/cutoff/topk/params must be a JSON object of the rule's parameters, got list",
    ),
    "params_not_text": (
        DENSE,
        lambda f, d: f["lavacut/cutoff/topk"].attrs.__setitem__("params", np.arange(3)),
        "lavacut/cutoff/topk/params is missing or not JSON",
    ),
    "meta_not_text": (
        DENSE,
        lambda f, d: f["lavacut"].attrs.__setitem__("meta", np.arange(3)),
        "lavacut/meta is missing or not JSON",
    ),
    "default_not_a_name": (
        DENSE,
        lambda f, d: f["lavacut/cutoff"].attrs.__setitem__("default", np.array([b"topk", b"entropy"])),
        "lavacut/cutoff default must be the name of a calibrated rule, got ndarray",
    ),
    "eps_nan": (
        DENSE,
        lambda f, d: _cutoff(f, "topk", lambda p: p.update(eps=float("nan"))),
        "lavacut/cutoff/topk: topk: eps must be a number, got nan",
    ),
    "classes_not_text": (
        DENSE,
        lambda f, d: _meta(f, lambda m: m.update(classes=list(range(10)))),
        "lavacut/meta classes: [0, 1, 2",
    ),
    "input_shape_not_the_layers": (
        DENSE,
        lambda f, d: _meta(f, lambda m: m.update(input_shape=[3, 34, 34])),
        "lavacut/meta input_shape: [3, 34, 34] is 3468 inputs per step, but layer 0 reads 2312",
    ),
    "train_config_invalid": (
        DENSE,
        lambda f, d: _meta(f, lambda m: m["train_config"]["framing"].update(T=-3)),
        "lavacut/meta train_config: framing.T must be at least 1, got -3",
    ),
}


#: edits that leave the layers readable: the stored content hash is renewed,
#: so the file is refused for the edit itself, not for being modified
REHASH = {"bias_1e9", "delay_1000", "all_zero_weight", "nan_threshold"}


def make_bad(name: str, folder: Path) -> Path:
    from lavacut.export.netx.file import content_hash

    src, build, _ = BAD[name]
    path = folder / f"{name}.net"
    shutil.copyfile(src, path)
    with h5py.File(path, "a") as f:
        build(f, folder)
        if name in REHASH:
            digest = content_hash(f)
            _meta(f, lambda m: m.update(content_sha256=digest))
    return path
