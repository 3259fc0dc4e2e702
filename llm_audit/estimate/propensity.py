"""Cross-fitted, calibrated propensity e(x) = P(member | x) (docs/method.md §5.1-§5.2).

Out-of-fold predictions only: an in-sample propensity overfits, pushes e_hat to 0/1 and makes both the
weights and the blind-baseline AUC look worse (or better) than they are.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from llm_audit.estimate.design import categorical_as_str, design_transformer
from llm_audit.estimate.options import PROPENSITY_MODELS
from llm_audit.parallel import PROCESS_FOLDS_FROM, parallel_map


def fold_splits(member: np.ndarray, groups: np.ndarray | None, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """K folds stratified by membership; all chunks of one document (same ``group``) in one fold."""
    placeholder = np.zeros(len(member))
    if groups is not None:
        cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(cv.split(placeholder, member, groups))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(cv.split(placeholder, member))


def propensity_pipeline(covariates: pd.DataFrame, model: str | ClassifierMixin, seed: int) -> Pipeline:
    """Design + classifier: a named model, or any scikit-learn classifier with ``predict_proba`` (cloned).

    Logistic regression is not wrapped: its likelihood equations already make it calibrated (and make
    the in-sample weighted covariate means balance). Wrapping it in CalibratedClassifierCV
    averaged three sigmoid-recalibrated copies fit on a third of the data each, which squeezed the
    propensities towards the mean (0.19-0.72 where the plain fit gave 0.01-0.98 on the demo) and
    left most of the imbalance in place (domain SMD -0.56 -> -0.37, against -0.04 unwrapped).
    Gradient boosting is not calibrated by construction, so it is Platt-calibrated on shuffled inner
    folds (an unshuffled split on a corpus sorted by source trains and calibrates on different
    domains) with one calibrator over out-of-fold predictions (ensemble=False), not an average.
    """
    if isinstance(model, ClassifierMixin):
        clf = clone(model)
    elif model == "logistic":
        # The L2 strength is chosen by inner cross-validated log-loss: a fixed C overfits a few hundred
        # units with dozens of covariates (propensities near 0/1, ESS collapsing) and over-shrinks large pools.
        inner = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
        clf = LogisticRegressionCV(Cs=np.logspace(-3, 2, 11), cv=inner, scoring="neg_log_loss", max_iter=5000)
    elif model == "hgb":
        base = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, early_stopping=False, random_state=seed)
        inner = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
        clf = CalibratedClassifierCV(base, method="sigmoid", cv=inner, ensemble=False)
    else:
        raise ValueError(f"propensity model must be one of {PROPENSITY_MODELS}, got {model!r}")
    return Pipeline([("design", design_transformer(covariates)), ("clf", clf)])


def cross_fit_propensity(
    covariates: pd.DataFrame,
    member: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    model: str | ClassifierMixin = "logistic",
    seed: int = 0,
    fitted: list[Pipeline] | None = None,
    jobs: int = 1,
) -> np.ndarray:
    """Out-of-fold e_hat for every unit; the overall member share when there is no covariate (a
    per-fold share would differ by fold and perturb the weights for nothing). ``fitted``, when given, receives
    each fold's fitted pipeline.

    The folds are fit side by side on ``jobs`` (``llm_audit.parallel``) in worker processes: a fold's fit is
    many small scikit-learn calls whose Python holds the GIL (gradient boosting's tree growing above all), so
    threads take turns (an audit of 1,000 units with gradient boosting on 2 cores: 54 s with its folds on threads,
    20 s on processes, 27 s on one core). A logistic fold below ``PROCESS_FOLDS_FROM`` units is fit here: it takes
    less than starting the workers. Each fold's fit depends only on its rows and ``seed``, so the result does not depend on ``jobs``."""
    if covariates.shape[1] == 0:
        return np.full(len(member), float(np.mean(member)))
    x = categorical_as_str(covariates)
    fit = partial(_fit_fold, pipeline=propensity_pipeline(covariates, model, seed))
    tasks = [(x.iloc[train], member[train], x.iloc[test]) for train, test in splits]
    small = len(member) < PROCESS_FOLDS_FROM and _is_logistic(model)
    done = parallel_map(fit, tasks, jobs=1 if small else jobs, processes=True)
    e_hat = np.empty(len(member))
    for (_, test), (pred, pipe) in zip(splits, done):
        e_hat[test] = pred
        if fitted is not None:
            fitted.append(pipe)
    return e_hat


def _is_logistic(model: str | ClassifierMixin) -> bool:
    return model == "logistic" or isinstance(model, (LogisticRegression, LogisticRegressionCV))


def _fit_fold(task: tuple[pd.DataFrame, np.ndarray, pd.DataFrame], *,
              pipeline: Pipeline) -> tuple[np.ndarray, Pipeline]:
    """One fold: a fresh copy of the (unfitted) ``pipeline`` fit on the training rows, and its P(member) on the
    held-out rows."""
    x_train, t_train, x_test = task
    with warnings.catch_warnings():
        # sklearn 1.9 announces 1.10 defaults of LogisticRegressionCV (l1_ratios, fitted attributes); the
        # arguments that silence them do not exist in the older releases pyproject admits.
        warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn.linear_model")
        pipe = clone(pipeline).fit(x_train, t_train)
    return pipe.predict_proba(x_test)[:, 1], pipe


def fixed_tuning(model: str | ClassifierMixin, fitted: list[Pipeline]) -> str | ClassifierMixin:
    """The propensity model with the tuning the cross-fit chose held fixed, for refits (the refuters): the
    logistic model's L2 strength becomes the geometric median of the folds' cross-validated choices, so a refit
    costs one fit per fold instead of 34, and a refit changes the data only, not the tuning as well. Other
    models are returned as they are."""
    if isinstance(model, str) and model == "logistic" and fitted:
        c = float(np.exp(np.median([np.log(p.named_steps["clf"].C_[0]) for p in fitted])))
        return LogisticRegression(C=c, max_iter=5000)
    return model


@dataclass(frozen=True)
class Overlap:
    """The propensity after clipping or trimming, and what that did."""

    e_raw: np.ndarray
    e: np.ndarray  # clipped to [eta, 1-eta] (when trimming: unchanged, see ``keep``)
    keep: np.ndarray  # units used by the corrected estimators (all, unless trimmed)
    in_overlap: np.ndarray  # e_raw within [eta, 1-eta]
    n_clipped: dict[str, int]
    n_trimmed: dict[str, int]


def apply_overlap(e_raw: np.ndarray, member: np.ndarray, eta: float, trim: bool) -> Overlap:
    t = np.asarray(member).astype(bool)
    outside = (e_raw < eta) | (e_raw > 1 - eta)
    counts = {"member": int((outside & t).sum()), "nonmember": int((outside & ~t).sum())}
    zero = {"member": 0, "nonmember": 0}
    e = np.clip(e_raw, eta, 1 - eta)
    keep = ~outside if trim else np.ones(len(e_raw), dtype=bool)
    return Overlap(
        e_raw=e_raw, e=e, keep=keep, in_overlap=~outside,
        n_clipped=zero if trim else counts, n_trimmed=counts if trim else zero,
    )


def blind_baseline_auc(e_raw: np.ndarray, member: np.ndarray) -> float:
    """How well membership is predicted from the covariates alone, out of fold."""
    return float(roc_auc_score(member, e_raw))
