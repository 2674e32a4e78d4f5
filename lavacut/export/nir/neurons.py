"""NIR neuron nodes <-> Loihi CUBA layers: the discretisation, dt, thresholds.

What lavacut runs
-----------------
One SLAYER CUBA layer (``lava.lib.dl.slayer.neuron.cuba``), bit for bit what
Lava's ``PyLifModelBitAcc`` computes, with integer states ``U, V`` (value *
4096), ``iDecay, vDecay`` in 0..4096, ``vThMant`` and an optional bias
``bias_mant`` (13-bit signed, shifted by ``bias_exp`` = 6)::

    X[t] = 4096 * sum_j w_j s_j[t]          (w_j = k_j / 32, k_j in [-128, 127])
    U[t] = rtz(U[t-1] * (4096 - iDecay) / 4096) + X[t]
    V[t] = rtz(V[t-1] * (4096 - vDecay) / 4096) + U[t] + 64 * bias_mant
    s[t] = V[t] > 64 * vThMant ;  V[t] = 0 where s[t]

(rtz: round toward zero); each layer's spikes reach the next layer one step
later (the Loihi synapse delay, SLAYER's ``delay_shift``). In real units
``du = iDecay/4096``, ``dv = vDecay/4096``, ``vth = vThMant/64``, ``bias =
bias_mant/64``.

What NIR says, and how lavacut reads it
---------------------------------------
``CubaLIF``: ``tau_syn I' = -I + w_in S``, ``tau_mem v' = (v_leak - v) + r I``,
spike when ``v > v_threshold``, then ``v = v_reset``; ``LIF`` has no ``I``
(``r`` multiplies the input), ``IF`` is ``v' = r S``. lavacut discretises with
FORWARD EULER at step ``dt``, current first (as SLAYER, Loihi and snnTorch)::

    I[t] = (1 - dt/tau_syn) I[t-1] + (dt/tau_syn) w_in S[t]
    v[t] = (1 - dt/tau_mem) v[t-1] + (dt/tau_mem) (v_leak + r I[t])

Export (lavacut -> NIR): ``tau_syn = dt/du``, ``w_in = 1/du``, ``tau_mem =
dt/dv``, ``r = 1/dv`` (so both Euler gains are 1 and the equations are
SLAYER's ``u, v`` in floating point, whatever ``dt``), ``v_threshold = vth``,
``v_reset = 0``, ``v_leak = bias/dv`` (0 without bias); ``dv = 0`` is written
as ``tau_mem = 2**24 dt``. Weights are the 8-bit SLAYER weights (exact
floats). ``dt`` defaults to :data:`DEFAULT_DT`, the step snnTorch's NIR
export and import hard-code.

Import (NIR -> lavacut), per neuron node, ``dt`` from the argument (CLI
``--dt``), else ``graph.metadata["dt"]``, else inferred from ``r = tau_mem/dt``
and ``w_in = tau_syn/dt`` when every neuron agrees (snnTorch's convention;
r = 1 / w_in = 1 are no evidence), else 1 for graphs without time constants
(IF only), else an error asking for ``--dt``:

- ``CubaLIF``: ``du = dt/tau_syn``, ``dv = dt/tau_mem``, input gain
  ``g = du w_in dv r``; ``LIF``: ``du = 1`` (the current is this step's
  input), ``dv = dt/tau``, ``g = dv r``; ``IF``: ``du = 1``, ``dv = 0``,
  ``g = dt r``. ``round(4096 du)`` must be in 1..4096 and ``round(4096 dv)``
  in 0..4096 (dt/tau > 1: error), one value per layer (per-neuron taus: error);
  layers may differ from each other;
- ``LI`` / ``CubaLI`` / ``I`` (non-spiking readouts, last layer only) map
  as ``LIF`` / ``CubaLIF`` / ``IF`` without a threshold: a CUBA layer whose
  threshold Lava's 24-bit voltage never reaches (SLAYER's ``cuba.Affine``
  export, vThMant 2**18 - 1), read as a voltage; its weights are scaled by
  a positive factor of their own (reported), which changes no decision;
- ``v_reset`` must be 0 and ``v_threshold > 0``: thresholds and gains fold
  into the incoming weights (``v`` rescaled by ``theta / v_threshold``, per
  output channel for convolutions), so every layer shares one threshold
  ``theta`` (:func:`choose_threshold`);
- constant inputs become the layer's Loihi bias: ``dv v_leak`` per step,
  plus ``g c`` for the constant ``c`` the Affine/Conv2d biases put on the
  neuron's input, which is exact only when the current does not integrate
  (``du = 1``: LIF, IF, CubaLIF with ``tau_syn = dt``): a constant into a
  decaying current is not a constant into ``v``. The bias, rescaled by
  ``theta / v_threshold``, must land on Loihi's grid (a multiple of 1/64
  with ``|bias_mant| <= 4095``; one value per channel for convolutions),
  else the import is refused; ``theta`` is chosen to make that so;
- Loihi's pipeline: every layer runs from the first step, while its first
  input arrives one step later per layer before it. Without bias the early
  steps do nothing; with a bias, layer l integrates it for l steps before
  its first input. The import then equals the NIR graph simulated with a
  one-step delay on every synapse (exactly what Loihi does), not with NIR's
  instantaneous synapses, whose output it reproduces L steps later only
  without bias.

Exact vs approximate: a graph lavacut wrote comes back with the same
integers. Elsewhere weights off the 8-bit grid and decays off the 1/4096
grid are rounded (the import report gives the errors), a float simulator
does not round toward zero at each decay (a spike can flip when ``v`` lands
within 1/4096 of the threshold), and states are unbounded there but 24-bit
on Loihi.
"""

