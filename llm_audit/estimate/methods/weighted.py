"""The weighted ROC family shared by the naive contrast (unit weights) and IPW (propensity weights): one
sort of the scores, then each bootstrap replicate is cumulative sums over the tie groups, O(n)."""

from __future__ import annotations

import numpy as np

from llm_audit.estimate.methods.base import Point, Problem, Replicates, SortedScore
from llm_audit.estimate.metrics import curve_summaries, roc_metrics


class WeightedFit:
    """Metrics of the weighted comparison of members with non-members (weights normalized per arm)."""

    def __init__(self, problem: Problem, weight: np.ndarray | None):
        self.weight = np.ones(len(problem.score)) if weight is None else weight
        self.sorted: SortedScore = problem.sorted
        self.fpr = problem.fpr
        self._sorted_weight = None if weight is None else self.weight[self.sorted.order]
        m = roc_metrics(problem.score, problem.member, weight, problem.fpr)
        self.point = Point(m.auc, m.tpr_at_fpr, m.n_eff_above, m.advantage, m.mean_diff, (m.curve.fpr, m.curve.tpr))

    def replicates(self, counts: np.ndarray) -> Replicates:
        """Per replicate (row of ``counts``): the weighted ROC curve as cumulative sums of the member and
        non-member weight from the highest score down, tie groups summed (a score without ties skips that
        sum: one unit per group). Unit weights keep the counts integer: the same sums exactly (integers), and
        an integer prefix sum runs some 15 times faster than a floating one, whose every addition waits for
        the previous one to round."""
        srt = self.sorted
        if self._sorted_weight is None:
            wc = counts[:, srt.order].astype(np.int64)
            wm = wc * srt.member.astype(np.int64)[None, :]
        else:
            wc = counts[:, srt.order].astype(np.float64, copy=False)  # a new array: free to overwrite
            np.multiply(wc, self._sorted_weight, out=wc)
            wm = wc * srt.member[None, :]
        wn = np.subtract(wc, wm, out=wc)
        mean_m, mean_n = wm.astype(np.float64, copy=False) @ srt.values, wn.astype(np.float64, copy=False) @ srt.values
        rows = len(counts)
        tpr = np.zeros((rows, len(srt.starts) + 1))
        fpr = np.zeros((rows, len(srt.starts) + 1))
        ties = len(srt.starts) < len(srt.order)
        tpr[:, 1:] = np.cumsum(np.add.reduceat(wm, srt.starts, axis=1) if ties else wm, axis=1)
        fpr[:, 1:] = np.cumsum(np.add.reduceat(wn, srt.starts, axis=1) if ties else wn, axis=1)
        sm, sn = tpr[:, -1].copy(), fpr[:, -1].copy()
        tpr[:, 1:] /= sm[:, None]
        fpr[:, 1:] /= sn[:, None]
        auc, tprs, adv = curve_summaries(fpr, tpr, self.fpr)
        return {"auc": auc, "tpr_at_fpr": tprs, "advantage": adv, "mean_diff": mean_m / sm - mean_n / sn}
