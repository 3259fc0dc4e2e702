"""Candidate outcome models of the doubly robust CDFs: mu_t(x, c) = P(S >= c | X = x, T = t) on a threshold grid,
one fit per arm and fold (docs/estimands.md, "Outcome models").

- ``LocationScale`` (``linear``, or ``hgb``: boosting started from a linear fit, ``LinearThenBoosting``):
  S = m(X) + s(X) Z, m a regression of S on X, log s^2 a regression of the squared residual on X, Z's law the
  empirical distribution of the standardized training residuals; then mu(x, c) = P(Z >= (c - m(x)) / s(x)).
  Exact for any homoscedastic or scale-heteroscedastic noise law; 4 fits per arm and fold, whatever the grid.
- ``DistributionRegression`` (``distribution``, in ``distribution_regression.py``): one monotone classifier on
  stacked (x, c) rows.

Every fitted model answers ``survival(x, grid)`` -> (n, G) float32, non-increasing along the grid. The mean
memorization uses a plain location regression (``LocationRegression``), chosen apart by squared error. The
models see the design matrix (standardized numeric columns, one-hot levels), built once per fold by the caller
from that fold's training units.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge


def regressor(family: str | RegressorMixin, seed: int) -> RegressorMixin:
    """``linear``, ``hgb``, or any scikit-learn regressor (cloned), for the design matrix."""
    if isinstance(family, RegressorMixin):
        return clone(family)
    if family == "linear":
        return Ridge(alpha=1e-3)  # a touch of ridge: one-hot levels plus an intercept are collinear
    if family == "hgb":
        return LinearThenBoosting(seed=seed)
    raise ValueError(f"location regression must be linear, hgb or a regressor, got {family!r}")


class LinearThenBoosting(RegressorMixin, BaseEstimator):
    """Gradient boosting started from a linear fit: a near-unpenalized linear regression, then boosted trees on its
    residuals; predicts their sum.

    Why not boosting alone: fit on a few hundred units, trees shrink towards the mean along a direction spread
    over many columns (each split sees one column), and a doubly robust estimate inherits that shrinkage wherever
    the weights leave the direction unbalanced (benchmarks/README.md, "Model pair": the loss AUC's DR bias +0.049
    with boosting alone, +0.001 started from the linear fit, 20 draws). The linear start keeps every linear
    direction at its least-squares slope; the trees add the curves and interactions it misses. scikit-learn's
    ``GradientBoostingRegressor(init=...)`` does the same, but with exact splits: far slower at 100,000 rows than
    the histogram trees, which take no ``init``.
    """

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, x: np.ndarray, y: np.ndarray) -> "LinearThenBoosting":
        self.linear_ = regressor("linear", self.seed).fit(x, y)
        # early stopping on a held-out tenth: as many trees as the residual needs (none to a few dozen for a
        # smooth relation, up to 200), which regularizes small samples and costs less than a fixed 200
        self.trees_ = HistGradientBoostingRegressor(max_iter=200, early_stopping=True, validation_fraction=0.1,
                                                    n_iter_no_change=10, random_state=self.seed)
        self.trees_.fit(x, y - self.linear_.predict(x))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.linear_.predict(x) + self.trees_.predict(x)


class LocationRegression:
    """E[S | X] by one regression (the outcome model of the mean)."""

    def __init__(self, family: str | RegressorMixin, seed: int = 0):
        self.family, self.seed = family, seed

    def fit(self, x: np.ndarray, s: np.ndarray) -> "LocationRegression":
        self.model_ = regressor(self.family, self.seed).fit(x, s)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model_.predict(x)


class LocationScale:
    """mu(x, c) = P(Z >= (c - m(x)) / s(x)), Z the standardized training residuals (see the module docstring)."""

    def __init__(self, family: str | RegressorMixin, seed: int = 0):
        self.family, self.seed = family, seed
        self.name = family if isinstance(family, str) else "custom"

    def fit(self, x: np.ndarray, s: np.ndarray, grid: np.ndarray) -> "LocationScale":
        self.location_ = LocationRegression(self.family, self.seed).fit(x, s)
        r = s - self.location_.predict(x)
        # log r^2 regression: its intercept is biased by E log Z^2, a constant absorbed by Z's law
        self.log_var_ = regressor(self.family, self.seed).fit(x, np.log(r * r + 1e-12 * np.var(s) + 1e-300))
        self.residuals_ = np.sort(r / self.scale(x))
        return self

    def scale(self, x: np.ndarray) -> np.ndarray:
        """s(x) (n,), the fitted spread."""
        return np.exp(0.5 * self.log_var_.predict(x))

    def survival(self, x: np.ndarray, grid: np.ndarray) -> np.ndarray:
        z = (grid[None, :] - self.location_.predict(x)[:, None]) / self.scale(x)[:, None]
        r = self.residuals_
        return (1.0 - np.searchsorted(r, z, side="left") / len(r)).astype(np.float32)


def brier(survival: np.ndarray, score: np.ndarray, grid: np.ndarray) -> float:
    """Brier score of P(S >= c | x) averaged over the units and the grid."""
    above = score[:, None] >= grid[None, :]
    return float(np.mean((above - survival) ** 2))