from __future__ import annotations

import math

import numpy as np

from lavacut.export.nir.ops import NirError, arr, shape_of, tname
from lavacut.fixed_point import BIAS_MANT_LIMIT, P_SCALE, W_MAX, W_MIN, W_SCALE

#: Default NIR time step (s): the one snnTorch's NIR export/import hard-code.
DEFAULT_DT = 1e-4
#: tau_mem / dt written for a layer without voltage leak (vDecay = 0).
NO_LEAK_TAU_STEPS = float(1 << 24)
#: automatic thresholds stay <= 256 (vThMant 2**14): Lava's voltage saturates
#: at 2**23 / 4096 = 2048, leaving 8x headroom above the threshold.
MAX_AUTO_THRESHOLD_MANT = 1 << 14


def param(node, attr: str, shape: tuple[int, ...], where: str, default=None) -> np.ndarray:
    v = getattr(node, attr, None)
    if v is None:
        if default is None:
            raise NirError(f"{where}: parameter {attr} is missing")
        v = default
    a = arr(v)
    if a.size == 1:
        return np.full(shape, float(a.reshape(-1)[0]))
    if tuple(a.shape) != tuple(shape):
        if a.size == int(np.prod(shape)):
            return a.reshape(shape)
        raise NirError(f"{where}: {attr} has shape {a.shape} but the node before it outputs shape {shape}")
    return a


