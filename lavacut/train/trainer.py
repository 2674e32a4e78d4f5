"""``lavacut train``: SLAYER training with a task loss plus the RCS regulariser.

Input: a :class:`lavacut.config.RunConfig`. Output: a run folder with
``last.pt`` and ``best.pt`` checkpoints (atomic; ``best.pt`` is the epoch
kept for export: the best on the validation split held out from the
training split, or the last with ``train.keep = "last"``; the test split is
only reported),
``metrics.json`` and ``training_curve.png``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lavacut.data.augment import RandomTranslate
from lavacut.data.splits import stratified_mask
from lavacut.train.inference import accuracy_from_spikes, forward
from lavacut.data.sources import load_split
from lavacut.locks import exclusive_folder
from lavacut.util import LavacutError, atomic_write_json, first_line, save_figure, seed_everything, versions


class NaNLossError(LavacutError):
    """Training diverged; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    run_dir: Path
    best_checkpoint: Path
    last_checkpoint: Path
    best_val_acc: float | None  # None: no validation hold-out
    test_acc: float
    epochs: int
    train_seconds: float


def pick_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise LavacutError("train.device is 'cuda' but no CUDA device is available")
    return torch.device(name)


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a seeded stratified hold-out (per class at least one)."""
    if fraction <= 0:
        return np.zeros(len(labels), dtype=bool)
    return stratified_mask(labels, fraction, seed + 104729, min_per_class=1)


def build_from_config(cfg, input_shape, n_classes):
    """The network the config's [net] section describes, for a data set."""
    from lavacut.train.netspec import NetSpec
    from lavacut.train.networks import build_network  # torch

    spec = NetSpec(
        input_shape=tuple(input_shape), n_classes=int(n_classes), name=cfg.name, **dataclasses.asdict(cfg.net)
    )
    return build_network(spec)


def epoch_lr(cfg, epoch: int) -> float:
    """The learning rate of a 1-based epoch under ``optim.schedule``."""
    if cfg.optim.schedule == "cosine":
        return cfg.optim.lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / cfg.train.epochs))
    return cfg.optim.lr


def train(
    cfg, run_dir: str | Path, resume: bool = False, progress: bool = True, what: str = "run folder"
) -> TrainResult:
    """Train per ``cfg``; with ``resume`` continue from ``run_dir/last.pt``.
    A second training into ``run_dir`` (another command, ``what`` names the
    option) is refused with :class:`lavacut.locks.FolderInUse`: the two
    would mix their checkpoints and metrics."""
    with exclusive_folder(run_dir, what):
        return _train(cfg, Path(run_dir), resume, progress)


