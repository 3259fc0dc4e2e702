"""Min-K% (Shi et al. 2024): the mean log-prob of the least likely tokens."""

from __future__ import annotations

import math

import numpy as np

from llm_audit.scoring.attacks.base import AttackInput


def n_smallest(n_scored: int, k: float) -> int:
    """ceil(k * n), at least 1. Rounded first so that e.g. 0.1 * 30 counts as 3, not 4 (binary floats)."""
    return max(1, math.ceil(round(k * n_scored, 9)))


def smallest_mean(values: np.ndarray, k: float) -> float:
    """Mean of the ``n_smallest`` values; NaN when there is none."""
    if not len(values):
        return math.nan
    return float(np.mean(np.sort(values)[: n_smallest(len(values), k)]))


def mink(view: AttackInput, k: float | None) -> float:
    """Mean log-prob of the k fraction of least likely tokens."""
    return smallest_mean(view.main.logp, k)
