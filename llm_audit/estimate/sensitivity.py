"""Sensitivity to an unmeasured confounder (docs/method.md, "Sensitivity"): how far the corrected AUC can move
when each unit's propensity odds may be off by a factor in [1/Gamma, Gamma] (Rosenbaum 2002, Ch. 4; the
weight-box form of Zhao, Small, Bhattacharya 2019), and the smallest Gamma that reaches a reference AUC."""

from __future__ import annotations

import numpy as np

from llm_audit.estimate.estimands import Estimand


def _best_box_average(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, maximize: bool, increasing: bool) -> np.ndarray:
    """Weights in [lo, hi] maximizing (or minimizing) sum w v / sum w: the optimum is a threshold rule,
    upper weights on the largest (smallest) values; every threshold is tried with cumulative sums.
    ``values`` are non-decreasing (``increasing``) or non-increasing along the array, so the order is
    known without a sort."""
    order = np.arange(len(values))
    if maximize == increasing:
        order = order[::-1]
    v, l, h = values[order], lo[order], hi[order]
    num = np.r_[0, np.cumsum(h * v)] + (np.sum(l * v) - np.r_[0, np.cumsum(l * v)])
    den = np.r_[0, np.cumsum(h)] + (np.sum(l) - np.r_[0, np.cumsum(l)])
    ratio = num / den
    k = int(np.argmax(ratio) if maximize else np.argmin(ratio))
    w = l.copy()
    w[:k] = h[:k]
    out = np.empty_like(w)
    out[order] = w
    return out


def _below_fraction(ranks: tuple[np.ndarray, np.ndarray], ref_w: np.ndarray) -> np.ndarray:
    """Weighted share of a sorted reference arm strictly below each score, plus half the share tied; ``ranks``
    are the scores' ``searchsorted`` positions in the reference (left, right)."""
    cw = np.r_[0, np.cumsum(ref_w)]
    lo, hi = cw[ranks[0]], cw[ranks[1]]
    return (lo + 0.5 * (hi - lo)) / cw[-1]


class ConfoundingBounds:
    """Range of the weighted AUC of one score when each unit's propensity odds may be off by a factor in
    [1/gamma, gamma] (a Rosenbaum-style unmeasured confounder), for any gamma.

    Each arm is sorted, and each arm's scores ranked among the other arm's, once: a sensitivity search asks
    for some 30 values of gamma, and each asks for these ranks 16 times (recomputing them was 85% of the
    search's time).

    Approximation: the joint extremum over both arms' weights is found by alternating exact
    maximizations over one arm given the other (each a threshold rule in the score), started from the
    estimated weights; a local optimum in principle, it matched brute force over all box vertices in
    the tests.
    """

    def __init__(self, score: np.ndarray, member: np.ndarray, e: np.ndarray, estimand: Estimand):
        self.t = np.asarray(member).astype(bool)
        self.e, self.estimand = e, estimand
        t = self.t
        self.o1 = np.argsort(score[t], kind="mergesort")
        self.o0 = np.argsort(score[~t], kind="mergesort")
        s1, s0 = score[t][self.o1], score[~t][self.o0]
        self.rank1 = (np.searchsorted(s0, s1, side="left"), np.searchsorted(s0, s1, side="right"))  # s1 among s0
        self.rank0 = (np.searchsorted(s1, s0, side="left"), np.searchsorted(s1, s0, side="right"))
        w0 = estimand.residual_weights(e, t)
        self.w1_start, self.w0_start = w0[t][self.o1], w0[~t][self.o0]

    def __call__(self, gamma: float, iters: int = 4) -> tuple[float, float]:
        """(lowest, highest) AUC over the weight box of ``gamma``."""
        t = self.t
        lo, hi = self.estimand.weight_bounds(self.e, t, gamma)
        lo1, hi1, lo0, hi0 = lo[t][self.o1], hi[t][self.o1], lo[~t][self.o0], hi[~t][self.o0]
        out = []
        for maximize in (False, True):
            wm, wn = self.w1_start, self.w0_start
            for _ in range(iters):
                wm = _best_box_average(_below_fraction(self.rank1, wn), lo1, hi1, maximize, increasing=True)
                # the AUC as an average over non-members of the member mass above them
                wn = _best_box_average(1 - _below_fraction(self.rank0, wm), lo0, hi0, maximize, increasing=False)
            out.append(float(np.average(_below_fraction(self.rank1, wn), weights=wm)))
        return out[0], out[1]


def auc_bounds_under_confounding(
    score: np.ndarray, member: np.ndarray, e: np.ndarray, estimand: Estimand, gamma: float, iters: int = 4
) -> tuple[float, float]:
    """Range of the weighted AUC under confounding of strength ``gamma`` (see ``ConfoundingBounds``)."""
    return ConfoundingBounds(score, member, e, estimand)(gamma, iters)


def sensitivity_gamma(
    score: np.ndarray, member: np.ndarray, e: np.ndarray, estimand: Estimand, reference: float,
    gamma_max: float = 20.0, steps: int = 14,
) -> float | None:
    """Smallest Gamma whose AUC range reaches ``reference`` (the naive AUC, or 0.5); None when even
    gamma_max does not. Bisection on log Gamma."""
    bounds = ConfoundingBounds(score, member, e, estimand)

    def reaches(g: float) -> bool:
        lo, hi = bounds(g)
        return lo - 1e-12 <= reference <= hi + 1e-12

    if reaches(1.0):
        return 1.0
    if not reaches(gamma_max):
        return None
    a, b = 0.0, np.log(gamma_max)
    for _ in range(steps):
        mid = (a + b) / 2
        a, b = (a, mid) if reaches(float(np.exp(mid))) else (mid, b)
    return float(np.exp(b))
