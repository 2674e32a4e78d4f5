"""What a Lava run of a split returns (:class:`RunResult`), shared by the
runner and the workers that shard a split."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lavacut.progress import bar, shown


@dataclass
class RunResult:
    """Decisions and timings of one split run in Lava."""

    t_c: np.ndarray  # (N,) 1-based output step of the decision
    pred: np.ndarray  # (N,) argmax Y(t_c), -1 if no spike yet
    counts: np.ndarray  # (N, K) Y(t_c)
    labels: np.ndarray | None  # (N,), None for unlabelled input
    wall_s: float  # running time of all samples
    wall_s_per_sample: list | None  # halt mode: per-sample run + host read
    lava_steps: int  # Lava steps to the last decision (one lane: sum(t_c + offset))
    latency: int  # D, synapse layers between input and output
    offset: int  # steps per sample before output step 1 (D if frame-aligned, else 0)
    horizon: int  # T
    backend: str
    mode: str
    compile_s: float
    init_s: float = 0.0
    readout_s: float = 0.0
    rule: dict = field(default_factory=dict)
    output_layout: str = ""  # how outputs became the K classes counted ("" = plain 1-D output layer)
    models: str = "fast"  # ProcessModels: "fast" (fused), "fast-procs" or "stock" (Lava's)
    workers: int = 1  # worker processes the split was sharded over
    lanes: int = 1  # samples side by side in one Lava step (fused network)

    @property
    def num_samples(self) -> int:
        return int(len(self.t_c))

    @property
    def accuracy(self) -> float | None:
        if self.labels is None or not len(self.labels):
            return None
        return float(np.mean(self.pred == self.labels))

    @property
    def mean_tc(self) -> float:
        return float(np.mean(self.t_c)) if len(self.t_c) else float("nan")

    @property
    def step_s(self) -> float:
        """Wall-clock per Lava step (including the per-sample switch cost)."""
        return self.wall_s / max(self.lava_steps, 1)

    def summary(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k not in ("t_c", "pred", "counts", "labels", "wall_s_per_sample")}
        d.update(num_samples=self.num_samples, accuracy=self.accuracy, mean_tc=self.mean_tc, step_s=self.step_s)
        return d


def progress_bar(total: int, enabled: bool):
    """A per-sample bar on stderr (None when not shown: :mod:`lavacut.progress`)."""
    if not shown(enabled):
        return None
    return bar(total=total, unit="sample", desc="lava", leave=False)