def neuron_params(name: str, node, shape, dt: float) -> dict:
    """du, dv, iDecay, vDecay, and per neuron the gain, vth and leak bias
    ``dv v_leak`` of a neuron node (the module docstring's mapping)."""
    t = tname(node)
    where = f"node {name!r} ({t})"
    ntype = shape_of(getattr(node, "input_type", None), "input")
    if ntype is not None and ntype != tuple(shape) and int(np.prod(ntype)) not in (1, int(np.prod(shape))):
        raise NirError(f"{where}: holds {ntype} neurons but the node before it outputs shape {shape}")
    P = lambda a, d=None: param(node, a, shape, where, d)  # noqa: E731
    readout = t in ("LI", "CubaLI", "I")  # no threshold: the voltage is the output (scale free)
    vth = np.ones(shape) if readout else P("v_threshold")
    v_reset = np.zeros(shape) if readout else P("v_reset", 0.0)
    if t in ("CubaLIF", "CubaLI"):
        tau_syn, tau_mem, r, w_in, v_leak = P("tau_syn"), P("tau_mem"), P("r"), P("w_in", 1.0), P("v_leak", 0.0)
        du, dv = dt / tau_syn, dt / tau_mem
        gain = du * w_in * dv * r
    elif t in ("LIF", "LI"):
        tau, r, v_leak = P("tau"), P("r"), P("v_leak", 0.0)
        du, dv = np.ones(shape), dt / tau
        gain = dv * r
    else:  # IF, I
        r = P("r")
        v_leak = np.zeros(shape)
        du, dv = np.ones(shape), np.zeros(shape)
        gain = dt * r
    if np.any(v_reset != 0):
        raise NirError(
            f"{where}: v_reset must be 0 (CUBA neurons reset to 0), got values in "
            f"[{v_reset.min():.4g}, {v_reset.max():.4g}]"
        )
    if not np.all(np.isfinite(vth)) or np.any(vth <= 0):
        raise NirError(f"{where}: v_threshold must be positive and finite, got [{vth.min():.4g}, {vth.max():.4g}]")
    for nm, d in (("current decay dt/tau_syn", du), ("voltage decay dt/tau_mem", dv)):
        if not np.all(np.isfinite(d)) or np.any(d < 0):
            raise NirError(f"{where}: {nm} is not a finite non-negative number (tau <= 0?)")
        if np.any(d > 1 + 1e-9):
            raise NirError(
                f"{where}: {nm} = {d.max():.4g} > 1 (dt = {dt:g} s is longer than the time "
                f"constant): forward Euler would overshoot; give a smaller dt (--dt)"
            )
    if not np.all(np.isfinite(gain)) or not np.all(np.isfinite(v_leak)):
        raise NirError(f"{where}: r / w_in / v_leak give a non-finite input gain or leak")
    i_dec = np.rint(du * P_SCALE).astype(np.int64)
    v_dec = np.rint(dv * P_SCALE).astype(np.int64)
    for nm, q, d in (
        ("tau_syn" if t.startswith("Cuba") else "current", i_dec, du),
        ("tau_mem" if t.startswith("Cuba") else "tau", v_dec, dv),
    ):
        if q.min() != q.max():
            raise NirError(
                f"{where}: heterogeneous per-neuron {nm}: decays dt/tau span [{d.min():.6g}, "
                f"{d.max():.6g}] (quantised {q.min()}..{q.max()} /4096); a CUBA layer has one "
                f"current and one voltage decay for all its neurons"
            )
    if i_dec.flat[0] < 1:
        raise NirError(
            f"{where}: current decay dt/tau_syn = {du.flat[0]:.3g} rounds to 0/4096; CUBA needs "
            f">= 1/4096 (NetX stores du = iDecay - 1)"
        )
    return {
        "type": t,
        "du": float(du.flat[0]),
        "dv": float(dv.flat[0]),
        "iDecay": int(i_dec.flat[0]),
        "vDecay": int(v_dec.flat[0]),
        "gain": gain,
        "vth": vth,
        "leak": dv * v_leak,
    }


def normalised_bias(name: str, par: dict, syn: dict) -> np.ndarray | None:
    """The layer's constant voltage input per step divided by v_threshold
    (None if zero): ``(dv v_leak + g c) / v_threshold``. Refuses a constant
    input ``c`` into a current that integrates (du < 1)."""
    bv = par["leak"].copy()
    c = syn.get("offset")
    if c is not None and np.any(c != 0):
        if abs(par["du"] - 1.0) > 1e-12:
            raise NirError(
                f"node(s) {syn['bias_nodes']} add a constant (bias) to the input of node {name!r} ({par['type']}), "
                f"whose synaptic current integrates it (dt/tau_syn = {par['du']:.4g} < 1): the current would rise "
                f"to its steady value over several steps, which Loihi's bias (a constant added to the voltage) "
                f"cannot reproduce; exact only with tau_syn = dt, or without the bias"
            )
        bv = bv + par["gain"] * c.reshape(bv.shape)
    return bv / par["vth"] if np.any(bv != 0) else None


# ---------------------------------------------------------------- dt


def _meta_float(md: dict, key: str):
    v = md.get(key) if isinstance(md, dict) else None
    if v is None:
        return None
    try:
        f = float(np.asarray(v).reshape(-1)[0])
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) and f > 0 else None


