"""Nonzero fan-outs of a lavacut network (synaptic operations count input
spikes times the nonzero weights leaving each input): against brute force
on the weights the exported file holds, against the gradient of a
binarised-weight synapse, and against inspect's synapse count of the file."""

import types

import numpy as np
import pytest
import torch

from lavacut_testing import brute_conv_fan_out

from lavacut.export.slayer_hdf5 import export_hdf5
from lavacut.train.netspec import NetSpec
from lavacut.train.networks import build_network, nonzero_fan_outs, synapse_weight


def _sparse_net(spec, seed=0, p=0.5):
    """A net of ``spec`` (seeded init) with a random half of every synapse's
    weights zeroed and a few others (at least one per synapse) set to a value
    SLAYER's 8-bit quantisation rounds to zero (|w| < 1/64)."""
    torch.manual_seed(seed)
    net = build_network(spec)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for b in net.spiking_blocks:
            w = b.synapse.weight
            w.mul_((torch.rand(w.shape, generator=g) >= p).float())
            tiny = torch.rand(w.shape, generator=g) < 0.05
            tiny.view(-1)[0] = True
            w[tiny] = 0.9 / 64
    return net


def _file_weights(path):
    import h5py

    with h5py.File(path, "r") as f:
        keys = sorted((k for k in f["layer"] if k.isdigit()), key=int)
        return [np.asarray(f["layer"][k]["weight"][()]) for k in keys if "weight" in f["layer"][k]]


def _grad_fan_outs(net, input_shape):
    """The gradient of each synapse's summed output, weights binarised
    (nonzero -> 1, quantisation off), w.r.t. a one-step all-ones input."""
    from lava.lib.dl.slayer.synapse import Conv

    out, shape = [], tuple(input_shape)
    for b in net.blocks:
        if not hasattr(b, "synapse"):  # Flatten
            shape = (int(np.prod(shape)),)
            continue
        s = b.synapse
        conv = isinstance(s, Conv)
        x = torch.ones((1, *shape, 1), requires_grad=True)
        w = torch.from_numpy((synapse_weight(s) != 0).astype(np.float32))
        y = torch.nn.functional.conv3d(
            x if conv else x.reshape(1, -1, 1, 1, 1), w, None, s.stride, s.padding, s.dilation, s.groups
        )
        y.sum().backward()
        out.append(x.grad.reshape(-1).numpy().astype(np.float64))
        shape = tuple(y.shape[1:4]) if conv else (y.shape[1],)
    return out


def test_dense_nonzero_fan_outs_are_the_exported_nonzero_weights(tmp_path):
    spec = NetSpec(kind="dense", input_shape=(1, 2, 5), hidden=(7, 6), n_classes=3, weight_norm=False)
    net = _sparse_net(spec)
    fo = nonzero_fan_outs(net)
    export_hdf5(net, tmp_path / "d.net")
    ws = _file_weights(tmp_path / "d.net")
    assert [f.shape for f in fo] == [(10,), (7,), (6,)]
    for f, w, b in zip(fo, ws, net.spiking_blocks):
        w = w.reshape(w.shape[0], -1)
        # the export's integers are the quantised weights x 64: the same zeros
        np.testing.assert_array_equal(w, synapse_weight(b.synapse).reshape(w.shape) * 64)
        np.testing.assert_array_equal(f, [sum(w[o, i] != 0 for o in range(w.shape[0])) for i in range(w.shape[1])])
        raw = b.synapse.weight.detach().numpy().reshape(w.shape)
        assert ((raw != 0) & (w == 0)).any()  # raw weights the quantisation zeroes do not count
        assert 0 < f.sum() < w.size


def test_conv_nonzero_fan_outs_match_brute_force_and_the_export(tmp_path):
    # layer 1: 8x8 with k3 s2 p0 leaves the last row/column uncovered; layer 2 is padded
    spec = NetSpec(
        kind="conv",
        input_shape=(2, 8, 8),
        n_classes=3,
        hidden=(5,),
        conv_channels=(3, 4),
        conv_kernels=(3, 3),
        conv_strides=(2, 1),
        conv_paddings=(0, 1),
        weight_norm=False,
    )
    net = _sparse_net(spec, seed=1)
    fo = nonzero_fan_outs(net)
    export_hdf5(net, tmp_path / "c.net")
    w1, w2, w3, w4 = _file_weights(tmp_path / "c.net")
    f1, shp1 = brute_conv_fan_out(w1.reshape(3, 2, 3, 3), (2, 8, 8), 2, 0)
    f2, shp2 = brute_conv_fan_out(w2.reshape(4, 3, 3, 3), shp1, 1, 1)
    assert shp1 == (3, 3, 3) and shp2 == (4, 3, 3)
    np.testing.assert_array_equal(fo[0], f1)
    np.testing.assert_array_equal(fo[1], f2)
    assert fo[0].reshape(2, 8, 8)[:, 7, :].sum() == 0  # never inside a window
    np.testing.assert_array_equal(fo[2], (w3.reshape(5, 36) != 0).sum(axis=0))
    np.testing.assert_array_equal(fo[3], (w4.reshape(3, 5) != 0).sum(axis=0))
    for a, b in zip(fo, _grad_fan_outs(net, spec.input_shape)):
        np.testing.assert_array_equal(a, b)


