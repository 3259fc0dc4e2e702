"""Every corrected method on every estimand of one score: which fits run, under which result keys (see
``results.py``), and the doubly robust terms they share.

The outcome model of a score is fit once (lazily, on the first DR method) and serves every DR method and
estimand: only the target density h and the residual weights change between ``dr``, ``dr_ato`` and ``dr_ebal``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from llm_audit.estimate.methods import METHODS, Fit, Problem
from llm_audit.estimate.methods.base import SortedScore, supports
from llm_audit.estimate.methods.dr import DRTerms, dr_terms
from llm_audit.estimate.outcome import OutcomeFit
from llm_audit.estimate.populations import EstimandPlan
from llm_audit.estimate.results import Result, fpr_key

BALANCING_METHODS = ("ebal", "dr_ebal")  # methods whose weights are the entropy-balancing ones


class ScoreTerms:
    """The DR terms of one score for any population and residual weighting, from one lazily fit outcome model."""

    def __init__(self, score: np.ndarray, member: np.ndarray, outcome: Callable[[], OutcomeFit]):
        self.score, self.member, self._outcome = score, member, outcome
        self._fit: OutcomeFit | None = None
        self._above: np.ndarray | None = None

    @property
    def fitted(self) -> bool:
        return self._fit is not None

    @property
    def fit(self) -> OutcomeFit:
        if self._fit is None:
            self._fit = self._outcome()
            self._above = (self.score[:, None] >= self._fit.grid[None, :]).astype(np.float32)
        return self._fit

    def terms(self, plan: EstimandPlan, weighting: str) -> DRTerms:
        t = self.member[plan.rows]
        h = plan.estimand.density(plan.e, t)
        if weighting == "ebal":
            r = plan.balance.weights * h.sum()  # each arm's weights sum to 1: scaled to sum h, as r(e) is
        else:
            r = plan.estimand.residual_weights(plan.e, t)
        fit = self.fit
        return dr_terms(fit, self.score, self.member, h, r, plan.rows, above=self._above)


def corrected_fits(
    plans: list[EstimandPlan], methods: list[str], score: np.ndarray, member: np.ndarray, fpr: tuple[float, ...],
    grid: np.ndarray, u: np.ndarray, terms: ScoreTerms, sorted_all: SortedScore | None = None,
) -> tuple[dict[str, Fit], dict[str, tuple], dict[str, np.ndarray], dict[str, Result]]:
    """Fits, their (method, estimand, population) labels and rows by result key (subsets only), and the null
    result of every (method, estimand) key, which a fit on the same key replaces. ``sorted_all`` is the score
    sorted once, shared by every fit on all units."""
    fits, labels, rows, nulls = {}, {}, {}, {}
    keys = [fpr_key(a) for a in fpr]
    for plan in plans:
        usable = [m for m in methods if supports(METHODS[m], plan.estimand)]
        for m in usable:
            nulls[m + plan.key] = Result.null(m, plan.estimand.name, keys)
        if plan.rows is None:
            continue
        balance = plan.balance if plan.balance is not None and plan.balance.identified else None
        problem = Problem(score[plan.rows], member[plan.rows], fpr, plan.estimand, e=plan.e, grid=grid, fpr_grid=u,
                          balance=balance, dr_terms=lambda weighting, plan=plan: terms.terms(plan, weighting),
                          _sorted=sorted_all if len(plan.rows) == len(score) else None)
        for m in usable:
            if m in BALANCING_METHODS and balance is None:
                continue
            key = m + plan.key + plan.suffix
            fits[key] = METHODS[m].fit(problem)
            labels[key] = (m, plan.estimand.name, plan.population)
            if len(plan.rows) < len(score):  # a subset: its replicates see those columns of the counts
                rows[key] = plan.rows
    return fits, labels, rows, nulls
