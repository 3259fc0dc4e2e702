"""Simultaneous (sup-t) confidence bands over a grid from bootstrap or multiplier replicates of a curve
(docs/estimands.md, "Simultaneous bands"; Montiel Olea and Plagborg-Moller 2019, Chernozhukov, Fernandez-Val
and Melly 2013 for distribution functions).

With point estimates theta(g) and replicates theta_b(g) on a grid, sigma(g) the replicates' standard deviation
and q the ``level`` quantile of max_g |theta_b(g) - theta_hat(g)| / sigma(g), the band theta(g) +- q sigma(g)
covers the whole curve at once with probability ``level`` (asymptotically). A figure read off the band, such as
the TPR at a target FPR, keeps that guarantee even though the threshold behind it was chosen from the same
data. Where the replicates barely move (a curve pinned at 0 or 1 because no unit of the sample lies beyond
that threshold) a band of width q sigma would be empty, while the sample cannot tell a probability of 0 from
one of a few units' share: the half-width is floored at q^2 / n_eff, the distance from 0 of Wilson's score
bound for a proportion observed at 0 (n_eff the Kish effective size of the arm the curve is estimated from).
Elsewhere q sigma is the larger one (sigma is about sqrt(F (1 - F) / n_eff)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SIGMA_FLOOR = 1e-12


@dataclass(frozen=True)
class Band:
    """A simultaneous band on a grid, and its critical value q (1.96 would be a pointwise band)."""

    grid: np.ndarray
    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    critical_value: float

    def at(self, x: float) -> tuple[float, float]:
        """The band at a grid value (the nearest grid point)."""
        k = int(np.argmin(np.abs(self.grid - x)))
        return float(self.lower[k]), float(self.upper[k])

    def to_dict(self, name: str = "grid") -> dict:
        return {name: self.grid.tolist(), "lower": self.lower.tolist(), "upper": self.upper.tolist(),
                "critical_value": self.critical_value}


def sup_t_band(grid: np.ndarray, point: np.ndarray, replicates: np.ndarray, level: float = 0.95,
               bounds: tuple[float, float] = (0.0, 1.0), center: np.ndarray | None = None,
               n_eff: float | None = None) -> Band:
    """The sup-t band of ``point`` (G,) from ``replicates`` (B, G), clipped to ``bounds``.

    ``center`` is where the replicates scatter around when it is not the point itself (an exact point read
    beside replicates of a grid approximation of it); the band is then point +- q sigma around the exact point.
    """
    reps = np.asarray(replicates, dtype=float)
    center = point if center is None else center
    dev = reps - center[None, :]
    sigma = dev.std(axis=0, ddof=1) if len(reps) > 1 else np.zeros(len(point))
    moving = sigma > _SIGMA_FLOOR
    if moving.any():
        t_max = np.max(np.abs(dev[:, moving]) / sigma[moving], axis=1)
        q = float(np.quantile(t_max, level))
    else:
        q = 0.0
    half = q * sigma if n_eff is None else np.maximum(q * sigma, q * q / max(n_eff, 1.0))
    lower = np.clip(point - half, *bounds)
    upper = np.clip(point + half, *bounds)
    return Band(np.asarray(grid, float), np.asarray(point, float), lower, upper, q)
