"""The NetX layer-kind registry (lavacut/export/netx/layers/): every stage
asks a layer's kind, so a kind lives in its module, which registers it in
``KINDS`` (docs/extending.md, "Adding a NetX layer kind")."""

import numpy as np
import pytest
from lavacut_testing import write_netx

from lavacut.export.loihi2.check import check_loihi2
from lavacut.export.netx.inspect import inspect_layers
from lavacut.export.netx.layers import KINDS, kind_of
from lavacut.export.netx.layers.base import LayerKind
from lavacut.export.netx.layers.flatten import Flatten
from lavacut.export.validate import problems
from lavacut.util import LavacutError

CUBA = {"type": b"CUBA", "iDecay": 1024, "vDecay": 128, "vThMant": 80, "refDelay": 1, "gradedSpike": False}


def _conv_net(path, reshape="flatten"):
    """input (1, 4, 4) -> conv 2 x 3x3 -> ``reshape`` -> dense 3."""
    rng = np.random.default_rng(0)
    conv = {
        "type": "conv",
        "shape": np.array([2, 4, 4]),
        "neuron": CUBA,
        "weight": (rng.integers(-4, 5, (2, 1, 3, 3)) * 2).astype(np.float32),
        "kernelSize": np.array([3, 3]),
        "stride": np.array([1, 1]),
        "padding": np.array([1, 1]),
        "dilation": np.array([1, 1]),
        "groups": 1,
        "inChannels": 1,
        "outChannels": 2,
    }
    dense = {
        "type": "dense",
        "shape": np.array([3]),
        "neuron": {**CUBA, "vThMant": 20},
        "inFeatures": 32,
        "outFeatures": 3,
        "weight": (rng.integers(1, 9, (3, 32)) * 2).astype(np.float32),
    }
    return write_netx(
        path, [{"type": "input", "shape": np.array([1, 4, 4])}, conv, {"type": reshape, "shape": np.array([32])}, dense]
    )


def test_the_registry_knows_the_kinds_lavacut_reads():
    assert set(KINDS) == {"input", "flatten", "dense", "dense_rec", "conv", "average", "dense_comp"}
    assert all(isinstance(k, LayerKind) and k.name == name for name, k in KINDS.items())
    assert not kind_of("pool").netx_loads and "NotImplementedError" in kind_of("pool").note
    assert kind_of("no_such_type").note == "unknown layer type"
    assert {name for name, k in KINDS.items() if k.synaptic} == {"dense", "dense_rec", "conv"}


def test_every_module_naming_a_kind_is_registered():
    """A kind is registered by its module alone (``KIND = ...``): the table
    is exactly the folder's modules that name one."""
    import importlib
    import pkgutil

    import lavacut.export.netx.layers as layers

    named = {}
    for m in pkgutil.iter_modules(layers.__path__):
        kind = getattr(importlib.import_module(f"{layers.__name__}.{m.name}"), "KIND", None)
        if kind is not None:
            named[kind.name] = kind
    assert named == KINDS


def test_a_kind_is_its_registry_entry_for_every_stage(tmp_path, monkeypatch):
    """Without ``flatten`` in the table, inspect, the validator's run
    decision, the Loihi 2 check and the SLAYER rebuild all refuse the
    layer; with it back, all of them handle it: no stage keeps its own list."""
    from lavacut.export.rebuild.slayer import rebuild_netx

    path = _conv_net(tmp_path / "conv.net")
    assert [L.run_issue for L in inspect_layers(path)] == ["", "", "", ""]
    assert check_loihi2(path).ok and not problems(path)
    assert rebuild_netx(path).latency == 2

    monkeypatch.delitem(KINDS, "flatten")
    layers = inspect_layers(path)
    assert layers[2].run_issue == "unknown layer type" and not layers[2].supported
    assert "layer_type" in {p.rule for p in check_loihi2(path).errors}
    with pytest.raises(LavacutError, match="layer 2 has type 'flatten'.*unknown layer type"):
        rebuild_netx(path)


def test_a_new_kind_is_one_class_and_one_entry(tmp_path, monkeypatch):
    """The worked example of docs/extending.md: a ``reshape`` layer that
    does what ``flatten`` does is a subclass naming it, registered as its
    module's ``KIND`` would be;
    inspect, the Loihi 2 check and the rebuild then take it unchanged."""
    import torch

    from lavacut.export.rebuild.slayer import rebuild_netx

    class Reshape(Flatten):
        name = "reshape"

    path = _conv_net(tmp_path / "reshape.net", reshape="reshape")
    assert inspect_layers(path)[2].run_issue == "unknown layer type"
    monkeypatch.setitem(KINDS, "reshape", Reshape())
    assert [L.run_issue for L in inspect_layers(path)] == ["", "", "", ""]
    rep = check_loihi2(path)
    assert rep.ok and [L["cores"] for L in rep.layers] == [0, 1, 0, 1]
    x = torch.from_numpy(np.random.default_rng(1).integers(0, 2, (2, 1, 4, 4, 10)).astype(np.float32))
    with torch.no_grad():
        ref = rebuild_netx(_conv_net(tmp_path / "flatten.net"))(x)
        assert ref.sum() > 0 and torch.equal(rebuild_netx(path)(x), ref)
