"""Doubly robust (AIPW) estimators: the potential-score CDFs on a threshold grid and the mean memorization
(docs/method.md, "Doubly robust estimators"; Even et al. 2026; for the CDFs, the AIPW form of a distribution
function, e.g. Chernozhukov, Fernandez-Val, Melly 2013 for distribution regression).

F_t(c) = sum_i phi_t,i(c) / sum_i h_i with phi_t,i(c) = h_i mu_t(X_i, c) + 1{T_i = t} r_i (1{S_i >= c} - mu_t(X_i, c)),
h the estimand's density and r its residual weights, mu_t the outcome model (outcome.py). Each estimated F_t
is projected on non-increasing curves in [0, 1]; AUC, TPR@FPR and advantage are read off the ROC curve
(F_0(c), F_1(c)). The mean is the same form with m_t(x). Consistent when either the propensity or the outcome
model is right. Intervals: a multiplier bootstrap of the per-unit terms (the nuisances are not refit); the
mean's interval is the influence-function one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import isotonic_regression

from llm_audit.estimate.methods.base import Point, Problem, Replicates
from llm_audit.estimate.metrics import curve_summaries, tpr_at_fpr_index
from llm_audit.estimate.outcome import OutcomeModel, survival_matrix
from llm_audit.estimate.weights import kish_ess

try:
    from scipy.optimize import isotonic_regression as _pava  # scipy >= 1.12
except ImportError:  # older scipy: scikit-learn's own implementation
    _pava = None


@dataclass(frozen=True)
class DRTerms:
    """Per-unit doubly robust terms; estimates are column sums of ``phi`` divided by sum(h)."""

    grid: np.ndarray
    phi_cdf: tuple[np.ndarray, np.ndarray]  # arm 0, arm 1: (n, G) terms of F_t(c_g)
    psi_mean: np.ndarray  # (n,) terms of the mean effect
    h: np.ndarray  # (n,) target density
    r: np.ndarray  # (n,) residual weights (raw balancing weights)

    def subset(self, rows: np.ndarray) -> "DRTerms":
        if len(rows) == len(self.h):  # all units: no copy of the (n, G) matrices
            return self
        return DRTerms(grid=self.grid, phi_cdf=(self.phi_cdf[0][rows], self.phi_cdf[1][rows]),
                       psi_mean=self.psi_mean[rows], h=self.h[rows], r=self.r[rows])


def dr_terms(
    score: np.ndarray, member: np.ndarray, om: OutcomeModel, h: np.ndarray, r: np.ndarray, grid: np.ndarray,
    block: int = 2**15,
) -> DRTerms:
    """phi_t,i(c) = h_i mu_t(X_i, c) + 1{T_i = t} r_i (1{S_i >= c} - mu_t(X_i, c)); the same form with
    m_t(x) for the mean (h = 1, r = 1/e, 1/(1-e) is textbook ATE AIPW; ATT/ATC follow from h, r). Built
    ``block`` units at a time: the (n, G) terms are all that is held (at n = 1,000,000 the intermediate
    matrices of a whole arm took 1.6 GB more)."""
    t = np.asarray(member).astype(bool)
    n = len(score)
    phis = (np.empty((n, len(grid)), dtype=np.float32), np.empty((n, len(grid)), dtype=np.float32))
    h32 = h.astype(np.float32)
    for start in range(0, n, block):
        units = slice(start, min(start + block, n))
        above = score[units, None] >= grid[None, :]
        for arm, mask in ((0, ~t), (1, t)):
            mu = survival_matrix(om, arm, grid, units)
            resid_w = (mask[units] * r[units]).astype(np.float32)[:, None]
            phis[arm][units] = h32[units, None] * mu + resid_w * (above - mu)
    m0, m1 = om.loc
    psi = h * (m1 - m0) + t * r * (score - m1) - (~t) * r * (score - m0)
    return DRTerms(grid=grid, phi_cdf=phis, psi_mean=psi, h=h, r=r)


def monotone_cdf(values: np.ndarray) -> np.ndarray:
    """Project a survival function estimate on the grid onto non-increasing curves within [0, 1]: the
    pool-adjacent-violators algorithm, then clipping. scipy's implementation is the one scikit-learn's
    ``isotonic_regression`` calls (scipy >= 1.12), called directly: scikit-learn's argument checks took 50
    times longer than the projection, and the DR bootstrap projects two curves per replicate."""
    if _pava is None:
        return isotonic_regression(values, increasing=False, y_min=0.0, y_max=1.0)
    return np.clip(_pava(values, increasing=False).x, 0.0, 1.0)


def grid_roc(f0: np.ndarray, f1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC points (F_0(c), F_1(c)) from the highest threshold down, with the (0, 0) and (1, 1) ends."""
    return np.r_[0.0, f0[::-1], 1.0], np.r_[0.0, f1[::-1], 1.0]


def dr_mean(terms: DRTerms) -> tuple[float, float]:
    """AIPW mean memorization and its influence-function standard error."""
    h_bar = terms.h.mean()
    tau = terms.psi_mean.sum() / terms.h.sum()
    infl = (terms.psi_mean - terms.h * tau) / h_bar
    return float(tau), float(infl.std(ddof=1) / np.sqrt(len(infl)))


def dr_cdfs(terms: DRTerms) -> tuple[np.ndarray, np.ndarray]:
    """Monotone DR estimates of F_0 and F_1 on the grid."""
    hs = terms.h.sum()
    return tuple(monotone_cdf(p.sum(axis=0, dtype=np.float64) / hs) for p in terms.phi_cdf)  # type: ignore[return-value]


class DRFit:
    def __init__(self, problem: Problem):
        self.terms: DRTerms = problem.dr_terms()
        self.fpr = problem.fpr
        t = np.asarray(problem.member).astype(bool)
        f0, f1 = dr_cdfs(self.terms)
        fp, tp = grid_roc(f0, f1)
        auc, tprs, adv = curve_summaries(fp, tp, self.fpr)
        tau, se = dr_mean(self.terms)
        n_eff = {}
        for a in self.fpr:
            k = tpr_at_fpr_index(fp, a)
            if k == 0:
                n_eff[a] = 0.0
            else:
                c = self.terms.grid[::-1][k - 1] if k <= len(self.terms.grid) else -np.inf
                n_eff[a] = kish_ess(self.terms.r[(~t) & (problem.score >= c)])
        self.point = Point(auc[0], {a: v[0] for a, v in tprs.items()}, n_eff, adv[0], tau, (fp, tp), mean_se=se)

    def replicates(self, counts: np.ndarray) -> Replicates:
        c64 = counts.astype(np.float64, copy=False)
        hs = c64 @ self.terms.h
        c32 = counts.astype(np.float32)
        f0, f1 = (np.array([monotone_cdf(row) for row in (c32 @ p).astype(np.float64) / hs[:, None]])
                  for p in self.terms.phi_cdf)
        ends = np.zeros((len(counts), 1)), np.ones((len(counts), 1))
        fp = np.hstack([ends[0], f0[:, ::-1], ends[1]])  # grid_roc of every replicate at once
        tp = np.hstack([ends[0], f1[:, ::-1], ends[1]])
        auc, tprs, adv = curve_summaries(fp, tp, self.fpr)
        return {"auc": auc, "tpr_at_fpr": tprs, "advantage": adv, "mean_diff": (c64 @ self.terms.psi_mean) / hs}


class DR:
    name = "dr"
    needs_propensity = True

    def fit(self, problem: Problem) -> DRFit:
        return DRFit(problem)
