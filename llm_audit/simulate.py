"""A simulator with known truth for the zero-run estimator (issue 3's checks and the benchmark).

Population: covariates X = (x1, x2, x3 numeric; domain categorical). Potential scores
S(0) = f(X) + N(0, 1) and S(1) = S(0) + tau(X), tau(X) = tau * (1 + 0.5 x2). Membership
T ~ Bernoulli(e(X)), the confounding strength ``a`` scaling how much e depends on X (which f also
depends on, so a > 0 confounds the naive metrics). Designs:

- ``linear``: logit e(X) linear in X (a logistic propensity model is right; so is a linear outcome model).
- ``misspecified``: logit e(X) nonlinear in X (a logistic model on raw X is wrong), outcome still linear.
- ``separable``: T = 1{x1 > 0}: membership is a deterministic function of a covariate (no overlap).

The truth (``true_metrics``) is computed by Monte Carlo on fresh draws of the population, with
sklearn's AUC and plain quantiles: independent of the estimator's code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

DESIGNS = ("linear", "misspecified", "separable")
DOMAINS = np.array(["web", "code", "books"])
_DOMAIN_P = [0.5, 0.3, 0.2]
_DOMAIN_F = np.array([0.0, 0.6, -0.4])  # effect of domain on the score
_DOMAIN_E = np.array([0.0, 0.8, -0.6])  # effect of domain on membership (times a)


def _population(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "x1": rng.normal(size=n),
        "x2": rng.normal(size=n),
        "x3": rng.uniform(-1.0, 1.0, size=n),
        "dom": rng.choice(3, size=n, p=_DOMAIN_P),
    }


def _f(p: dict[str, np.ndarray]) -> np.ndarray:
    return 0.8 * p["x1"] + 0.4 * p["x2"] + 0.5 * p["x3"] + _DOMAIN_F[p["dom"]]


def _tau(p: dict[str, np.ndarray], tau: float) -> np.ndarray:
    return tau * (1.0 + 0.5 * p["x2"])


def propensity(p: dict[str, np.ndarray], a: float, design: str) -> np.ndarray:
    """The true e(X)."""
    if design == "linear":
        z = a * (p["x1"] + 0.5 * p["x3"] + _DOMAIN_E[p["dom"]]) - 0.2
    elif design == "misspecified":
        # non-monotone steps in x1: a logistic fit linear in x1 gets the slope's sign and little else
        z = a * (4.0 * (p["x1"] > 1.0) + 3.0 * (p["x1"] < -1.5) - 1.5)
    elif design == "separable":
        return (p["x1"] > 0).astype(float)
    else:
        raise ValueError(f"design must be one of {DESIGNS}, got {design!r}")
    return 1.0 / (1.0 + np.exp(-z))


def simulate(
    n: int, a: float, tau: float = 0.5, *, design: str = "linear", seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One audit dataset: (scores table with id, member, score; covariates table with id, x1-x3, domain)."""
    rng = np.random.default_rng(seed)
    p = _population(n, rng)
    t = (rng.uniform(size=n) < propensity(p, a, design)).astype(int)
    s0 = _f(p) + rng.normal(size=n)
    s = s0 + t * _tau(p, tau)
    ids = np.array([f"u{i}" for i in range(n)])
    scores = pd.DataFrame({"id": ids, "member": t, "score": s})
    covariates = pd.DataFrame({"id": ids, "x1": p["x1"], "x2": p["x2"], "x3": p["x3"], "domain": DOMAINS[p["dom"]]})
    return scores, covariates


def true_metrics(
    a: float, tau: float = 0.5, *, design: str = "linear", target: str = "ate",
    fpr: float = 0.01, n_mc: int = 10**6, seed: int = 12345,
) -> dict[str, float]:
    """Causal AUC, TPR@FPR and mean effect over the target population, by Monte Carlo.

    S(1) and S(0) are drawn for independent units, as the causal AUC P(S_i(1) > S_j(0)) pairs
    independent units i, j of the target population (ATE: everyone; ATT/ATC: weighted by e / 1-e).
    """
    rng = np.random.default_rng(seed)
    p1, p0 = _population(n_mc, rng), _population(n_mc, rng)
    s1 = _f(p1) + rng.normal(size=n_mc) + _tau(p1, tau)
    s0 = _f(p0) + rng.normal(size=n_mc)
    if target == "ate":
        w1, w0 = np.ones(n_mc), np.ones(n_mc)
    elif target in ("att", "atc"):
        e1, e0 = propensity(p1, a, design), propensity(p0, a, design)
        w1, w0 = (e1, e0) if target == "att" else (1 - e1, 1 - e0)
    else:
        raise ValueError(f"unknown target {target!r}")
    auc = roc_auc_score(np.r_[np.ones(n_mc), np.zeros(n_mc)], np.r_[s1, s0], sample_weight=np.r_[w1, w0])
    # threshold c_a: the weighted (1 - fpr) quantile of S(0)
    order = np.argsort(-s0)
    cum = np.cumsum(w0[order]) / w0.sum()
    c = s0[order][np.searchsorted(cum, fpr, side="right") - 1]
    tpr = float(np.sum(w1 * (s1 > c)) / w1.sum())
    mean = float(np.sum(w1 * _tau(p1, tau)) / w1.sum())
    return {"auc": float(auc), "tpr_at_fpr": tpr, "mean_diff": mean}
