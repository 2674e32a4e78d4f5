"""Seeded stratified selection, shared by the embedded train/test split and
the trainer's validation hold-out.

Not scikit-learn's ``train_test_split(stratify=...)``: it draws another split
(68 of the embedded set's 359 test digits in common), which would change the
test split the shipped exports were measured on."""

from __future__ import annotations

import numpy as np


def stratified_mask(labels: np.ndarray, fraction: float, seed: int, min_per_class: int = 0) -> np.ndarray:
    """Boolean mask choosing, per class, a seeded max(min_per_class,
    round(fraction * n)) of its samples (classes in sorted order, one
    generator for all)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = max(min_per_class, int(round(fraction * len(idx))))
        mask[rng.permutation(idx)[:k]] = True
    return mask
