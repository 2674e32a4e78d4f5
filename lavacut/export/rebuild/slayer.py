"""A SLAYER network rebuilt from any NetX file lavacut runs, computing what
Lava fixed_pt computes, spike for spike (``lavacut verify`` on files lavacut
did not write; :func:`lavacut.export.rebuild.network.net_from_export` uses it when
:func:`~lavacut.export.rebuild.network.spec_from_layers` cannot express a file).

Built from lava-dl SLAYER blocks (``slayer.block.cuba.Input``, ``Dense``,
``Conv``, ``Flatten``), one per file layer, each with the layer's own
threshold (vThMant / 64) and decays (iDecay / 4096, vDecay / 4096), and run
on Lava's schedule rather than SLAYER's ``delay_shift``:

- every synapse layer sends at step t what it received at t - 1 (one
  ``slayer.axon.delay`` step on its input), an input layer with neurons has
  no synapse (``z = x * weight + bias``, the transform lavacut's source
  applies), and the output is not shifted: ``out[..., t]`` is Lava's
  ``net.out`` at local step t + 1 (zero shift), also with biases (a layer
  integrates its bias from step 1, before any input reaches it);
- weights are the integers Lava ends up using (netx's
  ``optimize_weight_bits``, then Lava's clip/truncate/exponent) divided by
  64, quantised with step 1/64 (SLAYER's default ``quantize_8bit`` rounds to
  EVEN multiples and would move odd integers); conv weights are the file's
  integers (netx passes them unchanged);
- a neuron bias (``bias`` dataset, integer mantissa at exponent 6) is added
  to the voltage input, as Lava's LIF adds it to v;
- a recurrent layer (``dense_rec``, SLAYER's ``cuba.Recurrent``) adds its
  recurrent weights times its own spikes of the previous step to its
  synaptic input (Lava's recurrent Dense, one step); netx picks one weight
  exponent for both weight matrices (``optimize_weight_bits`` of the two
  side by side);
- axonal delays (``delay`` datasets, clipped to 0..62 like netx) delay the
  synaptic input per post neuron (per input, or per synapse) by d more
  steps, as Lava's DelayDense does;
- a voltage readout (the last layer a dense one whose neurons never spike,
  :func:`lavacut.export.netx.inspect.readout_of`) is computed in Lava's integers
  (:func:`lavacut.fixed_point.lif_voltage` of the synapse's integer sums):
  the output is then the per-step increments of its voltage, whose running
  sum is Lava's ``v`` exactly (what the cutoff's rules read as ``Y(t)``);
- an ``average`` readout is not applied here: the output is the last
  spiking layer's spikes, what Lava's ``net.out`` sends;
  :attr:`NetxRebuild.readout_groups` gives the grouping (see
  :mod:`lavacut.runtime.layout`).

Not exact where Lava's fixed point leaves SLAYER's range: u wraps at 24
bits, v saturates, a_in is int16 (SLAYER does neither).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lavacut.export.netx.inspect import LayerInfo, inspect_layers, readout_of, require_support
from lavacut.export.netx.layers import LayerKind, kind_of
from lavacut.export.netx.layers.neurons import readout_neuron
from lavacut.fixed_point import MAX_DELAY, W_SCALE, lif_voltage
from lavacut.train.networks import HiddenRecord
from lavacut.util import LavacutError, import_slayer

import_slayer()
from lava.lib.dl.slayer.axon import delay as _delay  # noqa: E402
from lava.lib.dl.slayer.neuron.dynamics import leaky_integrator as _leaky_integrator  # noqa: E402
from lava.lib.dl.slayer.utils import quantize as _quantize  # noqa: E402


class NetxRebuild(torch.nn.Module):
    """SLAYER blocks of a NetX file run on Lava's schedule (module doc).

    ``forward(x)``: x ``(N, C, H, W, T)`` or ``(N, F, T)`` -> output spikes
    ``(N, n, T)`` (C, H, W-flattened); ``forward(x, record=True)`` also
    returns one :class:`~lavacut.train.networks.HiddenRecord` per spiking
    layer but the last (the input neurons included). Attributes:
    ``blocks``/``drops`` (one per file layer, as SlayerNet; its synaptic-op
    fan-outs come from :func:`lavacut.train.networks.nonzero_fan_outs`, as a
    SlayerNet's do), ``latency`` (synapse layers),
    ``readout_groups`` (K of an average readout, else 0), ``input_shape``.
    """

    def __init__(self, path: str | Path, check: bool = True):
        super().__init__()
        import h5py

        self.path = str(path)
        layers = inspect_layers(path)
        if check:
            require_support(path, layers, "verify")
        self._last_index = layers[-1].index
        self.blocks, self.drops = torch.nn.ModuleList(), torch.nn.ModuleList()
        self._kinds: list[LayerKind] = []  # per block
        self._delays: list[tuple | None] = []  # per block: (mode, int array) or None
        self.readout_groups, self.input_shape = 0, None
        #: "voltage" or "spike counts": what the output means (readout_of)
        self.readout = readout_of(layers)
        self._voltage = None  # (iDecay, vDecay, integer bias) of a voltage readout
        with h5py.File(path, "r") as f, torch.no_grad():
            for p, L in enumerate(layers):
                g = f["layer"][L.index]
                kind = kind_of(L.type)
                if kind.reshape_only and not L.neuron and (p == 0 or len(layers[p - 1].shape) == 1):
                    continue  # a flatten of what is flat already (netx's too: nothing to reshape)
                if kind.host_readout:
                    self.readout_groups = int(np.prod(L.shape))
                    continue
                if kind.elementwise:
                    self.input_shape = tuple(L.shape) or None
                    if not L.neuron:
                        continue
                self._add(L, g)
        if self.input_shape is None:  # no input layer: the first (dense) layer's inputs
            first = next(L for L in layers if L.weight_shape)
            self.input_shape = (int(np.prod(first.weight_shape)) // int(np.prod(first.shape)),)
        self.latency = sum(k.synaptic for k in self._kinds)
        self._check_shapes(layers)
        self.eval()

    # ------------------------------------------------------------------ building
    def _add(self, L: LayerInfo, g) -> None:
        npar = {
            "threshold": L.threshold,
            "current_decay": L.current_decay,
            "voltage_decay": L.voltage_decay,
            "tau_grad": 1,
            "scale_grad": 1,
            "requires_grad": False,
            "shared_param": True,
            "persistent_state": False,
        }
        where = f"{self.path}: layer {L.index}"
        bias = None
        if self.readout == "voltage" and L.index == self._last_index:
            npar.update(threshold=1.0, current_decay=1.0, voltage_decay=1.0)  # unused: computed in integers
        kind = kind_of(L.type)
        block = kind.rebuild(L, g, npar, where)
        if "bias" in g and kind.synaptic:  # netx: int(bias) -> bias_mant at bias_exp 6
            b = np.asarray(g["bias"][()]).astype(int).reshape(-1) / W_SCALE
            bias = torch.tensor(b, dtype=torch.float32).reshape(kind.bias_shape)
        if self.readout == "voltage" and L.index == self._last_index:
            n = readout_neuron(L)
            b = np.asarray(g["bias"][()]).astype(np.int64).reshape(-1) if "bias" in g else 0
            self._voltage = (int(n["iDecay"]), int(n["vDecay"]), b)
        self._delays.append(self._read_delay(g, L) if kind.axonal_delays and "delay" in g else None)
        self.register_buffer(f"bias_{len(self.blocks)}", bias, persistent=False)
        self.blocks.append(block)
        self.drops.append(torch.nn.Identity())
        self._kinds.append(kind)

    @staticmethod
    def _read_delay(g, L: LayerInfo) -> tuple:
        """(mode, delays) as netx reads them: clipped to 0..62 when any is
        larger, cast to int; one per output ('post'), per input ('pre') or per
        synapse ('syn')."""
        d = np.asarray(g["delay"][()], dtype=np.float64)
        if d.size and d.max() > MAX_DELAY:
            d = np.clip(d, 0, MAX_DELAY)
        d = d.astype(int)
        n_out = int(np.prod(L.shape))
        n_in = int(np.prod(L.weight_shape)) // n_out
        if d.ndim == 0:
            return "post", np.full(n_out, int(d))
        if d.ndim == 1:
            return ("post", d) if d.size == n_out else ("pre", d)
        return "syn", d.reshape(n_out, n_in)

    def _check_shapes(self, layers: list[LayerInfo]) -> None:
        """One forward to size the neurons; each spiking layer's size must
        be the file's (a wrong conv geometry would otherwise go unnoticed)."""
        x = torch.zeros((1,) + tuple(self.input_shape) + (1,))
        out, rec = self.forward(x, record=True, _all=True)
        files = [L for L in layers if kind_of(L.type).is_spiking(L)]
        if self._voltage is not None and out.shape[1] != int(np.prod(files[-1].shape)):
            raise LavacutError(
                f"{self.path}: the voltage readout has {int(np.prod(files[-1].shape))} neurons in "
                f"the file, its rebuild {out.shape[1]}"
            )
        for L, r in zip(files, rec):
            if r.spikes.shape[1] != int(np.prod(L.shape)):
                raise LavacutError(
                    f"{self.path}: layer {L.index} ({L.type}) has {int(np.prod(L.shape))} neurons "
                    f"in the file, its rebuild {r.spikes.shape[1]}"
                )

    # ------------------------------------------------------------------ running
    def _prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        want = tuple(self.input_shape)
        if x.dim() < 3 or int(np.prod(x.shape[1:-1])) != int(np.prod(want)):
            raise LavacutError(
                f"expected input (N, {', '.join(map(str, want))}, T) or (N, "
                f"{int(np.prod(want))}, T), got shape {tuple(x.shape)}"
            )
        return x.reshape((x.shape[0],) + want + (x.shape[-1],))

    def _synaptic(self, i: int, block, s: torch.Tensor) -> torch.Tensor:
        """Synaptic input of block i at each step from the previous layer's
        spikes s: Lava's one-step synapse delay, then the axonal delays."""
        s = _delay(s, 1)
        if self._kinds[i].flat:
            s = s.reshape(s.shape[0], -1, s.shape[-1])
        mode, d = self._delays[i] or (None, None)
        if mode == "pre":
            s = _shift_groups(s, d)
        if mode != "syn":
            z = block.synapse(s)
            return _shift_groups(z, d) if mode == "post" else z
        w = block.synapse.pre_hook_fx(block.synapse.weight).reshape(d.shape)
        z = 0
        for k in np.unique(d):
            z = z + torch.einsum("oi,nit->not", w * torch.from_numpy(d == k).to(w.dtype), _delay(s, int(k)))
        return z

    def _dynamics(self, i: int, block, z: torch.Tensor):
        """(current, pre-reset voltage): SLAYER's CUBA dynamics, the bias
        added to the voltage input as Lava's LIF adds it to v."""
        current, voltage = block.neuron.dynamics(z)
        bias = getattr(self, f"bias_{i}")
        if bias is None:
            return current, voltage
        n = block.neuron
        voltage = _leaky_integrator.dynamics(
            current + bias,
            _quantize(n.voltage_decay),
            n.voltage_state.contiguous(),
            n.s_scale,
            n.threshold + n.threshold_eps,
        )
        return current, voltage

    def _recurrent(self, i: int, block, z: torch.Tensor):
        """(current, pre-reset voltage, spikes) of recurrent block i, step by
        step: the synaptic input z plus the recurrent weights times the
        layer's spikes of the previous step (Lava's recurrent Dense), SLAYER's
        CUBA integrators (the ones ``cuba.Neuron.dynamics`` runs) with the
        state carried over, the bias added to the voltage input."""
        n = block.neuron
        rec = block.recurrent_synapse
        R = rec.pre_hook_fx(rec.weight).reshape(rec.weight.shape[:2])
        bias = getattr(self, f"bias_{i}")
        T = z.shape[-1]
        cur_s = z.new_zeros(z.shape[:-1])
        v_s, s = torch.zeros_like(cur_s), torch.zeros_like(cur_s)
        out = ([], [], [])
        for t in range(T):
            zt = z[..., t : t + 1] + (s @ R.T)[..., None]
            cur = _leaky_integrator.dynamics(zt, _quantize(n.current_decay), cur_s.contiguous(), n.s_scale)
            v = _leaky_integrator.dynamics(
                cur if bias is None else cur + bias,
                _quantize(n.voltage_decay),
                v_s.contiguous(),
                n.s_scale,
                n.threshold + n.threshold_eps,
            )
            st = n.spike(v)
            cur_s, v_s, s = cur[..., 0], (v * (1.0 - st))[..., 0], st[..., 0]
            for acc, val in zip(out, (cur, v, st)):
                acc.append(val)
        return tuple(torch.cat(acc, dim=-1) for acc in out)

    def forward(self, x: torch.Tensor, record: bool = False, _all: bool = False, voltage: bool = False):
        """Output spikes (N, n, T); ``voltage``: the output layer's voltage
        instead (pre-reset, SLAYER units: Lava's v / 2**12 / 64), the readout
        of a layer whose neurons never spike."""
        s = self._prepare_input(x)
        N, T = s.shape[0], s.shape[-1]
        records: list[HiddenRecord] = []
        last = max(i for i, k in enumerate(self._kinds) if not k.reshape_only)
        for i, (kind, block) in enumerate(zip(self._kinds, self.blocks)):
            if kind.reshape_only:
                s = block(s)
                continue
            if kind.elementwise:
                z = block.pre_hook_fx(s) * block.pre_hook_fx(block.weight) + block.pre_hook_fx(block.bias)
            else:
                z = self._synaptic(i, block, s)
            if i == last and self._voltage is not None:  # computed in Lava's integers
                return self._voltage_out(z, records, record, absolute=voltage)
            if kind.recurrent:
                _, v, spikes = self._recurrent(i, block, z)
            else:
                _, v = self._dynamics(i, block, z)
                spikes = block.neuron.spike(v)
            if record and (i != last or _all):
                v_post = (v * (1.0 - spikes)).reshape(N, -1, T)
                records.append(HiddenRecord(spikes.reshape(N, -1, T), v_post, float(block.neuron.threshold)))
            s = self.drops[i](spikes)
        out = (v if voltage else s).reshape(N, -1, T)
        return (out, records) if record else out

    def _voltage_out(self, z: torch.Tensor, records: list, record: bool, absolute: bool = False):
        """The voltage readout's per-step increments ``(N, n, T)`` int64
        from its synaptic input ``z`` (SLAYER units: Lava's integer sums / 64),
        whose running sum is Lava's v; ``absolute``: v itself in SLAYER units
        (float, Lava's v / 2**12)."""
        a = torch.round(z.double() * W_SCALE).to(torch.int64).reshape(z.shape[0], -1, z.shape[-1]).numpy()
        v = lif_voltage(a, *self._voltage)
        out = torch.from_numpy(v / 4096.0 if absolute else np.diff(v, axis=-1, prepend=0))
        return (out, records) if record else out


def _shift_groups(x: torch.Tensor, d: np.ndarray) -> torch.Tensor:
    """Delay channel j of x (N, n, T) by d[j] steps (SLAYER's axon delay,
    one call per distinct delay)."""
    out = torch.zeros_like(x)
    for k in np.unique(d):
        idx = torch.from_numpy(np.flatnonzero(d == k))
        out[:, idx] = _delay(x[:, idx], int(k))
    return out


def rebuild_netx(path: str | Path) -> NetxRebuild:
    """The SLAYER rebuild of a NetX file, eval mode (raises
    :class:`LavacutError` naming a layer it cannot rebuild)."""
    return NetxRebuild(path).eval()


__all__ = ["NetxRebuild", "rebuild_netx"]
