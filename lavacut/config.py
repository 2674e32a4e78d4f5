"""One configuration object for every run.

``RunConfig`` holds one section per pipeline stage. It loads from a TOML file
(the experiment files in ``sims/``), and ``key.sub=value`` overrides from the
command line apply on top (values in TOML syntax: ``train.epochs=3``,
``net.hidden=[128]``, ``data.root="'/data'"``; a bare word is a string).
Unknown keys and values of the wrong type are errors that name the key.
"""

from __future__ import annotations

import dataclasses
import math
import os
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from lavacut.cutoff.rules import rule_names
from lavacut.data.framing import FramingConfig
from lavacut.train.spec import NetConfig
from lavacut.util import LavacutError, check_name


class ConfigError(LavacutError, ValueError):
    """A config key that does not exist or a value of the wrong type."""


@dataclass
class DataConfig:
    #: "embedded" or a tonic data set name (see ``lavacut data --list``)
    dataset: str = "embedded"
    #: folder holding real data sets as tonic lays them out (not used by "embedded")
    root: Optional[str] = None
    #: seed of the embedded data set (emulator noise, split)
    seed: int = 0
    #: allow tonic to download a missing data set
    download: bool = False
    #: sensor size [W, H, P] for a user's event recordings when the files don't
    #: tell; [W, P] or [W, 1, P] for 1-D sensors
    sensor: Optional[list[int]] = None
    #: class folder -> class (index or the network's class name) for a
    #: user's folders whose names are not the network's classes:
    #: --set 'data.label_map={cars=3, background="0"}'
    label_map: Optional[dict[str, Any]] = None


@dataclass
class LossConfig:
    #: "spike_rate" (SLAYER's SpikeRate) or "tet" (per-step CE on the running count)
    name: str = "spike_rate"
    true_rate: float = 0.2
    false_rate: float = 0.03
    tet_lambda: float = 1e-3
    tet_temperature: float = 1.0


@dataclass
class RCSConfig:
    enabled: bool = False
    alpha: float = 0.002
    window_frac: float = 0.3


@dataclass
class OptimConfig:
    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    #: "constant", or "cosine": lr * (1 + cos(pi * (epoch - 1) / epochs)) / 2
    #: per epoch (a function of the epoch alone, so --resume continues it)
    schedule: str = "constant"


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 32
    seed: int = 0
    #: "auto" (CUDA when present), "cpu" or "cuda"
    device: str = "auto"
    #: fraction of the training split held out for per-epoch validation
    val_fraction: float = 0.1
    #: stop after this many samples per epoch (0 = all); for quick runs
    max_train_samples: int = 0
    num_threads: int = 0
    #: translate every training sample by a random whole number of pixels in
    #: [-shift_px, shift_px] (x and y drawn separately; events pushed off the
    #: sensor are dropped); 0 = no augmentation
    shift_px: int = 0
    #: the epoch best.pt keeps (and the export gets): "best" validation
    #: accuracy (ties to the later epoch), or "last", the end of the
    #: schedule, when the hold-out is too small to rank epochs
    keep: str = "best"


@dataclass
class CutoffConfig:
    #: stop rule used by default: a policy name of the stop-rule registry (lavacut.cutoff.rules.RULES)
    policy: str = "topk"
    eps: float = 0.02
    #: choose Top-K's eps on the trainer's validation hold-out instead: the
    #: eps of EPS_GRID with the fewest mean timesteps whose accuracy drop
    #: there is <= max_drop_pp (lavacut.cutoff.calibrate.choose_topk_eps)
    choose_eps: bool = False
    max_drop_pp: float = 0.3
    #: dropout on spiking layers during the calibration pass (the reference's 0.3)
    calib_dropout: float = 0.3
    calib_split: str = "train"


@dataclass
class RunSection:
    mode: str = "halt"
    backend: str = "cpu"
    #: Lava ProcessModels on cpu: "fast" (one fused process where possible), "fast-procs", "stock" (Lava's own)
    models: str = "fast"
    #: worker processes a split is sharded over (each its own compiled graph; same decisions)
    workers: int = 1
    #: samples side by side in the fused network, each with its own cutoff (0: automatic, see
    #: lavacut.runtime.lanes.DEFAULT_LANES; 1 with models other than "fast")
    lanes: int = 0
    #: where the shards and sweep runs go: "local" (forks on this machine) or "ray" (lavacut.runtime.executors)
    executor: str = "local"
    split: str = "test"
    samples: int = 0


