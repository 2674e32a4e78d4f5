"""The single-stage commands the CLI offers besides the pipelines: look at a
data set, train, export, import a NIR graph, inspect a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lavacut.config import RunConfig
from lavacut.data.embedded import summary as embedded_summary
from lavacut.data.events import sample_source
from lavacut.data.framing import frame_events
from lavacut.data.show import plot_sample
from lavacut.data.sources import EMBEDDED, open_dataset
from lavacut.data.tonic_sets import DATASETS
from lavacut.export.exporter import export_checkpoint
from lavacut.export.inspect_report import file_problems, format_inspection
from lavacut.train.trainer import train
from lavacut.util import LavacutError

__all__ = [
    "dataset_lines",
    "data_summary",
    "draw_sample",
    "train",
    "export_checkpoint",
    "format_inspection",
    "file_problems",
]


def dataset_lines() -> list[str]:
    """One line per data set lavacut reads."""
    lines = [
        "embedded      34x34x2, 10 classes: scikit-learn digits recorded by the saccade DVS emulator "
        "(built offline, cached)"
    ]
    for name, spec in DATASETS.items():
        w, h, p = spec.sensor_size
        lines.append(
            f"{name:<13} {w}x{h}x{p}, {spec.n_classes} classes: {spec.description} "
            f"(tonic.datasets.{spec.tonic_class_name}, read from data.root)"
        )
    return lines


def data_summary(cfg: RunConfig, split: str) -> dict[str, Any]:
    """The embedded set's full summary, or a real set's size and sensor."""
    if cfg.data.dataset == EMBEDDED:
        return embedded_summary(open_dataset(cfg.data, "train"), open_dataset(cfg.data, "test"))
    ds = open_dataset(cfg.data, split)
    return {"name": cfg.data.dataset, "split": split, "n_samples": len(ds), "sensor_size": list(ds.sensor_size)}


def draw_sample(cfg: RunConfig, split: str, index: int, path: str | Path) -> tuple[int, Any]:
    """Draw one sample's frames; returns (events, label)."""
    ds = open_dataset(cfg.data, split)
    if not 0 <= index < len(ds):
        raise LavacutError(f"--index {index} outside 0..{len(ds) - 1} of the {split} split")
    ev, label = ds[index]
    fr = frame_events(ev, ds.sensor_size, cfg.framing, source=sample_source(ds, index))
    plot_sample(
        fr.astype(float), label, path, title=f"{cfg.data.dataset} {split}[{index}]", bin_ms=cfg.framing.bin_us / 1000
    )
    return len(ev), label
