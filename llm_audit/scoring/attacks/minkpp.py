"""Min-K%++ (Zhang et al. 2025): Min-K% on log-probs standardized by the next-token distribution."""

from __future__ import annotations

import numpy as np

from llm_audit.scoring.attacks.base import AttackInput
from llm_audit.scoring.attacks.mink import smallest_mean


def minkpp(view: AttackInput, k: float | None) -> float:
    """Mean of the k fraction of smallest z_i = (l_i - E[log p]) / sd[log p], moments of the next-token
    distribution at token i."""
    stats = view.main
    # A (near) one-hot next-token distribution has sigma = 0; the floor keeps z finite there.
    z = (stats.logp - stats.mean) / np.sqrt(np.maximum(stats.var, 1e-12))
    return smallest_mean(z, k)
