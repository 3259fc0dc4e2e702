"""What every estimation method sees and returns.

A method turns one ``Problem`` (one score on one population of units, with the propensity, the balancing
weights and the estimand) into a ``Fit``: the point estimates and two ways to recompute them, on bootstrap
resampling counts (``replicates``) or as Gaussian multiplier draws of the curves' influence functions on the
threshold grid (``gaussian_replicates``, for large n where the bootstrap dominates the time). Nuisance models
are fit before (once per audit, or once per score for the outcome model) and never refit per replicate.

Replicates carry, beside the metrics, the curves a simultaneous band needs: F_0 and F_1 on the threshold grid
and the ROC on the FPR grid (``grid_curves.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from llm_audit.estimate.balancing import BalanceWeights
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
    e: np.ndarray | None = None  # (n_rows,) propensity (clipped where the estimand needs it); None for naive
    grid: np.ndarray | None = None  # (G,) threshold grid of this score: F_0, F_1 and their bands live on it
    fpr_grid: np.ndarray | None = None  # (U,) FPR values the ROC band is read at
    balance: BalanceWeights | None = None  # entropy-balancing weights of these rows, when the estimand has them
    # per-unit DR terms on these rows for a residual weighting ("propensity" or "ebal"); the outcome model
    # behind them is fit lazily, once per score
    dr_terms: Callable[[str], Any] | None = None
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
    grid_curves: dict[str, np.ndarray] | None = None  # "f0", "f1" on the threshold grid, "roc" on the FPR grid
    arm_ess: dict[str, float] | None = None  # Kish ESS of each arm's weights: "member", "nonmember"


# {"auc": (B,), "tpr_at_fpr": {a: (B,)}, "advantage": (B,), "mean_diff": (B,),
#  "f0": (B, G), "f1": (B, G), "roc": (B, U)}  (the curves only where the problem has a grid)
Replicates = dict[str, Any]


def concat_replicates(parts: list[Replicates]) -> Replicates:
    """Blocks of replicates joined along the replicate axis (metrics (B,), curves (B, G), TPRs per target)."""
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "tpr_at_fpr"}
    out["tpr_at_fpr"] = {a: np.concatenate([p["tpr_at_fpr"][a] for p in parts]) for a in parts[0]["tpr_at_fpr"]}
    return out


class Fit(Protocol):
    point: Point

    def replicates(self, counts: np.ndarray, cache: dict | None = None) -> Replicates:
        """The metrics recomputed under resampling counts of shape (B, n_rows); ``cache`` is shared by the fits
        of one chunk of replicates (work that depends only on the counts and the sorted score)."""

    def gaussian_replicates(self, n_draws: int, rng: np.random.Generator) -> Replicates:
        """Draws of the metrics from the Gaussian law of the curves' influence functions on the grid."""


class Method(Protocol):
    name: str
    needs_propensity: bool  # a corrected method: withheld when the correction is not identified
    # The weighting whose covariate balance its verdict checks ("propensity": the IPW weights). Optional: a method
    # that does not declare it is judged on overlap and the refuters only.
    weights: str | None

    def fit(self, problem: Problem) -> Fit: ...


def supports(method: Method, estimand: Estimand) -> bool:
    """Whether ``method`` runs on ``estimand``: its own ``supports(estimand)`` where it defines one (entropy
    balancing has no ATO form), else every estimand."""
    check = getattr(method, "supports", None)
    return True if check is None else bool(check(estimand))
