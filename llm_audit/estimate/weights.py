"""Arm-normalized (Hajek) weights and Kish's effective sample size: the one home of both."""

from __future__ import annotations

import numpy as np


def hajek(weights: np.ndarray, member: np.ndarray) -> np.ndarray:
    """``weights`` normalized to sum to 1 within each arm: bounded, and invariant to a constant factor in the
    propensity."""
    w = np.asarray(weights, dtype=float)
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


def arm_ess(weights: np.ndarray, member: np.ndarray) -> dict[str, float]:
    """Kish's ESS of each arm: ``{"member": ..., "nonmember": ...}``."""
    t = np.asarray(member).astype(bool)
    return {"member": kish_ess(weights[t]), "nonmember": kish_ess(weights[~t])}
