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


# Member x non-member pairs up to which every pair of thresholds is tried (about 200 units an arm). Against that
# exact search, the alternating one fell short of the extreme in 2-7% of cases at every size from 14 to 1,000
# units (60 random problems x 2 estimands x Gamma 1.5 and 3 per size, ties in half), by at most 0.012 at 14
# units, 0.003 at 200 and 0.0005 at 400-1,000, while the exact search costs O(n_1 n_0) per Gamma (1.8 s for a
# sensitivity search at 2,000 units against 0.03 s).
EXACT_CELLS = 40_000


def _pair_credit(rank1: tuple[np.ndarray, np.ndarray], n0: int) -> np.ndarray:
    """(n_1, n_0) credit of each (member, non-member) pair, both arms sorted by score: 1 when the member
    scores higher, 1/2 when tied, 0 otherwise (from the members' ``searchsorted`` ranks among non-members)."""
    j = np.arange(n0)[None, :]
    return (j < rank1[0][:, None]) + 0.5 * ((j >= rank1[0][:, None]) & (j < rank1[1][:, None]))


def _exact_extreme(credit: np.ndarray, lo1: np.ndarray, hi1: np.ndarray, lo0: np.ndarray, hi0: np.ndarray, *,
                   maximize: bool) -> float:
    """The highest (lowest) weighted AUC sum w1 C w0 / (sum w1 sum w0) over every pair of threshold rules: upper
    weights on the top a members and the bottom b non-members (for the lowest, the bottom and the top), every
    (a, b), by cumulative sums over the pair credits ``credit`` (n_1, n_0), arms sorted by score."""
    c = credit if maximize else credit[::-1, ::-1]  # flip both orders: "top" and "bottom" trade places
    l1, d1 = (lo1, hi1 - lo1) if maximize else (lo1[::-1], (hi1 - lo1)[::-1])
    l0, d0 = (lo0, hi0 - lo0) if maximize else (lo0[::-1], (hi0 - lo0)[::-1])
    top = lambda v: np.r_[np.cumsum(v[::-1])[::-1], 0.0]  # [a] = sum over i >= a (a = n_1: none)
    first = lambda v: np.r_[0.0, np.cumsum(v)]  # [b] = sum over j < b
    c_l0, l1_c = c @ l0, l1 @ c
    both = np.cumsum(np.cumsum((d1[:, None] * c * d0[None, :])[::-1], axis=0)[::-1], axis=1)  # [i, j]: i' >= i, j' <= j
    both = np.pad(both, ((0, 1), (1, 0)))  # [a, b] with a = n_1 or b = 0 empty
    num = l1 @ c_l0 + top(d1 * c_l0)[:, None] + first(d0 * l1_c)[None, :] + both
    auc = num / ((l1.sum() + top(d1))[:, None] * (l0.sum() + first(d0))[None, :])
    return float(auc.max() if maximize else auc.min())


class ConfoundingBounds:
    """Range of the weighted AUC of one score when each unit's propensity odds may be off by a factor in
    [1/gamma, gamma] (a Rosenbaum-style unmeasured confounder), for any gamma.

    Each arm is sorted, and each arm's scores ranked among the other arm's, once: a sensitivity search asks
    for some 30 values of gamma, and each asks for these ranks 16 times (recomputing them was 85% of the
    search's time).

    The extremum: for the other arm's weights fixed, each arm's best weights are a threshold rule in the score
    (upper weights on its highest or lowest scores), so the joint extremum is a pair of thresholds. Up to
    ``EXACT_CELLS`` member x non-member pairs every pair is tried (``_exact_extreme``, O(n_1 n_0)); beyond, the
    two arms' best responses alternate from the estimated weights, which can stop at a pair that is only a
    local extremum, short of the true one by at most 0.0005 at 400 units and more (see ``EXACT_CELLS``; on 14
    units it was 0.012 short in 2 of 120 cases: tests/test_sensitivity.py checks both against brute force).
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
        self._pairs: np.ndarray | None = None  # the pair credits of ``_exact_extreme``, built on first use

    def __call__(self, gamma: float, iters: int = 4) -> tuple[float, float]:
        """(lowest, highest) AUC over the weight box of ``gamma``."""
        return self.extreme(gamma, False, iters), self.extreme(gamma, True, iters)

    def extreme(self, gamma: float, maximize: bool, iters: int = 4) -> float:
        """The highest (``maximize``) or lowest AUC over the weight box of ``gamma``."""
        t = self.t
        lo, hi = self.estimand.weight_bounds(self.e, t, gamma)
        lo1, hi1, lo0, hi0 = lo[t][self.o1], hi[t][self.o1], lo[~t][self.o0], hi[~t][self.o0]
        if len(lo1) * len(lo0) <= EXACT_CELLS:
            if self._pairs is None:
                self._pairs = _pair_credit(self.rank1, len(lo0))
            return _exact_extreme(self._pairs, lo1, hi1, lo0, hi0, maximize=maximize)
        wm, wn = self.w1_start, self.w0_start
        for _ in range(iters):
            wm = _best_box_average(_below_fraction(self.rank1, wn), lo1, hi1, maximize, increasing=True)
            # the AUC as an average over non-members of the member mass above them
            wn = _best_box_average(1 - _below_fraction(self.rank0, wm), lo0, hi0, maximize, increasing=False)
        return float(np.average(_below_fraction(self.rank1, wn), weights=wm))


def auc_bounds_under_confounding(
    score: np.ndarray, member: np.ndarray, e: np.ndarray, estimand: Estimand, gamma: float, iters: int = 4
) -> tuple[float, float]:
    """Range of the weighted AUC under confounding of strength ``gamma`` (see ``ConfoundingBounds``)."""
    return ConfoundingBounds(score, member, e, estimand)(gamma, iters)


def sensitivity_gamma(
    score: np.ndarray, member: np.ndarray, e: np.ndarray, estimand: Estimand, reference: float,
    gamma_max: float = 20.0, steps: int = 14, bounds: ConfoundingBounds | None = None,
) -> float | None:
    """Smallest Gamma whose AUC range reaches ``reference`` (the naive AUC, or 0.5); None when even
    gamma_max does not. Bisection on log Gamma. ``bounds``: the score's ``ConfoundingBounds``, to share its sorts
    between searches.

    Only the range's end on the reference's side is computed: the box of every Gamma holds the estimated
    weights, so its other end stays on the far side of the Gamma = 1 AUC (each best response only improves on
    them), and whether the range reaches the reference is decided by the near end alone."""
    bounds = bounds or ConfoundingBounds(score, member, e, estimand)
    at_one = bounds.extreme(1.0, False)
    if at_one - 1e-12 <= reference <= bounds.extreme(1.0, True) + 1e-12:
        return 1.0
    above = reference > at_one

    def reaches(g: float) -> bool:
        return reference <= bounds.extreme(g, True) + 1e-12 if above else bounds.extreme(g, False) - 1e-12 <= reference

    if not reaches(gamma_max):
        return None
    a, b = 0.0, np.log(gamma_max)
    for _ in range(steps):
        mid = (a + b) / 2
        a, b = (a, mid) if reaches(float(np.exp(mid))) else (mid, b)
    return float(np.exp(b))
