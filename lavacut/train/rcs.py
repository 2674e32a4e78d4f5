"""The RCS regulariser ("regularising cosine similarity"), exactly as
docs/method.md specifies it.

For every hidden spiking layer l (all spiking layers but the output layer)
and every sample n, with the layer's T-step record (spikes s, post-reset
voltage v, threshold V_th; see :class:`lavacut.train.networks.HiddenRecord`):

- ``r(t) = s(t) + ReLU(v(t) / V_th)``, a vector over the layer's neurons;
- the window is the last ``w = floor(window_frac * T)`` steps, or all T steps
  if ``w == 0``;
- ``r_d = stop_gradient(mean of r(t) over the window)``;
- ``cs = (1/T) sum_{t=1..T} <r(t), r_d> / (||r(t)|| ||r_d||)`` with
  ``||x|| = sqrt(sum x^2 + 1e-5)`` over all neurons of the layer;
- ``R_n^l = 1 / (cs + 1e-5)``;
- mask ``m_n = 1`` iff the per-step prediction ``argmax_k Y_k(t)`` (``Y`` the
  running sum of the output spikes; ties to the lowest index; an all-zero
  ``Y(t)`` is "no decision" and never matches) equals the label at EVERY step
  of the same window, else 0 (no gradient);
- ``L_RCS = (1/L) sum_l max_n (m_n R_n^l)``: per layer, the worst
  correctly-classified sample of the batch (0 if none is), averaged over
  layers.

The total training loss is ``L_task + alpha * L_RCS`` (the trainer adds it;
``alpha`` about 0.002, reference range 0.001..0.005).
"""

from __future__ import annotations

from typing import Sequence

import torch

from lavacut.util import LavacutError

__all__ = [
    "rcs_loss",
    "RCSRegulariser",
    "window_length",
    "step_predictions",
    "rcs_mask",
    "layer_rcs",
    "NORM_EPS",
    "CS_EPS",
]

#: inside the square root of each norm
NORM_EPS = 1e-5
#: added to cs before inverting
CS_EPS = 1e-5


def window_length(T: int, window_frac: float) -> int:
    """``floor(window_frac * T)``, or ``T`` if that is 0."""
    if not 0.0 <= window_frac <= 1.0:
        raise LavacutError(f"window_frac must be in [0, 1], got {window_frac}")
    w = int(window_frac * T + 1e-9)  # floor, robust to 0.3*10 = 2.9999999999999996
    return w if w > 0 else T


def step_predictions(out_spikes: torch.Tensor) -> torch.Tensor:
    """Per-step prediction ``argmax_k Y_k(t)``, (N, T) int64; ties go to the
    lowest index; -1 where ``Y(t)`` is all zero (no decision yet)."""
    y = torch.cumsum(out_spikes.detach(), dim=-1)
    pred = torch.argmax(y, dim=1)
    return torch.where(y.amax(dim=1) > 0, pred, torch.full_like(pred, -1))


def rcs_mask(out_spikes: torch.Tensor, labels: torch.Tensor, window_frac: float = 0.3) -> torch.Tensor:
    """``m_n`` (N,) float, detached: 1 iff the prediction equals the label at
    every step of the window."""
    T = out_spikes.shape[-1]
    w = window_length(T, window_frac)
    pred = step_predictions(out_spikes)[:, T - w :]
    return (pred == labels[:, None]).all(dim=1).to(out_spikes.dtype).detach()


def layer_rcs(spikes: torch.Tensor, voltage: torch.Tensor, threshold: float, window_frac: float = 0.3) -> torch.Tensor:
    """``R_n`` (N,) of one layer from its (N, n, T) spikes and voltage."""
    if spikes.shape != voltage.shape or spikes.dim() != 3:
        raise LavacutError(
            f"spikes and voltage must both be (N, n, T); got {tuple(spikes.shape)} and {tuple(voltage.shape)}"
        )
    if not threshold > 0:
        raise LavacutError(f"threshold must be positive, got {threshold}")
    T = spikes.shape[-1]
    w = window_length(T, window_frac)
    r = spikes + torch.relu(voltage / threshold)  # (N, n, T)
    r_d = r[..., T - w :].mean(dim=-1).detach()  # (N, n)
    dot = torch.einsum("nit,ni->nt", r, r_d)  # (N, T)
    norm_r = torch.sqrt((r * r).sum(dim=1) + NORM_EPS)  # (N, T)
    norm_d = torch.sqrt((r_d * r_d).sum(dim=1) + NORM_EPS)  # (N,)
    cs = (dot / (norm_r * norm_d[:, None])).mean(dim=-1)  # (N,)
    return 1.0 / (cs + CS_EPS)


def rcs_loss(
    hidden_records: Sequence, out_spikes: torch.Tensor, labels: torch.Tensor, window_frac: float = 0.3
) -> torch.Tensor:
    """``L_RCS`` (unweighted scalar) from the network's hidden records (each
    ``(spikes, voltage, threshold)``), its output spikes (N, K, T) and the
    labels (N,)."""
    if len(hidden_records) == 0:
        raise LavacutError("RCS needs at least one hidden spiking layer (the output layer is excluded)")
    if out_spikes.dim() != 3 or labels.shape != (out_spikes.shape[0],):
        raise LavacutError(
            f"out_spikes must be (N, K, T) and labels (N,); got {tuple(out_spikes.shape)} and {tuple(labels.shape)}"
        )
    mask = rcs_mask(out_spikes, labels, window_frac)
    per_layer = []
    for rec in hidden_records:
        spikes, voltage, threshold = rec[0], rec[1], rec[2]
        if spikes.shape[0] != out_spikes.shape[0] or spikes.shape[-1] != out_spikes.shape[-1]:
            raise LavacutError(
                f"hidden record {tuple(spikes.shape)} does not match the output "
                f"{tuple(out_spikes.shape)} in batch size or T"
            )
        R = layer_rcs(spikes, voltage, float(threshold), window_frac)
        per_layer.append((mask * R).max())
    return torch.stack(per_layer).mean()


class RCSRegulariser(torch.nn.Module):
    """Holds ``alpha`` and ``window_frac``. Calling it returns the UNWEIGHTED
    ``L_RCS``; the trainer adds ``reg.alpha * reg(records, out, labels)`` to
    the task loss (:meth:`weighted` does the multiplication)."""

    def __init__(self, alpha: float = 0.002, window_frac: float = 0.3) -> None:
        super().__init__()
        if alpha < 0:
            raise LavacutError(f"RCS alpha must be >= 0, got {alpha}")
        window_length(10, window_frac)  # validates the fraction
        self.alpha, self.window_frac = float(alpha), float(window_frac)

    def forward(self, hidden_records: Sequence, out_spikes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return rcs_loss(hidden_records, out_spikes, labels, self.window_frac)

    def weighted(self, hidden_records: Sequence, out_spikes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``alpha * L_RCS``."""
        return self.alpha * self(hidden_records, out_spikes, labels)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, window_frac={self.window_frac}"
