"""Doubly robust (AIPW) estimators: the mean memorization and the potential-score CDFs (docs/method.md §5.4).

Outcome model. The CDF estimator needs mu_t(x, c) = P(S >= c | X = x, T = t) on a grid of thresholds.
Rather than one classifier per threshold (G x 2 arms x K folds fits: minutes at n = 100k), we fit a
location-scale distributional regression per arm and fold: S = m_t(X) + s_t(X) Z, m_t a regression of
S on X, log s_t^2 a regression of the squared residual on X, and Z's law the empirical distribution of the
standardized training residuals. Then mu_t(x, c) = P(Z >= (c - m_t(x)) / s_t(x)), exact for any
homoscedastic or scale-heteroscedastic noise law and 4 fits per arm and fold. Where this model is wrong,
the AIPW residual term still corrects it as long as the propensity is right.

Every estimate is a mean of per-unit terms phi_i divided by the mean of h_i (the target density,
weights.target_density); the bootstrap resamples these terms and never refits a nuisance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.isotonic import isotonic_regression
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline

from llm_audit.estimate.design import categorical_as_str, design_transformer

OUTCOME_MODELS = ("linear", "hgb")


def _regressor(covariates: pd.DataFrame, model: str, seed: int) -> Pipeline:
    if covariates.shape[1] == 0:
        return Pipeline([("reg", DummyRegressor())])
    if model == "linear":
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
    model: str = "linear",
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


@dataclass(frozen=True)
class DRTerms:
    """Per-unit doubly robust terms; estimates are column sums of ``phi`` divided by sum(h)."""

    grid: np.ndarray
    phi_cdf: tuple[np.ndarray, np.ndarray]  # arm 0, arm 1: (n, G) terms of F_t(c_g)
    psi_mean: np.ndarray  # (n,) terms of the mean effect
    h: np.ndarray  # (n,) target density
    r: np.ndarray  # (n,) residual weights (raw balancing weights)


def dr_terms(
    score: np.ndarray, member: np.ndarray, om: OutcomeModel, h: np.ndarray, r: np.ndarray, grid: np.ndarray
) -> DRTerms:
    """phi_t,i(c) = h_i mu_t(X_i, c) + 1{T_i = t} r_i (1{S_i >= c} - mu_t(X_i, c)); the same form with
    m_t(x) for the mean (h = 1, r = 1/e, 1/(1-e) is textbook ATE AIPW; ATT/ATC follow from h, r)."""
    t = np.asarray(member).astype(bool)
    above = score[:, None] >= grid[None, :]
    phis = []
    for arm, mask in ((0, ~t), (1, t)):
        mu = survival_matrix(om, arm, grid)
        resid_w = (mask * r).astype(np.float32)[:, None]
        phis.append(h.astype(np.float32)[:, None] * mu + resid_w * (above - mu))
    m0, m1 = om.loc
    psi = h * (m1 - m0) + t * r * (score - m1) - (~t) * r * (score - m0)
    return DRTerms(grid=grid, phi_cdf=(phis[0], phis[1]), psi_mean=psi, h=h, r=r)


def monotone_cdf(values: np.ndarray) -> np.ndarray:
    """Project a survival function estimate on the grid onto non-increasing curves within [0, 1]."""
    return isotonic_regression(values, increasing=False, y_min=0.0, y_max=1.0)


def grid_roc(f0: np.ndarray, f1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC points (F_0(c), F_1(c)) from the highest threshold down, with the (0, 0) and (1, 1) ends."""
    return np.r_[0.0, f0[::-1], 1.0], np.r_[0.0, f1[::-1], 1.0]


def dr_mean(terms: DRTerms) -> tuple[float, float]:
    """AIPW mean memorization and its influence-function standard error."""
    h_bar = terms.h.mean()
    tau = terms.psi_mean.sum() / terms.h.sum()
    infl = (terms.psi_mean - terms.h * tau) / h_bar
    return float(tau), float(infl.std(ddof=1) / np.sqrt(len(infl)))


def dr_cdfs(terms: DRTerms) -> tuple[np.ndarray, np.ndarray]:
    """Monotone DR estimates of F_0 and F_1 on the grid."""
    hs = terms.h.sum()
    return tuple(monotone_cdf(p.sum(axis=0, dtype=np.float64) / hs) for p in terms.phi_cdf)  # type: ignore[return-value]
