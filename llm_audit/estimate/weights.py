"""Balancing weights for the three target populations (docs/method.md §3) and Kish's effective sample size."""

from __future__ import annotations

import numpy as np

TARGETS = ("ate", "att", "atc")


def raw_weights(propensity: np.ndarray, member: np.ndarray, target: str = "ate") -> np.ndarray:
    """Unnormalized weights r_i: the density ratio from each arm to the target population.

    ATE: 1/e for members, 1/(1-e) for non-members; ATT: 1 and e/(1-e); ATC: (1-e)/e and 1.
    The same r_i weights the residual term of the doubly robust estimator.
    """
    e = np.asarray(propensity, dtype=float)
    t = np.asarray(member).astype(bool)
    if target == "ate":
        return np.where(t, 1.0 / e, 1.0 / (1.0 - e))
    if target == "att":
        return np.where(t, 1.0, e / (1.0 - e))
    if target == "atc":
        return np.where(t, (1.0 - e) / e, 1.0)
    raise ValueError(f"target must be one of {TARGETS}, got {target!r}")


def target_density(propensity: np.ndarray, member: np.ndarray, target: str = "ate") -> np.ndarray:
    """h_i, each unit's (empirical) weight in the target population: 1 (ATE), T (ATT), 1-T (ATC)."""
    t = np.asarray(member).astype(float)
    if target == "ate":
        return np.ones_like(t)
    if target == "att":
        return t
    if target == "atc":
        return 1.0 - t
    raise ValueError(f"target must be one of {TARGETS}, got {target!r}")


def hajek_weights(propensity: np.ndarray, member: np.ndarray, target: str = "ate") -> np.ndarray:
    """Weights normalized to sum to 1 within each arm (Hajek): bounded, and invariant to a constant
    factor in the propensity."""
    w = raw_weights(propensity, member, target)
    t = np.asarray(member).astype(bool)
    out = np.empty_like(w)
    out[t] = w[t] / w[t].sum()
    out[~t] = w[~t] / w[~t].sum()
    return out


def kish_ess(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2; n for equal weights, 0 for none."""
    w = np.asarray(weights, dtype=float)
    sq = float(np.sum(w * w))
    return float(np.sum(w) ** 2 / sq) if sq > 0 else 0.0
