"""The network hyperparameters a config sets (torch-free, so the config can
import it): the single source of their names, defaults and meaning.
:class:`lavacut.train.netspec.NetSpec` extends it with what the data set
fixes (input shape, class count);
:func:`lavacut.train.networks.build_network` builds the SLAYER network.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class NetConfig:
    """Network hyperparameters (the ``[net]`` section of a config).

    kind
        ``"dense"``: input flattened, ``hidden`` dense CUBA layers, then a
        dense CUBA output layer of one neuron per class.
        ``"conv"``: strided CUBA convolutions (``conv_channels`` /
        ``conv_kernels`` / ``conv_strides`` / ``conv_paddings``, one entry per
        conv layer; netx loads no pooling), flatten, ``hidden`` dense layers,
        dense output layer.
    threshold, current_decay, voltage_decay
        CUBA parameters shared by all layers, in SLAYER units: the threshold
        must be a multiple of 1/64 (exported as ``vThMant = threshold * 64``);
        decays are fractions per step, exported as ``round(decay * 4096)``.
    tau_grad, scale_grad
        SLAYER surrogate-gradient parameters.
    dropout
        Neuron dropout probability on hidden spiking layers (SLAYER's
        ``neuron.Dropout``, constant over time); only active in train mode.
    weight_norm
        torch weight normalisation on synapses (as in lava-dl's tutorials).
    weight_scale
        Multiplier on SLAYER's default (kaiming-uniform) weight init.
    learn_decay
        Learn the decays (SLAYER ``requires_grad``); they stay quantised.
    """

    kind: str = "dense"
    hidden: tuple[int, ...] = (256,)
    conv_channels: tuple[int, ...] = ()
    conv_kernels: tuple[int, ...] = ()
    conv_strides: tuple[int, ...] = ()
    conv_paddings: tuple[int, ...] = ()
    threshold: float = 1.25
    current_decay: float = 0.25
    voltage_decay: float = 0.03
    tau_grad: float = 0.03
    scale_grad: float = 3.0
    dropout: float = 0.05
    weight_norm: bool = True
    weight_scale: float = 1.0
    learn_decay: bool = False
