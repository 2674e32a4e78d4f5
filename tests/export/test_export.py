"""Export stage: NetX files with lavacut metadata (stock netx loads them),
content hashes, atomic writes, inspection of lavacut / foreign / unsupported
files, bad files, and the SLAYER rebuild of an export.

Fast tests export tiny SLAYER nets or build small NetX files with h5py; slow
tests use the session's quick run exported once through the CLI.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from lavacut_testing import quick_export as _quick_export, quick_run as _quick_run, write_netx
import torch

from lavacut.export.exporter import net_from_checkpoint
from lavacut.export.rebuild.network import net_from_export, spec_from_layers
from lavacut.export.netx.inspect import inspect_layers
from lavacut.export.netx.layers.base import signed_bits
from lavacut.export.inspect_report import format_inspection
from lavacut.export.netx.file import META_GROUP, NetxFileError, check_weights, content_hash
from lavacut.export.validate import read_metadata, write_calibration, write_export
from lavacut.cutoff.rules import TopKGap
from lavacut.train.netspec import NetSpec
from lavacut.train.networks import build_network
from lavacut.util import LavacutError

REPO = Path(__file__).resolve().parents[2]
T_TINY = 8


# ------------------------------------------------------------------ helpers


def _tiny_spec(**kw):
    base = dict(
        kind="dense", input_shape=(1, 3, 3), n_classes=3, hidden=(6,), weight_norm=False, dropout=0.0, name="tiny"
    )
    return NetSpec(**{**base, **kw})


def _tiny_net(seed=0, w_range=(-1.5, 2.0), **kw):
    """A tiny dense net with weights large enough that every layer spikes."""
    torch.manual_seed(seed)
    net = build_network(_tiny_spec(**kw))
    with torch.no_grad():
        for b in net.spiking_blocks:
            b.synapse.weight.uniform_(*w_range)
    return net.eval()


def _tiny_meta(net, **extra):
    return {
        "name": "tiny",
        "dataset": "synthetic",
        "sensor_size": [3, 3, 1],
        "input_shape": list(net.spec.input_shape),
        "framing": {"bin_us": 1000, "T": T_TINY},
        "classes": ["a", "b", "c"],
        "n_classes": 3,
        "spec": net.spec.to_dict(),
        "train_config": {},
        "accuracy": {"test_full_T_slayer": 0.5},
        **extra,
    }


def _tiny_export(path, net=None, **extra):
    net = net if net is not None else _tiny_net()
    write_export(net, path, _tiny_meta(net, **extra))
    return path, net


def _inputs(spec, N=4, T=T_TINY, seed=1, density=0.5):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(N, *spec.input_shape, T, generator=g) < density).float()


CUBA = {"type": b"CUBA", "iDecay": 1024, "vDecay": 123, "vThMant": 80, "refDelay": 1, "gradedSpike": False}


def _edit_meta(path, **changes):
    with h5py.File(path, "a") as f:
        m = json.loads(f[META_GROUP].attrs["meta"])
        m.update(changes)
        f[META_GROUP].attrs["meta"] = json.dumps(m)


def _set_cutoff(path, name, params):
    with h5py.File(path, "a") as f:
        c = f[META_GROUP]["cutoff"]
        g = c.require_group(name)
        g.attrs["params"] = json.dumps(params)


# ------------------------------------------------------------------ fast: writing and metadata


def test_write_export_metadata_and_hash(tmp_path):
    path, net = _tiny_export(tmp_path / "t.net")
    meta = read_metadata(path)
    assert meta["format"] == 1 and meta["name"] == "tiny" and meta["framing"]["T"] == T_TINY
    assert meta["classes"] == ["a", "b", "c"] and meta["spec"] == net.spec.to_dict()
    assert meta["versions"]["lava-dl"] == "0.6.0" and meta["versions"]["torch"].startswith("2.3")
    assert meta["cutoff"] == {} and meta["default_policy"] is None
    with h5py.File(path, "r") as f:
        assert meta["content_sha256"] == content_hash(f)
        assert [f["layer"][k]["type"][0].decode() for k in ("0", "1", "2")] == ["input", "dense", "dense"]
        w1 = f["layer/1/weight"][()]
    # the file holds the weights SLAYER computes with: 8-bit quantised, even integers
    q = net.blocks[0].synapse.pre_hook_fx(net.blocks[0].synapse.weight).detach().numpy().reshape(6, 9) * 64
    np.testing.assert_array_equal(w1, q)
    assert np.all(w1 % 2 == 0) and w1.min() >= -256 and w1.max() <= 254
    # deterministic: the same net gives the same hash; one weight step changes it
    path2, _ = _tiny_export(tmp_path / "same.net", net=net)
    assert read_metadata(path2)["content_sha256"] == meta["content_sha256"]
    other = _tiny_net()
    with torch.no_grad():
        other.blocks[1].synapse.weight[0, 0] += 2 / 64
    path3, _ = _tiny_export(tmp_path / "other.net", net=other)
    assert read_metadata(path3)["content_sha256"] != meta["content_sha256"]
    # hand-editing a weight in the file changes the recomputed hash
    with h5py.File(path2, "a") as f:
        f["layer/2/weight"][0, 0] += 2
        assert content_hash(f) != meta["content_sha256"]


def test_interrupted_export_leaves_no_file(tmp_path, monkeypatch):
    import lavacut.export.netx.file as nf

    net = _tiny_net()
    seen = []

    def boom(f):
        seen.append(Path(f.filename))
        assert Path(f.filename).is_file() and "layer" in f  # the temporary file is written
        raise RuntimeError("disk full")

    monkeypatch.setattr(nf, "content_hash", boom)
    target = tmp_path / "out" / "t.net"
    with pytest.raises(RuntimeError, match="disk full"):
        write_export(net, target, _tiny_meta(net))
    assert seen and seen[0] != target and seen[0].parent == target.parent
    assert list(target.parent.iterdir()) == []  # no target, no temporary file
    # an existing export stays as it was
    monkeypatch.undo()
    _tiny_export(target, net=net)
    before = target.read_bytes()
    monkeypatch.setattr(nf, "content_hash", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_export(_tiny_net(seed=5), target, _tiny_meta(net))
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["t.net"]


def test_write_calibration_stores_rules_atomically_and_validates_first(tmp_path, monkeypatch):
    path, _ = _tiny_export(tmp_path / "t.net")
    rule = TopKGap(beta=np.arange(T_TINY, dtype=float), eps=0.02)
    write_calibration(path, {"topk": rule.params()}, default_policy="topk", extra_meta={"calibration": {"n": 3}})
    meta = read_metadata(path)
    assert meta["default_policy"] == "topk" and meta["cutoff"]["topk"]["beta"] == list(range(T_TINY))
    assert meta["calibration"] == {"n": 3}
    good = path.read_bytes()
    # a beta that does not cover T is refused and the export is left as it was
    with pytest.raises(
        NetxFileError,
        match=r"lavacut/cutoff/topk: topk: beta has 5 entries but the network runs "
        r"T=8 steps",
    ):
        write_calibration(path, {"topk": TopKGap(beta=np.ones(5)).params()})
    assert path.read_bytes() == good
    with pytest.raises(NetxFileError, match="default policy 'entropy' has no calibration"):
        write_calibration(path, {}, default_policy="entropy")
    assert path.read_bytes() == good
    # interrupted while copying: unchanged, no temporary file
    import lavacut.export.netx.file as nf

    def boom(*a, **k):
        raise OSError("interrupted")

    monkeypatch.setattr(nf.shutil, "copyfile", boom)
    with pytest.raises(OSError, match="interrupted"):
        write_calibration(path, {"topk": rule.params()})
    assert path.read_bytes() == good and [p.name for p in tmp_path.iterdir()] == ["t.net"]


def test_read_metadata_bad_fields_name_the_field(tmp_path):
    src, _ = _tiny_export(tmp_path / "t.net")

    def variant(name, edit):
        p = tmp_path / f"{name}.net"
        shutil.copyfile(src, p)
        edit(p)
        return p

    p = variant("beta", lambda p: _set_cutoff(p, "topk", {"policy": "topk", "beta": [1.0] * 5}))
    with pytest.raises(NetxFileError, match=r"beta has 5 entries but the network runs T=8"):
        read_metadata(p)
    p = variant("policy", lambda p: _set_cutoff(p, "mine", {"policy": "mine"}))
    with pytest.raises(NetxFileError, match=r"lavacut/cutoff/mine: unknown stop policy 'mine'"):
        read_metadata(p)
    p = variant("field", lambda p: _set_cutoff(p, "confidence", {"policy": "confidence", "epsilon": 0.1}))
    with pytest.raises(NetxFileError, match=r"lavacut/cutoff/confidence: .*no parameter\(s\) epsilon"):
        read_metadata(p)
    p = variant("T", lambda p: _edit_meta(p, framing={"bin_us": 1000, "T": "eight"}))
    with pytest.raises(NetxFileError, match=r"framing.T must be a positive integer, got 'eight'"):
        read_metadata(p)
    p = variant("sensor", lambda p: _edit_meta(p, sensor_size=[34, 34]))
    with pytest.raises(NetxFileError, match=r"sensor_size must be \[W, H, P\]"):
        read_metadata(p)

    def not_json(p):
        with h5py.File(p, "a") as f:
            f[META_GROUP].attrs["meta"] = "{not json"

    with pytest.raises(NetxFileError, match="lavacut/meta is missing or not JSON"):
        read_metadata(variant("json", not_json))

    def default_missing(p):
        with h5py.File(p, "a") as f:
            f[META_GROUP]["cutoff"].attrs["default"] = "topk"

    with pytest.raises(NetxFileError, match="default policy 'topk' has no calibration"):
        read_metadata(variant("default", default_missing))


def test_not_hdf5_and_no_layer_group(tmp_path):
    txt = tmp_path / "model.net"
    txt.write_text("this is not HDF5")
    for fn in (read_metadata, inspect_layers, format_inspection):
        with pytest.raises(NetxFileError, match="model.net: not an HDF5 file"):
            fn(txt)
    empty = tmp_path / "empty.net"
    with h5py.File(empty, "w") as f:
        f.create_group("weights")
    for fn in (read_metadata, inspect_layers, format_inspection):
        with pytest.raises(NetxFileError, match="no 'layer' group: not a NetX network file"):
            fn(empty)
    with pytest.raises(NetxFileError, match="no such file"):
        read_metadata(tmp_path / "missing.net")
    assert issubclass(NetxFileError, LavacutError)


def test_check_weights_names_the_layer(tmp_path):
    src, _ = _tiny_export(tmp_path / "t.net")
    nan = tmp_path / "nan.net"
    shutil.copyfile(src, nan)
    with h5py.File(nan, "a") as f:
        check_weights(f)  # the export itself is fine
        f["layer/2/weight"][1, 2] = np.nan
        with pytest.raises(NetxFileError, match="layer 2 weight contains NaN or infinite values"):
            check_weights(f)
    big = tmp_path / "big.net"
    shutil.copyfile(src, big)
    with h5py.File(big, "a") as f:
        f["layer/1/weight"][0, 0] = 300
        with pytest.raises(
            NetxFileError,
            match=r"layer 1 weight has values in \[.*, 300\], outside the 8-bit "
            r"weight mantissa range",
        ):
            check_weights(f)


def test_inspect_a_lavacut_export(tmp_path, capsys):
    path, net = _tiny_export(tmp_path / "t.net")
    layers = inspect_layers(path)
    assert [(L.type, L.shape, L.supported) for L in layers] == [
        ("input", (1, 3, 3), True),
        ("dense", (6,), True),
        ("dense", (3,), True),
    ]
    with h5py.File(path, "r") as f:
        w = [f[f"layer/{i}/weight"][()] for i in (1, 2)]
    for L, wi in zip(layers[1:], w):
        assert L.neurons == wi.shape[0] and L.weight_shape == wi.shape
        assert L.synapses == L.weights_stored == np.count_nonzero(wi)
        m = int(np.abs(wi).max())
        assert L.weight_bits == signed_bits(wi) == int(np.ceil(np.log2(m + 1))) + 1
        assert L.weight_memory_bits == L.weights_stored * L.weight_bits
        assert L.neuron["vThMant"] == 80 and L.neuron["iDecay"] == 1024 and L.neuron["vDecay"] == 123
    text = format_inspection(path)
    assert "lavacut metadata (format 1): name tiny, data set synthetic, sensor [3, 3, 1]" in text
    assert f"content sha256 {read_metadata(path)['content_sha256']}" in text
    assert "cutoff: not calibrated yet" in text
    assert f"total: 9 neurons, {sum(L.synapses for L in layers)} synaptic connections" in text
    assert "UNSUPPORTED" not in text
    write_calibration(path, {"topk": TopKGap(beta=np.linspace(0, 3, T_TINY), eps=0.05).params()}, default_policy="topk")
    assert "cutoff topk (default): {'beta': '[8 values, 0..3]', 'eps': 0.05}" in format_inspection(path)
    from lavacut.cli import main

    assert main(["inspect", str(path)]) == 0
    assert "lavacut metadata (format 1)" in capsys.readouterr().out


def test_inspect_a_foreign_netx_file(tmp_path, capsys):
    w = np.array([[2, -4, 0, 6], [0, 0, 8, -2]], dtype=np.float32)
    path = write_netx(
        tmp_path / "foreign.net",
        [
            {"type": "input", "shape": np.array([4])},
            {"type": "dense", "shape": np.array([2]), "inFeatures": 4, "outFeatures": 2, "weight": w, "neuron": CUBA},
        ],
    )
    assert read_metadata(path) is None
    layers = inspect_layers(path)
    assert [(L.type, L.neurons, L.synapses, L.weight_bits) for L in layers] == [
        ("input", 0, 0, None),
        ("dense", 2, 5, 5),
    ]
    text = format_inspection(path)
    assert "lavacut metadata: none (not written by lavacut" in text
    assert "total: 2 neurons, 5 synaptic connections" in text
    from lavacut.cli import main

    assert main(["inspect", str(path)]) == 0
    assert "lavacut metadata: none" in capsys.readouterr().out
    # lavacut can still rebuild it in SLAYER (spec from the layers)
    spec = spec_from_layers(path)
    assert (spec.kind, spec.input_shape, spec.hidden, spec.n_classes) == ("dense", (4, 1, 1), (), 2)
    assert spec.threshold == 80 / 64 and spec.current_decay == 0.25


def test_inspect_lists_a_pool_layer_as_unsupported(tmp_path, capsys):
    path = write_netx(
        tmp_path / "pool.net",
        [
            {"type": "input", "shape": np.array([2, 8, 8])},
            {
                "type": "pool",
                "shape": np.array([2, 4, 4]),
                "kernelSize": np.array([2, 2]),
                "stride": np.array([2, 2]),
                "padding": np.array([0, 0]),
                "weight": np.ones((2, 2), np.float32),
            },
            {"type": "flatten", "shape": np.array([32, 1, 1])},
            {
                "type": "dense",
                "shape": np.array([3]),
                "inFeatures": 32,
                "outFeatures": 3,
                "weight": np.full((3, 32), 2.0, np.float32),
                "neuron": CUBA,
            },
        ],
    )
    layers = inspect_layers(path)
    assert [(L.type, L.supported) for L in layers] == [
        ("input", True),
        ("pool", False),
        ("flatten", True),
        ("dense", True),
    ]
    assert "NotImplementedError" in layers[1].note
    text = format_inspection(path)
    assert "UNSUPPORTED: netx cannot load this layer type" in text
    assert "unsupported by netx: layer 1 (pool) -- stock lava.lib.dl.netx.hdf5.Network will not load this file" in text
    from lavacut.cli import main

    assert main(["inspect", str(path)]) == 1  # described, and its verdict: would run: no
    assert capsys.readouterr().out.rstrip().endswith("would run: no")
    with pytest.raises(LavacutError, match="layer 1 has type 'pool'"):
        net_from_export(path)


def test_cli_inspect_bad_file_exit_code(tmp_path, capsys):
    from lavacut.cli import main

    (tmp_path / "x.net").write_bytes(b"\x00" * 64)
    assert main(["inspect", str(tmp_path / "x.net")]) == 2
    assert "not an HDF5 file" in capsys.readouterr().err


# ------------------------------------------------------------------ fast: rebuilding SLAYER nets from files


def _out(net, x):
    with torch.no_grad():
        return net.eval()(x, record=False)[0]


def test_net_from_export_round_trip_tiny(tmp_path):
    path, net = _tiny_export(tmp_path / "t.net")
    back, meta = net_from_export(path)
    x = _inputs(net.spec, N=6)
    a, b = _out(net, x), _out(back, x)
    assert a.sum() > 0 and a[:, :, -1].sum() >= 0  # the net does spike
    assert torch.equal(a, b)
    assert meta["name"] == "tiny"
    # the same net rebuilt from the layers alone (metadata removed)
    bare = tmp_path / "bare.net"
    shutil.copyfile(path, bare)
    with h5py.File(bare, "a") as f:
        del f[META_GROUP]
    back2, meta2 = net_from_export(bare)
    assert meta2 is None and torch.equal(_out(back2, x), a)


def test_net_from_export_uses_the_files_learned_decays(tmp_path):
    # weights small enough that the neurons integrate, so the decays matter
    net = _tiny_net(learn_decay=True, w_range=(-0.3, 0.6))
    x = _inputs(net.spec, N=6, seed=3)
    untrained = _out(net, x)
    with torch.no_grad():
        for b, (cd, vd) in zip(net.spiking_blocks, [(1800.0, 300.0), (700.0, 40.0)]):
            b.neuron.current_decay.fill_(cd)  # SLAYER units: fractions x 4096
            b.neuron.voltage_decay.fill_(vd)
    a = _out(net, x)
    assert a.sum() > 0 and not torch.equal(a, untrained)
    path, _ = _tiny_export(tmp_path / "decay.net", net=net)  # meta spec: the configured decays
    with h5py.File(path, "r") as f:
        assert [int(f[f"layer/{i}/neuron/iDecay"][()]) for i in (1, 2)] == [1800, 700]
        assert [int(f[f"layer/{i}/neuron/vDecay"][()]) for i in (1, 2)] == [300, 40]
    back, _ = net_from_export(path)
    assert torch.equal(_out(back, x), a)


def test_write_export_refuses_a_net_whose_weights_do_not_fit(tmp_path):
    net = _tiny_net()
    with torch.no_grad():
        net.blocks[0].synapse.weight[0, 0] = float("nan")
    with pytest.raises(LavacutError):
        write_export(net, tmp_path / "nan.net", _tiny_meta(net))
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ slow: the quick run's export


@pytest.fixture(scope="module")
def quick_export(tmp_path_factory):
    path = _quick_export(tmp_path_factory)
    return path, _quick_run(tmp_path_factory)


_NETX_PROBE = """
import json, sys
import numpy as np
from lava.lib.dl import netx
net = netx.hdf5.Network(net_config=sys.argv[1])
print(json.dumps({
    "inp": [int(v) for v in net.inp.shape], "out": [int(v) for v in net.out.shape],
    "layers": [{"a_in": [int(v) for v in l.neuron.a_in.shape], "s_out": [int(v) for v in l.neuron.s_out.shape],
                "w": np.asarray(l.synapse.weights.init).tolist(),
                "weight_exp": int(l.synapse.proc_params["weight_exp"]),
                "vth": int(l.neuron.vth.init)} for l in net.layers]}))
