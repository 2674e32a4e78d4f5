"""The one batched SLAYER inference pass, used by the trainer, calibration,
evaluation and verify: frames ``(N, C, H, W, T)`` (or ``(N, F, T)`` for a
dense input) in, binary output spikes ``(N, K, T)`` uint8 out."""

from __future__ import annotations

import contextlib
import inspect

import numpy as np

from lavacut.cutoff.metrics import accuracy
from lavacut.cutoff.rules import group_sums, per_step_predictions
from lavacut.util import LavacutError


@contextlib.contextmanager
def calibration_dropout(net, p: float):
    """Spike dropout ``p`` on every hidden spiking layer in train mode for the
    duration (the reference calibrates with p = 0.3 "to mitigate
    overconfidence"); the modules and eval mode are restored afterwards."""
    from lava.lib.dl import slayer

    saved = list(net.drops)
    try:
        if p > 0:
            for i, b in enumerate(net.blocks[:-1]):
                if hasattr(b, "neuron"):
                    net.drops[i] = slayer.neuron.Dropout(p=p)
            net.train()
        yield net
    finally:
        for i, m in enumerate(saved):
            net.drops[i] = m
        net.eval()


def _takes_record(net) -> bool:
    try:
        return "record" in inspect.signature(net.forward).parameters
    except (TypeError, ValueError):
        return False


def batch_seed(seed: int, batch: int) -> int:
    """The torch seed of the dropout masks of batch ``batch`` of a pass seeded ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(batch)]).generate_state(1)[0])


def forward(
    net,
    frames: np.ndarray,
    *,
    batch_size: int = 64,
    record: bool = False,
    dropout: float = 0.0,
    seed: int = 0,
    device=None,
    progress: bool = False,
    desc: str = "SLAYER",
    readout: bool = True,
    first_batch: int = 0,
):
    """Run ``net`` over ``frames`` in batches without gradients.

    Eval mode unless ``dropout`` > 0 (then :func:`calibration_dropout`); the
    net's own train/eval mode is restored afterwards. The dropout masks of
    each batch are seeded by (``seed``, its batch index) rather than drawn
    from one stream, so that a pass cut into shards of whole batches
    (``first_batch``: the index of the shard's first batch in the whole
    pass) draws the masks of one pass (:mod:`lavacut.pipelines.shards`).
    Returns the output spikes ``(N, K, T)`` uint8, and with ``record`` also
    the list of every hidden spiking layer's spikes ``(N, n_l, T)`` uint8.
    A net with an average readout (``readout_groups``) returns its K group
    sums per step, what the Lava monitor counts, unless ``readout`` is False
    (then the last spiking layer's spikes, what Lava's ``net.out`` sends).
    A net whose ``readout`` is "voltage" returns its output voltage's
    per-step increments (N, K, T) int64 instead: their running sum is Y(t).
    """
    import torch
    from lavacut.progress import bar

    device = device or torch.device("cpu")
    was_training = net.training
    with_record = _takes_record(net)
    if record and not with_record:
        raise LavacutError(f"{type(net).__name__} cannot record hidden spikes")
    outs: list[np.ndarray] = []
    hidden: list[list[np.ndarray]] = []
    ctx = calibration_dropout(net, dropout) if dropout > 0 else contextlib.nullcontext(net)
    if dropout <= 0:
        net.eval()
    try:
        with torch.no_grad(), ctx:
            for lo in bar(range(0, len(frames), batch_size), enabled=progress, desc=desc, unit="batch", leave=False):
                if dropout > 0:
                    torch.manual_seed(batch_seed(seed, first_batch + lo // batch_size))
                x = torch.from_numpy(np.asarray(frames[lo : lo + batch_size], dtype=np.float32)).to(device)
                y = net(x, record=record) if with_record else net(x)
                records = None
                if isinstance(y, tuple):
                    y, records = y[0], y[1]
                outs.append(y.detach().cpu().numpy())
                if record:
                    hidden.append([r.spikes.cpu().numpy().astype(np.uint8) for r in records])
    finally:
        net.train(was_training)
    if not outs:
        out = np.zeros((0,), np.uint8)
    else:
        out = np.concatenate(outs)
        if getattr(net, "readout", "spike counts") == "voltage":
            out = out.astype(np.int64)  # per-step increments of the output voltage (rebuild module doc)
        elif out.size and not np.isin(out, (0, 1)).all():
            raise LavacutError(
                "the SLAYER net produced non-binary output (graded spikes); lavacut counts binary spikes only"
            )
        else:
            out = out.astype(np.uint8)
        if readout and getattr(net, "readout_groups", 0):
            out = group_sums(out, net.readout_groups)
    if not record:
        return out
    layers = [np.concatenate([b[i] for b in hidden]) for i in range(len(hidden[0]))] if hidden else []
    return out, layers


def accuracy_from_spikes(spikes: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of argmax of the spike counts at full T (no spike = wrong)."""
    return accuracy(per_step_predictions(spikes)[:, -1], labels)
