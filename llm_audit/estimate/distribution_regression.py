"""Distribution regression: P(S >= c | X = x) by one monotone classifier on stacked (x, c) rows (docs/estimands.md;
Foresi and Peracchi 1995, Chernozhukov, Fernandez-Val and Melly 2013 fit one binary model per threshold; one
model with c as a feature shares strength across thresholds).

Each training unit contributes ``points_per_unit`` rows (x_i, c_g) -> 1{S_i >= c_g}, the c_g drawn without
replacement from the threshold grid (which is denser in the upper tail, where low-FPR thresholds live), so the
rows stay O(16 n). The classifier is scikit-learn's HistGradientBoostingClassifier with a decreasing monotonic
constraint on the c column: every fitted curve c -> mu(x, c) is non-increasing, a survival function, with no
projection needed. Each row also carries z = (c - m(x)) / s(x), the threshold standardized by a linear
location-scale fit on the same units (decreasing constraint too): trees split on one column at a time and, on a
few hundred units, shrink a direction spread over many columns; through z they follow it with one split. Past
``max_rows`` stacked rows the points per unit drop to 4, then units are subsampled: a smooth function of (x, c)
needs no more, and the fit time stays bounded.

Predictions are made at most at ``PREDICT_POINTS`` thresholds spread evenly along the grid (its two ends
included) and linearly interpolated in between, which keeps each curve non-increasing: n x 33 stacked rows to
predict instead of n x G.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from llm_audit.estimate.outcome_models import LocationScale

POINTS_PER_UNIT = 16
MAX_ROWS = 200_000
PREDICT_POINTS = 33
_PREDICT_CELLS = 2_000_000  # stacked rows per predict_proba call: bounds the temporary design matrix


class DistributionRegression:
    name = "distribution"

    def __init__(self, seed: int = 0, points_per_unit: int = POINTS_PER_UNIT, max_rows: int = MAX_ROWS,
                 max_iter: int = 100):
        self.seed, self.points_per_unit, self.max_rows, self.max_iter = seed, points_per_unit, max_rows, max_iter

    def _stack(self, xd: np.ndarray, s: np.ndarray, grid: np.ndarray, rng: np.random.Generator):
        n, g = len(s), len(grid)
        q = int(min(g, self.points_per_unit, max(4, self.max_rows // max(n, 1))))
        units = np.arange(n)
        if n * q > self.max_rows:
            units = np.sort(rng.choice(n, size=self.max_rows // q, replace=False))
        picks = np.argsort(rng.random((len(units), g)), axis=1)[:, :q]  # q distinct grid points per unit
        rows = np.repeat(units, q)
        c = grid[picks.ravel()]
        return self._features(xd, rows, c), (s[rows] >= c).astype(int)

    def _features(self, x: np.ndarray, rows: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Stacked rows (x_i, c, z): z = (c - m(x_i)) / s(x_i), the threshold standardized by the linear
        location-scale model, so the classifier can follow a direction spread over many columns with one split."""
        z = (c - self.index_.location_.predict(x)[rows]) / self.index_.scale(x)[rows]
        return np.column_stack([x[rows], c, z])

    def fit(self, x: np.ndarray, s: np.ndarray, grid: np.ndarray) -> "DistributionRegression":
        """Fit on the design matrix ``x`` (n, p) of one arm's training units and their scores."""
        rng = np.random.default_rng(self.seed)
        self.index_ = LocationScale("linear", self.seed).fit(x, s, grid)
        features, y = self._stack(x, s, grid, rng)
        self.constant_ = None
        if y.min() == y.max():  # every stacked row on one side: a constant survival, no classifier
            self.constant_ = float(y[0])
            return self
        # Small trees with large leaves: the stacked rows of one unit share its x, so a held-out share of rows
        # cannot detect overfitting (early stopping never fired), while 7-leaf trees with >= 50 rows a leaf gave the
        # best held-out Brier score from 600 to 8,000 units (and a third of the time of 31-leaf trees)
        self.model_ = HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=0.1, max_leaf_nodes=7, min_samples_leaf=50, early_stopping=False,
            random_state=self.seed, monotonic_cst=[0] * x.shape[1] + [-1, -1],
        ).fit(features, y)
        return self

    def survival(self, x: np.ndarray, grid: np.ndarray) -> np.ndarray:
        n, g = len(x), len(grid)
        if self.constant_ is not None:
            return np.full((n, g), self.constant_, dtype=np.float32)
        xd = x
        at = np.unique(np.linspace(0, g - 1, min(g, PREDICT_POINTS)).round().astype(int))
        coarse = np.empty((n, len(at)))
        step = max(1, _PREDICT_CELLS // len(at))
        for a in range(0, n, step):
            b = min(n, a + step)
            stacked = self._features(xd[a:b], np.repeat(np.arange(b - a), len(at)), np.tile(grid[at], b - a))
            coarse[a:b] = self.model_.predict_proba(stacked)[:, 1].reshape(b - a, len(at))
        if len(at) == g:
            return coarse.astype(np.float32)
        # piecewise-linear in the grid index between the predicted thresholds, row by row
        k = np.clip(np.searchsorted(at, np.arange(g), side="right") - 1, 0, len(at) - 2)
        frac = (np.arange(g) - at[k]) / (at[k + 1] - at[k])
        return (coarse[:, k] * (1 - frac) + coarse[:, k + 1] * frac).astype(np.float32)
