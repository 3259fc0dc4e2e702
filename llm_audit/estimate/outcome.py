"""The outcome model of the doubly robust estimators, cross-fitted: mu_t(x, c) = P(S >= c | X = x, T = t) on a
threshold grid and m_t(x) = E[S | X = x, T = t] (docs/estimands.md, "Outcome models").

With ``outcome: auto`` the CDF model is chosen per score among the candidates of ``outcome_models.py`` and
``distribution_regression.py`` by Brier score averaged over the grid, inside the cross-fitting: for evaluation
fold k the candidates are fit on two thirds of the other folds and scored on the last third, then the winner is
refit on all the other folds and predicts fold k. Fold k's units never enter the choice made for them. The
mean's location regression (linear or gradient boosting) is chosen the same way, by squared error. Distribution
regression predicts n x G stacked rows; above ``DISTRIBUTION_MAX_UNITS`` units it leaves the automatic choice
(named in the report) and can still be asked for by name. The final fits use at most ``FIT_MAX_UNITS`` training
units per arm and fold (a seeded subsample), which bounds the time of gradient boosting at a million units.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin

from llm_audit.estimate.design import categorical_as_str, design_transformer
from llm_audit.estimate.distribution_regression import DistributionRegression
from llm_audit.estimate.outcome_models import LocationRegression, LocationScale, brier
from llm_audit.parallel import PROCESS_FOLDS_FROM, parallel_map

CDF_CANDIDATES = ("linear", "hgb", "distribution")
MEAN_CANDIDATES = ("linear", "hgb")
DISTRIBUTION_MAX_UNITS = 50_000
SELECT_MAX_UNITS = 10_000  # per arm, for the inner fits of the choice: bounds its cost at large n
# per arm and fold, for the final fits: past this the outcome model's error is small against the estimate's
# sampling error, while gradient boosting's time keeps growing with the rows (a seeded subsample is used)
FIT_MAX_UNITS = 50_000
PROCESS_FOLDS_UP_TO = 200_000  # units: folds on worker processes up to here, on threads above (fit_outcome)


@dataclass(frozen=True)
class OutcomeFit:
    """Cross-fitted outcome predictions of one score for every unit (each from the models of its own fold)."""

    grid: np.ndarray  # (G,) thresholds
    mu: tuple[np.ndarray, np.ndarray]  # arm 0, arm 1: (n, G) float32, mu_t(X_i, c_g)
    loc: np.ndarray  # (2, n): m_0, m_1
    fold_of: np.ndarray  # (n,) evaluation fold of each unit
    selection: dict = field(default_factory=dict)  # the choice and each candidate's score (for the report)
    # (n,) m_0 from a near-unpenalized linear regression (ridge 1e-3), where some fold's mean model is not
    # linear (else None)
    loc_linear: np.ndarray | None = None

    def prognostic_scores(self) -> dict[str, np.ndarray]:
        """The prognostic scores the balance checks read (``refuters/prognostic.py``): the outcome model's m_0(x)
        and, where that model is not linear, the linear one's. A flexible model fit on a few hundred units
        shrinks towards the mean along a direction spread over many columns; the linear one does not (and
        misses curves, which the flexible one sees)."""
        out = {"outcome model": self.loc[0]}
        if self.loc_linear is not None:
            out["linear"] = self.loc_linear
        return out


def _cdf_learner(name: str | RegressorMixin, seed: int):
    return DistributionRegression(seed=seed) if name == "distribution" else LocationScale(name, seed)


def _inner_split(rows: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two thirds / one third of one arm's training units (capped at SELECT_MAX_UNITS / half of it)."""
    perm = rng.permutation(rows)
    cut = max(1, (2 * len(perm)) // 3)
    return perm[:cut][:SELECT_MAX_UNITS], perm[cut:][: SELECT_MAX_UNITS // 2]


def _select(x: np.ndarray, s: np.ndarray, t: np.ndarray, train: np.ndarray, grid: np.ndarray,
            candidates: tuple[str, ...], seed: int) -> tuple[str, str, dict, dict]:
    """The CDF candidate with the least held-out Brier score and the location regression with the least held-out
    squared error, both over the two arms' inner validation units of these training folds."""
    rng = np.random.default_rng(seed)
    briers, mses = dict.fromkeys(candidates, 0.0), dict.fromkeys(MEAN_CANDIDATES, 0.0)
    n_valid = 0
    for arm in (0, 1):
        fit_rows, valid = _inner_split(train[t[train] == arm], rng)
        if len(valid) == 0:
            continue
        xf, xv, sv = x[fit_rows], x[valid], s[valid]
        for name in candidates:
            model = _cdf_learner(name, seed).fit(xf, s[fit_rows], grid)
            briers[name] += brier(model.survival(xv, grid), sv, grid) * len(valid)
            if name in mses:  # the location-scale candidates carry the location regression of the mean
                mses[name] += float(np.sum((model.location_.predict(xv) - sv) ** 2))
        for name in MEAN_CANDIDATES:
            if name not in candidates:
                mses[name] += float(np.sum((LocationRegression(name, seed).fit(xf, s[fit_rows]).predict(xv) - sv) ** 2))
        n_valid += len(valid)
    briers = {k: v / max(n_valid, 1) for k, v in briers.items()}
    mses = {k: v / max(n_valid, 1) for k, v in mses.items()}
    return min(briers, key=briers.get), min(mses, key=mses.get), briers, mses


def _candidates(model: str, n: int) -> tuple[tuple[str, ...], list[str]]:
    if model != "auto":
        return (), []
    if n > DISTRIBUTION_MAX_UNITS:
        return MEAN_CANDIDATES, [f"distribution regression left out of the outcome model choice above "
                                 f"{DISTRIBUTION_MAX_UNITS:,} units (its n x G predictions dominate the time); "
                                 "`outcome: distribution` asks for it"]
    return CDF_CANDIDATES, []


def _fit_fold(task: tuple[np.ndarray, np.ndarray, int], *, covariates: pd.DataFrame, score: np.ndarray, t: np.ndarray,
              grid: np.ndarray, model: str | RegressorMixin, candidates: tuple[str, ...]) -> dict:
    """One evaluation fold ``task`` = (training rows, held-out rows, seed): the design fit on the training folds,
    the choice (made on the training folds only), then the chosen models refit on the training folds of each arm
    and their predictions for the fold's units."""
    train, test, seed = task
    design = design_transformer(covariates).fit(covariates.iloc[train])
    x = np.asarray(design.transform(covariates), dtype=float)
    out: dict = {"brier": None, "mse": None}
    if candidates:
        cdf_name, mean_name, out["brier"], out["mse"] = _select(x, score, t, train, grid, candidates, seed + 7919)
    else:
        cdf_name, mean_name = model, ("hgb" if model == "distribution" else model)
    out["chosen"] = cdf_name if isinstance(cdf_name, str) else "custom"
    out["mean_model"] = mean_name if isinstance(mean_name, str) else "custom"
    out["mu"], out["loc"], out["loc_linear"] = [], [], None
    rng = np.random.default_rng(seed)
    for arm in (0, 1):
        tr = train[t[train] == arm]
        if len(tr) > FIT_MAX_UNITS:
            tr = np.sort(rng.choice(tr, size=FIT_MAX_UNITS, replace=False))
        cdf = _cdf_learner(cdf_name, seed).fit(x[tr], score[tr], grid)
        out["mu"].append(cdf.survival(x[test], grid))
        same = isinstance(cdf, LocationScale) and cdf.family == mean_name
        location = cdf.location_ if same else LocationRegression(mean_name, seed).fit(x[tr], score[tr])
        out["loc"].append(location.predict(x[test]))
        if arm == 0 and mean_name != "linear":
            out["loc_linear"] = LocationRegression("linear", seed).fit(x[tr], score[tr]).predict(x[test])
    return out


def fit_outcome(
    covariates: pd.DataFrame, member: np.ndarray, score: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]],
    grid: np.ndarray, *, model: str | RegressorMixin = "auto", seed: int = 0, n_jobs: int = 1,
) -> OutcomeFit:
    """Cross-fit the outcome model of one score (chosen per fold when ``model`` is ``auto``). From
    ``PROCESS_FOLDS_FROM`` units the folds run side by side on ``n_jobs`` workers (``llm_audit.parallel``), each
    model on the worker's share of OpenMP threads: worker processes up to ``PROCESS_FOLDS_UP_TO`` units
    (threads take turns on the GIL that gradient boosting's tree growing holds), threads above it (the folds'
    (units x grid) predictions are then shared, not copied back, and a large fit's time is in compiled code).
    Below, one after the other: starting the workers would take longer than the fits (1,000 units, 2 cores:
    an audit took 4.2 s on one core, 5.2 s with its outcome folds on processes, 8.2 s on threads)."""
    x = categorical_as_str(covariates) if covariates.shape[1] else pd.DataFrame({"_c": np.zeros(len(member))})
    n, t = len(member), np.asarray(member)
    candidates, notes = _candidates(model if isinstance(model, str) else "custom", n)
    fit = partial(_fit_fold, covariates=x, score=score, t=t, grid=grid, model=model, candidates=candidates)
    folds = parallel_map(fit, [(train, test, seed + 7919 * k) for k, (train, test) in enumerate(splits)],
                         jobs=n_jobs if n >= PROCESS_FOLDS_FROM else 1, processes=n <= PROCESS_FOLDS_UP_TO)
    mu = (np.empty((n, len(grid)), dtype=np.float32), np.empty((n, len(grid)), dtype=np.float32))
    loc, fold_of = np.empty((2, n)), np.empty(n, dtype=int)
    linear = np.empty(n) if any(f["loc_linear"] is not None for f in folds) else None
    for k, ((_, test), f) in enumerate(zip(splits, folds)):
        fold_of[test] = k
        for arm in (0, 1):
            mu[arm][test], loc[arm, test] = f["mu"][arm], f["loc"][arm]
        if linear is not None:  # a fold whose mean model is linear already holds the linear m_0
            linear[test] = f["loc"][0] if f["loc_linear"] is None else f["loc_linear"]
    report = {"candidates": list(candidates), **{key: [f[key] for f in folds] for key in ("chosen", "mean_model")},
              "brier": [f["brier"] for f in folds if f["brier"]], "mse": [f["mse"] for f in folds if f["mse"]]}
    return OutcomeFit(grid, mu, loc, fold_of, _selection_report(report, notes), linear)


def _selection_report(report: dict, notes: list[str]) -> dict:
    """Per candidate its Brier score averaged over folds, the choice per fold, and the most frequent choice."""
    out = {"chosen": Counter(report["chosen"]).most_common(1)[0][0], "per_fold": report["chosen"],
           "mean_model": Counter(report["mean_model"]).most_common(1)[0][0], "mean_model_per_fold": report["mean_model"],
           "candidates": report["candidates"], "notes": notes}
    if report["brier"]:
        out["brier"] = {c: float(np.mean([b[c] for b in report["brier"]])) for c in report["brier"][0]}
        out["mean_mse"] = {c: float(np.mean([m[c] for m in report["mse"]])) for c in report["mse"][0]}
    return out


def threshold_grid(scores: np.ndarray, size: int = 100) -> np.ndarray:
    """Quantiles of the pooled scores: half evenly spread, half on a log scale in the upper tail,
    where the low-FPR thresholds live."""
    n = len(scores)
    half = size // 2
    upper = 1.0 - np.geomspace(0.1, max(0.5 / n, 1e-5), size - half)
    levels = np.unique(np.r_[np.linspace(0.01, 0.9, half), upper])
    return np.unique(np.quantile(scores, levels))
