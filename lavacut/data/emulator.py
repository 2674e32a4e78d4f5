"""An event-camera emulator that records still images the way N-MNIST was
recorded: the image sits still while the sensor makes three saccades, and each
pixel emits ON/OFF events when its log intensity moves one contrast threshold
away from the level at its last event.

Functional core, vectorised over a batch of images that share one saccade path
(as every N-MNIST recording shared one motion of the pan-tilt unit). The
constants' rationale is in :class:`EmulatorConfig`'s field comments.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from lavacut.data.events import EVENT_DTYPE


@dataclass(frozen=True)
class EmulatorConfig:
    #: N-MNIST's ATIS crop is 34x34: a 28x28 MNIST digit plus room to move.
    sensor_px: int = 34
    #: MNIST scale: digits are upsampled to 28x28 as in MNIST.
    image_px: int = 28
    #: Optical blur (Gaussian sigma, px) of lens + monitor; softens the
    #: blocky upsampled 8x8 pixels into stroke-like edges.
    blur_px: float = 0.6
    #: Saccade corners (x, y) of the image offset on the sensor, in px: an
    #: isosceles triangle inside the 6 px of room, back to the start, as the
    #: three N-MNIST saccades (1 -> 2 -> 3 -> 1).
    path: tuple[tuple[float, float], ...] = ((1.0, 5.0), (3.0, 1.0), (5.0, 5.0), (1.0, 5.0))
    #: Each saccade lasts about 100 ms (N-MNIST: ~300 ms for three).
    saccade_us: int = 100_000
    #: Simulation step: 1 ms. Frames for SLAYER are >= 1 ms wide, so finer
    #: emulation would not change them; event times are interpolated inside
    #: the step to microseconds.
    dt_us: int = 1_000
    #: Display intensity of the background relative to full-white ink (a
    #: monitor's black is not black); bounds the log contrast of an edge at
    #: ln(1 / 0.2) = 1.6 log units.
    background: float = 0.2
    #: Mean contrast threshold (log units). DVS pixels are set at 10-30 %;
    #: 0.20 gives about as many events per digit as N-MNIST (~4.5 k; the
    #: real recording in tests/fixtures has 4,325).
    contrast: float = 0.20
    #: Pixel-to-pixel threshold mismatch (relative sigma), fixed per sensor:
    #: the fixed-pattern noise of real DVS arrays (a few %).
    contrast_sigma: float = 0.04
    #: Refractory period: after an event a pixel is blind for 1 ms; a larger
    #: change is emitted over the following steps, as real pixels lag fast
    #: edges.
    refractory_us: int = 1_000
    #: Background activity (leak / shot-noise events) per pixel and polarity:
    #: 0.2 Hz gives ~140 noise events per 300 ms recording (~3 % of events).
    noise_hz: float = 0.2

    @property
    def duration_us(self) -> int:
        return self.saccade_us * (len(self.path) - 1)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = [list(p) for p in self.path]
        return d


def minimum_jerk(s: np.ndarray) -> np.ndarray:
    """Smooth 0 -> 1 position profile (zero velocity at both ends), the shape
    of a pan-tilt move."""
    return 10 * s**3 - 15 * s**4 + 6 * s**5


def saccade_offsets(cfg: EmulatorConfig) -> np.ndarray:
    """Image offset (x, y) in px at the end of every simulation step: (S, 2)."""
    n_steps = cfg.duration_us // cfg.dt_us
    t = (np.arange(1, n_steps + 1) * cfg.dt_us).astype(np.float64)
    seg = np.minimum((t // cfg.saccade_us).astype(int), len(cfg.path) - 2)
    s = (t - seg * cfg.saccade_us) / cfg.saccade_us
    p = np.asarray(cfg.path, dtype=np.float64)
    a, b = p[seg], p[seg + 1]
    return a + (b - a) * minimum_jerk(np.clip(s, 0, 1))[:, None]


def prepare_images(images: np.ndarray, cfg: EmulatorConfig) -> np.ndarray:
    """(N, h, w) images in [0, 1] -> (N, image_px, image_px) blurred, MNIST-scale."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    z = ndimage.zoom(images, (1, cfg.image_px / h, cfg.image_px / w), order=1)
    if cfg.blur_px > 0:
        z = ndimage.gaussian_filter(z, sigma=(0, cfg.blur_px, cfg.blur_px))
    return np.clip(z, 0.0, 1.0)


