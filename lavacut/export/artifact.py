"""One exported network as an object: the NetX file, its lavacut metadata,
the data configuration it runs on, its input-shape check and its stop rule.

Every pipeline (run, evaluate, calibrate, verify, the benchmark) opens a file
through :meth:`Export.open` and takes its frames from :meth:`Export.frames`,
so there is one input-shape check and one way to resolve a stop rule.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lavacut.config import RunConfig, load_config
from lavacut.cutoff.rules import RULES, FixedT, StopRule, applicable_rule, rule_from_params
from lavacut.data.framing import FramedSplit, frame_stream
from lavacut.data.sources import load_split, open_dataset
from lavacut.data.stream import make_stream
from lavacut.data.user_input import InputShapeError, load_user_input
from lavacut.export.rebuild.network import net_from_export
from lavacut.export.netx.inspect import LayerInfo, num_outputs, readout_of
from lavacut.export.netx.file import _open, reading_once, stored_metadata
from lavacut.export.netx.layers import kind_of
from lavacut.export.validate import require_valid_file
from lavacut.util import LavacutError

SPLITS = ("train", "test")


@dataclass
class Export:
    """A NetX file opened for running: ``meta`` is None for a file lavacut
    did not write; ``layers`` are read from the file itself."""

    path: Path
    meta: dict[str, Any] | None
    layers: list[LayerInfo]
    #: set by :meth:`rule` when the asked rule cannot apply and fixed T runs instead
    cutoff_note: str | None = None
    #: set by :meth:`frames`: (outputs, classes of the data) when the network has more outputs than the data has classes
    extra_outputs: tuple[int, int] | None = None

    @classmethod
    def open(cls, path: str | Path, accept_modified: bool = False, force: bool = False) -> "Export":
        """Open and validate a NetX file (:func:`lavacut.export.validate.require_valid`);
        ``accept_modified`` admits layers changed after lavacut exported
        them (for recalibration), ``force`` values beyond Loihi 2's ranges
        (warned about on stderr; netx clamps or truncates them)."""
        path = Path(path)
        if path.is_dir():
            raise LavacutError(f"{path} is a folder; give a NetX .net file")
        # one open, each dataset read once: the validation, hash, metadata and layers all come from it
        with _open(path) as f, reading_once():
            # a valid file's layers are read by the validator's range rules
            warnings, layers = require_valid_file(f, path, check_hash=not accept_modified, force=force)
            # the validator compared the layers' hash already (hashing reads every layer)
            meta = stored_metadata(f, path, check_hash=False)
        for w in warnings:
            print(f"warning: {path}: {w} (--force: running it anyway)", file=sys.stderr)
        return cls(path=path, meta=meta, layers=layers)

    # ------------------------------------------------------------------ what the file says
    @property
    def name(self) -> str:
        return (self.meta or {}).get("name") or self.path.stem

    @property
    def dataset(self) -> str | None:
        """The data set the network was trained or bound on (None: unknown)."""
        return (self.meta or {}).get("dataset")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-step input: (C, H, W), or (F,) for a dense first layer of a
        file that does not say how its features are arranged."""
        if self.meta and self.meta.get("input_shape"):
            return tuple(int(s) for s in self.meta["input_shape"])
        for L in self.layers:
            kind = kind_of(L.type)
            if kind.elementwise and L.shape:
                return tuple(L.shape)
            if kind.flat and L.weight_shape:
                return (int(L.weight_shape[-1]),)
            if kind.synaptic and kind.image:
                raise LavacutError(
                    f"{self.path}: convolutional first layer without an input layer giving the frame shape"
                )
        raise LavacutError(f"{self.path}: cannot tell the network's input shape from its layers")

    @property
    def readout(self) -> str:
        """What the scores Y(t) are: "spike counts" or "voltage" (the output
        layer never spikes; :func:`lavacut.export.netx.inspect.readout_of`)."""
        return readout_of(self.layers)

    @property
    def num_classes(self) -> int:
        """The outputs the cutoff compares (an average readout's groups)."""
        return num_outputs(self.layers)

    @property
    def classes(self) -> list[str] | None:
        return (self.meta or {}).get("classes")

    @property
    def n_classes(self) -> int | None:
        """Classes the network decides between: its output neurons (an
        average readout's groups); None when the file shows no layer."""
        return int(np.prod(self.layers[-1].shape)) if self.layers and self.layers[-1].shape else None

    # ------------------------------------------------------------------ configuration
    def config(self, config_path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
        """The run configuration: ``config_path`` if given, else the export's
        stored training config, else the defaults; ``overrides`` on top."""
        if config_path is not None:
            return load_config(config_path, overrides)
        stored = (self.meta or {}).get("train_config")
        if not stored:
            return RunConfig().with_overrides(overrides or [])
        source = f"{self.path} (stored train_config)"
        try:
            base = RunConfig.from_dict(dict(stored), source=source)
        except LavacutError as exc:  # not every config check names its source
            raise LavacutError(str(exc) if str(self.path) in str(exc) else f"{source}: {exc}") from None
        return base.with_overrides(overrides or [])

    def has_data_binding(self, config_path, overrides) -> bool:
        """Whether a data set is known for this file: from its metadata or
        from the user's config / data.* overrides."""
        return bool(
            config_path
            or (self.meta or {}).get("train_config")
            or any(o.strip().startswith("data.") for o in overrides or [])
        )

    # ------------------------------------------------------------------ frames
    def check_frames(self, frames: np.ndarray, source: str) -> np.ndarray:
        """Frames ``(N, *input_shape, T)``; a flat input also takes
        ``(N, C, H, W, T)`` with C*H*W features (flattened in C, H, W order).
        Returns the frames in the network's layout."""
        want = self.input_shape
        got = tuple(frames.shape[1:-1])
        if got == want:
            return frames
        if len(want) == 1 and int(np.prod(got)) == want[0]:
            return frames.reshape(frames.shape[0], want[0], frames.shape[-1])
        raise InputShapeError(
            f"{source}: frames of shape {got} per step do not match the network input "
            f"{want} of {self.path} (frames array {tuple(frames.shape)} = (N, ..., T)); use "
            f"matching data, framing or --input"
        )

    def frames(
        self,
        cfg: RunConfig,
        split: str = "test",
        samples: int = 0,
        user_input: str | Path | None = None,
        stream: bool = False,
        progress: bool = True,
    ) -> FramedSplit:
        """The frames to run: the user's files (``user_input``) or the
        configured data set's ``split``, first ``samples`` only (0 = all),
        checked against the network input."""
        if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 0:
            raise LavacutError(f"--samples must be 0 (all) or a positive number, got {samples!r}")
        if user_input is not None:
            sensor = tuple(cfg.data.sensor) if cfg.data.sensor else None
            data = load_user_input(
                user_input,
                cfg.framing,
                input_shape=self.input_shape,
                sensor=sensor,
                progress=progress,
                classes=self.classes,
                n_classes=self.n_classes,
                label_map=cfg.data.label_map,
            )
            source = str(user_input)
        else:
            if split not in SPLITS:
                raise LavacutError(f"unknown split {split!r} (train or test)")
            source = f"data set {cfg.data.dataset} ({split})"
            if stream:
                data = self._stream_split(cfg, split, samples, progress)
            else:
                data = load_split(cfg, split, progress=progress)
            self._check_labels(data.labels, source)
        self._check_outputs(_data_classes(cfg, data, user_input is None))
        frames, labels = data.frames, data.labels
        recordings, t0_us = getattr(data, "recordings", None), getattr(data, "t0_us", None)
        notes = list(getattr(data, "notes", []))
        if samples and samples > len(frames):  # said, not silently fewer: n_samples is what ran
            notes.append(f"--samples {samples}: {source} has {len(frames)}; ran all {len(frames)}")
        if samples:
            frames = frames[:samples]
            labels = None if labels is None else labels[:samples]
            recordings = None if recordings is None else recordings[:samples]
            t0_us = None if t0_us is None else t0_us[:samples]
        if frames.shape[-1] < 1:
            raise LavacutError(f"{source}: framing produced no timesteps")
        frames = self.check_frames(frames, source)
        return FramedSplit(
            frames=frames,
            labels=labels,
            sensor_size=data.sensor_size,
            framing=data.framing,
            classes=getattr(data, "classes", None) or self.classes,
            source=source,
            recordings=recordings,
            t0_us=t0_us,
            info=getattr(data, "info", {}),
            notes=notes,
        )

    def _check_labels(self, labels, source: str) -> None:
        """A data set's labels are outputs of the network: a label no output
        stands for is a sample it can only get wrong (an accuracy that
        measures the mismatch, not the network). Files given with ``--input``
        are checked as they load (:func:`~lavacut.data.user_input.load_user_input`)."""
        n = self.n_classes
        if labels is None or not n or not len(labels) or any(L.run_issue for L in self.layers):
            return  # a layer run refuses: its own error says what is wrong
        top = int(np.max(labels))
        if top >= n:
            raise LavacutError(
                f"{self.path}: {n} output neuron{'s' if n > 1 else ''} (layer {self.layers[-1].index}) for "
                f"{source}, whose labels go up to {top}: a network for this data set has at least "
                f"{top + 1} outputs (a network trained on other data: give --input or --config)"
            )

    def _check_outputs(self, k: int) -> None:
        """Outputs beyond the data's ``k`` classes stand for no label: a
        decision for one is scored wrong. Not an error (a network may keep
        spare outputs), but said: :attr:`extra_outputs`."""
        n = self.num_classes
        self.extra_outputs = (n, k) if 0 < k < n and not any(L.run_issue for L in self.layers) else None

    @staticmethod
    def _stream_split(cfg: RunConfig, split: str, samples: int, progress: bool) -> FramedSplit:
        """The split as one continuous event stream (segments of T bins laid
        end to end), framed segment by segment."""
        ds = open_dataset(cfg.data, split, progress=progress)
        n = min(samples or len(ds), len(ds))
        stream = make_stream(ds, range(n), segment_us=cfg.framing.T * cfg.framing.bin_us)
        return frame_stream(stream, cfg.framing, progress=progress)

    # ------------------------------------------------------------------ stop rule
    def rule_name(self, policy: str | None) -> str | None:
        """The stop rule ``policy`` names: itself, or for a stored variant
        (``topk_risk``) the rule its calibration holds."""
        stored = ((self.meta or {}).get("cutoff") or {}).get(policy) or {}
        return stored.get("policy", policy) if policy not in RULES else policy

    def rule(self, policy: str | None, params: dict | None, T: int) -> StopRule:
        """The stop rule to run: ``policy`` with ``params`` (missing ones from
        the export's calibration), else the export's calibrated default, else
        fixed T; fixed T also when the network has fewer outputs than the
        rule compares (:func:`~lavacut.cutoff.rules.applicable_rule`; the
        reason is then in :attr:`cutoff_note`)."""
        name = self.rule_name(policy or (self.meta or {}).get("default_policy"))
        # a network with too few outputs (1; 0 = layers not read) has nothing for the rule to compare
        if name in RULES and 0 < self.num_classes < RULES[name].min_classes:  # its parameters do not matter
            rule, self.cutoff_note = applicable_rule(RULES[name], self.num_classes)
            return rule
        self.cutoff_note = None
        return self._rule(policy, params, T)

    def _rule(self, policy: str | None, params: dict | None, T: int) -> StopRule:
        meta = self.meta or {}
        params = dict(params or {})
        if policy is None:
            policy = meta.get("default_policy")
        if policy is None:
            return FixedT()
        stored = dict(meta.get("cutoff", {}).get(policy, {}))
        name = self.rule_name(policy)
        stored.pop("policy", None)
        cls = RULES.get(name)  # an unknown policy is refused by rule_from_params below
        # per-step thresholds hold their calibration target: a new target
        # without new thresholds would silently run the old ones
        stale = cls.stale_thresholds(stored, params) if cls else None
        if stale and stale[0] == "checkpoints":  # SpikeCP's q(t) are corrected for its decision steps
            raise LavacutError(
                f"policy {policy!r}: its q is calibrated (Bonferroni) for the decision steps "
                f"{stored.get('checkpoints')}; other steps need thresholds calibrated for them "
                f"(--param q=[...]), else the coverage guarantee does not hold"
            )
        if stale:
            target, thresholds = stale
            _built(policy, name, {**stored, **params}, T)  # a target the rule refuses (eps=nan) is named first
            raise LavacutError(
                f"policy {policy!r}: its per-step {thresholds} is calibrated for {target}="
                f"{stored.get(target)}; for {target}={params[target]} run 'lavacut calibrate "
                f"{self.path} --{target} {params[target]}' (or give --param {thresholds}=[...])"
            )
        params = {**stored, **params}
        needs = cls.required(self.readout == "voltage") if cls else ()
        missing = [k for k in needs if k not in params]
        if missing:
            raise LavacutError(
                f"{self.path} is not calibrated for {policy}: run 'lavacut calibrate {self.path} "
                f"--input ...' (or give --param {missing[0]}=...)"
            )
        return _built(policy, name, params, T)

    # ------------------------------------------------------------------ SLAYER
    def slayer_net(self):
        """The SLAYER network that computes what Lava runs (eval mode)."""
        net, _ = net_from_export(self.path, validated=True)  # checked when opened
        return net


def _data_classes(cfg: RunConfig, data, is_split: bool) -> int:
    """How many classes the data has (0: unknown): the names it gives, else
    for a data set split the set's own count, else its labels' range."""
    names = getattr(data, "classes", None)
    if names:
        return len(names)
    if not is_split:
        return 0  # a user's labels need not cover every class
    from lavacut.data.dataset_specs import DATASETS
    from lavacut.data.embedded import CLASSES
    from lavacut.data.sources import EMBEDDED

    if cfg.data.dataset in DATASETS:
        return DATASETS[cfg.data.dataset].n_classes
    if cfg.data.dataset == EMBEDDED:
        return len(CLASSES)
    labels = data.labels
    return int(np.max(labels)) + 1 if labels is not None and len(labels) else 0


def _built(policy: str, name: str, params: dict, T: int) -> StopRule:
    """Rule ``name`` from ``params`` for horizon T; what it refuses is a
    LavacutError naming ``policy`` (the name the user gave)."""
    try:
        rule = rule_from_params({"policy": name, **params})
        rule.check_horizon(T)
    except (ValueError, TypeError) as exc:
        msg = str(exc)  # the rules' messages mostly name the policy already
        raise LavacutError(
            msg if msg.startswith((policy, f"policy {policy!r}")) else f"policy {policy!r}: {msg}"
        ) from None
    return rule
