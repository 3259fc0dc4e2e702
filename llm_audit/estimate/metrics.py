"""Weighted ROC metrics: AUC, TPR@FPR, advantage, mean difference (docs/method.md §2, §5.3).

The same functions give the naive metrics (unit weights) and the IPW ones (Hajek weights), so the two
can never drift apart in convention: higher score = member, ties count 1/2, and TPR@FPR=a is the
largest TPR among ROC points with FPR <= a.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from llm_audit.estimate.weights import kish_ess

# FPR values are ratios of floating sums: a point meant to sit exactly at FPR = a may come out as
# a + 1e-16. The tolerance keeps such a point on the admissible side of the rule.
FPR_TOL = 1e-12
MIN_NONMEMBERS_ABOVE = 10.0


@dataclass(frozen=True)
class RocCurve:
    """All points of a (weighted) ROC curve, from (0, 0) at threshold +inf to (1, 1).

    Every distinct score is a point. sklearn's ``roc_curve(drop_intermediate=True)`` drops collinear
    points; we keep them all because TPR@FPR reads the curve at arbitrary FPR targets and the effective
    non-member count needs the exact threshold of each point.
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray  # thresholds[k]: units with score >= thresholds[k] are called members


def roc_curve_weighted(scores: np.ndarray, member: np.ndarray, weight: np.ndarray | None = None) -> RocCurve:
    s = np.asarray(scores, dtype=float)
    t = np.asarray(member).astype(bool)
    w = np.ones_like(s) if weight is None else np.asarray(weight, dtype=float)
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s_sorted) != 0) + 1]
    pos = np.add.reduceat(np.where(t, w, 0.0)[order], starts)
    neg = np.add.reduceat(np.where(t, 0.0, w)[order], starts)
    tpr = np.r_[0.0, np.cumsum(pos) / pos.sum()]
    fpr = np.r_[0.0, np.cumsum(neg) / neg.sum()]
    return RocCurve(fpr=fpr, tpr=tpr, thresholds=np.r_[np.inf, s_sorted[starts]])


def weighted_auc(scores: np.ndarray, member: np.ndarray, weight: np.ndarray | None = None) -> float:
    """P(S_i > S_j) + 1/2 P(S_i = S_j), i a (weighted) member, j a (weighted) non-member."""
    return float(roc_auc_score(np.asarray(member).astype(int), scores, sample_weight=weight))


def weighted_auc_se(scores: np.ndarray, member: np.ndarray, weight: np.ndarray | None = None,
                    groups: np.ndarray | None = None) -> float:
    """Standard error of the weighted AUC from its influence function (DeLong, DeLong, Clarke-Pearson 1988, with
    weights): each member's placement A_i (the weighted share of non-members it beats, ties 1/2) and each
    non-member's B_j (the weighted share of members above it); with weights normalized within each arm, unit i's
    term is psi_i = w_i (A_i - AUC) or w_j (B_j - AUC) and Var = sum psi_i^2. With ``groups`` (chunks of one
    document) the terms are summed within each group first: chunks of a document are not independent. Unit
    weights give DeLong's variance with 1/n in place of 1/(n - 1). The weights are taken as fixed (the
    propensity's own error is left out)."""
    s = np.asarray(scores, dtype=float)
    t = np.asarray(member).astype(bool)
    w = np.ones_like(s) if weight is None else np.asarray(weight, dtype=float)
    w1, w0 = w[t] / w[t].sum(), w[~t] / w[~t].sum()
    place_1 = _weighted_share_below(s[t], s[~t], w0)  # A_i
    place_0 = 1.0 - _weighted_share_below(s[~t], s[t], w1)  # B_j: members strictly above plus half the ties
    auc = float(np.sum(w1 * place_1))
    psi = np.empty(len(s))
    psi[t], psi[~t] = w1 * (place_1 - auc), w0 * (place_0 - auc)
    if groups is not None:
        psi = np.bincount(np.unique(np.asarray(groups), return_inverse=True)[1], weights=psi)
    return float(np.sqrt(np.sum(psi**2)))


def _weighted_share_below(x: np.ndarray, ref: np.ndarray, ref_w: np.ndarray) -> np.ndarray:
    """For each x: the weighted share of ``ref`` strictly below it plus half the share tied with it."""
    order = np.argsort(ref, kind="mergesort")
    ref_sorted, cw = ref[order], np.r_[0.0, np.cumsum(ref_w[order])]
    lo = cw[np.searchsorted(ref_sorted, x, side="left")]
    hi = cw[np.searchsorted(ref_sorted, x, side="right")]
    return (lo + 0.5 * (hi - lo)) / cw[-1]


