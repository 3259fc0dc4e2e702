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
        m = roc_metrics(problem.score, problem.member, weight, problem.fpr)
        self.point = Point(m.auc, m.tpr_at_fpr, m.n_eff_above, m.advantage, m.mean_diff, (m.curve.fpr, m.curve.tpr))

    def replicates(self, counts: np.ndarray) -> Replicates:
        srt = self.sorted
        wc = counts[:, srt.order] * self.weight[srt.order][None, :]
        wm = wc * srt.member[None, :]
        wn = wc - wm
        pos = np.cumsum(np.add.reduceat(wm, srt.starts, axis=1), axis=1)
        neg = np.cumsum(np.add.reduceat(wn, srt.starts, axis=1), axis=1)
        sm, sn = pos[:, -1:], neg[:, -1:]
        zero = np.zeros((len(counts), 1))
        auc, tprs, adv = curve_summaries(np.hstack([zero, neg / sn]), np.hstack([zero, pos / sm]), self.fpr)
        mean = (wm @ srt.values) / sm[:, 0] - (wn @ srt.values) / sn[:, 0]
        return {"auc": auc, "tpr_at_fpr": tprs, "advantage": adv, "mean_diff": mean}
