"""Training-time augmentation on framed samples ``(N, C, H, W, T)``.

Translating the events of a sample by whole pixels and then framing them
gives exactly the frames translated by the same pixels (events pushed off
the sensor are dropped, the uncovered border is empty; tested against
tonic's framing), so the translation is applied to the frames, in the
framed (downsampled) pixel grid: no re-framing per epoch. Functional core
(:func:`translate`) plus a small transform dataclass in tonic's style.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lavacut.util import LavacutError


def translate(frames: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``frames`` (C, H, W, T) moved by ``dx`` pixels along W and ``dy``
    along H, zero-filled; a new array."""
    if frames.ndim != 4:
        raise LavacutError(f"translate expects one sample (C, H, W, T), got shape {frames.shape}")
    out = np.zeros_like(frames)
    _, h, w, _ = frames.shape
    if abs(dx) >= w or abs(dy) >= h:
        return out
    src_y, dst_y = slice(max(0, -dy), h - max(0, dy)), slice(max(0, dy), h - max(0, -dy))
    src_x, dst_x = slice(max(0, -dx), w - max(0, dx)), slice(max(0, dx), w - max(0, -dx))
    out[:, dst_y, dst_x] = frames[:, src_y, src_x]
    return out


@dataclass(frozen=True)
class RandomTranslate:
    """Translate each sample of a batch by (dx, dy), each drawn uniformly
    from ``-max_px..max_px``. Draw the shifts with :meth:`draw` (one row
    per sample) so a caller controls the random stream."""

    max_px: int = 0

    def __post_init__(self):
        if self.max_px < 0:
            raise LavacutError(f"max_px must be 0 or more, got {self.max_px}")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``(n, 2)`` integer shifts (dx, dy)."""
        return rng.integers(-self.max_px, self.max_px + 1, size=(n, 2))

    def __call__(self, batch: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        """``batch`` (N, C, H, W, T) moved per sample by ``shifts`` (N, 2)."""
        if self.max_px == 0:
            return batch
        if batch.ndim != 5 or shifts.shape != (len(batch), 2):
            raise LavacutError(
                f"RandomTranslate expects (N, C, H, W, T) frames and (N, 2) shifts, got "
                f"{batch.shape} and {shifts.shape}"
            )
        return np.stack([translate(x, int(dx), int(dy)) for x, (dx, dy) in zip(batch, shifts)])
