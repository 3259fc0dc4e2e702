"""What every zero-run report carries beside the numbers (docs/method.md, "Diagnostics"): the TV bound, the
propensity histogram, covariate balance, the placebo and the DP sanity bound."""

from __future__ import annotations

import numpy as np

from llm_audit.estimate.metrics import weighted_auc
from llm_audit.estimate.weights import kish_ess

def tv_bound(e_raw: np.ndarray, member: np.ndarray) -> float:
    """TV(law(X | T=1), law(X | T=0)) = E|e(X) - pi| / (2 pi (1 - pi)), pi = P(T = 1).

    Derivation: the arm densities are p_1 = e p / pi and p_0 = (1 - e) p / (1 - pi), so
    |p_1 - p_0| = p |e - pi| / (pi (1 - pi)) and TV = (1/2) integral |p_1 - p_0|. It bounds
    |AUC_naive - AUC_causal| for every target: the AUC is linear and bounded in [0, 1] in each arm's
    law, and (ATE) TV(p_1, p) + TV(p_0, p) = ((1 - pi) + pi) TV(p_1, p_0); ATT/ATC move one arm only.
    Estimated with the cross-fitted e_hat (a balancing score, so no information is lost).
    """
    pi = float(np.mean(member))
    return float(np.mean(np.abs(e_raw - pi)) / (2 * pi * (1 - pi)))


def propensity_histogram(e_raw: np.ndarray, member: np.ndarray, bins: int = 20) -> dict:
    edges = np.linspace(0.0, 1.0, bins + 1)
    t = np.asarray(member).astype(bool)
    return {
        "bins": edges.tolist(),
        "member": np.histogram(e_raw[t], edges)[0].tolist(),
        "nonmember": np.histogram(e_raw[~t], edges)[0].tolist(),
    }


def standardized_mean_differences(
    x: np.ndarray, member: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """SMD per column before and after weighting. Both use the unweighted pooled SD
    sqrt((v_1 + v_0) / 2) as the denominator, so a change reflects a change in the mean gap only."""
    t = np.asarray(member).astype(bool)
    before, after = [], []
    for j in range(x.shape[1]):
        col = x[:, j]
        ok = np.isfinite(col)
        a, b = ok & t, ok & ~t
        if a.sum() < 2 or b.sum() < 2:
            before.append(np.nan), after.append(np.nan)
            continue
        sd = np.sqrt((col[a].var(ddof=1) + col[b].var(ddof=1)) / 2)
        if sd == 0:
            before.append(0.0), after.append(0.0)
            continue
        before.append((col[a].mean() - col[b].mean()) / sd)
        after.append((np.average(col[a], weights=weight[a]) - np.average(col[b], weights=weight[b])) / sd)
    return np.array(before), np.array(after)


PLACEBO_PERMUTATIONS = 20


def placebo_auc(
    score: np.ndarray, member: np.ndarray, e_raw: np.ndarray, weight: np.ndarray, seed: int, strata: int = 10,
    permutations: int = PLACEBO_PERMUTATIONS,
) -> float:
    """Weighted AUC of the scores permuted within propensity strata: such a score depends on X only
    through its stratum and carries no memorization, so a working correction gives ~0.5. The mean over
    ``permutations`` draws: one permutation alone scatters by about one null standard error."""
    rng = np.random.default_rng(seed)
    edges = np.unique(np.quantile(e_raw, np.linspace(0, 1, strata + 1)[1:-1]))
    stratum = np.searchsorted(edges, e_raw, side="right")
    groups = [np.flatnonzero(stratum == k) for k in np.unique(stratum)]
    aucs = []
    for _ in range(permutations):
        permuted = score.copy()
        for idx in groups:
            permuted[idx] = score[rng.permutation(idx)]
        aucs.append(weighted_auc(permuted, member, weight))
    return float(np.mean(aucs))


def null_auc_se(member: np.ndarray, weight: np.ndarray) -> float:
    """Standard error of an AUC under the null (no separation): sqrt((n1 + n0 + 1) / (12 n1 n0)), with the arms'
    effective (Kish) sizes since the AUC is weighted."""
    t = np.asarray(member).astype(bool)
    n1, n0 = kish_ess(weight[t]), kish_ess(weight[~t])
    return float(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)))


def placebo_tolerance(member: np.ndarray, weight: np.ndarray, floor: float = 0.03) -> float:
    """How far from 0.5 a placebo AUC may fall by chance: 3 null standard errors, never under ``floor`` (a shift
    too small to matter whatever the sample size)."""
    return max(floor, 3 * null_auc_se(member, weight))


def dp_auc_bound(epsilon: float, delta: float = 0.0) -> float:
    """Largest AUC an (epsilon, delta)-DP training allows: the area under the DP ROC envelope
    TPR <= min(e^eps FPR + delta, 1 - e^-eps (1 - delta - FPR), 1); e^eps / (1 + e^eps) when delta = 0.
    The envelope is concave piecewise linear, so the trapezoid over its kinks is exact."""
    big = np.exp(epsilon)

    def env(x):
        return np.minimum.reduce([big * x + delta, 1 - (1 - delta - x) / big, np.ones_like(x)])

    # kinks: the pairwise crossings of the three lines
    cand = [0.0, 1.0, (1 - delta) / (1 + big), (1 - delta) / big, 1 - delta]
    xs = np.unique(np.clip(np.array(cand, dtype=float), 0.0, 1.0))
    ys = np.clip(env(xs), 0.0, 1.0)
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2))
