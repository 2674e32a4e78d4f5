"""SLAYER CUBA networks that NetX loads back and Lava runs bit-exactly.

A network is described by a :class:`~lavacut.train.netspec.NetSpec` and
built by :func:`build_network` from lava-dl SLAYER blocks only
(``slayer.block.cuba.Dense``, ``Conv``, ``Flatten``): no pooling (NetX cannot
load it; strided convolutions instead), no axonal delays, no norm. Weights go
through SLAYER's 8-bit quantisation (even mantissas in [W_MIN, W_MAX] at scale
W_SCALE, :mod:`lavacut.fixed_point`; straight-through gradient), so the
exported integers are the weights the forward pass used. An optional constant
voltage bias per layer (:attr:`~lavacut.train.netspec.NetSpec.layer_bias`,
used by NIR imports) is Loihi's ``bias_mant``.

Time alignment, measured spike for spike against Lava ``fixed_pt``: SLAYER
``out[..., k]`` is Lava ``net.out`` at step ``k + 1`` (zero shift: SLAYER's
default ``delay_shift=True`` models each synapse's one-step delay), so an
``L``-layer network's first ``L`` output steps are silent in both
(``SlayerNet.latency``). Exactness holds for binary input and while the
integer states stay in Loihi's ranges (:func:`fixed_point_ranges` measures
the headroom).
"""

from __future__ import annotations

import copy
import warnings
from typing import NamedTuple

import numpy as np
import torch

from lavacut.cutoff.synops import conv_fan_out, dense_fan_out
from lavacut.fixed_point import W_SCALE
from lavacut.train.netspec import NetSpec
from lavacut.util import LavacutError, import_slayer

# every use of this module builds or exports a SLAYER net: import lava-dl here
slayer = import_slayer()  # silences lava-dl's import-time banner
from lava.lib.dl.slayer.block.base import step_delay  # noqa: E402
from lava.lib.dl.slayer.neuron.dynamics import leaky_integrator as _leaky_integrator  # noqa: E402
from lava.lib.dl.slayer.utils import quantize as _quantize  # noqa: E402

__all__ = [
    "SlayerNet",
    "HiddenRecord",
    "build_network",
    "fixed_point_ranges",
    "synapse_weight",
    "nonzero_fan_outs",
]


class HiddenRecord(NamedTuple):
    """One hidden spiking layer's record for the RCS regulariser.

    ``spikes`` and ``voltage`` are ``(N, n, T)`` (conv layers flattened
    C-order); ``threshold`` is the layer's (quantised) threshold, a float.

    ``voltage`` is SLAYER's CUBA voltage state (``neuron.dynamics`` returns
    current then voltage; this is the voltage), AFTER the reset of this step:
    ``v_post(t) = v(t) * (1 - s(t))`` where ``v(t)`` is the pre-reset voltage
    the spike is computed from (``s = v >= threshold``, SLAYER's
    ``threshold_eps`` making it Loihi's ``v > vth``). ``v_post`` is the state
    the neuron carries into the next step, i.e. what Lava's LIF ``v`` Var holds
    after the step (divided by 2**12), and what docs/method.md calls the
    "post-reset potential". The graph is kept: gradients flow into ``v``
    directly and through the spike's surrogate derivative.
    """

    spikes: torch.Tensor
    voltage: torch.Tensor
    threshold: float


# --------------------------------------------------------------------------
# the network
# --------------------------------------------------------------------------