def test_weight_norm_fan_outs_use_the_normalised_weights(tmp_path):
    spec = NetSpec(kind="dense", input_shape=(1, 1, 6), hidden=(5,), n_classes=2, weight_norm=True)
    torch.manual_seed(0)
    net = build_network(spec)
    with torch.no_grad():
        v = net.blocks[0].synapse.weight_v
        v[:, :2] = 0  # inputs 0, 1: no synapse
        v[0, 2] = 0
    fo = nonzero_fan_outs(net)
    assert fo[0][:2].tolist() == [0, 0] and fo[0][2] <= 4
    export_hdf5(net, tmp_path / "n.net")
    w = _file_weights(tmp_path / "n.net")[0].reshape(5, 6)
    np.testing.assert_array_equal(fo[0], (w != 0).sum(axis=0))


def test_grouped_dilated_conv_blocks():
    """What a rebuilt NetX file may hold (groups, dilation, non-square
    kernels, strides and padding): nonzero_fan_outs on its blocks against
    brute force and the gradient count."""
    from lavacut.util import import_slayer

    cuba = import_slayer().block.cuba
    npar = {"threshold": 1.0, "current_decay": 0.5, "voltage_decay": 0.5}
    torch.manual_seed(0)
    conv = cuba.Conv(npar, 4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2, weight_scale=3)
    with torch.no_grad():
        conv.synapse.weight.mul_((torch.rand(conv.synapse.weight.shape) > 0.5).float())
    w = synapse_weight(conv.synapse)[..., 0]
    assert (w == 0).any() and w.shape == (6, 2, 3, 2)
    fan, (co, ho, wo) = brute_conv_fan_out(w, (4, 9, 7), (2, 1), (1, 2), (2, 1), groups=2)
    dense = cuba.Dense(npar, co * ho * wo, 3, weight_scale=3)
    holder = types.SimpleNamespace(blocks=[conv, cuba.Flatten(), dense], input_shape=(4, 9, 7))
    fo = nonzero_fan_outs(holder)
    np.testing.assert_array_equal(fo[0], fan)
    np.testing.assert_array_equal(fo[1], (synapse_weight(dense.synapse).reshape(3, -1) != 0).sum(axis=0))
    for a, b in zip(fo, _grad_fan_outs(holder, (4, 9, 7))):
        np.testing.assert_array_equal(a, b)


def test_fan_outs_sum_to_inspect_synapses_of_the_exported_file(tmp_path):
    """Two independent counts of the same synapses: nonzero_fan_outs from
    the net and inspect's per-layer synapses (nonzero weights) from the file."""
    from lavacut.export.netx.inspect import inspect_layers

    spec = NetSpec(
        kind="conv",
        input_shape=(2, 9, 9),
        n_classes=3,
        hidden=(4,),
        conv_channels=(3, 4),
        conv_kernels=(3, 3),
        conv_strides=(2, 1),
        conv_paddings=(1, 1),
        weight_norm=False,
    )
    net = _sparse_net(spec, seed=2)
    export_hdf5(net, tmp_path / "c.net")
    syn = [L.synapses for L in inspect_layers(tmp_path / "c.net") if L.type in ("conv", "dense")]
    assert syn == [int(f.sum()) for f in nonzero_fan_outs(net)]


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_net_from_export_keeps_the_zero_pattern(tmp_path, kind):
    from lavacut.export.rebuild.network import net_from_export

    spec = (
        NetSpec(kind="dense", input_shape=(1, 3, 4), hidden=(6,), n_classes=3, weight_norm=False)
        if kind == "dense"
        else NetSpec(
            kind="conv",
            input_shape=(2, 6, 6),
            n_classes=3,
            hidden=(4,),
            conv_channels=(3,),
            conv_kernels=(3,),
            conv_strides=(2,),
            conv_paddings=(1,),
            weight_norm=False,
        )
    )
    net = _sparse_net(spec, seed=3)
    export_hdf5(net, tmp_path / "x.net")
    back, _ = net_from_export(tmp_path / "x.net")
    for a, b in zip(nonzero_fan_outs(net), nonzero_fan_outs(back)):
        np.testing.assert_array_equal(a, b)
