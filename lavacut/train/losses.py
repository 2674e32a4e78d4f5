"""Task losses on the spiking output layer, and the prediction rule.

Every loss has the signature ``loss(out_spikes (N, K, T), labels (N,)) ->
scalar tensor`` and is made by name with :func:`make_task_loss`:

``"spike_rate"`` (:class:`SpikeRateLoss`)
    lava-dl SLAYER's ``slayer.loss.SpikeRate``: squared error between each
    output neuron's rate (mean over all T steps) and a target rate
    (``true_rate`` for the label, ``false_rate`` for the others), summed over
    classes and averaged over the batch (SLAYER's ``reduction='sum'`` divided
    by N, so the scale does not depend on the batch size).
``"spike_max"`` (:class:`SpikeMaxLoss`)
    lava-dl's ``slayer.loss.SpikeMax`` (NLL of the rate-based confidence),
    averaged over the batch.
``"tet"`` (:class:`TETLoss`)
    TET-style per-step loss on the accumulated output (docs/method.md):
    ``(1 - lam) * (1/T) sum_t CE(z(t), y) + lam * MSE(o, target)`` with the
    logits ``z(t)`` a fixed (not learned) normalisation of the running spike
    count ``Y(t) = sum_{tau<=t} o(tau)``:

    - ``normalise="count"`` (default): ``z(t) = Y(t) / temperature``
      (default temperature 1). The logits are in the same units as the Top-K
      cutoff's gap ``top1(Y(t)) - top2(Y(t))``; CE at step t is small once
      the label leads by a few spikes at that step, so the loss asks for an
      early lead in counts without pushing rates towards 1.
    - ``normalise="rate"``: ``z(t) = scale * Y(t) / t`` (bounded logits,
      independent of T).

    ``MSE(o, target)`` is the mean over (N, K, T) of ``(o(t) - target)^2``
    (docs/method.md's ``MSE(o, 1)``; ``mse_target`` default 1.0), ``lam`` default
    1e-3. The first ``latency`` output steps of an L-layer network are always
    silent (zero counts): their CE is the constant log K and carries no
    gradient.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from lavacut.cutoff.rules import NO_DECISION
from lavacut.util import LavacutError

__all__ = [
    "SpikeRateLoss",
    "SpikeMaxLoss",
    "TETLoss",
    "make_task_loss",
    "predict",
    "accumulated_output",
    "TASK_LOSSES",
    "NO_DECISION",
]


def _check(out_spikes: torch.Tensor, labels: torch.Tensor) -> None:
    if out_spikes.dim() != 3:
        raise LavacutError(f"out_spikes must be (N, K, T), got {tuple(out_spikes.shape)}")
    if labels.shape != (out_spikes.shape[0],):
        raise LavacutError(f"labels must be (N,) = ({out_spikes.shape[0]},), got {tuple(labels.shape)}")


def accumulated_output(out_spikes: torch.Tensor) -> torch.Tensor:
    """``Y(t)``: running sum of the output spikes over time, (N, K, T)."""
    return torch.cumsum(out_spikes, dim=-1)


def predict(out_spikes: torch.Tensor, no_decision: int | None = NO_DECISION) -> torch.Tensor:
    """Class prediction from the total output spike count, ``(N,)`` int64.

    ``argmax_k sum_t out_spikes[n, k, t]``; ties go to the LOWEST class index
    (``torch.argmax`` returns the first maximum). A sample whose output never
    spiked gets ``no_decision`` (default -1, docs/method.md's "no decision yet",
    the same convention as :func:`lavacut.cutoff.rules.predict`; it never
    equals a label, so it counts as wrong). Pass ``no_decision=None`` for the
    plain argmax (class 0 for an all-zero count).
    """
    counts = out_spikes.detach().sum(dim=-1)
    pred = torch.argmax(counts, dim=1)
    if no_decision is not None:
        pred = torch.where(counts.amax(dim=1) > 0, pred, torch.full_like(pred, no_decision))
    return pred


class SpikeRateLoss(torch.nn.Module):
    """SLAYER's spike-rate loss (``slayer.loss.SpikeRate``), per-sample sum
    over classes, mean over the batch."""

    def __init__(self, true_rate: float = 0.2, false_rate: float = 0.03) -> None:
        super().__init__()
        from lava.lib.dl import slayer

        if not 0 <= false_rate < true_rate <= 1:
            raise LavacutError(f"need 0 <= false_rate < true_rate <= 1, got {false_rate}, {true_rate}")
        self.true_rate, self.false_rate = true_rate, false_rate
        self.inner = slayer.loss.SpikeRate(true_rate=true_rate, false_rate=false_rate, reduction="sum")

    def forward(self, out_spikes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check(out_spikes, labels)
        return self.inner(out_spikes, labels) / out_spikes.shape[0]


class SpikeMaxLoss(torch.nn.Module):
    """SLAYER's ``slayer.loss.SpikeMax`` (mode ``'softmax'`` or
    ``'probability'``), mean over the batch."""

    def __init__(self, mode: str = "softmax") -> None:
        super().__init__()
        from lava.lib.dl import slayer

        if mode not in ("softmax", "probability"):
            raise LavacutError(f"SpikeMax mode must be 'softmax' or 'probability', got {mode!r}")
        self.inner = slayer.loss.SpikeMax(mode=mode, reduction="sum")

    def forward(self, out_spikes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check(out_spikes, labels)
        return self.inner(out_spikes, labels) / out_spikes.shape[0]


class TETLoss(torch.nn.Module):
    """TET-style per-step loss on the accumulated output count (see module
    docstring for the exact formula)."""

    def __init__(
        self,
        lam: float = 1e-3,
        normalise: str = "count",
        temperature: float = 1.0,
        scale: float = 5.0,
        mse_target: float = 1.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= lam <= 1.0:
            raise LavacutError(f"TET lam must be in [0, 1], got {lam}")
        if normalise not in ("count", "rate"):
            raise LavacutError(f"TET normalise must be 'count' or 'rate', got {normalise!r}")
        if temperature <= 0 or scale <= 0:
            raise LavacutError("TET temperature and scale must be positive")
        self.lam, self.normalise = float(lam), normalise
        self.temperature, self.scale = float(temperature), float(scale)
        self.mse_target = float(mse_target)

    def logits(self, out_spikes: torch.Tensor) -> torch.Tensor:
        """``z(t)``, (N, K, T)."""
        y = accumulated_output(out_spikes)
        if self.normalise == "count":
            return y / self.temperature
        t = torch.arange(1, y.shape[-1] + 1, dtype=y.dtype, device=y.device)
        return self.scale * y / t

    def forward(self, out_spikes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check(out_spikes, labels)
        n, k, T = out_spikes.shape
        z = self.logits(out_spikes)  # (N, K, T)
        ce = F.cross_entropy(z, labels[:, None].expand(n, T), reduction="mean")  # mean over N, T
        if self.lam == 0.0:
            return ce
        mse = torch.mean((out_spikes - self.mse_target) ** 2)
        return (1.0 - self.lam) * ce + self.lam * mse


TASK_LOSSES: dict[str, Callable[..., torch.nn.Module]] = {
    "spike_rate": SpikeRateLoss,
    "spike_max": SpikeMaxLoss,
    "tet": TETLoss,
}


def make_task_loss(name: str, **params) -> torch.nn.Module:
    """A task loss by name (``"spike_rate"``, ``"tet"``, ``"spike_max"``)
    with its keyword parameters."""
    try:
        cls = TASK_LOSSES[name]
    except KeyError:
        raise LavacutError(f"unknown task loss {name!r}; known: {', '.join(TASK_LOSSES)}") from None
    try:
        return cls(**params)
    except TypeError as e:
        raise LavacutError(f"bad parameters for task loss {name!r}: {e}") from None
