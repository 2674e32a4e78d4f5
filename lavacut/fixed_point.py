"""Loihi's fixed-point formats, shared by SLAYER's CUBA quantisation, the
NetX files and Lava's bit-accurate LIF model (lava/lib/dl/slayer/neuron/cuba.py,
lava/proc/lif/models.py). Stated once here; every stage imports them."""

#: threshold, weight and bias mantissa scale (value = mantissa / W_SCALE)
W_SCALE = 1 << 6
#: the right shift of Lava's LIF decay (lava/proc/lif/models.py decay_shift)
DECAY_SHIFT = 12
#: decay scale (du = iDecay / P_SCALE; Lava's decay_unity)
P_SCALE = 1 << DECAY_SHIFT
#: SLAYER's 8-bit weights: even mantissas in [W_MIN, W_MAX]
W_MIN, W_MAX = -256, 254
#: the 8-bit weight mantissas Lava holds with a sign mode (lava/utils/weightutils.py
#: clip_weights: inhibitory -256..0, excitatory 0..255, mixed -256..254)
W_MANT_MIN, W_MANT_MAX = -256, 255
#: Lava's bias_mant is a signed 13-bit integer: [-BIAS_MANT_LIMIT, BIAS_MANT_LIMIT - 1]
BIAS_MANT_LIMIT = 1 << 12
#: state ranges of the bit-accurate LIF: u (24-bit, wraps), v (24-bit,
#: saturates), a_in (int16); SLAYER computes in float and does neither
FIXED_POINT_LIMITS = {"current": (1 << 23) - 1, "voltage": (1 << 23) - 1, "input": (1 << 15) - 1}
#: Lava's LIF shifts vth (and a_in, and bias_mant at netx's bias_exp) left by
#: this many bits into its 24-bit state (lava/proc/lif/models.py)
VTH_SHIFT = 6
#: the largest vThMant whose vth << VTH_SHIFT fits the 24-bit voltage (a 17-bit mantissa)
MAX_VTH_MANT = FIXED_POINT_LIMITS["voltage"] >> VTH_SHIFT
#: the largest axonal delay netx takes (lava-dl 0.6.0 netx/utils.py num_delay_bits:
#: "Max delay exceeded limit of 62"; netx/hdf5.py clamps larger ones with a warning)
MAX_DELAY = 62
#: vThMant netx gives a layer without neuron parameters (lava/lib/dl/netx/hdf5.py:
#: a non-leaky integrator whose vth << 6 Lava's voltage never exceeds)
NETX_INTEGRATOR_VTH_MANT = 1 << 17
#: vThMant of a voltage-readout layer (what SLAYER's cuba.Affine exports):
#: vThMant << 6 is above Lava's 24-bit voltage, so its neurons never spike.
READOUT_VTH_MANT = (1 << 18) - 1
#: the thresholds that mark a voltage readout on purpose: netx's integrator
#: and SLAYER's Affine export
READOUT_VTH_MANTS = (NETX_INTEGRATOR_VTH_MANT, READOUT_VTH_MANT)


def lif_voltage(a_in, i_decay: int, v_decay: int, bias=0):
    """Voltages of Lava's bit-accurate CUBA LIF (PyLifModelBitAcc, and
    lavacut's fused kernel) whose neurons never spike: synaptic input
    ``a_in`` (..., T) integers (what the synapse sends at each step) ->
    ``v`` (..., T) int64. Per step: u = u * (4096 - iDecay) / 4096 (toward
    zero) + (a << 6), wrapped to 24 bits; v = v * (4096 - vDecay) / 4096 + u
    + (bias mantissa << 6; one per neuron, or one), saturated to +-(2**23 - 1). (netx stores
    du = iDecay - 1 and the model adds 1 back.)"""
    import numpy as np

    a = np.asarray(a_in, dtype=np.int64)
    fu, fv, lim = P_SCALE - int(i_decay), P_SCALE - int(v_decay), 1 << 23
    b = np.asarray(bias, dtype=np.int64) << VTH_SHIFT

    def decay(x, f):
        p = x * f
        return np.sign(p) * (np.abs(p) >> DECAY_SHIFT)

    u = np.zeros(a.shape[:-1], np.int64)
    v = np.zeros(a.shape[:-1], np.int64)
    out = np.empty(a.shape, np.int64)
    for t in range(a.shape[-1]):
        u = decay(u, fu) + (a[..., t] << VTH_SHIFT)
        u = np.where(u > lim, u - 2 * lim, u)
        u = np.where(u <= -lim, u + 2 * lim, u)
        v = np.clip(decay(v, fv) + u + b, -lim + 1, lim - 1)
        out[..., t] = v
    return out
