"""Dated corpora with a known effect at the cutoff, for the cutoff design's tests and benchmark.

Dates D ~ Uniform(d0 - span, d0 + span) years; member = D < d0 (a sharp cutoff). Potential scores

    S(0) = g(D) + 0.5 * length + N(0, 1),     S(1) = S(0) + jump,

with a smooth trend g in the date (older texts score lower, as old prose does under a modern model) that
the design must not read as memorization, and a covariate ``length`` = N(0, 1) + (D - d0) / (2 span),
smooth in the date unless ``covariate_jump`` makes it jump at d0 (a change in the texts themselves, which
the score then inherits: the confounded case the covariate check exists to catch).

Truth at d0: the mean effect is ``jump``; the causal AUC of two independent texts dated at d0 is
Phi(jump / sqrt(2 (1 + 0.25))) (``true_local_auc``), a closed form independent of the estimator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

TRENDS = ("linear", "nonlinear")
_NOISE_VAR = 1.0 + 0.25  # var(N(0, 1)) + var(0.5 * length) at a fixed date


def trend(u: np.ndarray, kind: str) -> np.ndarray:
    """g(D) as a function of u = D - d0 (years)."""
    if kind == "linear":
        return 0.08 * u
    if kind == "nonlinear":
        return 0.08 * u + 0.6 * np.sin(u / 2.5) + 0.01 * u**2
    raise ValueError(f"trend must be one of {TRENDS}, got {kind!r}")


def simulate_dated(n: int, *, jump: float = 0.5, trend_kind: str = "linear", covariate_jump: float = 0.0,
                   d0: float = 2010.0, span: float = 10.0, seed: int = 0) -> pd.DataFrame:
    """Columns: date (fractional years), member, score, length, and the potential scores s0, s1."""
    rng = np.random.default_rng(seed)
    date = rng.uniform(d0 - span, d0 + span, size=n)
    u = date - d0
    member = (u < 0).astype(int)
    length = rng.normal(size=n) + u / (2 * span) + covariate_jump * member
    s0 = trend(u, trend_kind) + 0.5 * length + rng.normal(size=n)
    s1 = s0 + jump
    return pd.DataFrame({"date": date, "member": member, "score": np.where(member == 1, s1, s0),
                         "length": length, "s0": s0, "s1": s1})


def true_local_auc(jump: float) -> float:
    """P(S_i(1) > S_j(0)) for independent texts dated at d0 (no covariate jump)."""
    return float(norm.cdf(jump / np.sqrt(2 * _NOISE_VAR)))
