"""Propensity refits shared by the refuters, each made at most once per audit and only when a refuter asks.

Every refit uses the propensity model with its tuning fixed at what the main cross-fit chose
(``propensity.fixed_tuning``), and the refuters compare a refit with ``baseline``, the same fixed-tuning model on
the audit's own folds and covariates: a difference then comes from what the refuter changed (a random covariate,
half the units, a covariate left out), not from the tuning. The propensity is shared by every score, so a refit
serves them all; each score's statistic is then one weighted AUC.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from llm_audit.estimate.design import MIN_PER_ARM, AuditData
from llm_audit.estimate.nuisance import Nuisance
from llm_audit.estimate.propensity import cross_fit_propensity, fold_splits
from llm_audit.estimate.seeds import Seeds

HALVES = 5
RANDOM_COLUMN = "random_common_cause"


class Refits:
    def __init__(self, data: AuditData, nuisance: Nuisance, folds: int, seeds: Seeds, *, jobs: int = 1):
        self.data, self.nuisance, self.folds, self.seeds, self.jobs = data, nuisance, folds, seeds, jobs

    def _fit(self, covariates: pd.DataFrame, member: np.ndarray, splits: list, name: str) -> np.ndarray:
        return cross_fit_propensity(covariates.reset_index(drop=True), member, splits,
                                    model=self.nuisance.refit_model, seed=self.seeds("refit", name), jobs=self.jobs)

    @cached_property
    def baseline(self) -> np.ndarray:
        """e_raw (n,) of the fixed-tuning model on the audit's covariates and folds."""
        return self._fit(self.data.covariates, self.data.member, self.nuisance.splits, "baseline")

    @cached_property
    def common_cause(self) -> np.ndarray:
        """e_raw (n,) with one more covariate, independent standard normal noise (a common cause of nothing)."""
        noise = np.random.default_rng(self.seeds("random_common_cause")).standard_normal(len(self.data.member))
        cov = self.data.covariates.assign(**{RANDOM_COLUMN: noise})
        return self._fit(cov, self.data.member, self.nuisance.splits, "common_cause")

    def without(self, column: str) -> np.ndarray:
        """e_raw (n,) with covariate ``column`` left out (the sensitivity benchmark)."""
        return self._fit(self.data.covariates.drop(columns=[column]), self.data.member, self.nuisance.splits,
                         "without " + column)

    @cached_property
    def halves(self) -> list[tuple[np.ndarray, np.ndarray]] | str:
        """``HALVES`` random halves of the units (of the documents, when units are chunks), each as (its rows,
        their e_raw cross-fitted within the half); or why they cannot be refit."""
        t, groups = self.data.member, self.data.groups
        out = []
        for k in range(HALVES):
            rng = np.random.default_rng(self.seeds("halves", str(k)))
            rows = _half(t, groups, rng)
            th, gh = t[rows], (groups[rows] if groups is not None else None)
            units = [len(np.unique(gh[th == arm])) if gh is not None else int(np.sum(th == arm)) for arm in (0, 1)]
            if min(int(th.sum()), int(len(th) - th.sum())) < MIN_PER_ARM or min(units) < self.folds:
                return (f"a half holds {int(th.sum())} members and {int(len(th) - th.sum())} non-members: too few for "
                        f"{self.folds} folds and {MIN_PER_ARM} units per arm")
            splits = fold_splits(th, gh, self.folds, self.seeds("halves folds", str(k)))
            out.append((rows, self._fit(self.data.covariates.iloc[rows], th, splits, f"half {k}")))
        return out


def _half(member: np.ndarray, groups: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted rows of a random half: half the units of each arm, or half the documents."""
    if groups is not None:
        docs = np.unique(groups)
        chosen = rng.choice(docs, size=len(docs) // 2, replace=False)
        return np.flatnonzero(np.isin(groups, chosen))
    rows = [rng.choice(np.flatnonzero(member == arm), size=int(np.sum(member == arm)) // 2, replace=False) for arm in (0, 1)]
    return np.sort(np.concatenate(rows))
