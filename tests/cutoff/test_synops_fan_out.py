"""Nonzero fan-outs from weight arrays (lavacut.cutoff.synops, numpy only)
against brute force: dense columns, and conv layers with stride, padding,
dilation and groups, with some weights zero."""

import numpy as np
import pytest
from lavacut_testing import brute_conv_fan_out

from lavacut.cutoff.synops import conv_fan_out, count_ops, dense_fan_out


def _sparse(rng, shape, p_zero):
    w = rng.integers(-20, 21, shape) * 2.0
    w[rng.random(shape) < p_zero] = 0
    return w


def test_dense_fan_out_counts_nonzero_weights_per_column():
    w = np.array([[2.0, 0, 0, -4], [0, 0, 6, 8], [2, 0, 0, 0]])  # (out 3, in 4)
    assert dense_fan_out(w).tolist() == [2, 0, 1, 2]
    assert dense_fan_out(w.reshape(3, 4, 1, 1, 1)).tolist() == [2, 0, 1, 2]  # SLAYER's synapse shape
    rng = np.random.default_rng(0)
    w = _sparse(rng, (7, 11), 0.6)
    np.testing.assert_array_equal(dense_fan_out(w), [sum(w[o, i] != 0 for o in range(7)) for i in range(11)])


@pytest.mark.parametrize(
    "in_shape, co, k, stride, padding, dilation, groups",
    [
        ((2, 8, 8), 3, (3, 3), (2, 2), (0, 0), (1, 1), 1),  # the last row and column never covered
        ((3, 9, 7), 4, (3, 3), (1, 1), (1, 1), (1, 1), 1),  # padded
        ((2, 34, 34), 4, (5, 5), (2, 2), (2, 2), (1, 1), 1),  # the shipped conv front end
        ((4, 9, 10), 6, (3, 2), (2, 1), (1, 0), (2, 3), 2),  # non-square, dilation, groups
        ((6, 7, 7), 6, (3, 3), (1, 2), (2, 1), (1, 1), 3),  # padding beyond the kernel reach, groups
    ],
)
def test_conv_fan_out_matches_brute_force(in_shape, co, k, stride, padding, dilation, groups):
    rng = np.random.default_rng(sum(in_shape) + co)
    w = _sparse(rng, (co, in_shape[0] // groups) + k, 0.5)
    w[0] = 0  # an output channel with no synapse at all
    want, out_shape = brute_conv_fan_out(w, in_shape, stride, padding, dilation, groups)
    got = conv_fan_out(w, in_shape, out_shape, stride, padding, dilation, groups)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(
        conv_fan_out(w[..., None], in_shape, out_shape, stride, padding, dilation, groups), want
    )  # SLAYER's (..., 1) weight
    # all weights nonzero: every synapse of the layer shape, the count from the output side
    ones = np.ones_like(w)
    full = conv_fan_out(ones, in_shape, out_shape, stride, padding, dilation, groups)
    np.testing.assert_array_equal(full, brute_conv_fan_out(ones, in_shape, stride, padding, dilation, groups)[0])
    assert (got <= full).all() and got.sum() < full.sum()


def test_conv_fan_out_of_the_shipped_front_end_covers_the_last_row():
    """34x34 with k5 s2 p2: the last input row and column are inside windows."""
    f = conv_fan_out(np.ones((4, 2, 5, 5)), (2, 34, 34), (4, 17, 17), (2, 2), (2, 2))
    assert f.reshape(2, 34, 34)[:, 33, :].min() > 0


def test_conv_fan_out_refuses_a_weight_of_another_shape():
    with pytest.raises(ValueError, match="does not fit"):
        conv_fan_out(np.ones((4, 3, 3, 3)), (2, 8, 8), (4, 6, 6), (1, 1), (0, 0))


def test_zero_weights_cost_no_synaptic_operation():
    """count_ops with nonzero fan-outs: a spike on an input whose weights are
    all zero costs nothing; the others cost their nonzero weights."""
    w = np.array([[2.0, 0, 0], [4, 0, 2]])  # dense 3 -> 2: fan-outs 2, 0, 1
    x = np.ones((1, 3, 4))  # every input spikes at every step
    h = np.zeros((1, 2, 4))
    ops = count_ops([dense_fan_out(w)], [x], [2], [h], np.array([3]))
    assert ops.synops.tolist() == [3 * (2 + 0 + 1)]