class SlayerNet(torch.nn.Module):
    """A stack of SLAYER CUBA blocks built from a :class:`NetSpec`.

    ``blocks`` holds the SLAYER blocks in export order (``cuba.Conv``...,
    ``cuba.Flatten``, ``cuba.Dense``...); the last block is the spiking output
    layer with one neuron per class.
    """

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        spec.validate()
        with warnings.catch_warnings():
            # SLAYER's synapses use torch.nn.utils.weight_norm, which torch 2.3
            # deprecates on every call; the export path depends on it (SLAYER's
            # export calls remove_weight_norm), so keep it and stay quiet.
            warnings.filterwarnings("ignore", message=".*weight_norm is deprecated.*")
            self._build(spec)

    def _build(self, spec: NetSpec) -> None:
        self.spec = copy.deepcopy(spec)
        npar = spec.neuron_params()
        blocks: list[torch.nn.Module] = []
        drops: list[torch.nn.Module] = []

        def drop() -> torch.nn.Module:
            if spec.dropout > 0:
                return slayer.neuron.Dropout(p=spec.dropout)
            return torch.nn.Identity()

        n_in = spec.n_inputs
        if spec.kind == "conv":
            c_in = spec.input_shape[0]
            for co, k, s, p in zip(spec.conv_channels, spec.conv_kernels, spec.conv_strides, spec.conv_paddings):
                blocks.append(
                    slayer.block.cuba.Conv(
                        npar,
                        c_in,
                        co,
                        k,
                        stride=s,
                        padding=p,
                        weight_scale=spec.weight_scale,
                        weight_norm=spec.weight_norm,
                    )
                )
                drops.append(drop())
                c_in = co
            blocks.append(slayer.block.cuba.Flatten())
            drops.append(torch.nn.Identity())
            n_in = int(np.prod(spec.conv_output_shapes()[-1]))
        for h in spec.hidden:
            blocks.append(
                slayer.block.cuba.Dense(npar, n_in, h, weight_scale=spec.weight_scale, weight_norm=spec.weight_norm)
            )
            drops.append(drop())
            n_in = h
        blocks.append(
            slayer.block.cuba.Dense(
                npar, n_in, spec.n_classes, weight_scale=spec.weight_scale, weight_norm=spec.weight_norm
            )
        )
        drops.append(torch.nn.Identity())
        self.blocks = torch.nn.ModuleList(blocks)
        self.drops = torch.nn.ModuleList(drops)
        # per-block voltage bias (not in the state dict: it lives in the spec)
        self._bias_names: list[str | None] = [None] * len(blocks)
        spiking = [i for i, b in enumerate(blocks) if hasattr(b, "neuron")]
        for j, b in enumerate(spec.layer_bias):
            if b:
                extra = (1, 1) if j < len(spec.conv_channels) else ()  # (C, H, W, T) or (n, T)
                name = f"layer_bias_{j}"
                self.register_buffer(
                    name, torch.tensor(b, dtype=torch.float32).reshape(-1, *extra, 1), persistent=False
                )
                self._bias_names[spiking[j]] = name

    def _dynamics(self, i: int, block: torch.nn.Module, z: torch.Tensor):
        """(current, pre-reset voltage) of block ``i``: SLAYER's CUBA
        dynamics, plus the layer's voltage bias if it has one (SLAYER's
        cuba.Neuron has none: the voltage is integrated again with the bias
        added to the current, as Lava's LIF adds it to ``v``)."""
        current, voltage = block.neuron.dynamics(z)
        if self._bias_names[i] is None:
            return current, voltage
        n = block.neuron
        voltage = _leaky_integrator.dynamics(
            current + getattr(self, self._bias_names[i]),
            _quantize(n.voltage_decay),
            n.voltage_state.contiguous(),
            n.s_scale,
            n.threshold + n.threshold_eps,
        )
        return current, voltage

    @property
    def spiking_blocks(self) -> list[torch.nn.Module]:
        return [b for b in self.blocks if hasattr(b, "neuron")]

    @property
    def latency(self) -> int:
        """Steps of delay from input to output: one per spiking layer."""
        return len(self.spiking_blocks)

    def _prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = self.spec.input_shape
        if x.dim() == 5:
            if tuple(x.shape[1:4]) != (c, h, w):
                raise LavacutError(
                    f"input frames are {tuple(x.shape[1:4])}, the network expects (C, H, W) = {(c, h, w)}"
                )
            return x.reshape(x.shape[0], -1, x.shape[-1]) if self.spec.kind == "dense" else x
        if x.dim() == 3 and self.spec.kind == "dense" and x.shape[1] == c * h * w:
            return x
        raise LavacutError(f"expected input (N, C, H, W, T) with (C, H, W) = {(c, h, w)}, got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor, record: bool = True) -> tuple[torch.Tensor, list[HiddenRecord]]:
        """``x`` (N, C, H, W, T) binary spikes (dense nets also take
        (N, C*H*W, T)). Returns ``(out_spikes (N, K, T), hidden_records)``;
        ``hidden_records`` has one :class:`HiddenRecord` per spiking layer
        except the output layer (empty if ``record`` is False).

        Each spiking block runs SLAYER's own pieces in the order of
        ``AbstractDense.forward``: ``synapse`` -> ``neuron.dynamics`` (current,
        voltage) -> ``neuron.spike(voltage)`` -> dropout -> ``step_delay``, so
        the output equals ``block.forward`` (tested) while the voltage is kept.

        A network with a bias runs one leading zero frame whose output is
        dropped: Lava's first step, where every layer integrates its bias
        before any input reaches it (:meth:`_warm_up`).
        """
        x, w = self._warm_up(self._prepare_input(x))
        records: list[HiddenRecord] = []
        last = len(self.blocks) - 1
        for i, (block, drop) in enumerate(zip(self.blocks, self.drops)):
            if not hasattr(block, "neuron"):  # Flatten
                x = block(x)
                continue
            z = block.synapse(x)
            _, voltage = self._dynamics(i, block, z)  # pre-reset voltage
            spikes = block.neuron.spike(voltage)  # neuron built without dropout
            if record and i != last:
                n = spikes.shape[0]
                s_flat = spikes.reshape(n, -1, spikes.shape[-1])[..., w:]
                v_post = (voltage * (1.0 - spikes)).reshape(n, -1, spikes.shape[-1])[..., w:]
                records.append(HiddenRecord(s_flat, v_post, float(block.neuron.threshold)))
            x = drop(spikes)
            if block.delay_shift:
                x = step_delay(block, x)
        return x[..., w:], records

    def _warm_up(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """``(x, w)``: with a layer bias, ``x`` with one zero frame in front
        and ``w = 1`` steps to drop from the outputs. In Lava every layer
        runs one step (step 1) before SLAYER's step 0 reaches it; without
        bias that step leaves the state at 0, with bias it integrates it."""
        if not any(self.spec.layer_bias):
            return x, 0
        return torch.cat([torch.zeros_like(x[..., :1]), x], dim=-1), 1


def build_network(spec: NetSpec) -> SlayerNet:
    """Build the SLAYER network a spec describes (random init)."""
    return SlayerNet(spec)


#: Loihi / Lava fixed_pt limits: u and v are 24-bit (u WRAPS, v saturates in
#: Lava's PyLifModelBitAcc; SLAYER does neither), a_in is typed int16.


@torch.no_grad()
def fixed_point_ranges(net: SlayerNet, x: torch.Tensor) -> list[dict[str, int]]:
    """Largest magnitudes, per spiking layer, of the synaptic input (Lava
    ``a_in``, weight units), the current ``u`` and the pre-reset voltage
    ``v`` (Lava integer units, i.e. SLAYER value * 4096) over the batch ``x``
    (eval mode). Bit-exactness with Lava holds only while every value stays
    within :data:`lavacut.fixed_point.FIXED_POINT_LIMITS` (``u`` beyond 2**23 wraps in Lava).
    """
    was_training = net.training
    net.eval()
    try:
        x, _ = net._warm_up(net._prepare_input(x))
        out = []
        for i, block in enumerate(net.blocks):
            if not hasattr(block, "neuron"):
                x = block(x)
                continue
            z = block.synapse(x)
            current, voltage = net._dynamics(i, block, z)
            spikes = block.neuron.spike(voltage)
            s = block.neuron.s_scale
            out.append(
                {
                    "input": int(round(float(z.abs().max()) * W_SCALE)),
                    "current": int(round(float(current.abs().max()) * s)),
                    "voltage": int(round(float(voltage.abs().max()) * s)),
                }
            )
            x = step_delay(block, spikes) if block.delay_shift else spikes
        return out
    finally:
        net.train(was_training)


def synapse_weight(synapse: torch.nn.Module) -> np.ndarray:
    """The weights a SLAYER synapse computes with, as a numpy array of the
    synapse's weight shape: weight normalisation applied (computed from
    ``weight_g``/``weight_v``, never a stale ``weight``), then the synapse's
    ``pre_hook_fx`` (SLAYER's 8-bit quantisation for lavacut's nets, the
    1/64 step of a rebuilt NetX file). These are the weights the export
    writes (SLAYER's ``export_hdf5`` writes ``pre_hook_fx(weight)`` x 64)
    and, for a net loaded from a file, the file's integers / 64."""
    from torch.nn.utils.weight_norm import WeightNorm

    with torch.no_grad():
        w = synapse.weight
        for hook in synapse._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm):
                w = hook.compute_weight(synapse)
        fx = getattr(synapse, "pre_hook_fx", None)
        if fx is not None:
            w = fx(w)
        return w.detach().cpu().numpy()


def _conv_out_shape(syn, shape: tuple) -> tuple[int, int, int]:
    (_, h, w), o = shape, []
    for n, k, s, p, d in zip((h, w), syn.kernel_size[:2], syn.stride[:2], syn.padding[:2], syn.dilation[:2]):
        o.append((n + 2 * p - d * (k - 1) - 1) // s + 1)
    return (int(syn.out_channels), o[0], o[1])


def nonzero_fan_outs(net) -> list[np.ndarray]:
    """Per spiking layer, in order: for each of its inputs (flattened C-order,
    (C, H, W) for the frame and conv outputs, as :func:`count_ops
    <lavacut.cutoff.synops.count_ops>` takes them) the number of nonzero
    weights leaving it (:func:`lavacut.cutoff.synops.dense_fan_out` /
    :func:`~lavacut.cutoff.synops.conv_fan_out` of :func:`synapse_weight`).

    ``net``: a :class:`SlayerNet` (input shape from its spec) or a
    :class:`lavacut.export.rebuild.slayer.NetxRebuild` (its ``input_shape``); an
    input block with neurons (rebuilt files) has one synapse per input,
    counted when its weight is nonzero. Computed from the current weights,
    so call it again after they change."""
    from lava.lib.dl.slayer.synapse import Conv as ConvSynapse

    shape = tuple(net.spec.input_shape) if hasattr(net, "spec") else tuple(net.input_shape)
    out: list[np.ndarray] = []
    for block in net.blocks:
        n_in = int(np.prod(shape))
        syn = getattr(block, "synapse", None)
        if syn is None:
            if not hasattr(block, "neuron"):  # Flatten
                shape = (n_in,)
                continue
            w = getattr(block, "weight", None)  # input neurons: x * weight + bias
            nz = 1.0 if w is None else float(np.all(np.asarray(block.pre_hook_fx(w.detach())) != 0))
            out.append(np.full(n_in, nz))
            continue
        w = synapse_weight(syn)
        if isinstance(syn, ConvSynapse):
            s3 = shape if len(shape) == 3 else (shape[0], 1, 1)
            o = _conv_out_shape(syn, s3)
            out.append(conv_fan_out(w, s3, o, syn.stride[:2], syn.padding[:2], syn.dilation[:2], syn.groups))
            shape = o
        else:
            w = w.reshape(w.shape[0], -1)
            if w.shape[1] != n_in:
                raise LavacutError(f"a dense synapse takes {w.shape[1]} inputs, its input layer has {n_in}")
            out.append(dense_fan_out(w))
            shape = (w.shape[0],)
    return out
