"""Metrics of potential-score survival curves known on a threshold grid: the doubly robust estimates, and every
replicate behind a band or an influence-function interval (docs/estimands.md, "Simultaneous bands").

F_t(c_g) = P(S(t) >= c_g) on thresholds c_1 < ... < c_G. The ROC points are (F_0(c_g), F_1(c_g)) from the highest
threshold down, with the (0, 0) and (1, 1) ends; AUC, TPR@FPR and advantage follow the rules of ``metrics.py``
(trapezoid area, largest TPR among points with FPR <= a). The ROC is also read at a fixed grid of FPR values (the
targets included) so that replicates can be compared point by point for a band.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import isotonic_regression

from llm_audit.estimate.metrics import FPR_TOL, curve_summaries


def fpr_grid(targets: tuple[float, ...]) -> np.ndarray:
    """FPR values the ROC band is computed at: log-spaced from 0.1%, linear above 5%, and the FPR targets."""
    return np.unique(np.r_[np.geomspace(1e-3, 0.05, 25), np.linspace(0.05, 1.0, 20), np.asarray(targets, float)])


def monotone_cdf(values: np.ndarray) -> np.ndarray:
    """Project a survival function estimate on the grid onto non-increasing curves within [0, 1]."""
    return isotonic_regression(values, increasing=False, y_min=0.0, y_max=1.0)


def grid_roc(f0: np.ndarray, f1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC points of one curve (1-d) or of rows of curves (2-d), from the highest threshold down, with ends."""
    f0, f1 = np.atleast_2d(f0), np.atleast_2d(f1)
    zero, one = np.zeros((len(f0), 1)), np.ones((len(f0), 1))
    return np.hstack([zero, f0[:, ::-1], one]), np.hstack([zero, f1[:, ::-1], one])


def roc_at(fp: np.ndarray, tp: np.ndarray, u: np.ndarray) -> np.ndarray:
    """TPR of each curve (rows) at each FPR in ``u`` by the TPR@FPR rule: (B, len(u))."""
    fp, tp = np.atleast_2d(fp), np.atleast_2d(tp)
    out = np.empty((len(fp), len(u)))
    for b in range(len(fp)):  # FPR is non-decreasing along a curve: one binary search per FPR value
        k = np.searchsorted(fp[b], u + FPR_TOL, side="right") - 1
        out[b] = tp[b, np.maximum(k, 0)]
    return out


def grid_metrics(f0: np.ndarray, f1: np.ndarray, fpr: tuple[float, ...], u: np.ndarray) -> dict:
    """AUC, TPR@FPR, advantage and the ROC at ``u`` of rows of monotone survival curves (B, G)."""
    fp, tp = grid_roc(f0, f1)
    auc, tprs, adv = curve_summaries(fp, tp, fpr)
    return {"auc": auc, "tpr_at_fpr": tprs, "advantage": adv, "roc": roc_at(fp, tp, u),
            "f0": np.atleast_2d(f0), "f1": np.atleast_2d(f1)}


def gaussian_draws(cov: np.ndarray, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """(n_draws, k) draws of N(0, cov): the Gaussian multiplier bootstrap of a linear statistic has exactly this
    law given the data, so it costs O(k^2) per draw instead of O(n k)."""
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return rng.standard_normal((n_draws, len(vals))) @ root.T