"""


@pytest.mark.slow
def test_export_cli_writes_a_file_stock_netx_loads(quick_export):
    path, _ = quick_export
    assert [p.name for p in path.parent.iterdir()] == ["quick.net"]  # no temporary file left
    # stock netx, in a fresh process: Lava sets the 'fork' start method when
    # imported, which fails once anything (a tqdm bar) fixed the context
    r = subprocess.run([sys.executable, "-c", _NETX_PROBE, str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["inp"] == [2312] and got["out"] == [10]
    assert len(got["layers"]) == 2
    with h5py.File(path, "r") as f:
        for layer, key, shape in zip(got["layers"], ("1", "2"), [(64, 2312), (10, 64)]):
            assert layer["a_in"] == layer["s_out"] == [shape[0]]
            w = np.asarray(layer["w"])
            assert w.shape == shape
            # netx stores mantissa x 2**weight_exp: the same weights as the file
            np.testing.assert_array_equal(w * 2.0 ** layer["weight_exp"], f["layer"][key]["weight"][()])
            assert layer["vth"] == int(f["layer"][key]["neuron"]["vThMant"][()]) == 80


@pytest.mark.slow
def test_export_metadata(quick_export):
    path, run = quick_export
    meta = read_metadata(path)
    for key in (
        "sensor_size",
        "framing",
        "classes",
        "dataset",
        "train_config",
        "accuracy",
        "versions",
        "content_sha256",
        "spec",
        "input_shape",
        "latency_steps",
    ):
        assert key in meta, key
    assert meta["sensor_size"] == [34, 34, 2] and meta["input_shape"] == [2, 34, 34]
    assert meta["framing"] == {"bin_us": 10000, "T": 30, "slicing": "time", "downsample": 1.0, "denoise_us": 0}
    assert meta["classes"] == [str(d) for d in range(10)] and meta["dataset"] == "embedded"
    assert meta["train_config"]["name"] == "quick" and meta["train_config"]["net"]["hidden"] == [64]
    assert meta["spec"]["hidden"] == [64] and meta["latency_steps"] == 2
    metrics = json.loads((run / "metrics.json").read_text())
    assert meta["accuracy"]["n_test"] == 359
    # measured again at export time on the test split: the same SLAYER net as after training
    assert meta["accuracy"]["test_full_T_slayer"] == pytest.approx(metrics["test_acc_full_T"])
    assert meta["accuracy"]["best_val"] == pytest.approx(metrics["best_val_acc"])
    assert meta["checkpoint_epoch"] == metrics["best_epoch"]
    assert meta["versions"]["lava-nc"] == "0.10.0" and meta["versions"]["lava-dl"] == "0.6.0"
    with h5py.File(path, "r") as f:
        assert meta["content_sha256"] == content_hash(f)
    log = path.parent.parent / "quick-export.log"  # beside the export's folder (lavacut_testing.quick_export)
    assert f"SLAYER: {meta['accuracy']['test_full_T_slayer']:.4f}" in log.read_text()
    text = format_inspection(path)
    assert "total: 74 neurons" in text and "lavacut metadata (format 1): name quick" in text


@pytest.mark.slow
def test_net_from_export_matches_the_checkpoint_net(quick_export):
    from lavacut.config import RunConfig
    from lavacut.data.sources import load_split
    from lavacut.train.checkpoint import load_checkpoint

    path, run = quick_export
    state = load_checkpoint(run / "best.pt")
    ref = net_from_checkpoint(state)
    back, meta = net_from_export(path)
    test = load_split(RunConfig.from_dict(meta["train_config"]), "test", progress=False)
    x = torch.from_numpy(test.frames[:24].astype(np.float32))
    a, b = _out(ref, x), _out(back, x)
    assert a.shape == (24, 10, 30) and a.sum() > 0
    assert torch.equal(a, b)
