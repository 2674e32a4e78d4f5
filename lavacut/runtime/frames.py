"""Frames and outputs between lavacut's layout and netx's ports: user
frames ``(N, C, H, W, T)`` or ``(N, C*H*W, T)`` (features in C, H, W order)
to netx's input port order and ``np.packbits`` arrays, and a netx output
port's neurons back to SLAYER's flat order (the layout rules are in
:mod:`lavacut.runtime.graph`)."""

from __future__ import annotations

import numpy as np

from lavacut.util import LavacutError


def lava_to_slayer(lava_shape: tuple) -> np.ndarray:
    """For each neuron of a netx port of shape ``lava_shape`` (C order), its
    index in SLAYER's C-order flattening of the reversed shape (netx shapes
    are SLAYER's reversed: (W, H, C) for (C, H, W))."""
    n = int(np.prod(lava_shape))
    rev = tuple(reversed(range(len(lava_shape))))
    return np.arange(n).reshape(tuple(lava_shape)[::-1]).transpose(rev).reshape(-1)


def to_slayer_order(data: np.ndarray, lava_shape: tuple) -> np.ndarray:
    """Recorded output ``(*lava_shape, S)`` -> ``(n, S)`` in SLAYER's flat
    order (see :func:`lava_to_slayer`)."""
    n = int(np.prod(lava_shape))
    flat = np.asarray(data).reshape(n, -1)
    out = np.empty_like(flat)
    out[lava_to_slayer(lava_shape)] = flat
    return out


def lava_frame_layout(frames: np.ndarray, in_shape: tuple) -> np.ndarray:
    """(N, ..., T) user frames -> (N, T, F) in the C order of netx's input
    shape ``in_shape``."""
    frames = np.asarray(frames)
    if frames.ndim < 3:
        raise LavacutError(f"frames must be (N, C, H, W, T) or (N, C*H*W, T); got shape {frames.shape}")
    N, T = frames.shape[0], frames.shape[-1]
    F = int(np.prod(in_shape))
    if int(np.prod(frames.shape[1:-1])) != F:
        raise LavacutError(
            f"frames have {int(np.prod(frames.shape[1:-1]))} features per "
            f"step ({frames.shape[1:-1]}); the network input takes {F} "
            f"(netx shape {tuple(in_shape)})"
        )
    if len(in_shape) == 1:  # dense input: C, H, W flatten
        x = frames.reshape(N, F, T)
        return np.moveaxis(x, -1, 1)  # (N, T, F)
    if len(in_shape) == 3:  # conv input, netx (W, H, C)
        W, H, C = in_shape
        x = frames.reshape(N, C, H, W, T)
        return x.transpose(0, 4, 3, 2, 1).reshape(N, T, F)  # (N, T, W, H, C)
    raise LavacutError(f"unsupported network input shape {tuple(in_shape)}")


def pack_frames(frames: np.ndarray, in_shape: tuple) -> np.ndarray:
    """Binary frames -> ``np.packbits`` array (N, T, ceil(F/8)) in netx
    layout, checked to be 0/1."""
    x = lava_frame_layout(frames, in_shape)
    if x.dtype != bool:
        if not np.issubdtype(x.dtype, np.number):
            raise LavacutError(f"frames must be numeric or bool, got {x.dtype}")
        if x.size and (x.min() < 0 or x.max() > 1):
            raise LavacutError(f"frames must be binary spikes (0/1); found values in [{x.min()}, {x.max()}]")
        x = x != 0
    return np.packbits(x, axis=-1)


def unpack_frames(packed: np.ndarray, in_shape: tuple) -> np.ndarray:
    """Inverse of :func:`pack_frames` in netx layout: (N, T, *in_shape) int8."""
    F = int(np.prod(in_shape))
    x = np.unpackbits(packed, axis=-1, count=F)
    return x.reshape(packed.shape[:2] + tuple(in_shape))
