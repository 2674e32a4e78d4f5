"""The buildable network description: :class:`NetSpec`, the hyperparameters
of :class:`lavacut.train.spec.NetConfig` plus what the data set fixes, its
checks (it must build and export exactly) and the layer shapes derived from
it. Torch-free; :func:`lavacut.train.networks.build_network` builds it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from lavacut.fixed_point import BIAS_MANT_LIMIT, P_SCALE, W_SCALE
from lavacut.train.spec import NetConfig
from lavacut.util import LavacutError

__all__ = ["NetSpec"]


@dataclass
class NetSpec(NetConfig):
    """A buildable network: the hyperparameters of :class:`NetConfig` plus
    what the data set fixes. JSON-serialisable (:meth:`to_dict`).

    input_shape
        ``(C, H, W)`` of one frame.
    n_classes
        Output neurons (one per class; 1 = a single output neuron, no class
        decision).
    name
        A label carried into exports.
    layer_bias
        Empty (no bias), or one entry per spiking layer: empty, or the
        constant added to that layer's voltage every step (Lava LIF
        ``v = decay(v) + u + bias``), one value per output channel of a conv
        layer / per neuron of a dense layer, in SLAYER units: multiples of
        1/64 (NetX ``bias`` = ``bias_mant`` at ``bias_exp`` 6, 13-bit signed).
    """

    input_shape: tuple[int, int, int] = (2, 34, 34)
    n_classes: int = 10
    name: str = ""
    layer_bias: tuple = ()

    def __post_init__(self) -> None:
        for f in ("input_shape", "hidden", "conv_channels", "conv_kernels", "conv_strides", "conv_paddings"):
            setattr(self, f, tuple(int(v) for v in getattr(self, f)))
        self.layer_bias = tuple(tuple(float(v) for v in b) for b in self.layer_bias)
        self.validate()

    # -- checks -----------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`LavacutError` if the spec cannot be built or would
        not export exactly."""
        err = []
        if self.kind not in ("dense", "conv"):
            err.append(f"kind must be 'dense' or 'conv', got {self.kind!r}")
        if len(self.input_shape) != 3 or min(self.input_shape) < 1:
            err.append(f"input_shape must be (C, H, W) of positive ints, got {self.input_shape}")
        if self.n_classes < 1:
            err.append(f"n_classes must be >= 1, got {self.n_classes}")
        if any(h < 1 for h in self.hidden):
            err.append(f"hidden sizes must be positive, got {self.hidden}")
        nconv = len(self.conv_channels)
        if self.kind == "conv":
            if nconv == 0:
                err.append("a conv spec needs at least one conv layer (conv_channels)")
            for f in ("conv_kernels", "conv_strides", "conv_paddings"):
                if len(getattr(self, f)) != nconv:
                    err.append(f"{f} has {len(getattr(self, f))} entries, conv_channels {nconv}")
        elif nconv:
            err.append("a dense spec must not list conv layers")
        mant = self.threshold * W_SCALE
        if self.threshold <= 0 or abs(mant - round(mant)) > 1e-9:
            err.append(
                f"threshold must be a positive multiple of 1/{W_SCALE} (exported as "
                f"vThMant = threshold*{W_SCALE}, SLAYER truncates otherwise); got "
                f"{self.threshold}, nearest {round(mant) / W_SCALE}"
            )
        elif mant >= 1 << 17:
            err.append(f"threshold*{W_SCALE} must fit Loihi's 17-bit vThMant, got {mant}")
        for nm in ("current_decay", "voltage_decay"):
            d = getattr(self, nm)
            if not 0.0 <= d <= 1.0:
                err.append(f"{nm} must be in [0, 1], got {d}")
        # NetX maps iDecay to LIF du = iDecay - 1 (Lava adds 1 back): iDecay 0
        # would give du = -1 in an unsigned 12-bit Var.
        if round(self.current_decay * P_SCALE) < 1:
            err.append(f"current_decay must be >= 1/{P_SCALE} (NetX stores du = iDecay - 1), got {self.current_decay}")
        if not 0.0 <= self.dropout < 1.0:
            err.append(f"dropout must be in [0, 1), got {self.dropout}")
        if self.tau_grad <= 0 or self.scale_grad <= 0 or self.weight_scale <= 0:
            err.append("tau_grad, scale_grad and weight_scale must be positive")
        if not err and self.kind == "conv":
            try:
                self.conv_output_shapes()
            except LavacutError as e:
                err.append(str(e))
        if not err and self.layer_bias:
            err += self._bias_errors()
        if err:
            raise LavacutError(
                "invalid NetSpec" + (f" {self.name!r}" if self.name else "") + ":\n  " + "\n  ".join(err)
            )

    def _bias_errors(self) -> list[str]:
        sizes = list(self.conv_channels) + list(self.hidden) + [self.n_classes]
        if len(self.layer_bias) != len(sizes):
            return [f"layer_bias has {len(self.layer_bias)} entries, the network {len(sizes)} spiking layers"]
        err = []
        for i, (b, n) in enumerate(zip(self.layer_bias, sizes)):
            m = np.asarray(b, dtype=np.float64) * W_SCALE
            if len(b) not in (0, n):
                err.append(
                    f"layer_bias[{i}] has {len(b)} values, the layer {n} "
                    f"{'channels' if i < len(self.conv_channels) else 'neurons'}"
                )
            elif len(b) and (
                np.any(np.abs(m - np.rint(m)) > 1e-9) or m.min() < -BIAS_MANT_LIMIT or m.max() > BIAS_MANT_LIMIT - 1
            ):
                err.append(
                    f"layer_bias[{i}] must be multiples of 1/{W_SCALE} in "
                    f"[{-BIAS_MANT_LIMIT}, {BIAS_MANT_LIMIT - 1}]/{W_SCALE} (Loihi's 13-bit bias_mant)"
                )
        return err

    # -- derived ----------------------------------------------------------
    def conv_output_shapes(self) -> list[tuple[int, int, int]]:
        """(C, H, W) after each conv layer."""
        c, h, w = self.input_shape
        out = []
        for i, (co, k, s, p) in enumerate(
            zip(self.conv_channels, self.conv_kernels, self.conv_strides, self.conv_paddings)
        ):
            h = (h + 2 * p - k) // s + 1
            w = (w + 2 * p - k) // s + 1
            if h < 1 or w < 1:
                raise LavacutError(
                    f"conv layer {i} (k={k}, s={s}, p={p}) leaves no output for input {self.input_shape}"
                )
            c = co
            out.append((c, h, w))
        return out

    def layer_sizes(self) -> list[int]:
        """Neurons per spiking layer, input to output (output = n_classes)."""
        sizes = [int(np.prod(s)) for s in self.conv_output_shapes()] if self.kind == "conv" else []
        return sizes + list(self.hidden) + [self.n_classes]

    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.input_shape))

    def neuron_params(self) -> dict[str, Any]:
        """SLAYER ``cuba.Neuron`` keyword arguments (dropout is applied by
        :class:`SlayerNet` itself, so it is never passed to the neuron)."""
        return {
            "threshold": self.threshold,
            "current_decay": self.current_decay,
            "voltage_decay": self.voltage_decay,
            "tau_grad": self.tau_grad,
            "scale_grad": self.scale_grad,
            "requires_grad": self.learn_decay,
            "shared_param": True,
            "persistent_state": False,
        }

    # -- (de)serialisation --------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NetSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise LavacutError(f"unknown NetSpec field(s): {', '.join(sorted(unknown))}")
        return cls(**d)

    def replace(self, **changes: Any) -> "NetSpec":
        return dataclasses.replace(self, **changes)
