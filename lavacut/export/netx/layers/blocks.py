"""SLAYER pieces the kinds' rebuilds share (torch and lava-dl: imported by
their :meth:`~lavacut.export.netx.layers.base.LayerKind.rebuild` only)."""

from __future__ import annotations

import numpy as np
import torch

from lavacut.fixed_point import W_SCALE
from lavacut.util import LavacutError, import_slayer

slayer = import_slayer()
from lava.lib.dl.netx.utils import optimize_weight_bits  # noqa: E402
from lava.lib.dl.slayer.utils import quantize as _quantize  # noqa: E402
from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights  # noqa: E402


def q64(weight: torch.Tensor, descale: bool = False) -> torch.Tensor:
    """SLAYER's weight quantiser at Lava's integer step (1/64): the blocks'
    ``pre_hook_fx``."""
    w = _quantize(weight, step=1 / W_SCALE)
    return w * W_SCALE if descale else w


def lava_dense_weights(w: np.ndarray, where: str) -> np.ndarray:
    """The integer weights Lava's Dense/DelayDense models use for netx's
    file weights ``w`` (out, in): netx casts to int and shifts by
    optimize_weight_bits, the model clips and truncates to num_weight_bits
    and right-shifts each sum by the weight exponent (exact only when every
    weight is a multiple of it)."""
    w = np.asarray(w).astype(int)
    if not w.any():
        return w
    opt, num_bits, exp, _ = optimize_weight_bits(w)
    mode = determine_sign_mode(opt)
    eff = truncate_weights(clip_weights(opt, mode, num_bits=8), mode, int(num_bits)).astype(np.int64)
    if exp >= 0:
        return eff << exp
    if np.any(eff % (1 << -exp)):
        raise LavacutError(
            f"{where}: Lava's weight exponent {exp} floors each weighted sum; SLAYER cannot reproduce that exactly"
        )
    return eff >> -exp


def set_weights(param: torch.nn.Parameter, w: np.ndarray) -> None:
    """Copy integer weights ``w`` into a SLAYER synapse (SLAYER units: / 64)."""
    param.copy_(torch.from_numpy(w / W_SCALE).reshape(param.shape))
