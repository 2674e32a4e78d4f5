"""Pictures of event samples: a PNG strip of frames or an animated GIF."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lavacut.util import atomic_path, save_figure


def _rgb(frame_chw: np.ndarray) -> np.ndarray:
    """(2, H, W) counts -> (H, W, 3): ON red, OFF blue, on white."""
    on = np.clip(frame_chw[1] if frame_chw.shape[0] > 1 else frame_chw[0], 0, 1)
    off = np.clip(frame_chw[0], 0, 1) if frame_chw.shape[0] > 1 else np.zeros_like(on)
    img = np.ones(on.shape + (3,))
    img[..., 1] -= np.maximum(on, off)
    img[..., 2] -= on
    img[..., 0] -= off
    return img


def plot_sample(frames: np.ndarray, label, path: str | Path, title: str = "", bin_ms: float | None = None) -> Path:
    """Write frames ``(C, H, W, T)`` as a PNG strip (.png) or an animation (.gif)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    T = frames.shape[-1]
    if path.suffix.lower() == ".gif":
        from matplotlib.animation import FuncAnimation, PillowWriter

        fig, ax = plt.subplots(figsize=(3, 3))
        im = ax.imshow(_rgb(frames[..., 0]), interpolation="nearest")
        ax.set_axis_off()

        def upd(t):
            im.set_data(_rgb(frames[..., t]))
            ax.set_title(f"{title} label {label}  t={t + 1}/{T}", fontsize=8)
            return (im,)

        anim = FuncAnimation(fig, upd, frames=T, blit=False)
        with atomic_path(path, suffix=".gif") as tmp:
            anim.save(tmp, writer=PillowWriter(fps=10))
        plt.close(fig)
        return path
    cols = min(T, 10)
    rows = int(np.ceil(T / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.3 + 0.4))
    for t, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.set_axis_off()
        if t < T:
            ax.imshow(_rgb(frames[..., t]), interpolation="nearest")
            ax.set_title(f"t={t + 1}" + (f" ({(t + 1) * bin_ms:g} ms)" if bin_ms else ""), fontsize=6)
    fig.suptitle(f"{title} label {label} (ON red, OFF blue)", fontsize=9)
    return save_figure(fig, path, dpi=100)
