"""The outcome model of the doubly robust estimators: mu_t(x, c) = P(S >= c | X = x, T = t) on a threshold grid,
and m_t(x) = E[S | X = x, T = t] (docs/method.md, "Doubly robust estimators").

Rather than one classifier per threshold (G x 2 arms x K folds fits: minutes at n = 100k), a location-scale
distributional regression is fit per arm and fold: S = m_t(X) + s_t(X) Z, m_t a regression of S on X,
log s_t^2 a regression of the squared residual on X, and Z's law the empirical distribution of the
standardized training residuals. Then mu_t(x, c) = P(Z >= (c - m_t(x)) / s_t(x)), exact for any
homoscedastic or scale-heteroscedastic noise law and 4 fits per arm and fold. Where this model is wrong,
the AIPW residual term still corrects it as long as the propensity is right.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin, clone
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge

from llm_audit.estimate.design import categorical_as_str, design_transformer
from llm_audit.estimate.options import OUTCOME_MODELS
from llm_audit.parallel import parallel_map


def _regressor(model: str | RegressorMixin, seed: int, has_covariates: bool) -> RegressorMixin:
    """A named regressor, or any scikit-learn regressor (cloned); the mean alone without covariates."""
    if not has_covariates:
        return DummyRegressor()
    if isinstance(model, RegressorMixin):
        return clone(model)
    if model == "linear":
        return Ridge(alpha=1e-3)  # a touch of ridge: one-hot levels plus an intercept are collinear
    if model == "hgb":
        return HistGradientBoostingRegressor(max_iter=200, early_stopping=False, random_state=seed)
    raise ValueError(f"outcome model must be one of {OUTCOME_MODELS}, got {model!r}")


class FoldDesigns:
    """The covariate design (``design_transformer``) fit on the training units of each fold and arm, with the
    design matrices of those units and of the fold's test units: what every score's outcome model of that fold
    and arm is fit on. The design depends on the covariates only, so it is built once, on first use, and shared
    by every score (rebuilding it per score was most of the outcome stage's time). Safe to share across
    threads."""

    def __init__(self, covariates: pd.DataFrame, member: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]):
        self.has_covariates = covariates.shape[1] > 0
        self.x = categorical_as_str(covariates) if self.has_covariates else pd.DataFrame({"_c": np.zeros(len(member))})
        self.covariates, self.member, self.splits = covariates, member, splits
        self._built: dict[tuple[int, int], tuple[np.ndarray, Any, Any]] = {}
        self._lock = threading.Lock()

    def get(self, fold: int, arm: int) -> tuple[np.ndarray, Any, Any]:
        """(training rows, their design matrix, the design matrix of the fold's test units)."""
        with self._lock:
            if (fold, arm) not in self._built:
                train, test = self.splits[fold]
                rows = train[self.member[train] == arm]
                xt, xtest = self.x.iloc[rows], self.x.iloc[test]
                if self.has_covariates:
                    design = design_transformer(self.covariates).fit(xt)
                    xt, xtest = design.transform(xt), design.transform(xtest)
                self._built[(fold, arm)] = (rows, xt, xtest)
            return self._built[(fold, arm)]


@dataclass(frozen=True)
class OutcomeModel:
    """Cross-fitted location-scale fits of one score: out-of-fold m_t(x_i), s_t(x_i), and per fold the
    sorted standardized training residuals of each arm."""

    loc: np.ndarray  # (2, n): m_0, m_1 out of fold
    scale: np.ndarray  # (2, n)
    fold_of: np.ndarray  # (n,) fold index of each unit
    residuals: list[list[np.ndarray]]  # [fold][arm] sorted standardized residuals


def fit_outcome(
    covariates: pd.DataFrame,
    member: np.ndarray,
    score: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    model: str | RegressorMixin = "linear",
    seed: int = 0,
    jobs: int = 1,
    designs: FoldDesigns | None = None,
) -> OutcomeModel:
    """The location-scale model of ``score``, one fit per fold and arm, on ``jobs`` workers
    (``llm_audit.parallel``); ``designs`` shares the folds' design matrices between scores."""
    designs = designs or FoldDesigns(covariates, member, splits)

    def fit_one(task: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        fold, arm = task
        rows, xt, xtest = designs.get(fold, arm)
        st = score[rows]
        m = _regressor(model, seed, designs.has_covariates).fit(xt, st)
        r = st - m.predict(xt)
        # log r^2 regression: its intercept is biased by E log Z^2, a constant absorbed by Z's law
        v = _regressor(model, seed, designs.has_covariates).fit(xt, np.log(r * r + 1e-12 * np.var(st) + 1e-300))
        s_tr = np.exp(0.5 * v.predict(xt))
        return np.sort(r / s_tr), m.predict(xtest), np.exp(0.5 * v.predict(xtest))

    tasks = [(fold, arm) for fold in range(len(splits)) for arm in (0, 1)]
    fits = dict(zip(tasks, parallel_map(fit_one, tasks, jobs=jobs)))
    n = len(member)
    loc, scale = np.empty((2, n)), np.empty((2, n))
    fold_of = np.empty(n, dtype=int)
    residuals: list[list[np.ndarray]] = []
    for fold, (_, test) in enumerate(splits):
        fold_of[test] = fold
        for arm in (0, 1):
            _, loc[arm, test], scale[arm, test] = fits[(fold, arm)]
        residuals.append([fits[(fold, 0)][0], fits[(fold, 1)][0]])
    return OutcomeModel(loc=loc, scale=scale, fold_of=fold_of, residuals=residuals)


def survival_matrix(om: OutcomeModel, arm: int, grid: np.ndarray, units: slice = slice(None)) -> np.ndarray:
    """mu_t(X_i, c_g) = P(S >= c_g | X_i, T = t) for the ``units`` (a slice of all), shape (units, G), float32 to
    halve memory at large n."""
    fold_of = om.fold_of[units]
    loc, scale = om.loc[arm, units], om.scale[arm, units]
    out = np.empty((len(fold_of), len(grid)), dtype=np.float32)
    for k, res in enumerate(om.residuals):
        idx = np.flatnonzero(fold_of == k)
        z = (grid[None, :] - loc[idx, None]) / scale[idx, None]
        r = res[arm]
        out[idx] = 1.0 - np.searchsorted(r, z, side="left") / len(r)
    return out


def threshold_grid(scores: np.ndarray, size: int = 100) -> np.ndarray:
    """Quantiles of the pooled scores: half evenly spread, half on a log scale in the upper tail,
    where the low-FPR thresholds live."""
    n = len(scores)
    half = size // 2
    upper = 1.0 - np.geomspace(0.1, max(0.5 / n, 1e-5), size - half)
    levels = np.unique(np.r_[np.linspace(0.01, 0.9, half), upper])
    return np.unique(np.quantile(scores, levels))
