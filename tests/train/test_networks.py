"""SLAYER networks: shapes, hidden records, export, and (slow) bit-exact
agreement with Lava fixed_pt through NetX."""

import h5py
import numpy as np
import pytest
import torch

from lavacut.export.slayer_hdf5 import export_hdf5, read_spec_from_hdf5
from lavacut.runtime.frames import lava_frame_layout
from lavacut.train.netspec import NetSpec
from lavacut.train.networks import build_network
from lavacut.util import LavacutError


def _dense_spec() -> NetSpec:
    return NetSpec(kind="dense", input_shape=(2, 34, 34), n_classes=10, hidden=(256,))


def _conv_spec() -> NetSpec:
    return NetSpec(
        kind="conv",
        input_shape=(2, 34, 34),
        n_classes=10,
        conv_channels=(16, 32),
        conv_kernels=(5, 3),
        conv_strides=(2, 2),
        conv_paddings=(2, 1),
        hidden=(128,),
    )


def _gesture_spec() -> NetSpec:
    return NetSpec(
        kind="conv",
        input_shape=(2, 32, 32),
        n_classes=11,
        conv_channels=(16, 32, 64),
        conv_kernels=(5, 3, 3),
        conv_strides=(2, 2, 2),
        conv_paddings=(2, 1, 1),
        hidden=(256,),
    )


SPECS = {"dense": _dense_spec, "conv": _conv_spec}


def _scaled_net(spec, scale, seed=0):
    """A random network with its weights scaled up so every layer spikes."""
    torch.manual_seed(seed)
    net = build_network(spec)
    with torch.no_grad():
        for b in net.spiking_blocks:
            b.synapse.weight_g.mul_(scale)
    return net.eval()


def _input(spec, N=1, T=30, density=0.1, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(N, *spec.input_shape, T, generator=g) < density).float()


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_forward_shapes_and_records(kind):
    spec = SPECS[kind]()
    net = build_network(spec)
    N, T = 3, 12
    out, rec = net(_input(spec, N, T))
    assert out.shape == (N, spec.n_classes, T)
    sizes = spec.layer_sizes()
    assert len(rec) == len(sizes) - 1 == net.latency - 1
    for r, n in zip(rec, sizes[:-1]):
        s, v, th = r
        assert s.shape == v.shape == (N, n, T)
        assert th == spec.threshold == 1.25
        assert v.requires_grad
    _, rec_off = net(_input(spec, N, T), record=False)
    assert rec_off == []


def test_dense_accepts_flat_input_and_rejects_wrong_shape():
    spec = _dense_spec()
    net = build_network(spec).eval()
    x = _input(spec, 2, 6)
    with torch.no_grad():
        a, _ = net(x)
        b, _ = net(x.reshape(2, -1, 6))
    assert torch.equal(a, b)
    with pytest.raises(LavacutError):
        net(torch.zeros(2, 2, 32, 32, 6))


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_forward_equals_slayer_block_forward(kind):
    """Our step-by-step forward (kept voltage) is SLAYER's block.forward."""
    spec = SPECS[kind]()
    net = _scaled_net(spec, 4.0)
    x = _input(spec, 2, 20, density=0.2)
    with torch.no_grad():
        out, rec = net(x)
        y = x.reshape(2, -1, 20) if kind == "dense" else x
        for b in net.blocks:
            y = b(y)
    assert torch.equal(out, y)
    assert out.sum() > 0
    for s, v, th in rec:
        assert s.sum() > 0
        # post-reset voltage: zero where the neuron spiked, below threshold elsewhere
        assert torch.all(v[s > 0] == 0)
        assert torch.all(v < th + 1e-6)


def test_records_are_pre_delay_and_gradients_reach_weights():
    spec = _dense_spec()
    net = _scaled_net(spec, 4.0)
    net.train()
    x = _input(spec, 2, 15, density=0.2)
    out, rec = net(x)
    (out.sum() + sum(r.voltage.sum() for r in rec)).backward()
    for b in net.spiking_blocks:
        assert b.synapse.weight_v.grad is not None
        assert b.synapse.weight_v.grad.abs().sum() > 0


