"""Events in: the emulator, the embedded data set, framing, config and CLI."""

import json

import numpy as np
import pytest

from lavacut.data.emulator import EmulatorConfig, emulate, saccade_offsets
from lavacut.data.events import EVENT_DTYPE, EventError, make_events, validate_events
from lavacut.data.framing import FramingConfig, frame_events, pad_collate
from lavacut_testing import run_cli


def _digit_images(n=6):
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images[:n] / 16.0, d.target[:n]


def test_emulator_is_deterministic_and_well_formed():
    imgs, _ = _digit_images()
    cfg = EmulatorConfig()
    a = emulate(imgs, cfg, np.random.default_rng(3))
    b = emulate(imgs, cfg, np.random.default_rng(3))
    c = emulate(imgs, cfg, np.random.default_rng(4))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))  # noise depends on the seed
    for ev in a:
        assert ev.dtype == EVENT_DTYPE
        validate_events(ev, (34, 34, 2))  # sorted, in sensor, non-negative
        assert 2000 < len(ev) < 8000  # N-MNIST-like density
        assert 0.3 < ev["p"].mean() < 0.7  # both polarities
        assert ev["t"].max() <= cfg.duration_us


def test_saccades_form_a_closed_triangle_of_three_100ms_moves():
    cfg = EmulatorConfig()
    off = saccade_offsets(cfg)
    assert len(off) == 300  # 1 ms steps over 300 ms
    for k, corner in enumerate(cfg.path[1:], start=1):
        assert np.allclose(off[k * 100 - 1], corner)
    assert np.allclose(off[-1], cfg.path[0])
    assert off.min() >= 0 and off.max() <= cfg.sensor_px - cfg.image_px


def test_still_image_without_motion_gives_only_noise():
    imgs, _ = _digit_images(2)
    cfg = EmulatorConfig(path=((3.0, 3.0), (3.0, 3.0)), noise_hz=0.0)
    assert all(len(ev) == 0 for ev in emulate(imgs, cfg, np.random.default_rng(0)))


def test_embedded_split_is_stratified_fixed_and_tonic_compatible(embedded_train, embedded_test):
    import tonic.transforms as tt

    assert len(embedded_train) + len(embedded_test) == 1797
    assert set(embedded_train.indices).isdisjoint(embedded_test.indices)
    bal = np.bincount(embedded_test.targets, minlength=10)
    assert bal.min() >= 34 and bal.max() <= 37  # 20 % of each class
    ev, label = embedded_test[0]
    assert ev.dtype.names == ("x", "y", "t", "p") and 0 <= label < 10
    # tonic transforms apply unchanged
    frames = tt.ToFrame(sensor_size=embedded_test.sensor_size, n_time_bins=5)(ev)
    assert frames.shape == (5, 2, 34, 34) and 0.9 * len(ev) < frames.sum() <= len(ev)
    small = tt.Downsample(spatial_factor=0.5)(ev)
    assert small["x"].max() < 17


def test_embedded_cache_checksum_rebuilds_a_corrupt_cache(tmp_path, embedded_train):
    from lavacut.data.embedded import EmbeddedBuildConfig, cache_paths, load_or_build
    from lavacut.data.emulator import EmulatorConfig

    cfg = EmbeddedBuildConfig()
    src_npz, src_json = cache_paths(cfg)
    data, meta = cache_paths(cfg, tmp_path)
    data.write_bytes(src_npz.read_bytes())
    meta.write_text(src_json.read_text())
    stamp = data.stat().st_mtime_ns
    arr = load_or_build(cfg, tmp_path, progress=False)  # valid cache: loaded, not rebuilt
    assert data.stat().st_mtime_ns == stamp
    assert np.array_equal(arr.labels, embedded_train.arrays.labels)
    # corrupt and missing caches of a small build (short saccades, coarse steps, a high
    # contrast threshold: 2 s a build, not 15): rebuilt, identical
    small = EmbeddedBuildConfig(emulator=EmulatorConfig(saccade_us=10_000, dt_us=2_000, contrast=1.0))
    first = load_or_build(small, tmp_path, progress=False)
    data, meta = cache_paths(small, tmp_path)
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    again = load_or_build(small, tmp_path, progress=False)  # corrupt: rebuilt, identical
    assert np.array_equal(again.events, first.events) and np.array_equal(again.labels, first.labels)
    assert data.read_bytes() != bytes(raw) and json.loads(meta.read_text())["sha256"] != ""
    data.unlink()  # missing: rebuilt
    assert np.array_equal(load_or_build(small, tmp_path, progress=False).events, first.events)
    assert data.exists()