def render(images: np.ndarray, offset: np.ndarray, cfg: EmulatorConfig) -> np.ndarray:
    """What the sensor sees: images placed at a sub-pixel offset (x, y) on the
    sensor by bilinear interpolation, as log intensity. (N, H, W) float32."""
    n, ih, iw = images.shape
    sp = cfg.sensor_px
    ox, oy = float(offset[0]), float(offset[1])
    ix, iy = int(np.floor(ox)), int(np.floor(oy))
    fx, fy = ox - ix, oy - iy
    canvas = np.zeros((n, sp + 1, sp + 1), dtype=np.float32)
    canvas[:, iy : iy + ih, ix : ix + iw] = images
    # bilinear: the image is shifted right/down by (fx, fy) within a pixel
    c = canvas
    img = (
        (1 - fx) * (1 - fy) * c[:, :sp, :sp]
        + fx * (1 - fy) * _shift(c, 0, 1)[:, :sp, :sp]
        + (1 - fx) * fy * _shift(c, 1, 0)[:, :sp, :sp]
        + fx * fy * _shift(c, 1, 1)[:, :sp, :sp]
    )
    lum = cfg.background + (1.0 - cfg.background) * img
    return np.log(lum, dtype=np.float32)


def _shift(c: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """c shifted down by dy and right by dx (zeros enter)."""
    out = np.zeros_like(c)
    out[:, dy:, dx:] = c[:, : c.shape[1] - dy, : c.shape[2] - dx]
    return out


def emulate(
    images: np.ndarray, cfg: EmulatorConfig, rng: np.random.Generator, sensor_rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """Record a batch of still images with the saccade emulator.

    images: (N, h, w) in [0, 1] (ink = 1). Returns N event arrays of
    :data:`~lavacut.data.events.EVENT_DTYPE` (x, y, t [us], p), sorted by t.
    ``sensor_rng`` draws the fixed-pattern threshold mismatch (one sensor for
    the whole data set); ``rng`` draws the background noise.
    """
    sensor_rng = sensor_rng or rng
    imgs = prepare_images(images, cfg)
    n = imgs.shape[0]
    sp = cfg.sensor_px
    thr = cfg.contrast * np.clip(1 + cfg.contrast_sigma * sensor_rng.standard_normal((sp, sp)), 0.5, 1.5)
    thr = thr.astype(np.float32)
    offsets = saccade_offsets(cfg)
    level_prev = render(imgs, np.asarray(cfg.path[0]), cfg)  # log intensity before motion
    ref = level_prev.copy()  # level at each pixel's last event
    last_t = np.full((n, sp, sp), -(10**9), dtype=np.int64)
    chunks = []
    for step, off in enumerate(offsets):
        t_end = (step + 1) * cfg.dt_us
        level = render(imgs, off, cfg)
        diff = level - ref
        ready = (t_end - last_t) >= cfg.refractory_us
        on = (diff >= thr) & ready
        off_ = (diff <= -thr) & ready
        fire = on | off_
        if fire.any():
            s_i, y_i, x_i = np.nonzero(fire)
            pol = on[s_i, y_i, x_i]
            sign = np.where(pol, 1.0, -1.0).astype(np.float32)
            crossing = ref[s_i, y_i, x_i] + sign * thr[y_i, x_i]
            lp, lc = level_prev[s_i, y_i, x_i], level[s_i, y_i, x_i]
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.where(lc != lp, (crossing - lp) / (lc - lp), 1.0)
            frac = np.clip(np.nan_to_num(frac, nan=1.0), 0.0, 1.0)
            t_ev = (t_end - cfg.dt_us + np.round(frac * cfg.dt_us)).astype(np.int64)
            t_ev = np.maximum(t_ev, last_t[s_i, y_i, x_i] + cfg.refractory_us)
            t_ev = np.minimum(t_ev, t_end)
            ref[s_i, y_i, x_i] = crossing
            last_t[s_i, y_i, x_i] = t_ev
            chunks.append((s_i.astype(np.int32), x_i.astype(np.int16), y_i.astype(np.int16), t_ev, pol))
        level_prev = level
    # background activity: Poisson per sample, uniform over pixels, polarities, time
    lam = cfg.noise_hz * sp * sp * 2 * cfg.duration_us * 1e-6
    n_noise = rng.poisson(lam, size=n)
    s_n = np.repeat(np.arange(n, dtype=np.int32), n_noise)
    tot = int(n_noise.sum())
    chunks.append(
        (
            s_n,
            rng.integers(0, sp, tot).astype(np.int16),
            rng.integers(0, sp, tot).astype(np.int16),
            rng.integers(0, cfg.duration_us, tot).astype(np.int64),
            rng.integers(0, 2, tot).astype(bool),
        )
    )
    s_all = np.concatenate([c[0] for c in chunks])
    ev = np.empty(len(s_all), dtype=EVENT_DTYPE)
    ev["x"] = np.concatenate([c[1] for c in chunks])
    ev["y"] = np.concatenate([c[2] for c in chunks])
    ev["t"] = np.concatenate([c[3] for c in chunks])
    ev["p"] = np.concatenate([c[4] for c in chunks])
    order = np.lexsort((ev["t"], s_all))
    ev, s_all = ev[order], s_all[order]
    bounds = np.searchsorted(s_all, np.arange(n + 1))
    return [ev[bounds[i] : bounds[i + 1]] for i in range(n)]
