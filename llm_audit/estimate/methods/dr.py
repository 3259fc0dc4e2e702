"""Doubly robust (AIPW) estimators: the potential-score CDFs on a threshold grid and the mean memorization
(docs/estimands.md; Even et al. 2026; for the CDFs, the AIPW form of a distribution function, e.g.
Chernozhukov, Fernandez-Val, Melly 2013 for distribution regression).

F_t(c) = sum_i phi_t,i(c) / sum_i h_i with phi_t,i(c) = h_i mu_t(X_i, c) + 1{T_i = t} r_i (1{S_i >= c} - mu_t(X_i, c)),
h the estimand's density, mu_t the cross-fitted outcome model (outcome.py) and r the residual weights: the
estimand's r(e) of the propensity (method ``dr``), or entropy-balancing weights normalized to sum h within the arm
(method ``dr_ebal``, docs/estimands.md). Each estimated F_t is projected on non-increasing curves in [0, 1]; AUC, TPR@FPR
and advantage are read off the ROC curve (F_0(c), F_1(c)). The mean is the same form with m_t(x). Consistent
when either the weights or the outcome model are right.

Intervals: a multiplier bootstrap of the per-unit terms (nuisances not refit), or at large n Gaussian draws
with the terms' covariance on the grid; the mean's is the influence-function one. Neither sees the outcome
model's own estimation error, which dominates when the score is (nearly) a function of the covariates: the
per-unit terms then barely vary while the fitted mu_1 and mu_0 still differ by their fit error. So every
interval is widened, where needed, to the spread of the K per-fold estimates (each fold's units with the
nuisances fit without them): sd_k / sqrt(K) is an estimate of the standard error that includes each fold's own
nuisance fit (docs/estimands.md, "Intervals").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llm_audit.estimate.estimands import Estimand
from llm_audit.estimate.grid_curves import gaussian_draws, grid_metrics, monotone_cdf
from llm_audit.estimate.methods.base import Point, Problem, Replicates
from llm_audit.estimate.metrics import tpr_at_fpr_index
from llm_audit.estimate.outcome import OutcomeFit
from llm_audit.estimate.weights import arm_ess, kish_ess

_ROWS_PER_CHUNK = 50_000


@dataclass(frozen=True)
class DRTerms:
    """What the per-unit DR terms of one score are made of, on the rows of one population."""

    grid: np.ndarray  # (G,)
    mu: tuple[np.ndarray, np.ndarray]  # (n, G) float32 per arm
    above: np.ndarray  # (n, G) float32, 1{S_i >= c_g}
    loc: np.ndarray  # (2, n) m_0, m_1
    score: np.ndarray
    member: np.ndarray  # (n,) bool
    h: np.ndarray  # (n,) target density
    r: np.ndarray  # (n,) residual weights (scaled so each arm's sum is comparable to sum h)
    fold_of: np.ndarray  # (n,) cross-fitting fold of each unit

    def cdf_sums(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """sum_i N_i phi_t,i(c) for each row of counts (B, n), arm 0 and 1, and sum_i N_i h_i."""
        c = counts.astype(np.float32)
        a = c * self.h.astype(np.float32)
        out = []
        for arm, mask in ((0, ~self.member), (1, self.member)):
            rw = c * (self.r * mask).astype(np.float32)
            out.append(((a - rw) @ self.mu[arm] + rw @ self.above).astype(np.float64))
        return out[0], out[1], counts @ self.h

    def mean_terms(self) -> np.ndarray:
        """psi_i = h_i (m_1 - m_0) + T_i r_i (S_i - m_1) - (1 - T_i) r_i (S_i - m_0)."""
        m0, m1 = self.loc
        t = self.member
        return self.h * (m1 - m0) + t * self.r * (self.score - m1) - (~t) * self.r * (self.score - m0)

    def covariance(self, f0: np.ndarray, f1: np.ndarray) -> np.ndarray:
        """Covariance (2G, 2G) of the raw (F_0, F_1) estimates: sum_i psi_i psi_i' with psi_i = (phi_i - h_i F)
        / sum h, accumulated over row chunks so no (n, 2G) matrix is held."""
        g, hs = len(self.grid), self.h.sum()
        cov = np.zeros((2 * g, 2 * g))
        for lo in range(0, len(self.h), _ROWS_PER_CHUNK):
            sl = slice(lo, lo + _ROWS_PER_CHUNK)
            h, parts = self.h[sl, None].astype(np.float32), []
            for arm, mask, f in ((0, ~self.member[sl], f0), (1, self.member[sl], f1)):
                mu = self.mu[arm][sl]
                rw = (self.r[sl] * mask).astype(np.float32)[:, None]
                parts.append((h * (mu - f.astype(np.float32)[None, :]) + rw * (self.above[sl] - mu)) / np.float32(hs))
            psi = np.hstack(parts)
            cov += (psi.T @ psi).astype(np.float64)  # float32 products, summed in float64 over chunks
        return cov


def dr_terms(fit: OutcomeFit, score: np.ndarray, member: np.ndarray, h: np.ndarray, r: np.ndarray,
             rows: np.ndarray | None = None, above: np.ndarray | None = None) -> DRTerms:
    """The DR terms of a population (``rows`` of the audit, default all) for target density h and residual
    weights r given on those rows; ``above`` may pass the score's indicator matrix to share it."""
    t = np.asarray(member).astype(bool)
    if above is None:
        above = (score[:, None] >= fit.grid[None, :]).astype(np.float32)
    if rows is not None and len(rows) < len(score):
        return DRTerms(fit.grid, (fit.mu[0][rows], fit.mu[1][rows]), above[rows], fit.loc[:, rows], score[rows],
                       t[rows], h, r, fit.fold_of[rows])
    return DRTerms(fit.grid, fit.mu, above, fit.loc, score, t, h, r, fit.fold_of)