def test_framing_shape_binary_and_time_alignment():
    ev = make_events([1, 2, 2, 33], [0, 5, 5, 10], [0, 9_999, 10_000, 299_999], [1, 0, 0, 1])
    fr = frame_events(ev, (34, 34, 2), FramingConfig(bin_us=10_000, T=30))
    assert fr.shape == (2, 34, 34, 30) and fr.dtype == bool
    assert fr[1, 0, 1, 0] and fr[0, 5, 2, 0] and fr[0, 5, 2, 1] and fr[1, 10, 33, 29]
    assert fr.sum() == 4
    # events past T * bin are dropped; a short T truncates
    assert frame_events(ev, (34, 34, 2), FramingConfig(bin_us=10_000, T=2)).sum() == 3
    down = frame_events(ev, (34, 34, 2), FramingConfig(bin_us=10_000, T=30, downsample=0.5))
    assert down.shape == (2, 17, 17, 30)


def test_pad_collate_pads_unequal_lengths_at_the_end():
    a, b = np.ones((2, 3, 3, 4)), np.ones((2, 3, 3, 6))
    x, y = pad_collate([(a, 1), (b, 2)])
    assert tuple(x.shape) == (2, 2, 3, 3, 6)
    assert x[0, ..., 4:].sum() == 0 and x[1].sum() == b.sum()
    assert y.tolist() == [1, 2]


@pytest.mark.parametrize(
    "events, problem",
    [
        (make_events([40], [1], [5], [1]), "x=40 outside the sensor"),
        (make_events([1], [34], [5], [1]), "y=34 outside the sensor"),
        (make_events([1, 1], [1, 1], [5, 3], [1, 1]), "not sorted"),
        (make_events([1], [1], [-5], [0]), "negative timestamp"),
        (make_events([], [], [], []), "no events"),
    ],
)
def test_bad_events_are_named(events, problem):
    with pytest.raises(EventError) as e:
        frame_events(events, (34, 34, 2), FramingConfig(), source="recording.bin")
    assert "recording.bin" in str(e.value) and problem in str(e.value)


def test_framed_cache_is_reused(embedded_test, tmp_path):
    from lavacut.data.framing import load_framed

    cfg = FramingConfig(T=10)
    a = load_framed(embedded_test, "embedded-test", "test", cfg, progress=False, root=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    b = load_framed(embedded_test, "embedded-test", "test", cfg, progress=False, root=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == files
    assert np.array_equal(a.frames, b.frames) and a.frames.shape == (len(embedded_test), 2, 34, 34, 10)


def test_config_errors_name_the_key(tmp_path):
    from lavacut.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="no key 'epoch'"):
        load_config(None, ["train.epoch=3"])
    with pytest.raises(ConfigError, match="train.epochs must be an integer"):
        load_config(None, ["train.epochs='many'"])
    bad = tmp_path / "bad.toml"
    bad.write_text("[net]\nkinds = 'dense'\n")
    with pytest.raises(ConfigError, match=r"bad.toml: \[net\]: unknown key\(s\) kinds"):
        load_config(bad)
    cfg = load_config(None, ["net.hidden=[64, 32]", "data.dataset=nmnist"])
    assert cfg.net.hidden == (64, 32) and cfg.data.dataset == "nmnist"


def _cli(*args):
    return run_cli(*args, check=False)


def test_cli_data_lists_data_sets_and_draws_a_sample(tmp_path):
    r = _cli("data", "--list")
    assert r.returncode == 0, r.stderr
    for name in ("embedded", "nmnist", "dvsgesture", "cifar10dvs", "ncaltech101"):
        assert name in r.stdout
    png, gif = tmp_path / "s.png", tmp_path / "s.gif"
    r = _cli("data", "--plot", str(png), "--index", "3")
    assert r.returncode == 0, r.stderr
    assert "samples      1797 (train 1438, test 359" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = _cli("data", "--plot", str(gif), "--set", "framing.T=5")
    assert r.returncode == 0, r.stderr
    assert gif.read_bytes()[:6] == b"GIF89a"


def test_cli_unknown_data_set_and_root_that_is_a_file(tmp_path):
    r = _cli("data", "--set", "data.dataset=mnist-dvs-typo")
    assert r.returncode == 2 and "unknown data set 'mnist-dvs-typo'" in r.stderr and "embedded" in r.stderr
    f = tmp_path / "afile"
    f.write_text("x")
    r = _cli("data", "--set", "data.dataset=nmnist", "--set", f"data.root='{f}'")
    assert r.returncode == 2 and str(f) in r.stderr


def test_framing_by_bin_count_uses_each_recordings_duration():
    ev = make_events([1, 2, 3, 4], [0, 0, 0, 0], [1_000, 2_000, 3_000, 4_000], [1, 1, 1, 1])
    fr = frame_events(ev, (34, 34, 2), FramingConfig(T=4, slicing="bins"))
    assert fr.shape == (2, 34, 34, 4)
    # spread over the recording's own 3 ms, one event per bin (tonic's
    # n_time_bins leaves the very last event out of the last bin)
    assert fr.sum(axis=(0, 1, 2))[:3].tolist() == [1, 1, 1]
    # the same events by time window put everything in the first 10 ms bin
    assert frame_events(ev, (34, 34, 2), FramingConfig(T=4))[..., 1:].sum() == 0
    with pytest.raises(Exception, match="slicing"):
        FramingConfig(slicing="events")
