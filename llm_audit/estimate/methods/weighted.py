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
from llm_audit.estimate.metrics import roc_metrics, tpr_at_fpr_index
from llm_audit.estimate.running_sums import cumsum_rows
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
        w = self.weight[self.sorted.order]  # in the sorted order: members' and non-members' weights (0 off the arm)
        self._w_arm = (w * self.sorted.member, w * (1.0 - self.sorted.member))
        m = roc_metrics(problem.score, problem.member, weight, problem.fpr)
        curves = None
        if self.grid is not None:
            pos, neg = self._curves_from_zero(*self._weighted(np.ones((1, len(problem.score)))))
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
        """Sorted counts (B, n) times the members' and the non-members' weights: (B, n) each, in the counts'
        memory order (Fortran order for a gathered chunk), as numpy's own product would be: the means' rounding
        depends on it. Written into arrays allocated first, the product of a gathered chunk runs 1.7x faster."""
        return tuple(np.multiply(ordered, w, out=np.empty_like(ordered, dtype=np.float64)) for w in self._w_arm)

    def _curves_from_zero(self, wm: np.ndarray, wn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weighted member / non-member totals at or above each tie group, after a column of zeros, per row of
        counts: (B, n_groups + 1), new arrays (the products ``wm``, ``wn`` (B, n) are left as they were)."""
        srt = self.sorted
        if len(srt.starts) < wm.shape[1]:  # tie groups: their totals first
            wm, wn = np.add.reduceat(wm, srt.starts, axis=1), np.add.reduceat(wn, srt.starts, axis=1)
        pos, neg = (np.empty((x.shape[0], x.shape[1] + 1)) for x in (wm, wn))
        for x, curve in ((wm, pos), (wn, neg)):
            curve[:, 0] = 0.0
            cumsum_rows(x, curve[:, 1:])
        return pos, neg

    def _grid_cdfs(self, pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """F_0, F_1 at the threshold grid from the tie-group totals from zero (B, n_groups + 1): (B, G) each."""
        group_values = self.sorted.values[self.sorted.starts]  # descending
        above = np.searchsorted(-group_values, -self.grid, side="right")  # tie groups with value >= c_g
        f0, f1 = neg[:, above] / neg[:, -1:], pos[:, above] / pos[:, -1:]
        f0[:, above == 0], f1[:, above == 0] = 0.0, 0.0  # no group at or above c_g (0 / 0 where an arm is empty)
        return f0, f1

    def replicates(self, counts: np.ndarray, cache: dict | None = None) -> Replicates:
        ordered = self._sorted_counts(counts, cache)
        return concat_replicates([self._replicate_block(ordered[rows]) for rows in row_blocks(*ordered.shape)])

    def _replicate_block(self, ordered: np.ndarray) -> Replicates:
        """The metrics of a block of replicates: the passes of ``curve_summaries``, written into two scratch arrays
        instead of a new array per pass (the same operations on the same layouts, so the same bits). ``ordered``
        and the products are in Fortran order (numpy's gather along the units gives it); the means' matrix-vector
        products depend on that layout for their rounding, so it is kept."""
        wm, wn = self._weighted(ordered)
        mean_m, mean_n = wm @ self.sorted.values, wn @ self.sorted.values
        tp, fp = self._curves_from_zero(wm, wn)
        sm, sn = tp[:, -1].copy(), fp[:, -1].copy()
        out = {"mean_diff": mean_m / sm - mean_n / sn}
        if self.grid is not None:
            out["f0"], out["f1"] = self._grid_cdfs(tp, fp)
        np.divide(tp[:, 1:], sm[:, None], out=tp[:, 1:])
        np.divide(fp[:, 1:], sn[:, None], out=fp[:, 1:])
        k = fp.shape[1] - 1
        step, height = np.empty((len(fp), k)), np.empty((len(fp), k))  # C order: np.sum adds rows as before
        np.subtract(fp[:, 1:], fp[:, :-1], out=step)
        np.add(tp[:, 1:], tp[:, :-1], out=height)
        out["auc"] = np.sum(np.multiply(step, height, out=step), axis=1) / 2.0  # the trapezoids of curve_summaries
        rows = np.arange(len(fp))
        out["tpr_at_fpr"] = {a: tp[rows, tpr_at_fpr_index(fp, a)] for a in self.fpr}
        # max(TPR - FPR) over the points; the first, (0, 0), gives 0
        out["advantage"] = np.maximum(np.max(np.subtract(tp[:, 1:], fp[:, 1:], out=step), axis=1), 0.0)
        if self.grid is not None:
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