def curve_auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Trapezoid area: on a curve with every distinct score as a point this is the Mann-Whitney AUC
    with ties counted 1/2."""
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def tpr_at_fpr_index(fpr: np.ndarray, target: float) -> np.ndarray | int:
    """The TPR@FPR rule, in one place: the index of the point giving the largest TPR among points with
    FPR <= target. TPR is non-decreasing along a curve, so it is the last admissible point; so is FPR, so a
    binary search finds it. ``fpr`` is one curve (returns an int) or rows of curves (returns one index per row)."""
    fpr = np.asarray(fpr)
    if fpr.ndim == 1:
        return int(np.searchsorted(fpr, target + FPR_TOL, side="right")) - 1
    return np.array([np.searchsorted(row, target + FPR_TOL, side="right") for row in fpr]) - 1


def advantage(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """max_c TPR(c) - FPR(c) (Youden's J); 0 at the (0, 0) end, so never negative."""
    return float(np.max(tpr - fpr))


def weighted_mean_diff(scores: np.ndarray, member: np.ndarray, weight: np.ndarray | None = None) -> float:
    s = np.asarray(scores, dtype=float)
    t = np.asarray(member).astype(bool)
    w = np.ones_like(s) if weight is None else np.asarray(weight, dtype=float)
    return float(np.average(s[t], weights=w[t]) - np.average(s[~t], weights=w[~t]))


def effective_nonmembers_above(
    scores: np.ndarray, member: np.ndarray, weight: np.ndarray | None, threshold: float
) -> float:
    """Kish ESS of the non-members at or above a threshold: how many non-members a low-FPR figure
    really rests on (the count itself for unit weights)."""
    s = np.asarray(scores, dtype=float)
    t = np.asarray(member).astype(bool)
    w = np.ones_like(s) if weight is None else np.asarray(weight, dtype=float)
    return kish_ess(w[(~t) & (s >= threshold)])


@dataclass(frozen=True)
class PointMetrics:
    """One estimate of every metric, for one score and one weighting."""

    auc: float
    tpr_at_fpr: dict[float, float]
    n_eff_above: dict[float, float]
    advantage: float
    mean_diff: float
    curve: RocCurve


def roc_metrics(
    scores: np.ndarray,
    member: np.ndarray,
    weight: np.ndarray | None = None,
    fpr_targets: tuple[float, ...] = (0.001, 0.01, 0.05),
) -> PointMetrics:
    curve = roc_curve_weighted(scores, member, weight)
    tprs, n_eff = {}, {}
    for a in fpr_targets:
        k = tpr_at_fpr_index(curve.fpr, a)
        tprs[a] = float(curve.tpr[k])
        n_eff[a] = effective_nonmembers_above(scores, member, weight, curve.thresholds[k]) if k > 0 else 0.0
    return PointMetrics(
        auc=weighted_auc(scores, member, weight),
        tpr_at_fpr=tprs,
        n_eff_above=n_eff,
        advantage=advantage(curve.fpr, curve.tpr),
        mean_diff=weighted_mean_diff(scores, member, weight),
        curve=curve,
    )


def downsample_curve(fpr: np.ndarray, tpr: np.ndarray, max_points: int = 200) -> tuple[list, list]:
    """At most ``max_points`` points for plotting: the low-FPR region is kept dense (log-spaced FPR
    picks) because that is where the figures people quote live."""
    fpr = np.asarray(fpr, dtype=float)
    tpr = np.asarray(tpr, dtype=float)
    if len(fpr) <= max_points:
        return fpr.tolist(), tpr.tolist()
    half = max_points // 2
    targets = np.unique(np.r_[np.geomspace(1e-4, 1.0, half), np.linspace(0.0, 1.0, max_points - half - 2)])
    idx = np.unique(np.r_[0, np.searchsorted(fpr, targets, side="right") - 1, len(fpr) - 1])
    idx = idx[idx >= 0][:max_points]
    return fpr[idx].tolist(), tpr[idx].tolist()


def curve_summaries(
    fpr: np.ndarray, tpr: np.ndarray, fpr_targets: tuple[float, ...]
) -> tuple[np.ndarray, dict[float, np.ndarray], np.ndarray]:
    """AUC, TPR@FPR and advantage of many curves at once: rows are curves (bootstrap replicates),
    columns points in order of non-decreasing FPR, starting at (0, 0)."""
    fpr = np.atleast_2d(fpr)
    tpr = np.atleast_2d(tpr)
    auc = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]), axis=1) / 2.0
    rows = np.arange(fpr.shape[0])
    tprs = {a: tpr[rows, tpr_at_fpr_index(fpr, a)] for a in fpr_targets}
    return auc, tprs, np.max(tpr - fpr, axis=1)
