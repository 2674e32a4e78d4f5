"""Loihi's fixed-point formats, shared by SLAYER's CUBA quantisation, the
NetX files and Lava's bit-accurate LIF model (lava/lib/dl/slayer/neuron/cuba.py,
lava/proc/lif/models.py). Stated once here; every stage imports them."""

#: threshold, weight and bias mantissa scale (value = mantissa / W_SCALE)
W_SCALE = 1 << 6
#: decay scale (du = iDecay / P_SCALE)
P_SCALE = 1 << 12
#: SLAYER's 8-bit weights: even mantissas in [W_MIN, W_MAX]
W_MIN, W_MAX = -256, 254
#: Lava's bias_mant is a signed 13-bit integer: [-BIAS_MANT_LIMIT, BIAS_MANT_LIMIT - 1]
BIAS_MANT_LIMIT = 1 << 12
#: state ranges of the bit-accurate LIF: u (24-bit, wraps), v (24-bit,
#: saturates), a_in (int16); SLAYER computes in float and does neither
FIXED_POINT_LIMITS = {"current": (1 << 23) - 1, "voltage": (1 << 23) - 1, "input": (1 << 15) - 1}
