"""Fan-out of every input of a lavacut network (synaptic operations count
spikes times fan-out), against brute force and against inspect's synapse
count of the exported file."""
import numpy as np

from lavacut.export.slayer_hdf5 import export_hdf5
from lavacut.train.networks import NetSpec, build_network, fan_out


def _brute_fan_out(in_shape, co, k, s, p):
    ci, hi, wi = in_shape
    ho, wo = (hi + 2 * p - k) // s + 1, (wi + 2 * p - k) // s + 1
    fan = np.zeros((ci, hi, wi))
    for oy in range(ho):
        for ox in range(wo):
            for ky in range(k):
                for kx in range(k):
                    iy, ix = oy * s - p + ky, ox * s - p + kx
                    if 0 <= iy < hi and 0 <= ix < wi:
                        fan[:, iy, ix] += co   # every output channel, every input channel
    return fan.reshape(-1), (co, ho, wo)


def test_dense_fan_out_is_the_next_layer_size():
    fo = fan_out(NetSpec(kind="dense", input_shape=(1, 1, 3), n_classes=2, hidden=(2,)))
    assert [f.tolist() for f in fo] == [[2, 2, 2], [2, 2]]


def test_fan_out_conv_sums_to_the_synaptic_connections():

    # layer 1: 8x8 with k3 s2 p0 leaves the last row/column uncovered; layer 2 is padded
    spec = NetSpec(kind="conv", input_shape=(2, 8, 8), n_classes=3, hidden=(5,), conv_channels=(3, 4),
                   conv_kernels=(3, 3), conv_strides=(2, 1), conv_paddings=(0, 1))
    fo = fan_out(spec)
    f1, shp1 = _brute_fan_out((2, 8, 8), 3, 3, 2, 0)
    f2, shp2 = _brute_fan_out(shp1, 4, 3, 1, 1)
    assert shp1 == (3, 3, 3) and shp2 == (4, 3, 3)
    np.testing.assert_array_equal(fo[0], f1)
    np.testing.assert_array_equal(fo[1], f2)
    assert fo[0].reshape(2, 8, 8)[:, 7, :].sum() == 0          # never inside a window
    # total connections, counted from the output side: per output neuron, in_ch x valid taps
    assert fo[0].sum() == 3 * 2 * (3 * 3) * 9                 # no padding: every tap valid
    assert fo[1].sum() == 4 * 3 * sum(len([1 for d in (-1, 0, 1) if 0 <= y + d < 3]) *
                                      len([1 for d in (-1, 0, 1) if 0 <= x + d < 3])
                                      for y in range(3) for x in range(3))
    assert fo[2].tolist() == [5.0] * 36 and fo[3].tolist() == [3.0] * 5


def test_fan_out_of_the_shipped_conv_front_end_covers_the_last_row():
    """34x34 with k5 s2 p2 (the shipped conv net): the last input row and
    column are inside windows. A transposed-convolution count comes out one
    row short here (33x33) and used to give them fan-out 0."""
    spec = NetSpec(kind="conv", input_shape=(2, 34, 34), n_classes=10, hidden=(8,), conv_channels=(4,),
                   conv_kernels=(5,), conv_strides=(2,), conv_paddings=(2,))
    f1, shp1 = _brute_fan_out((2, 34, 34), 4, 5, 2, 2)
    np.testing.assert_array_equal(fan_out(spec)[0], f1)
    assert f1.reshape(2, 34, 34)[:, 33, :].min() > 0


def test_fan_out_matches_inspect_synapses_on_an_exported_conv_net(tmp_path):
    """Two independent counts of the same connections: train.networks.fan_out from the
    spec and inspect's per-layer synapses from the file (all weights nonzero)."""
    import torch

    from lavacut.export.inspect import inspect_layers

    spec = NetSpec(kind="conv", input_shape=(2, 9, 9), n_classes=3, hidden=(4,), conv_channels=(3, 4),
                   conv_kernels=(3, 3), conv_strides=(2, 1), conv_paddings=(1, 1), weight_norm=False)
    net = build_network(spec)
    with torch.no_grad():
        for b in net.spiking_blocks:
            b.synapse.weight.fill_(2 / 64)
    export_hdf5(net, tmp_path / "c.net")
    syn = [L.synapses for L in inspect_layers(tmp_path / "c.net") if L.type in ("conv", "dense")]
    assert syn == [int(f.sum()) for f in fan_out(spec)]