def test_spec_validation_and_roundtrip():
    with pytest.raises(LavacutError, match="1/64"):
        NetSpec(threshold=1.3)
    with pytest.raises(LavacutError):
        NetSpec(kind="conv")  # no conv layers
    with pytest.raises(LavacutError):
        NetSpec(current_decay=0.0)  # iDecay 0 not exportable
    with pytest.raises(LavacutError):
        NetSpec(
            kind="conv",
            conv_channels=(4,),
            conv_kernels=(3,),
            conv_strides=(1,),
            conv_paddings=(0,),
            input_shape=(2, 2, 2),
        )
    for spec in (_dense_spec(), _conv_spec(), _gesture_spec()):
        assert NetSpec.from_dict(spec.to_dict()) == spec
    net = build_network(_gesture_spec())
    out, rec = net(torch.zeros(1, 2, 32, 32, 4))
    assert out.shape == (1, 11, 4) and len(rec) == 4


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_export_structure_and_net_unchanged(kind, tmp_path):
    spec = SPECS[kind]()
    net = _scaled_net(spec, 3.0)
    x = _input(spec, 1, 10)
    with torch.no_grad():
        before, _ = net(x)
    path = tmp_path / "net.net"
    export_hdf5(net, path)
    assert path.exists() and not list(tmp_path.glob(".net.net.*"))  # no temp left
    with torch.no_grad():
        after, _ = net(x)
    assert torch.equal(before, after)
    assert all(b.synapse.weight_norm_enabled for b in net.spiking_blocks)
    assert read_spec_from_hdf5(path) == spec
    with h5py.File(path, "r") as f:
        layers = f["layer"]
        types = [layers[str(i)]["type"][0].decode() for i in range(len(layers))]
        assert types[0] == "input"
        assert list(layers["0"]["shape"][()]) == list(spec.input_shape)
        expected = ["conv"] * len(spec.conv_channels) + ["flatten"] if kind == "conv" else []
        assert types[1:] == expected + ["dense"] * (len(spec.hidden) + 1)
        w = layers[str(len(layers) - 1)]["weight"][()]
        assert w.shape == (spec.n_classes, spec.hidden[-1])
        assert np.all(w == np.round(w)) and np.all(w % 2 == 0)
        assert w.min() >= -256 and w.max() <= 254
        neuron = layers[str(len(layers) - 1)]["neuron"]
        assert int(neuron["vThMant"][()]) == 80
        assert int(neuron["iDecay"][()]) == 1024
        assert int(neuron["vDecay"][()]) == 123
    # re-export over the same path works (atomic replace)
    export_hdf5(net, path)


# ------------------------------------------------------------------ slow


def _run_lava(path, spec, x_sample, T):
    """Run the exported net in Lava fixed_pt; return output spikes (K, T) and
    the first hidden layer's spikes (flattened, SLAYER order)."""
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    net = netx.hdf5.Network(net_config=str(path))
    in_shape = tuple(int(d) for d in net.inp.shape)
    src = Source(
        data=np.moveaxis(lava_frame_layout(np.asarray(x_sample)[None], in_shape)[0], 0, -1).reshape(
            in_shape + (np.asarray(x_sample).shape[-1],)
        )
    )
    out_sink = Sink(shape=net.out.shape, buffer=T)
    hid_sink = Sink(shape=net.layers[0].out.shape, buffer=T)
    src.s_out.connect(net.inp)
    net.out.connect(out_sink.a_in)
    net.layers[0].out.connect(hid_sink.a_in)
    try:
        net.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = out_sink.data.get()
        hid = hid_sink.data.get()
    finally:
        net.stop()
    if hid.ndim == 4:  # conv: (W, H, C, T) -> (C, H, W, T)
        hid = hid.transpose(2, 1, 0, 3)
    return out, hid.reshape(-1, T)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_lava_fixed_pt_bit_exact(kind, tmp_path):
    """Alignment: Lava's output at time step k+1 == SLAYER out[..., k] (no
    shift), and every layer's Lava spikes are SLAYER's neuron spikes one step
    later (the block output before SLAYER's step_delay)."""
    spec = SPECS[kind]()
    T = 30
    net = _scaled_net(spec, 4.0, seed=3)
    x = _input(spec, 1, T, density=0.15, seed=4)
    with torch.no_grad():
        out, rec = net(x)
    out = out[0].numpy()
    hid = rec[0].spikes[0].numpy()
    assert out.sum() > 10 and hid.sum() > 10  # the comparison means something
    path = tmp_path / f"{kind}.net"
    export_hdf5(net, path)
    lava_out, lava_hid = _run_lava(path, spec, x[0].numpy(), T)
    np.testing.assert_array_equal(lava_out, out)
    np.testing.assert_array_equal(lava_hid[:, 1:], hid[:, :-1])
    assert not lava_hid[:, 0].any()


def test_fixed_point_ranges_within_limits():
    from lavacut.fixed_point import FIXED_POINT_LIMITS
    from lavacut.train.networks import fixed_point_ranges

    spec = _dense_spec()
    net = _scaled_net(spec, 4.0)
    net.train()
    r = fixed_point_ranges(net, _input(spec, 2, 10, density=0.2))
    assert net.training  # mode restored
    assert len(r) == net.latency
    for layer in r:
        assert 0 < layer["current"] <= FIXED_POINT_LIMITS["current"]
        assert layer["input"] <= FIXED_POINT_LIMITS["input"]
