"""Exact binomial tail probabilities and Clopper-Pearson intervals, from scipy.

scipy is imported inside the functions, not at the top: the rest of the
cutoff core (the stop rules, which the Lava monitor process imports) stays
numpy-only, and scipy is loaded only where a calibration or a report needs
these figures (tests/cutoff/test_conformal_guarantee.py checks both)."""

from __future__ import annotations


def binom_cdf(k: int, n: int, p: float) -> float:
    """P[Bin(n, p) <= k]."""
    from scipy.stats import binom

    if n < 0 or not 0.0 <= p <= 1.0:
        raise ValueError(f"binomial: need n >= 0 and p in [0, 1], got n={n}, p={p}")
    return float(binom.cdf(k, n, p))


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) two-sided interval for a binomial rate
    after ``k`` successes in ``n`` trials: its coverage is at least
    ``level`` for every true rate. ``n = 0`` gives (0, 1)."""
    from scipy.stats import binomtest

    if not 0.0 < level < 1.0:
        raise ValueError(f"clopper_pearson: level must be in (0, 1), got {level}")
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"clopper_pearson: need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def rate_with_interval(k: int, n: int, level: float = 0.95) -> dict:
    """``{"k", "n", "rate", "ci": [lo, hi], "level"}`` for a report."""
    lo, hi = clopper_pearson(int(k), int(n), level)
    return {"k": int(k), "n": int(n), "rate": float(k / n) if n else None, "ci": [lo, hi], "level": level}