def resolve_dt(graph, dt: float | None) -> tuple[float, str]:
    """``(dt, where it came from)``; see the module docstring."""
    if dt is not None:
        if isinstance(dt, bool) or not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise NirError(f"dt must be a positive number of seconds, got {dt!r}")
        return float(dt), "given"
    md_dt = _meta_float(getattr(graph, "metadata", {}) or {}, "dt")
    if md_dt is not None:
        return md_dt, "graph metadata 'dt'"
    cands, has_tau = [], False
    for node in graph.nodes.values():
        t = tname(node)
        pairs = []
        if t in ("CubaLIF", "CubaLI"):
            pairs = [(node.tau_mem, node.r), (node.tau_syn, node.w_in)]
        elif t in ("LIF", "LI"):
            pairs = [(node.tau, node.r)]
        for tau, k in pairs:
            has_tau = True
            try:
                tau, k = np.broadcast_arrays(arr(tau).reshape(-1), arr(k).reshape(-1))
            except (ValueError, AttributeError):
                continue  # mismatched shapes: reported by the node checks
            ok = np.isfinite(tau) & np.isfinite(k) & (k != 1) & (k != 0) & (tau > 0)
            cands += [float(v) for v in (tau[ok] / k[ok]) if v > 0]
    if not has_tau:
        return 1.0, "no time constants in the graph (IF only): dt = 1"
    hint = (
        "pass the step the producer simulated with: lavacut import FILE --dt SECONDS (e.g. --dt 1e-4 for "
        "snnTorch, 1e-3 for Norse)"
    )
    if cands:
        lo, hi = min(cands), max(cands)
        if hi <= lo * (1 + 1e-4):
            return float(np.median(cands)), "inferred from r = tau_mem/dt and w_in = tau_syn/dt"
        raise NirError(f"cannot infer the time step: tau/r and tau_syn/w_in give {lo:.6g}..{hi:.6g} s; {hint}")
    raise NirError(f"cannot infer the time step (r = 1, w_in = 1 and no 'dt' in the graph metadata); {hint}")


# ---------------------------------------------------------------- threshold and quantisation


def _on_grid(x: np.ndarray, step: float, tol: float = 1e-6) -> bool:
    y = x / step
    return bool(np.all(np.abs(y - np.rint(y)) <= tol * np.maximum(1.0, np.abs(y))))


