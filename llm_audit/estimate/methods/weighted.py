"""The weighted ROC family shared by the naive contrast (unit weights), IPW (propensity weights) and entropy
balancing (balancing weights): one sort of the scores, then each bootstrap replicate is cumulative sums over the
tie groups, O(n).

Large n: ``gaussian_replicates`` draws the weighted survival curves F_0, F_1 on the threshold grid from their
influence-function law (within each arm, psi_i(c) = w_i (1{S_i >= c} - F(c)) for Hajek weights w summing to 1,
covariance from one cumulative sum), reads the metrics off each drawn curve, and adds their deviation from the
grid's own point reading to the exact point: an interval for the exact estimate whose width comes from the grid.
"""

from __future__ import annotations

import numpy as np

from llm_audit.estimate.grid_curves import gaussian_draws, grid_metrics, monotone_cdf, roc_at
from llm_audit.estimate.methods.base import Point, Problem, Replicates, SortedScore, concat_replicates
from llm_audit.estimate.metrics import curve_summaries, roc_metrics
from llm_audit.estimate.weights import arm_ess


_BLOCK_CELLS = 800_000  # replicates x units per block: 6.4 MB per float64 array, within the shared cache


def row_blocks(n_rows: int, n_units: int) -> list[slice]:
    """Blocks of rows of a (replicates x units) array, each at most about ``_BLOCK_CELLS`` cells.

    Why: a replicate's ROC curve is a dozen passes over its row (products, two cumulative sums, divisions, the
    AUC's sum); on a block that stays in the processor's cache they run about 3x faster than on the whole chunk
    of replicates (100,000 units: 71 ms against 227 ms for 40 replicates; benchmarks/README.md, "Estimate throughput").
    A block is a multiple of 4 rows and never a single row: OpenBLAS (numpy's wheels) takes the rows of a
    matrix-vector product four at a time and a lone row by another routine, so the means come out bit for bit
    as on the whole chunk (with another BLAS, within rounding); the curves are numpy's own passes, row by row."""
    step = max(4, _BLOCK_CELLS // max(n_units, 1) // 4 * 4)
    starts = list(range(0, n_rows, step))
    if len(starts) > 1 and n_rows - starts[-1] == 1:
        starts.pop()
    return [slice(a, b) for a, b in zip(starts, starts[1:] + [n_rows])]


class WeightedFit:
    """Metrics of the weighted comparison of members with non-members (weights normalized per arm)."""

    def __init__(self, problem: Problem, weight: np.ndarray | None):
        self.weight = np.ones(len(problem.score)) if weight is None else weight
        self.sorted: SortedScore = problem.sorted
        self.fpr, self.grid, self.u = problem.fpr, problem.grid, problem.fpr_grid
        m = roc_metrics(problem.score, problem.member, weight, problem.fpr)
        curves = None
        if self.grid is not None:
            wc, wm = self._weighted(np.ones((1, len(problem.score))))
            pos, neg = self._cumsums(wm, wc - wm)
            f0, f1 = self._grid_cdfs(pos, neg)
            curves = {"f0": f0[0], "f1": f1[0], "roc": roc_at(m.curve.fpr, m.curve.tpr, self.u)[0]}
        self.point = Point(m.auc, m.tpr_at_fpr, m.n_eff_above, m.advantage, m.mean_diff, (m.curve.fpr, m.curve.tpr),
                           grid_curves=curves, arm_ess=arm_ess(self.weight, problem.member))

    def _sorted_counts(self, counts: np.ndarray, cache: dict | None) -> np.ndarray:
        """The counts (B, n) in the score's sorted order, shared through ``cache`` by every fit of the same sorted
        score (one gather instead of one per fit)."""
        key = ("sorted counts", id(self.sorted))
        if cache is not None and key in cache:
            return cache[key]
        ordered = counts[:, self.sorted.order]
        if cache is not None:
            cache[key] = ordered
        return ordered

    def _weighted(self, ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sorted counts (B, n) times weights: all units, and members only."""
        srt = self.sorted
        wc = ordered * self.weight[srt.order][None, :]
        return wc, wc * srt.member[None, :]

    def _cumsums(self, wm: np.ndarray, wn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weighted member / non-member totals at or above each tie group, per row of counts: (B, n_groups). The
        member and non-member products ``wm``, ``wn`` (B, n) may be overwritten: at 100,000 units an array is
        32 MB per 40 replicates, and each copy saved is a pass over memory."""
        srt = self.sorted
        if len(srt.starts) == wm.shape[1]:  # no ties: every unit is its own group
            return np.cumsum(wm, axis=1, out=wm), np.cumsum(wn, axis=1, out=wn)
        pos = np.cumsum(np.add.reduceat(wm, srt.starts, axis=1), axis=1)
        neg = np.cumsum(np.add.reduceat(wn, srt.starts, axis=1), axis=1)
        return pos, neg

    def _grid_cdfs(self, pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """F_0, F_1 at the threshold grid from the tie-group totals: (B, G) each."""
        group_values = self.sorted.values[self.sorted.starts]  # descending
        above = np.searchsorted(-group_values, -self.grid, side="right")  # tie groups with value >= c_g
        none = above == 0  # no group at or above c_g: a total of 0
        at = np.maximum(above - 1, 0)
        f0, f1 = neg[:, at] / neg[:, -1:], pos[:, at] / pos[:, -1:]
        f0[:, none], f1[:, none] = 0.0, 0.0
        return f0, f1

    def replicates(self, counts: np.ndarray, cache: dict | None = None) -> Replicates:
        ordered = self._sorted_counts(counts, cache)
        return concat_replicates([self._replicate_block(ordered[rows]) for rows in row_blocks(*ordered.shape)])

    def _replicate_block(self, ordered: np.ndarray) -> Replicates:
        srt = self.sorted
        wc, wm = self._weighted(ordered)
        wn = np.subtract(wc, wm, out=wc)
        mean_m, mean_n = wm @ srt.values, wn @ srt.values
        pos, neg = self._cumsums(wm, wn)
        sm, sn = pos[:, -1], neg[:, -1]
        fp, tp = _from_zero(neg, sn), _from_zero(pos, sm)
        auc, tprs, adv = curve_summaries(fp, tp, self.fpr)
        out = {"auc": auc, "tpr_at_fpr": tprs, "advantage": adv, "mean_diff": mean_m / sm - mean_n / sn}
        if self.grid is not None:
            out["f0"], out["f1"] = self._grid_cdfs(pos, neg)
            out["roc"] = roc_at(fp, tp, self.u)
        return out

    def _arm_covariance(self, arm: bool) -> tuple[np.ndarray, np.ndarray]:
        """F_t on the grid and the covariance of its influence function: A(max(c, c')) - F(c) A(c') - F(c') A(c)
        + F(c) F(c') sum w^2, with A(c) = sum w^2 1{S >= c} over the arm (w summing to 1)."""
        srt = self.sorted
        mask = srt.member.astype(bool) == arm
        w = self.weight[srt.order] * mask
        w = w / w.sum()
        group_values = srt.values[srt.starts]
        above = np.searchsorted(-group_values, -self.grid, side="right")
        cum_w = np.r_[0.0, np.cumsum(np.add.reduceat(w, srt.starts))]
        cum_w2 = np.r_[0.0, np.cumsum(np.add.reduceat(w * w, srt.starts))]
        f, a = cum_w[above], cum_w2[above]
        g = len(self.grid)
        hi = np.maximum.outer(np.arange(g), np.arange(g))  # the larger threshold of each pair (grid ascending)
        cov = a[hi] - np.outer(f, a) - np.outer(a, f) + np.outer(f, f) * cum_w2[-1]
        return f, cov

    def gaussian_replicates(self, n_draws: int, rng: np.random.Generator) -> Replicates:
        (f0, c0), (f1, c1) = self._arm_covariance(False), self._arm_covariance(True)
        d0 = np.array([monotone_cdf(r) for r in f0 + gaussian_draws(c0, n_draws, rng)])
        d1 = np.array([monotone_cdf(r) for r in f1 + gaussian_draws(c1, n_draws, rng)])
        draws, center = grid_metrics(d0, d1, self.fpr, self.u), grid_metrics(f0, f1, self.fpr, self.u)
        p = self.point
        out = {"auc": p.auc + draws["auc"] - center["auc"][0],
               "advantage": p.advantage + draws["advantage"] - center["advantage"][0],
               "tpr_at_fpr": {a: p.tpr[a] + draws["tpr_at_fpr"][a] - center["tpr_at_fpr"][a][0] for a in self.fpr},
               "f0": d0, "f1": d1, "roc": p.grid_curves["roc"] + draws["roc"] - center["roc"][0]}
        out["mean_diff"] = p.mean_diff + self._mean_se() * rng.standard_normal(n_draws)
        return out

    def _mean_se(self) -> float:
        """Influence-function SE of the difference of the two arms' Hajek means."""
        srt = self.sorted
        var = 0.0
        for arm in (False, True):
            mask = srt.member.astype(bool) == arm
            w = self.weight[srt.order][mask]
            w = w / w.sum()
            y = srt.values[mask]
            var += float(np.sum(w * w * (y - w @ y) ** 2))
        return float(np.sqrt(var))


def _from_zero(totals: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Rows of a curve's coordinate from 0: (B, k) running totals over their last ``total`` (B,), after a column of
    zeros: (B, k + 1), written into one array (``np.hstack`` would copy it again)."""
    out = np.empty((totals.shape[0], totals.shape[1] + 1))
    out[:, 0] = 0.0
    np.divide(totals, total[:, None], out=out[:, 1:])
    return out