def _train(cfg, run_dir: Path, resume: bool, progress: bool) -> TrainResult:
    import torch
    from lavacut.progress import bar as progress_bar

    from lavacut.train.checkpoint import check_same_architecture, load_checkpoint, save_checkpoint  # torch
    from lavacut.train.losses import make_task_loss, predict  # torch
    from lavacut.train.rcs import rcs_loss  # torch

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.train.seed)
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    device = pick_device(cfg.train.device)

    train_split = load_split(cfg, "train", progress=progress)
    test_split = load_split(cfg, "test", progress=progress)
    input_shape = cfg.framing.input_shape(train_split.sensor_size)
    n_classes = int(max(train_split.labels.max(), test_split.labels.max()) + 1)
    net = build_from_config(cfg, input_shape, n_classes).to(device)
    spec = net.spec

    val_mask = stratified_holdout(train_split.labels, cfg.train.val_fraction, cfg.train.seed)
    x_tr, y_tr = train_split.frames[~val_mask], train_split.labels[~val_mask]
    x_val, y_val = train_split.frames[val_mask], train_split.labels[val_mask]
    if cfg.train.max_train_samples:
        x_tr, y_tr = x_tr[: cfg.train.max_train_samples], y_tr[: cfg.train.max_train_samples]

    loss_params = {
        "spike_rate": dict(true_rate=cfg.loss.true_rate, false_rate=cfg.loss.false_rate),
        "tet": dict(lam=cfg.loss.tet_lambda, temperature=cfg.loss.tet_temperature),
    }
    task_loss = make_task_loss(cfg.loss.name, **loss_params.get(cfg.loss.name, {}))
    if cfg.optim.name != "adam":
        raise LavacutError(f"optim.name {cfg.optim.name!r} is not supported (adam)")
    opt = torch.optim.Adam(net.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)

    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    start_epoch, history, best_val = 0, [], -1.0
    if resume:
        state = load_checkpoint(last_path)
        check_same_architecture(state, spec, last_path)
        try:
            net.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise LavacutError(
                f"checkpoint {last_path} does not fit the configured network: {first_line(exc)}"
            ) from None
        opt.load_state_dict(state["optim"])
        # the optimiser state (moments, step counts) continues, but the
        # hyper-parameters are the config's: Adam.load_state_dict would
        # otherwise silently keep the checkpoint's lr / weight_decay
        for group in opt.param_groups:
            group["lr"] = cfg.optim.lr
            group["weight_decay"] = cfg.optim.weight_decay
        start_epoch, history, best_val = int(state["epoch"]), list(state["history"]), float(state["best_val_acc"])
        torch.set_rng_state(state["torch_rng"])

    def state_dict(epoch):
        return {
            "model": net.state_dict(),
            "optim": opt.state_dict(),
            "epoch": epoch,
            "spec": spec.to_dict(),
            "config": cfg.to_dict(),
            "history": history,
            "best_val_acc": best_val,
            "torch_rng": torch.get_rng_state(),
            "versions": versions(),
            "sensor_size": list(train_split.sensor_size),
        }

    t0 = time.time()
    bs = cfg.train.batch_size
    augment = RandomTranslate(cfg.train.shift_px)
    for epoch in range(start_epoch + 1, cfg.train.epochs + 1):
        net.train()
        # the order depends on (seed, epoch) only, so a resumed run replays it
        rng = np.random.default_rng([cfg.train.seed, epoch])
        order = rng.permutation(len(y_tr))
        shifts = augment.draw(rng, len(order))
        for group in opt.param_groups:
            group["lr"] = epoch_lr(cfg, epoch)
        tot_loss, tot_rcs, correct, seen = 0.0, 0.0, 0, 0
        bar = progress_bar(
            range(0, len(order), bs),
            enabled=progress,
            desc=f"epoch {epoch}/{cfg.train.epochs}",
            unit="batch",
            leave=False,
        )
        for lo in bar:
            idx = order[lo : lo + bs]
            x = torch.from_numpy(augment(x_tr[idx], shifts[lo : lo + bs]).astype(np.float32)).to(device)
            y = torch.from_numpy(y_tr[idx]).to(device)
            out, records = net(x, record=cfg.rcs.enabled)
            loss = task_loss(out, y)
            reg = torch.zeros((), device=device)
            if cfg.rcs.enabled and records:
                reg = rcs_loss(records, out, y, window_frac=cfg.rcs.window_frac)
                loss = loss + cfg.rcs.alpha * reg
            if not torch.isfinite(loss):
                raise NaNLossError(
                    f"loss became {loss.item()} at epoch {epoch}, batch {lo // bs}; training stopped. "
                    f"The last good checkpoint is {last_path if last_path.exists() else 'not written yet'}; "
                    f"try a lower optim.lr (now {cfg.optim.lr}) or rcs.alpha (now {cfg.rcs.alpha})."
                )
            opt.zero_grad()
            loss.backward()
            opt.step()
            # spiking outputs hide diverged weights (NaN voltages never cross the
            # threshold, so the loss stays finite): check the parameters too
            bad = [n for n, p in net.named_parameters() if not torch.isfinite(p).all()]
            if bad:
                raise NaNLossError(
                    f"parameters became non-finite ({', '.join(bad)}) after the optimiser step at epoch "
                    f"{epoch}, batch {lo // bs}; training stopped. The last good checkpoint is "
                    f"{last_path if last_path.exists() else 'not written yet'}; "
                    f"try a lower optim.lr (now {cfg.optim.lr}) or rcs.alpha (now {cfg.rcs.alpha})."
                )
            with torch.no_grad():
                correct += int((predict(out) == y).sum())
            seen += len(idx)
            tot_loss += float(loss) * len(idx)
            tot_rcs += float(reg) * len(idx)
            bar.set_postfix(loss=f"{tot_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
        val_acc = accuracy_from_spikes(forward(net, x_val, device=device), y_val) if len(y_val) else None
        history.append(
            {
                "epoch": epoch,
                "loss": tot_loss / max(seen, 1),
                "rcs": tot_rcs / max(seen, 1),
                "train_acc": correct / max(seen, 1),
                "val_acc": val_acc,
                "seconds": time.time() - t0,
            }
        )
        # ties go to the later epoch: it has trained longer (and, under a
        # cosine schedule, at a lower learning rate)
        improved = val_acc is not None and val_acc >= best_val
        if improved:
            best_val = val_acc
        save_checkpoint(last_path, state_dict(epoch))
        if improved or not best_path.exists() or cfg.train.keep == "last":
            save_checkpoint(best_path, state_dict(epoch))
        if progress:
            print(
                f"epoch {epoch:3d}  loss {history[-1]['loss']:.4f}  train acc {history[-1]['train_acc']:.3f}  "
                f"val acc {'-' if val_acc is None else f'{val_acc:.3f}'}{'  *best' if improved else ''}",
                flush=True,
            )
    train_seconds = time.time() - t0

    best = load_checkpoint(best_path)
    net.load_state_dict(best["model"])
    test_acc = accuracy_from_spikes(forward(net, test_split.frames, device=device), test_split.labels)
    metrics = {
        "name": cfg.name,
        # no validation hold-out (train.val_fraction = 0): no figure, not the -1 placeholder
        "best_val_acc": best_val if len(y_val) else None,
        "test_acc_full_T": test_acc,
        "best_epoch": int(best["epoch"]),
        "epochs": cfg.train.epochs,
        "train_seconds_this_session": train_seconds,
        "history": [{**h, "val_acc": _finite(h["val_acc"])} for h in history],  # NaN: older checkpoints
        "n_train": int(len(y_tr)),
        "n_val": int(len(y_val)),
        "n_test": int(len(test_split)),
        "device": str(device),
        "config": cfg.to_dict(),
        "versions": versions(),
    }
    atomic_write_json(run_dir / "metrics.json", metrics)
    plot_training_curve(history, run_dir / "training_curve.png", title=cfg.name)
    return TrainResult(run_dir, best_path, last_path, metrics["best_val_acc"], test_acc, len(history), train_seconds)


def _finite(x):
    return x if x is not None and math.isfinite(x) else None


def plot_training_curve(history: list[dict], path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    a1.plot(ep, [h["loss"] for h in history], "o-", label="train loss (task + alpha RCS)")
    if any(h.get("rcs") for h in history):
        a1.plot(ep, [h["rcs"] for h in history], "s--", label="RCS term")
    a1.set_xlabel("epoch")
    a1.set_title("loss")
    a1.legend(fontsize=7)
    a2.plot(ep, [h["train_acc"] for h in history], "o-", label="train")
    a2.plot(ep, [float("nan") if h["val_acc"] is None else h["val_acc"] for h in history], "s-", label="validation")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy at full T")
    a2.set_ylim(0, 1.01)
    a2.legend(fontsize=7)
    a2.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path, dpi=100)
