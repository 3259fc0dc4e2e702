"""A simulator with known truth for the zero-run estimator (issue 3's checks and the benchmark).

Population: covariates X = (x1, x2, x3 numeric; domain categorical). Potential scores
S(0) = f(X) + N(0, 1) and S(1) = S(0) + tau(X), tau(X) = tau * (1 + 0.5 x2). Membership
T ~ Bernoulli(e(X)), the confounding strength ``a`` scaling how much e depends on X (which f also
depends on, so a > 0 confounds the naive metrics). Designs:

- ``linear``: logit e(X) linear in X (a logistic propensity model is right; so is a linear outcome model).
- ``misspecified``: logit e(X) nonlinear in X (a logistic model on raw X is wrong), outcome still linear.
- ``separable``: T = 1{x1 > 0}: membership is a deterministic function of a covariate (no overlap).

Outcome shapes (``outcome``), how the score depends on X (the benchmark of issue 14):

- ``linear``: as above, S(0) = f(X) + N(0, 1).
- ``nonlinear``: f gains a bend in x1 and a wave in x2, f + 0.5 (x1^2 - 1) + 0.6 sin(2 x2): a linear outcome
  model is wrong.
- ``spread``: unequal spread, S(0) = f(X) + exp(0.5 x1) N(0, 1): the noise grows with the confounder x1, so the
  arms' score laws differ in shape, not only in location.
- ``nonlinear_spread``: both.
- ``function``: a placebo, S(1) = S(0) = g(X) = x1 + exp(0.5 x2) + 0.5 1{domain = code}, no noise and no
  effect (truth AUC 0.5, TPR@FPR = FPR, mean 0): the score is an exact function of the covariates.

The truth (``true_metrics``) is computed by Monte Carlo on fresh draws of the population, with
sklearn's AUC and plain quantiles: independent of the estimator's code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

DESIGNS = ("linear", "misspecified", "separable")
OUTCOMES = ("linear", "nonlinear", "spread", "nonlinear_spread", "function")
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


def _score0(p: dict[str, np.ndarray], outcome: str, rng: np.random.Generator) -> np.ndarray:
    """S(0) for the outcome shape (see the module docstring); draws one normal per unit (none for ``function``)."""
    if outcome == "function":
        return p["x1"] + np.exp(0.5 * p["x2"]) + 0.5 * (p["dom"] == 1)
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
    f = _f(p)
    if outcome in ("nonlinear", "nonlinear_spread"):
        f = f + 0.5 * (p["x1"] ** 2 - 1.0) + 0.6 * np.sin(2.0 * p["x2"])
    noise = rng.normal(size=len(f))
    if outcome in ("spread", "nonlinear_spread"):
        noise = noise * np.exp(0.5 * p["x1"])
    return f + noise


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
    n: int, a: float, tau: float = 0.5, *, design: str = "linear", outcome: str = "linear", seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One audit dataset: (scores table with id, member, score; covariates table with id, x1-x3, domain)."""
    rng = np.random.default_rng(seed)
    p = _population(n, rng)
    t = (rng.uniform(size=n) < propensity(p, a, design)).astype(int)
    s0 = _score0(p, outcome, rng)
    s = s0 + (0.0 if outcome == "function" else t * _tau(p, tau))
    ids = np.array([f"u{i}" for i in range(n)])
    scores = pd.DataFrame({"id": ids, "member": t, "score": s})
    covariates = pd.DataFrame({"id": ids, "x1": p["x1"], "x2": p["x2"], "x3": p["x3"], "domain": DOMAINS[p["dom"]]})
    return scores, covariates


def true_metrics(
    a: float, tau: float = 0.5, *, design: str = "linear", target: str = "ate",
    fpr: float = 0.01, n_mc: int = 10**6, seed: int = 12345, outcome: str = "linear",
) -> dict[str, float]:
    """Causal AUC, TPR@FPR and mean effect over the target population, by Monte Carlo.

    S(1) and S(0) are drawn for independent units, as the causal AUC P(S_i(1) > S_j(0)) pairs
    independent units i, j of the target population (ATE: everyone; ATT/ATC: weighted by e / 1-e;
    ATO: by e(1-e)).
    """
    rng = np.random.default_rng(seed)
    p1, p0 = _population(n_mc, rng), _population(n_mc, rng)
    effect = 0.0 if outcome == "function" else tau
    s1 = _score0(p1, outcome, rng) + _tau(p1, effect)
    s0 = _score0(p0, outcome, rng)
    if target == "ate":
        w1, w0 = np.ones(n_mc), np.ones(n_mc)
    elif target in ("att", "atc", "ato"):
        e1, e0 = propensity(p1, a, design), propensity(p0, a, design)
        w1, w0 = {"att": (e1, e0), "atc": (1 - e1, 1 - e0), "ato": (e1 * (1 - e1), e0 * (1 - e0))}[target]
    else:
        raise ValueError(f"unknown target {target!r}")
    auc = roc_auc_score(np.r_[np.ones(n_mc), np.zeros(n_mc)], np.r_[s1, s0], sample_weight=np.r_[w1, w0])
    # threshold c_a: the weighted (1 - fpr) quantile of S(0)
    order = np.argsort(-s0)
    cum = np.cumsum(w0[order]) / w0.sum()
    c = s0[order][np.searchsorted(cum, fpr, side="right") - 1]
    tpr = float(np.sum(w1 * (s1 > c)) / w1.sum())
    mean = float(np.sum(w1 * _tau(p1, effect)) / w1.sum())
    return {"auc": float(auc), "tpr_at_fpr": tpr, "mean_diff": mean}