@dataclass
class RunConfig:
    name: str = "run"
    data: DataConfig = field(default_factory=DataConfig)
    framing: FramingConfig = field(default_factory=FramingConfig)
    net: NetConfig = field(default_factory=NetConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    rcs: RCSConfig = field(default_factory=RCSConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    cutoff: CutoffConfig = field(default_factory=CutoffConfig)
    run: RunSection = field(default_factory=RunSection)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> "RunConfig":
        return _build(cls, d, source)

    def with_overrides(self, overrides: list[str]) -> "RunConfig":
        d = self.to_dict()
        given: dict[str, Any] = {}
        for item in overrides or []:
            key, value = parse_override(item)
            if key in given and given[key] != value:  # which one ran would depend on an unwritten rule
                raise ConfigError(f"override {key} given twice ({given[key]!r}, then {value!r}): give it once")
            given[key] = value
            node = d
            parts = key.split(".")
            for p in parts[:-1]:
                if p not in node or not isinstance(node[p], dict):
                    raise ConfigError(
                        f"override {item!r}: no config section {p!r} "
                        f"(sections: {', '.join(k for k, v in d.items() if isinstance(v, dict))})"
                    )
                node = node[p]
            if parts[-1] not in node:
                raise ConfigError(
                    f"override {item!r}: no key {parts[-1]!r} in "
                    f"{'.'.join(parts[:-1]) or 'config'} (keys: {', '.join(node)})"
                )
            node[parts[-1]] = value
        return RunConfig.from_dict(d, source="command-line overrides")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Load a TOML config (defaults when ``path`` is None) and apply overrides."""
    import tomli

    cfg = RunConfig()
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist or is not a file")
        try:
            # utf-8-sig: a byte-order mark (Windows editors) is not content
            d = tomli.loads(p.read_text(encoding="utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"config file {p}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                f"{exc.start}); TOML files are UTF-8"
            ) from None
        except tomli.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p}: not valid TOML ({exc})") from None
        cfg = RunConfig.from_dict(d, source=str(p))
    return cfg.with_overrides(overrides or [])


def parse_override(item: str) -> tuple[str, Any]:
    import tomli

    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form key.sub=value")
    key, raw = item.split("=", 1)
    key, raw = key.strip(), raw.strip()
    try:
        value = tomli.loads(f"v = {raw}")["v"]
    except tomli.TOMLDecodeError:
        value = raw  # a bare word is a string
    return key, value


def _build(cls, d: Any, source: str, prefix: str = ""):
    where = f"{source}: [{prefix.rstrip('.')}]" if prefix else source
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a table of keys, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; valid keys: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        kwargs[f.name] = _coerce(hints[f.name], d[f.name], source, prefix + f.name)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except LavacutError as exc:  # a section's own check (FramingConfig's): named for where its values came from
        raise ConfigError(f"{source}: {exc}") from None


def max_workers() -> int:
    """The most worker processes the local executor forks: the CPU cores
    here (more only slows every worker down)."""
    return os.cpu_count() or 1


#: the most tasks in flight on a distributed executor (Ray): a stated bound,
#: far above a lab cluster's nodes, that keeps a typo from flooding one
MAX_TASKS = 256


#: the valid range of each numeric or named setting, checked when a config is
#: read (a file or --set), so a bad value stops the run before any work
_LIMITS: dict[str, tuple[Any, str]] = {
    "train.epochs": (lambda v: v >= 1, "at least 1"),
    "train.batch_size": (lambda v: v >= 1, "at least 1"),
    "train.val_fraction": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "train.max_train_samples": (lambda v: v >= 0, "0 (all) or more"),
    "train.num_threads": (lambda v: v >= 0, "0 (torch's default) or more"),
    "train.seed": (lambda v: v >= 0, "0 or more"),
    "train.device": (lambda v: v in ("auto", "cpu", "cuda"), "auto, cpu or cuda"),
    "data.seed": (lambda v: v >= 0, "0 or more"),
    "optim.lr": (lambda v: v > 0, "positive"),
    "optim.weight_decay": (lambda v: v >= 0, "0 or more"),
    "optim.schedule": (lambda v: v in ("constant", "cosine"), "constant or cosine"),
    "train.shift_px": (lambda v: v >= 0, "0 (none) or more"),
    "train.keep": (lambda v: v in ("best", "last"), "best or last"),
    "loss.name": (lambda v: v in ("spike_rate", "tet"), "spike_rate or tet"),
    "loss.true_rate": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "loss.false_rate": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "loss.tet_lambda": (lambda v: v >= 0, "0 or more"),
    "loss.tet_temperature": (lambda v: v > 0, "positive"),
    "rcs.alpha": (lambda v: v >= 0, "0 or more"),
    "rcs.window_frac": (lambda v: 0 < v <= 1, "in (0, 1]"),
    # the stop-rule registry when the check runs (a rule may be registered after this import)
    "cutoff.policy": (lambda v: v in rule_names(), lambda: ", ".join(rule_names()[:-1]) + " or " + rule_names()[-1]),
    "cutoff.eps": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "cutoff.max_drop_pp": (lambda v: 0 <= v <= 100, "in [0, 100]"),
    "cutoff.calib_dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "run.mode": (lambda v: v in ("halt", "stream"), "halt or stream"),
    "run.backend": (lambda v: v in ("cpu", "loihi2"), "cpu or loihi2"),
    "run.split": (lambda v: v in ("train", "test"), "train or test"),
    "run.samples": (lambda v: v >= 0, "0 (all) or more"),
    "run.workers": (lambda v: 1 <= v <= MAX_TASKS, f"in 1..{MAX_TASKS} (local executor: at most the CPU cores)"),
    "framing.denoise_us": (lambda v: v >= 0, "0 (none) or more"),
    "framing.T": (lambda v: v >= 1, "at least 1"),
    "framing.bin_us": (lambda v: v >= 1, "at least 1 (microseconds)"),
    "net.kind": (lambda v: v in ("dense", "conv"), "dense or conv"),
    "net.threshold": (lambda v: v > 0, "positive"),
    "net.current_decay": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "net.voltage_decay": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "net.tau_grad": (lambda v: v > 0, "positive"),
    "net.scale_grad": (lambda v: v > 0, "positive"),
    "net.dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "net.weight_scale": (lambda v: v > 0, "positive"),
    # list elements: "KEY[]"
    "net.hidden[]": (lambda v: v >= 1, "at least 1"),
    "net.conv_channels[]": (lambda v: v >= 1, "at least 1"),
    "net.conv_kernels[]": (lambda v: v >= 1, "at least 1"),
    "net.conv_strides[]": (lambda v: v >= 1, "at least 1"),
    "net.conv_paddings[]": (lambda v: v >= 0, "0 or more"),
    "data.sensor[]": (lambda v: v >= 1, "at least 1"),
    # the whole list (checked after its elements); P: an event has one of 2 polarities
    "data.sensor": (
        lambda v: len(v) in (2, 3) and 1 <= v[-1] <= 2,
        "[W, H, P], or [W, P] for a 1-D sensor, with P (polarities) 1 or 2",
    ),
    "framing.fit": (lambda v: v in ("none", "crop", "resize", "crop+resize"), "none, crop, resize or crop+resize"),
    "framing.slicing": (lambda v: v in ("time", "bins", "windows"), "time, bins or windows"),
    "run.lanes": (lambda v: v >= 0, "0 (automatic) or more"),
    # the executor registry (lavacut.runtime.executors, above this layer) refuses an unknown name when it is chosen
    "run.executor": (lambda v: v.isidentifier(), "an executor's name (local, ray)"),
}


def _check_limit(key: str, value, where: str):
    ok, valid = _LIMITS.get(key.split("[")[0] + "[]" if key.endswith("]") else key, (None, ""))
    if ok is not None and not ok(value):
        raise ConfigError(f"{where} must be {valid() if callable(valid) else valid}, got {value!r}")
    return value


def _coerce(tp, value, source: str, key: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, source, key + ".")
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, source, key)
    where = f"{source}: {key}"
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return _check_limit(key, value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        return _check_limit(key, float(value), where)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        if key == "name":  # it names the run folder runs/<name> and the export netx_exports/<name>.net
            try:
                check_name(value, where)
            except LavacutError as exc:
                raise ConfigError(str(exc)) from None
        return _check_limit(key, value, where)
    if tp is list or origin in (list, tuple):
        if not isinstance(value, (list, tuple)) or (tp is list and isinstance(value, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        elem = (typing.get_args(tp) or (None,))[0]
        if elem in (int, float, str, bool):  # each element typed and in range, as a value would be
            value = [_coerce(elem, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
        return _check_limit(key, tuple(value) if origin is tuple else list(value), where)
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table, e.g. {{name=3}}, got {value!r}")
        return value
    return value