class DRFit:
    def __init__(self, problem: Problem, weighting: str):
        self.terms: DRTerms = problem.dr_terms(weighting)
        self.fpr, self.u = problem.fpr, problem.fpr_grid
        terms = self.terms
        f0, f1, hs = terms.cdf_sums(np.ones((1, len(terms.h))))
        self.raw = (f0[0] / hs[0], f1[0] / hs[0])
        m = grid_metrics(monotone_cdf(self.raw[0]), monotone_cdf(self.raw[1]), self.fpr, self.u)
        psi = terms.mean_terms()
        tau = psi.sum() / terms.h.sum()
        se = float(np.std(psi - terms.h * tau, ddof=1) / terms.h.mean() / np.sqrt(len(psi)))
        fp, tp = m["f0"][0], m["f1"][0]
        n_eff = {a: self._n_eff(m, a) for a in self.fpr}
        curves = {"f0": fp, "f1": tp, "roc": m["roc"][0]}
        roc = (np.r_[0.0, fp[::-1], 1.0], np.r_[0.0, tp[::-1], 1.0])
        self.point = Point(float(m["auc"][0]), {a: float(v[0]) for a, v in m["tpr_at_fpr"].items()}, n_eff,
                           float(m["advantage"][0]), float(tau), roc, mean_se=se, grid_curves=curves,
                           arm_ess=arm_ess(terms.r, terms.member))
        self.folds = self._fold_estimates()

    def _n_eff(self, m: dict, a: float) -> float:
        """Kish ESS of the non-members' residual weights at or above the threshold behind TPR@FPR=a."""
        fp = np.r_[0.0, m["f0"][0][::-1], 1.0]
        k = tpr_at_fpr_index(fp, a)
        if k == 0:
            return 0.0
        grid = self.terms.grid
        c = grid[::-1][k - 1] if k <= len(grid) else -np.inf
        t = self.terms
        return kish_ess(t.r[(~t.member) & (t.score >= c)])

    def _fold_estimates(self) -> Replicates | None:
        """Every metric on each cross-fitting fold's units alone: K estimates, each with its own nuisance fits."""
        folds = np.unique(self.terms.fold_of)
        if len(folds) < 2:
            return None
        ind = (self.terms.fold_of[None, :] == folds[:, None]).astype(float)
        if np.any((ind * self.terms.member).sum(axis=1) == 0) or np.any((ind * ~self.terms.member).sum(axis=1) == 0):
            return None
        return self.replicates(ind)

    def replicates(self, counts: np.ndarray, cache: dict | None = None) -> Replicates:
        f0, f1, hs = self.terms.cdf_sums(counts)
        m = self._metrics(f0 / hs[:, None], f1 / hs[:, None])
        m["mean_diff"] = (counts @ self.terms.mean_terms()) / hs
        return m

    def _metrics(self, f0: np.ndarray, f1: np.ndarray) -> Replicates:
        d0 = np.array([monotone_cdf(row) for row in f0])
        d1 = np.array([monotone_cdf(row) for row in f1])
        return grid_metrics(d0, d1, self.fpr, self.u)

    def gaussian_replicates(self, n_draws: int, rng: np.random.Generator) -> Replicates:
        g = len(self.terms.grid)
        z = gaussian_draws(self.terms.covariance(*self.raw), n_draws, rng)
        m = self._metrics(self.raw[0][None, :] + z[:, :g], self.raw[1][None, :] + z[:, g:])
        m["mean_diff"] = self.point.mean_diff + self.point.mean_se * rng.standard_normal(n_draws)
        return m


class DR:
    """AIPW with the estimand's propensity weights in the residual term."""

    name = "dr"
    needs_propensity = True
    outcome_model = True  # corrects, by its outcome model, what the weights leave unbalanced
    weights = "propensity"  # whose balance the verdict checks (estimate.balance); None: unweighted

    def supports(self, estimand: Estimand) -> bool:
        return True

    def fit(self, problem: Problem) -> DRFit:
        return DRFit(problem, "propensity")
