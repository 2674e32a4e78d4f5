"""Frame translation (training augmentation) equals translating the events
and framing them with tonic, and its random draws are reproducible."""

import numpy as np
import pytest

from lavacut.data.augment import RandomTranslate, translate
from lavacut.data.events import EVENT_DTYPE
from lavacut.data.framing import FramingConfig, frame_events
from lavacut.util import LavacutError

SENSOR = (20, 16, 2)  # (W, H, P)


def _events(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["x"] = rng.integers(0, SENSOR[0], n)
    ev["y"] = rng.integers(0, SENSOR[1], n)
    ev["p"] = rng.integers(0, 2, n)
    ev["t"] = np.sort(rng.integers(0, 60_000, n))
    return ev


def _moved(ev, dx, dy):
    out = ev.copy()
    out["x"] = ev["x"] + dx
    out["y"] = ev["y"] + dy
    keep = (out["x"] >= 0) & (out["x"] < SENSOR[0]) & (out["y"] >= 0) & (out["y"] < SENSOR[1])
    return out[keep]


@pytest.mark.parametrize("dx,dy", [(0, 0), (2, 0), (0, -3), (-1, 2), (5, 5), (-19, 0), (25, 1)])
def test_translate_equals_framing_translated_events(dx, dy):
    cfg = FramingConfig(bin_us=10_000, T=6)
    ev = _events()
    moved = _moved(ev, dx, dy)
    expected = frame_events(moved, SENSOR, cfg) if len(moved) else np.zeros((2, 16, 20, 6), bool)
    got = translate(frame_events(ev, SENSOR, cfg), dx, dy)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_random_translate_per_sample_and_reproducible():
    cfg = FramingConfig(bin_us=10_000, T=4)
    batch = np.stack([frame_events(_events(seed=s), SENSOR, cfg) for s in range(5)])
    aug = RandomTranslate(2)
    a = aug.draw(np.random.default_rng([0, 1]), 5)
    b = aug.draw(np.random.default_rng([0, 1]), 5)
    np.testing.assert_array_equal(a, b)
    assert a.min() >= -2 and a.max() <= 2
    out = aug(batch, a)
    for x, y, (dx, dy) in zip(batch, out, a):
        np.testing.assert_array_equal(y, translate(x, int(dx), int(dy)))
    assert RandomTranslate(0)(batch, np.zeros((5, 2), int)) is batch


def test_bad_shapes_are_named():
    with pytest.raises(LavacutError, match="max_px"):
        RandomTranslate(-1)
    with pytest.raises(LavacutError, match=r"\(C, H, W, T\)"):
        translate(np.zeros((2, 3, 4)), 1, 1)
    with pytest.raises(LavacutError, match=r"\(N, 2\) shifts"):
        RandomTranslate(1)(np.zeros((3, 2, 4, 4, 2)), np.zeros((2, 2), int))
