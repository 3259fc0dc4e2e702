"""What every estimation method sees and returns.

A method turns one ``Problem`` (one score on one population of units, with the propensity and the estimand)
into a ``Fit``: the point estimates and a way to recompute them on bootstrap resampling counts. Nuisance
models are fit before (once per audit, or once per score for the outcome model) and never refit per replicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from llm_audit.estimate.estimands import Estimand


@dataclass(frozen=True)
class SortedScore:
    """A score sorted once (descending) for O(n) weighted ROC curves per replicate: ``order`` sorts the units,
    ``starts`` open each group of tied scores."""

    order: np.ndarray
    starts: np.ndarray
    values: np.ndarray  # the sorted scores
    member: np.ndarray  # membership (float 0/1) in sorted order

    @classmethod
    def of(cls, score: np.ndarray, member: np.ndarray) -> "SortedScore":
        order = np.argsort(-score, kind="mergesort")
        values = score[order]
        starts = np.r_[0, np.flatnonzero(np.diff(values) != 0) + 1]
        return cls(order, starts, values, np.asarray(member).astype(float)[order])


@dataclass
class Problem:
    """One score on one population of units (``rows`` of the audit), everything a method may need."""

    score: np.ndarray  # (n_rows,)
    member: np.ndarray  # (n_rows,) int 0/1
    fpr: tuple[float, ...]
    estimand: Estimand
    e: np.ndarray | None = None  # (n_rows,) clipped propensity; None for the naive contrast
    dr_terms: Callable[[], Any] | None = None  # per-unit DR terms on these rows (the outcome model, fit lazily)
    _sorted: SortedScore | None = field(default=None, repr=False)

    @property
    def sorted(self) -> SortedScore:
        if self._sorted is None:
            self._sorted = SortedScore.of(self.score, self.member)
        return self._sorted


@dataclass
class Point:
    """Point estimates of every metric and the curve they were read from."""

    auc: float
    tpr: dict[float, float]
    n_eff: dict[float, float]  # effective non-members above each TPR@FPR threshold
    advantage: float
    mean_diff: float
    curve: tuple[np.ndarray, np.ndarray]  # (fpr, tpr)
    mean_se: float | None = None  # an analytic (influence-function) standard error of the mean, when known


Replicates = dict[str, Any]  # {"auc": (B,), "tpr_at_fpr": {a: (B,)}, "advantage": (B,), "mean_diff": (B,)}


class Fit(Protocol):
    point: Point

    def replicates(self, counts: np.ndarray) -> Replicates:
        """The metrics recomputed under resampling counts of shape (B, n_rows)."""


class Method(Protocol):
    name: str
    needs_propensity: bool  # a corrected method: withheld when the correction is not identified
    # The weighting whose covariate balance its verdict checks ("propensity": the IPW weights). Optional: a method
    # that does not declare it is judged on overlap and the refuters only.
    weights: str | None

    def fit(self, problem: Problem) -> Fit: ...
