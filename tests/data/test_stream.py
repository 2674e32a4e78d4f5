"""lavacut.data.stream: samples played back to back as one event stream."""

from __future__ import annotations

import numpy as np
import pytest

from lavacut.data.events import EVENT_DTYPE, EventError, make_events
from lavacut.data.stream import EventStream, StreamError, make_stream

SENSOR = (8, 6, 2)


class ListDataset:
    """The smallest tonic-style data set: a list of (events, label)."""

    sensor_size = SENSOR

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        return self.samples[index]


def sample(t, label, x=None):
    t = np.asarray(t)
    x = np.arange(len(t)) % SENSOR[0] if x is None else x
    return make_events(x, np.arange(len(t)) % SENSOR[1], t, np.arange(len(t)) % 2), label


@pytest.fixture
def dataset():
    return ListDataset(
        [
            sample([0, 5, 99], 3),  # lasts 100 us
            sample([10, 10, 40], 1),  # lasts 41 us (starts late)
            sample([0, 250], 7),
        ]
    )  # lasts 251 us


def assert_same_events(a, b):
    assert a.dtype == EVENT_DTYPE
    for f in "xytp":
        np.testing.assert_array_equal(a[f], b[f])


def test_own_durations(dataset):
    s = make_stream(dataset)
    assert isinstance(s, EventStream) and len(s) == 3 and s.sensor_size == SENSOR
    assert s.boundaries_us.dtype == np.int64 and list(s.boundaries_us) == [0, 100, 141, 392]
    assert list(s.labels) == [3, 1, 7] and list(s.sample_indices) == [0, 1, 2]
    assert s.duration_us == 392 and len(s.events) == 8
    assert np.all(np.diff(s.events["t"]) >= 0)
    assert list(s.events["t"]) == [0, 5, 99, 110, 110, 140, 141, 391]
    for k in range(3):
        events, label = s.segment(k)
        assert label == dataset[k][1]
        assert_same_events(events, dataset[k][0])  # re-based to 0
    assert s.segment(-1)[1] == 7


def test_segment_of(dataset):
    s = make_stream(dataset)
    assert [s.segment_of(t) for t in (0, 99, 100, 140, 141, 391)] == [0, 0, 1, 1, 2, 2]
    for t in (-1, 392):
        with pytest.raises(StreamError, match="outside the stream"):
            s.segment_of(t)
    with pytest.raises(IndexError):
        s.segment(3)


def test_indices_choose_and_order(dataset):
    s = make_stream(dataset, indices=[2, 0])
    assert list(s.sample_indices) == [2, 0] and list(s.labels) == [7, 3]
    assert list(s.boundaries_us) == [0, 251, 351]
    assert_same_events(s.segment(1)[0], dataset[0][0])


def test_fixed_segment_truncates_and_pads(dataset):
    s = make_stream(dataset, segment_us=60)
    assert list(s.boundaries_us) == [0, 60, 120, 180]
    events, _ = s.segment(0)  # t=99 dropped
    assert list(events["t"]) == [0, 5]
    assert_same_events(s.segment(1)[0], dataset[1][0])  # padded, all kept
    assert list(s.segment(2)[0]["t"]) == [0]
    # an event exactly at segment_us is beyond the segment
    s = make_stream(ListDataset([sample([0, 50], 0)]), segment_us=50)
    assert list(s.events["t"]) == [0]


def test_fixed_segment_allows_empty_sample():
    empty = np.empty(0, dtype=EVENT_DTYPE)
    s = make_stream(ListDataset([sample([3], 0), (empty, 1)]), segment_us=20)
    assert list(s.boundaries_us) == [0, 20, 40] and len(s.segment(1)[0]) == 0


def test_gap(dataset):
    s = make_stream(dataset, gap_us=1000)
    assert s.gap_us == 1000
    assert list(s.boundaries_us) == [0, 1100, 2141, 3392]
    for k in range(3):
        assert_same_events(s.segment(k)[0], dataset[k][0])
    assert s.segment_of(500) == 0  # the gap belongs to k
    assert s.segment_of(1100) == 1
    s = make_stream(dataset, segment_us=60, gap_us=40)
    assert list(s.boundaries_us) == [0, 100, 200, 300]


def test_converts_tonic_field_orders():
    # DVS Gesture's tonic dtype: x, y, p, t; N-MNIST's: all int64
    dtype = np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)])
    ev = np.array([(1, 2, True, 4), (3, 4, False, 9)], dtype=dtype)
    s = make_stream(ListDataset([(ev, np.int64(2))]))
    assert s.events.dtype == EVENT_DTYPE and list(s.events["t"]) == [4, 9]
    assert list(s.events["p"]) == [True, False] and s.labels.tolist() == [2]


def test_source_dataset_not_modified(dataset):
    before = dataset[1][0].copy()
    make_stream(dataset, gap_us=7)
    assert_same_events(dataset[1][0], before)


# ---------------------------------------------------------------------- errors
def test_empty_selection(dataset):
    with pytest.raises(StreamError, match="empty selection"):
        make_stream(dataset, indices=[])
    with pytest.raises(StreamError, match="empty selection"):
        make_stream(ListDataset([]))


def test_unsorted_sample_names_index():
    ds = ListDataset([sample([0, 1], 0), sample([5, 2, 9], 1)])
    with pytest.raises(EventError, match="sample 1: timestamps not sorted"):
        make_stream(ds)


def test_sample_outside_sensor_names_index():
    ds = ListDataset([sample([0, 1], 0, x=[0, 8])])
    with pytest.raises(EventError, match="sample 0: event 1 has x=8 outside the sensor"):
        make_stream(ds)


def test_empty_sample_needs_segment_length():
    ds = ListDataset([sample([0], 0), (np.empty(0, dtype=EVENT_DTYPE), 1)])
    with pytest.raises(EventError, match="sample 1: .*segment_us"):
        make_stream(ds)


def test_bad_arguments(dataset):
    with pytest.raises(StreamError, match="segment_us"):
        make_stream(dataset, segment_us=0)
    with pytest.raises(StreamError, match="gap_us"):
        make_stream(dataset, gap_us=-1)
    with pytest.raises(StreamError, match="label 'cat'"):
        make_stream(ListDataset([sample([0], "cat")]))
    no_sensor = ListDataset([sample([0], 0)])
    no_sensor.sensor_size = None
    with pytest.raises(StreamError, match="sensor_size"):
        make_stream(no_sensor)


def test_framing_the_stream_equals_framing_each_sample(embedded_test):
    """The Lava stream mode frames the continuous stream segment by segment:
    with fixed T x bin segments this is exactly the per-sample framing."""
    from lavacut.data.framing import FramingConfig, frame_events, frame_stream

    cfg = FramingConfig(bin_us=10_000, T=30)
    stream = make_stream(embedded_test, range(12), segment_us=cfg.T * cfg.bin_us, gap_us=0)
    fs = frame_stream(stream, cfg)
    assert fs.frames.shape == (12, 2, 34, 34, 30)
    for i in range(12):
        ev, label = embedded_test[i]
        assert np.array_equal(fs.frames[i], frame_events(ev, embedded_test.sensor_size, cfg))
        assert fs.labels[i] == label
