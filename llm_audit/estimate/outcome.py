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

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin, clone
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from llm_audit.estimate.design import categorical_as_str, design_transformer
from llm_audit.estimate.options import OUTCOME_MODELS

def _regressor(covariates: pd.DataFrame, model: str | RegressorMixin, seed: int) -> Pipeline:
    """Design + regressor: a named model, or any scikit-learn regressor (cloned)."""
    if covariates.shape[1] == 0:
        return Pipeline([("reg", DummyRegressor())])
    if isinstance(model, RegressorMixin):
        reg = clone(model)
    elif model == "linear":
        reg = Ridge(alpha=1e-3)  # a touch of ridge: one-hot levels plus an intercept are collinear
    elif model == "hgb":
        reg = HistGradientBoostingRegressor(max_iter=200, early_stopping=False, random_state=seed)
    else:
        raise ValueError(f"outcome model must be one of {OUTCOME_MODELS}, got {model!r}")
    return Pipeline([("design", design_transformer(covariates)), ("reg", reg)])


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
) -> OutcomeModel:
    x = categorical_as_str(covariates) if covariates.shape[1] else pd.DataFrame({"_c": np.zeros(len(member))})
    n = len(member)
    loc, scale = np.empty((2, n)), np.empty((2, n))
    fold_of = np.empty(n, dtype=int)
    residuals: list[list[np.ndarray]] = []
    for k, (train, test) in enumerate(splits):
        fold_of[test] = k
        per_arm = []
        for t in (0, 1):
            tr = train[member[train] == t]
            xt, st = x.iloc[tr], score[tr]
            m = _regressor(covariates, model, seed).fit(xt, st)
            r = st - m.predict(xt)
            # log r^2 regression: its intercept is biased by E log Z^2, a constant absorbed by Z's law
            v = _regressor(covariates, model, seed).fit(xt, np.log(r * r + 1e-12 * np.var(st) + 1e-300))
            s_tr = np.exp(0.5 * v.predict(xt))
            per_arm.append(np.sort(r / s_tr))
            loc[t, test] = m.predict(x.iloc[test])
            scale[t, test] = np.exp(0.5 * v.predict(x.iloc[test]))
        residuals.append(per_arm)
    return OutcomeModel(loc=loc, scale=scale, fold_of=fold_of, residuals=residuals)


def survival_matrix(om: OutcomeModel, arm: int, grid: np.ndarray) -> np.ndarray:
    """mu_t(X_i, c_g) = P(S >= c_g | X_i, T = t), shape (n, G), float32 to halve memory at large n."""
    n = om.loc.shape[1]
    out = np.empty((n, len(grid)), dtype=np.float32)
    for k, res in enumerate(om.residuals):
        idx = np.flatnonzero(om.fold_of == k)
        z = (grid[None, :] - om.loc[arm, idx, None]) / om.scale[arm, idx, None]
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
