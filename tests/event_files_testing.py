"""Event recordings written as real files in the formats lavacut reads
(N-MNIST .bin, Prophesee .dat and EVT 2.0/3.0 .raw, .aedat4 through dv-processing), shared by
the reader tests and the command-line tests."""

from __future__ import annotations

import numpy as np
import pytest

from lavacut.data.events import make_events


def events(n=600, w=20, h=16, t_max=290_000, seed=0, polarities=(0, 1)):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, t_max, n))
    return make_events(rng.integers(0, w, n), rng.integers(0, h, n), t, rng.choice(polarities, n).astype(bool))


def structured(ev, one_d=False):
    """tonic's own structured layout (field order x, y, t, p; or x, t, p)."""
    if one_d:
        out = np.empty(len(ev), dtype=[("x", "<i8"), ("t", "<i8"), ("p", "<i8")])
        out["x"], out["t"], out["p"] = ev["x"], ev["t"], ev["p"]
        return out
    return ev.copy()


def write_nmnist(path, ev):
    """N-MNIST 5-byte records: x, y, p<<7 | t[22:16], t[15:8], t[7:0]."""
    x, y, t, p = (ev[f].astype(np.int64) for f in "xytp")
    raw = np.stack([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.astype(np.uint8).tobytes())
    return path


def write_dat(path, ev, width=None, height=None, ev_type=0x0C, geometry=False):
    """Prophesee DAT: '% ' header lines, event type and size bytes, then
    8-byte records (uint32 t, uint32 x | y << 14 | p << 28)."""
    head = "% Date 2024-01-01 00:00:00\n% Version 2\n"
    if width is not None and geometry:  # newer Metavision headers
        head = f"% date 2024-01-01 00:00:00\n% evt DAT\n% geometry {width}x{height}\n% end\n"
    elif width is not None:
        head += f"% Height {height}\n% Width {width}\n"
    rec = np.empty(len(ev), dtype=[("t", "<u4"), ("d", "<u4")])
    rec["t"] = ev["t"]
    rec["d"] = ev["x"].astype(np.uint32) | (ev["y"].astype(np.uint32) << 14) | (ev["p"].astype(np.uint32) << 28)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head.encode() + bytes([ev_type, 8]) + rec.tobytes())
    return path


def _raw_header(version, width, height):
    head = f"% date 2024-01-01 00:00:00\n% evt {version}\n"
    if width is not None:
        head += f"% format EVT{version[0]};height={height};width={width}\n"
    return head + "% end\n"


def write_evt2(path, ev, width=None, height=None):
    """Prophesee RAW EVT 2.0, encoded here from the format's specification:
    32-bit words, type in bits 28-31; EVT_TIME_HIGH (0x8) carries t >> 6 in
    bits 0-27, CD_OFF/CD_ON (0x0/0x1) t & 63 in bits 22-27, x in 11-21, y in 0-10."""
    words, high = [], None
    for t, x, y, p in zip(ev["t"].tolist(), ev["x"].tolist(), ev["y"].tolist(), ev["p"].tolist()):
        if t >> 6 != high:
            high = t >> 6
            words.append((0x8 << 28) | high)
        words.append((int(p) << 28) | ((t & 63) << 22) | (x << 11) | y)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_raw_header("2.0", width, height).encode() + np.asarray(words, "<u4").tobytes())
    return path


def write_evt3(path, ev, width=None, height=None):
    """Prophesee RAW EVT 3.0, encoded here from the format's specification:
    16-bit words, type in bits 12-15; EVT_TIME_HIGH (0x8) t >> 12, EVT_TIME_LOW
    (0x6) t & 4095, EVT_ADDR_Y (0x0) y, EVT_ADDR_X (0x2) polarity in bit 11
    and x (no vector events)."""
    words, high = [], None
    for t, x, y, p in zip(ev["t"].tolist(), ev["x"].tolist(), ev["y"].tolist(), ev["p"].tolist()):
        if t >> 12 != high:
            high = t >> 12
            words.append(0x8000 | (high & 0xFFF))
        words += [0x6000 | (t & 0xFFF), y, 0x2000 | (int(p) << 11) | x]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_raw_header("3.0", width, height).encode() + np.asarray(words, "<u2").tobytes())
    return path


#: AEDAT4 stores absolute (Unix-time) microseconds: the test files do too
T_UNIX = 1_700_000_000_000_000


def write_aedat4(path, ev, width, height):
    dv = pytest.importorskip("dv_processing")
    path.parent.mkdir(parents=True, exist_ok=True)
    store = dv.EventStore()
    for x, y, t, p in zip(ev["x"].tolist(), ev["y"].tolist(), ev["t"].tolist(), ev["p"].tolist()):
        store.push_back(T_UNIX + t, x, y, bool(p))
    writer = dv.io.MonoCameraWriter(str(path), dv.io.MonoCameraWriter.EventOnlyConfig("test", (width, height)))
    writer.writeEvents(store)
    del writer  # closes the file (the writer flushes on destruction)
    return path