def _bias_fits(bn: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """For each threshold mantissa m in ``ms``: does ``bn * m`` (the bias
    mantissa) land on integers in Loihi's 13-bit range?"""

    u = np.unique(bn)
    ok = np.ones(len(ms), dtype=bool)
    for lo in range(0, len(u), 256):
        x = np.outer(ms, u[lo : lo + 256])
        ok &= np.all(np.abs(x - np.rint(x)) <= 1e-9 * np.maximum(1.0, np.abs(x)), axis=1)
        ok &= (x.min(axis=1) >= -BIAS_MANT_LIMIT) & (x.max(axis=1) <= BIAS_MANT_LIMIT - 1)
    return ok


def _bias_error(layers: list[dict], ms: np.ndarray, what: str) -> NirError:
    bad = [L for L in layers if L["bn"] is not None and not _bias_fits(L["bn"], ms).any()] or [
        L for L in layers if L["bn"] is not None
    ]
    parts = [
        f"node {L['neuron']!r} ({L['neuron_type']}): bias/v_threshold in [{L['bn'].min():.6g}, {L['bn'].max():.6g}]"
        for L in bad
    ]
    return NirError(
        f"{'; '.join(parts)}: the constant input per step (dt/tau_mem * v_leak plus the Affine/Conv2d "
        f"biases times the input gain) cannot be Loihi's bias exactly with {what}: rescaled to the "
        f"threshold it must be a multiple of 1/{W_SCALE} with |bias * {W_SCALE}| <= 4095 (bias_mant, "
        f"13-bit, bias_exp 6)"
    )


def choose_threshold(layers: list[dict], threshold: float | None) -> tuple[float, str]:
    """One threshold theta (a multiple of 1/64) for every layer; a layer's
    weights are ``L['wn'] * theta`` and its bias ``L['bn'] * theta`` (both
    normalised to threshold 1). Prefers the graph's own threshold when it
    puts the weights exactly on the 8-bit grid; else the largest theta that
    keeps every layer's weights in the 8-bit range (at most 256), and the
    biases on Loihi's grid."""
    biased = [L for L in layers if L["bn"] is not None]
    fits = lambda m: all(_bias_fits(L["bn"], np.array([m])).all() for L in biased)  # noqa: E731
    wmax = max(float(np.abs(L["wn"]).max()) if L["wn"].size else 0.0 for L in layers)
    if threshold is not None:
        m = threshold * W_SCALE
        if threshold <= 0 or abs(m - round(m)) > 1e-9 or round(m) >= (1 << 17):
            raise NirError(f"threshold must be a positive multiple of 1/{W_SCALE} below 2048, got {threshold}")
        if not fits(round(m)):
            raise _bias_error(layers, np.array([round(m)]), f"threshold {threshold:g}")
        return float(threshold), "given"
    ths = sorted({round(float(t), 12) for L in layers for t in np.unique(L["vth"])})
    for th in ths[:16]:
        m = th * W_SCALE
        if abs(m - round(m)) > 1e-9 or not 1 <= round(m) < (1 << 17):
            continue
        th = round(m) / W_SCALE
        if all(
            _on_grid(L["wn"] * th, 2 / W_SCALE)
            and (
                not L["wn"].size
                or (L["wn"].min() * th >= W_MIN / W_SCALE - 1e-9 and L["wn"].max() * th <= W_MAX / W_SCALE + 1e-9)
            )
            for L in layers
        ) and fits(round(m)):
            return th, "the graph's own threshold: weights exactly on the 8-bit grid"
    mmax = MAX_AUTO_THRESHOLD_MANT if wmax == 0 else int(math.floor(W_MAX / wmax * (1 + 1e-12)))
    if mmax < 1:
        raise NirError(
            f"weights are too large relative to the thresholds (max |w| / v_threshold = {wmax:.4g}): "
            f"even threshold 1/64 puts them beyond the 8-bit range"
        )
    capped = mmax > MAX_AUTO_THRESHOLD_MANT
    mmax = min(mmax, MAX_AUTO_THRESHOLD_MANT)
    if biased:
        ms = np.arange(mmax, 0, -1)
        ok = np.ones(len(ms), dtype=bool)
        for L in biased:
            ok &= _bias_fits(L["bn"], ms)
        if not ok.any():
            raise _bias_error(layers, ms, f"any threshold up to {mmax / W_SCALE:g} that keeps the weights in range")
        m = int(ms[int(np.argmax(ok))])
        return m / W_SCALE, (
            "largest threshold on the 1/64 grid that puts every bias on Loihi's bias grid and "
            "keeps the weights in the 8-bit range"
        )
    if wmax == 0:
        return 1.0, "all weights are zero"
    if capped:
        return (
            mmax / W_SCALE,
            f"capped at {mmax / W_SCALE:g} (voltage headroom below Loihi's 24-bit state): the "
            f"weights use {mmax * wmax / W_MAX:.0%} of the 8-bit range",
        )
    return mmax / W_SCALE, "largest threshold on the 1/64 grid that keeps every layer's weights in the 8-bit range"


def quantise(wn: np.ndarray, theta: float) -> tuple[np.ndarray, dict]:
    """Weights ``wn * theta`` rounded to SLAYER's 8-bit grid (2/64, clamped)
    and the quantisation statistics."""
    wf = wn * theta
    wq = np.clip(np.rint(wf * W_SCALE / 2) * 2, W_MIN, W_MAX) / W_SCALE
    err = wq - wf
    nrm = float(np.linalg.norm(wf))
    return wq, {
        "rel_rms_error": float(np.linalg.norm(err) / nrm) if nrm else 0.0,
        "max_abs_error": float(np.abs(err).max()) if err.size else 0.0,
        "zeroed": int(np.sum((wq == 0) & (wf != 0))),
        "clipped": int(np.sum((wf < W_MIN / W_SCALE - 1e-9) | (wf > W_MAX / W_SCALE + 1e-9))),
        "n_weights": int(wf.size),
        "max_abs_weight": float(np.abs(wf).max()) if wf.size else 0.0,
    }
