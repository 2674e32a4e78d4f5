"""Exact binomial tail probabilities and Clopper-Pearson intervals, numpy
and math only (the cutoff core does not depend on scipy)."""
from __future__ import annotations

import math

import numpy as np


def binom_cdf(k: int, n: int, p: float) -> float:
    """P[Bin(n, p) <= k], summed exactly in log space."""
    if n < 0 or not 0.0 <= p <= 1.0:
        raise ValueError(f"binomial: need n >= 0 and p in [0, 1], got n={n}, p={p}")
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p == 0.0:
        return 1.0
    if p == 1.0:
        return 0.0
    i = np.arange(k + 1, dtype=np.float64)
    lg = np.vectorize(math.lgamma)
    logs = (math.lgamma(n + 1) - lg(i + 1) - lg(n - i + 1) + i * math.log(p) + (n - i) * math.log1p(-p))
    m = float(logs.max())
    return float(min(1.0, math.exp(m) * np.exp(logs - m).sum()))


def _solve_decreasing(f, target: float) -> float:
    """p in [0, 1] with f(p) = target, f decreasing in p (bisection)."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    return 0.5 * (lo + hi)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) two-sided interval for a binomial rate
    after ``k`` successes in ``n`` trials: its coverage is at least
    ``level`` for every true rate. ``n = 0`` gives (0, 1)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"clopper_pearson: level must be in (0, 1), got {level}")
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"clopper_pearson: need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    a = (1.0 - level) / 2.0
    # lower: P[Bin(n, p) >= k] = a, i.e. cdf(k - 1; p) = 1 - a; upper: cdf(k; p) = a
    lo = 0.0 if k == 0 else _solve_decreasing(lambda p: binom_cdf(k - 1, n, p), 1.0 - a)
    hi = 1.0 if k == n else _solve_decreasing(lambda p: binom_cdf(k, n, p), a)
    return lo, hi


def rate_with_interval(k: int, n: int, level: float = 0.95) -> dict:
    """``{"k", "n", "rate", "ci": [lo, hi], "level"}`` for a report."""
    lo, hi = clopper_pearson(int(k), int(n), level)
    return {"k": int(k), "n": int(n), "rate": float(k / n) if n else None, "ci": [lo, hi], "level": level}
