"""Entropy balancing (Hainmueller 2012): weights within an arm that reproduce a target mean of the design
columns exactly, found through the convex dual (docs/estimands.md, "Entropy balancing").

For the units i of one arm with design rows x_i and a target mean m, the weights closest to uniform in
Kullback-Leibler divergence under the constraint sum_i w_i x_i = m are w_i proportional to exp(lambda' x_i),
lambda minimizing the convex dual log sum_i exp(lambda' (x_i - m)). Its gradient is the weighted mean gap, so at
the optimum every design column balances exactly. The dual has a finite optimum only when m lies inside the
convex hull of the arm's rows; otherwise no reweighting of that arm reproduces the target population, and the
estimand is not identified by these weights (reason named). The approximate version adds a ridge penalty
(kappa / 2) |lambda|^2 (a finite optimum always exists) and reports the mean gap it leaves.

The columns are whitened first (the principal axes of the population's centered design, zero-variance
directions dropped), which spans the same constraints and keeps Newton's steps well conditioned; one-hot
levels that sum to the intercept are collinear and fall out here.

Targets (docs/estimands.md): ATE balances each arm to the pooled mean; ATT the non-members to the members' mean (members
keep uniform weights); ATC the members to the non-members' mean. ATO has no entropy-balanced form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from llm_audit.estimate.design import categorical_as_str, design_transformer
from llm_audit.estimate.estimands import Estimand
from llm_audit.estimate.weights import arm_ess

BALANCE_TOL = 1e-6  # largest weighted mean gap, in SD units of the column, that counts as exact balance
WEAK_GAP, REFUSE_GAP = 0.1, 0.25  # SMD rules (docs/estimands.md): above 0.1 weak, above 0.25 not identified
_ARMS = {0: "non-members", 1: "members"}


@dataclass
class BalanceWeights:
    """Entropy-balancing weights of one population, normalized to sum to 1 within each arm."""

    weights: np.ndarray | None  # (n_rows,), None when not identified
    status: str  # "exact", "approximate" or "not_identified"
    reasons: list[str] = field(default_factory=list)  # why not identified, or why weak
    max_gap: float | None = None  # largest |weighted mean - target| over the design columns, in SD units
    ess: dict[str, float] = field(default_factory=dict)
    penalty: float = 0.0

    @property
    def identified(self) -> bool:
        return self.weights is not None

    def to_dict(self) -> dict:
        return {"status": self.status, "reasons": list(self.reasons), "max_gap": self.max_gap, "ess": self.ess,
                "penalty": self.penalty}


def whiten(x: np.ndarray, rel_tol: float = 1e-9) -> np.ndarray:
    """The centered design on its principal axes, each scaled to unit variance; axes with (near) zero variance
    are dropped. Same span as x minus its mean, so balancing the result balances every column of x."""
    xc = x - x.mean(axis=0)
    if xc.shape[1] == 0:
        return xc
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    keep = s > rel_tol * max(s[0], 1e-300)
    return xc @ vt[keep].T / (s[keep] / np.sqrt(len(x)))


def entropy_weights(z: np.ndarray, target: np.ndarray, penalty: float = 0.0, max_iter: int = 200
                    ) -> tuple[np.ndarray, float]:
    """Weights (summing to 1) over the rows of ``z`` (n, k) minimizing KL to uniform subject to
    ``sum_i w_i z_i = target`` (exactly when ``penalty`` is 0, else up to the ridge on lambda), and the largest
    remaining |gap| in the units of z. Newton trust-region on the dual; a gap above BALANCE_TOL with no penalty
    means the target is outside the convex hull of the rows (no finite optimum)."""
    if z.shape[1] == 0:  # nothing to balance: uniform weights
        return np.full(len(z), 1.0 / len(z)), 0.0
    zc = z - target

    def dual(lam):
        return logsumexp(zc @ lam) + 0.5 * penalty * lam @ lam

    def grad(lam):
        return softmax(zc @ lam) @ zc + penalty * lam

    def hess(lam):
        w = softmax(zc @ lam)
        mean = w @ zc
        return (zc * w[:, None]).T @ zc - np.outer(mean, mean) + penalty * np.eye(len(lam))

    lam0 = np.zeros(z.shape[1])
    res = minimize(dual, lam0, jac=grad, hess=hess, method="trust-exact",
                   options={"gtol": 1e-12, "maxiter": max_iter})
    w = softmax(zc @ res.x)
    return w, float(np.max(np.abs(w @ zc)))


def _target_rows(estimand: Estimand, t: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Which rows define the target mean, and which arms are reweighted towards it."""
    if estimand.name == "att":
        return t, [0]
    if estimand.name == "atc":
        return ~t, [1]
    return np.ones(len(t), dtype=bool), [0, 1]


def balance_design(covariates: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """The design columns the propensity model uses (standardized numeric, missing indicators, one-hot levels),
    fit on these rows."""
    if covariates.shape[1] == 0:
        return [], np.empty((len(covariates), 0))
    tr = design_transformer(covariates)
    x = tr.fit_transform(categorical_as_str(covariates))
    names = [str(n).split("__", 1)[-1] for n in tr.get_feature_names_out()]  # "num__length" -> "length"
    return names, np.asarray(x, dtype=float)


def entropy_balance(covariates: pd.DataFrame, member: np.ndarray, estimand: Estimand, penalty: float = 0.0
                    ) -> BalanceWeights:
    """Entropy-balancing weights carrying each arm of these units to the estimand's population."""
    if not estimand.balanceable:
        raise ValueError(f"estimand {estimand.name!r} has no entropy-balanced form")
    t = np.asarray(member).astype(bool)
    names, x = balance_design(covariates)
    z = whiten(x)
    defining, arms = _target_rows(estimand, t)
    target = z[defining].mean(axis=0)
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    w = np.where(t, 1.0 / max(t.sum(), 1), 1.0 / max((~t).sum(), 1))
    reasons, worst = [], 0.0
    for arm in arms:
        rows = t if arm == 1 else ~t
        w_arm, _ = entropy_weights(z[rows], target, penalty)
        w[rows] = w_arm
        gaps = (w_arm @ x[rows] - x[defining].mean(axis=0)) / sd
        j = int(np.argmax(np.abs(gaps))) if len(gaps) else 0
        gap = float(np.abs(gaps[j])) if len(gaps) else 0.0
        worst = max(worst, gap)
        if penalty == 0 and gap > BALANCE_TOL:
            reasons.append(f"entropy balancing: the target mean of the design columns lies outside the convex hull "
                           f"of the {_ARMS[arm]}' covariates (no finite optimum; largest gap {gap:.2f} SD on "
                           f"'{names[j]}'): no reweighting of that arm reproduces the target population")
        elif gap > REFUSE_GAP:
            reasons.append(f"entropy balancing (penalty {penalty:g}) leaves a gap of {gap:.2f} SD on '{names[j]}' "
                           f"in the {_ARMS[arm]} (> {REFUSE_GAP})")
        elif gap > WEAK_GAP:
            reasons.append(f"entropy balancing (penalty {penalty:g}) leaves a gap of {gap:.2f} SD on '{names[j]}' "
                           f"in the {_ARMS[arm]} (> {WEAK_GAP}): weak balance")
    refused = any(not r.endswith("weak balance") for r in reasons)
    status = "not_identified" if refused else ("approximate" if penalty > 0 else "exact")
    ess = arm_ess(w, t)
    return BalanceWeights(None if refused else w, status, reasons, worst, ess, penalty)
