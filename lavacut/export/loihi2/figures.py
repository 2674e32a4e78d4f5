"""Loihi 2's figures the design-rule check holds a network against: Intel's
public ones, each cited where it is defined, and the ones Intel has not
published, assumed (:data:`ASSUMPTIONS`, listed in every report). The
per-parameter ranges of Lava and netx are in :mod:`lavacut.fixed_point`."""

#: a use of this fraction of a limit (or more) is a warning
NEAR = 0.9

# Intel Labs, "Taking Neuromorphic Computing to the Next Level with Loihi 2",
# technology brief (2021), table "Loihi 2 vs Loihi": 128 neuromorphic cores
# per chip; up to 1 million neurons and 120 million synapses per chip; up to
# 8,192 neurons per core ("variable ... depending on neuron state": fewer with
# more state); ~128 kB of synaptic memory per core (of a flexibly allocated
# 192 kB core memory); 1-8 bit synaptic weights with a shared weight exponent;
# 24-bit neuron state; up to 6 embedded x86 (Lakemont) cores.
CORES_PER_CHIP = 128
NEURONS_PER_CHIP = 1_000_000
SYNAPSES_PER_CHIP = 120_000_000
NEURONS_PER_CORE = 8192
SYN_MEM_BYTES_PER_CORE = 128 * 1024
MAX_WEIGHT_BITS = 8
# Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip
# Learning", IEEE Micro 38(1), 2018: a Loihi (1) core has 4,096 input axons
# (fan-in) and 4,096 output axons (fan-out). Intel has not published Loihi 2's
# per-core axon counts: assumed equal (see ASSUMPTIONS).
AXONS_IN_PER_CORE = 4096
AXONS_OUT_PER_CORE = 4096
# lava-nc 0.10.0 lava/proc/dense/process.py: effective weight = mantissa x
# 2 ** (8 - num_weight_bits + weight_exp + isMixed()); neither Lava nor netx
# bounds weight_exp (lava/utils/weightutils.py and netx's
# optimize_weight_bits only compute it). Assumed -8..7, a 4-bit signed field
# as on Loihi 1 (Davies et al. 2018); Loihi 2's field width is unpublished.
# With integer weights in the 8-bit range netx's exponent is always -8..0.
WEIGHT_EXP_RANGE = (-8, 7)

ASSUMPTIONS = [
    {
        "figure": "neurons per core",
        "value": NEURONS_PER_CORE,
        "assumption": "the brief's maximum (8,192) holds for netx's CUBA LIF (u, v: two 24-bit states); the brief "
        "says fewer fit with more state and Intel has not published the count per neuron model",
    },
    {
        "figure": "synaptic memory per core",
        "value": SYN_MEM_BYTES_PER_CORE,
        "assumption": "128 kB read as 128 KiB; a synapse costs its weight bits only (nonzero weights x netx's "
        "num_weight_bits, the mantissa width netx configures, sign included); Loihi 2's synapse "
        "encodings and their index overheads are unpublished, so real use is higher: cores are sized "
        "to stay below the warning level",
    },
    {
        "figure": "conv synapses",
        "value": "expanded",
        "assumption": "conv weights are counted once per (output neuron, input) pair, as if unshared: how the "
        "Loihi 2 compiler stores convolutions is not public; if it shares kernels, conv memory is "
        "lower, so this is an upper bound",
    },
    {
        "figure": "input axons per core",
        "value": AXONS_IN_PER_CORE,
        "assumption": "Loihi 2's per-core axon counts are unpublished; Loihi 1's 4,096 (Davies et al. 2018) used",
    },
    {
        "figure": "output axons per core",
        "value": AXONS_OUT_PER_CORE,
        "assumption": "as input axons; one output axon per (neuron, destination core) pair, the last layer's "
        "neurons one axon each to the host",
    },
    {
        "figure": "weight exponent range",
        "value": list(WEIGHT_EXP_RANGE),
        "assumption": "Loihi 1's 4-bit signed weight exponent; Loihi 2's field width is unpublished",
    },
    {
        "figure": "partitioning",
        "value": "contiguous",
        "assumption": "dense: contiguous output-neuron ranges; conv: contiguous output positions with all channels "
        "on one core; no partial-sum splitting of a neuron's inputs across cores (the Loihi 2 "
        "compiler in lava-loihi is closed)",
    },
    {
        "figure": "recurrent layers",
        "value": "inputs",
        "assumption": "a dense_rec layer's recurrent weights count as synapses and input axons; the extra output "
        "axons they need are not counted",
    },
]

RESOURCES = ("neurons_per_core", "synaptic_memory_per_core", "axons_in_per_core", "axons_out_per_core")
LIMITS = {
    "neurons_per_core": NEURONS_PER_CORE,
    "synaptic_memory_per_core": SYN_MEM_BYTES_PER_CORE,
    "axons_in_per_core": AXONS_IN_PER_CORE,
    "axons_out_per_core": AXONS_OUT_PER_CORE,
}
