"""What every zero-run report carries beside the numbers (docs/method.md §6-§7): can the correction be trusted?"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from llm_audit.estimate.metrics import weighted_auc
from llm_audit.estimate.weights import kish_ess, raw_weights

VERDICTS = ("identified", "weak_overlap", "not_identified")


@dataclass(frozen=True)
class OverlapThresholds:
    """When the corrected numbers are refused (not_identified) or flagged (weak_overlap).

    The method's defaults for not_identified; the weak_overlap ones are ours: a blind AUC of 0.90 leaves
    few comparable units, an ESS under 100 or under 20% of the arm gives intervals several times
    the naive ones, and more than 10% of units clipped means the clip bound, not the data, sets
    a sizeable part of the weights.
    """

    not_blind_auc: float = 0.97
    not_ess_min: float = 30.0
    not_ess_share: float = 0.05
    weak_blind_auc: float = 0.90
    weak_ess_min: float = 100.0
    weak_ess_share: float = 0.20
    weak_clipped_share: float = 0.10

    def to_dict(self) -> dict:
        return asdict(self)


def overlap_verdict(
    blind_auc: float, ess: dict[str, float], n_arm: dict[str, int], clipped_share: float,
    th: OverlapThresholds = OverlapThresholds(),
) -> tuple[str, list[str]]:
    """The verdict and every reason for it."""
    not_r, weak_r = [], []
    if blind_auc >= th.not_blind_auc:
        not_r.append(f"blind-baseline AUC {blind_auc:.3f} >= {th.not_blind_auc}: members are (nearly) separable from the covariates")
    elif blind_auc >= th.weak_blind_auc:
        weak_r.append(f"blind-baseline AUC {blind_auc:.3f} >= {th.weak_blind_auc}")
    for arm in ("member", "nonmember"):
        e, n = ess[arm], n_arm[arm]
        reason = _ess_shortfall(arm, e, n, th.not_ess_min, th.not_ess_share)
        if reason:
            not_r.append(reason)
        else:
            reason = _ess_shortfall(arm, e, n, th.weak_ess_min, th.weak_ess_share)
            if reason:
                weak_r.append(reason)
    if clipped_share > th.weak_clipped_share:
        weak_r.append(f"{clipped_share:.1%} of units have a propensity outside [eta, 1-eta]")
    if not_r:
        return "not_identified", not_r
    if weak_r:
        return "weak_overlap", weak_r
    return "identified", []


def _ess_shortfall(arm: str, e: float, n: int, ess_min: float, share: float) -> str | None:
    """Why an arm's ESS is below ``ess_min`` or ``share`` of the arm, or None.

    A relative tolerance of 1e-6 keeps rounding (30 equal weights can give an ESS of 29.9999999) from
    refusing a perfectly balanced arm. When the arm itself is the limit (it has no more than ``ess_min``
    units, or the weights keep 90% of it), the reason says too few units, not poor overlap.
    """
    if e >= ess_min * (1 - 1e-6) and e >= share * n * (1 - 1e-6):
        return None
    arms = {"member": "members", "nonmember": "non-members"}[arm]
    if n <= ess_min or e >= 0.9 * n:
        return f"too few {arms} ({n}, ESS {e:.1f}): an ESS of {ess_min:g} needs more units in that arm"
    return f"ESS of {arms} {e:.1f} < {ess_min:g} or < {share:.0%} of {n}"


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


def placebo_tolerance(member: np.ndarray, weight: np.ndarray) -> float:
    """How far from 0.5 a placebo AUC may fall by chance: 3 standard errors of an AUC under the null,
    sqrt((n1 + n0 + 1) / (12 n1 n0)), with the arms' effective (Kish) sizes since the AUC is weighted;
    never under 0.05, the shift worth flagging on any sample size."""
    t = np.asarray(member).astype(bool)
    n1, n0 = kish_ess(weight[t]), kish_ess(weight[~t])
    return max(0.05, 3 * float(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))))


def _best_box_average(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, maximize: bool, increasing: bool) -> np.ndarray:
    """Weights in [lo, hi] maximizing (or minimizing) sum w v / sum w: the optimum is a threshold rule,
    upper weights on the largest (smallest) values; every threshold is tried with cumulative sums.
    ``values`` are non-decreasing (``increasing``) or non-increasing along the array, so the order is
    known without a sort."""
    order = np.arange(len(values))
    if maximize == increasing:
        order = order[::-1]
    v, l, h = values[order], lo[order], hi[order]
    num = np.r_[0, np.cumsum(h * v)] + (np.sum(l * v) - np.r_[0, np.cumsum(l * v)])
    den = np.r_[0, np.cumsum(h)] + (np.sum(l) - np.r_[0, np.cumsum(l)])
    ratio = num / den
    k = int(np.argmax(ratio) if maximize else np.argmin(ratio))
    w = l.copy()
    w[:k] = h[:k]
    out = np.empty_like(w)
    out[order] = w
    return out


def _below_fraction(x: np.ndarray, ref_sorted: np.ndarray, ref_w: np.ndarray) -> np.ndarray:
    """Weighted share of ``ref_sorted`` (ascending) strictly below each x, plus half the share tied."""
    cw = np.r_[0, np.cumsum(ref_w)]
    lo = cw[np.searchsorted(ref_sorted, x, side="left")]
    hi = cw[np.searchsorted(ref_sorted, x, side="right")]
    return (lo + 0.5 * (hi - lo)) / cw[-1]


def auc_bounds_under_confounding(
    score: np.ndarray, member: np.ndarray, e: np.ndarray, target: str, gamma: float, iters: int = 4
) -> tuple[float, float]:
    """Range of the weighted AUC when each unit's propensity odds may be off by a factor in
    [1/gamma, gamma] (a Rosenbaum-style unmeasured confounder).

    Approximation: the joint extremum over both arms' weights is found by alternating exact
    maximizations over one arm given the other (each a threshold rule in the score), started from the
    estimated weights; a local optimum in principle, it matched brute force over all box vertices in
    the tests.
    """
    t = np.asarray(member).astype(bool)
    odds = e / (1 - e)
    w0 = raw_weights(e, t, target)
    if target == "ate":
        lo = np.where(t, 1 + 1 / (odds * gamma), 1 + odds / gamma)
        hi = np.where(t, 1 + gamma / odds, 1 + odds * gamma)
    elif target == "att":
        lo, hi = np.where(t, 1.0, odds / gamma), np.where(t, 1.0, odds * gamma)
    else:
        lo, hi = np.where(t, 1 / (odds * gamma), 1.0), np.where(t, gamma / odds, 1.0)
    o1 = np.argsort(score[t], kind="mergesort")
    o0 = np.argsort(score[~t], kind="mergesort")
    s1, s0 = score[t][o1], score[~t][o0]
    lo1, hi1, lo0, hi0 = lo[t][o1], hi[t][o1], lo[~t][o0], hi[~t][o0]
    out = []
    for maximize in (False, True):
        wm, wn = w0[t][o1], w0[~t][o0]
        for _ in range(iters):
            wm = _best_box_average(_below_fraction(s1, s0, wn), lo1, hi1, maximize, increasing=True)
            # the AUC as an average over non-members of the member mass above them
            wn = _best_box_average(1 - _below_fraction(s0, s1, wm), lo0, hi0, maximize, increasing=False)
        out.append(float(np.average(_below_fraction(s1, s0, wn), weights=wm)))
    return out[0], out[1]


def sensitivity_gamma(
    score: np.ndarray, member: np.ndarray, e: np.ndarray, target: str, reference: float,
    gamma_max: float = 20.0, steps: int = 14,
) -> float | None:
    """Smallest Gamma whose AUC range reaches ``reference`` (the naive AUC, or 0.5); None when even
    gamma_max does not. Bisection on log Gamma."""
    def reaches(g: float) -> bool:
        lo, hi = auc_bounds_under_confounding(score, member, e, target, g)
        return lo - 1e-12 <= reference <= hi + 1e-12

    if reaches(1.0):
        return 1.0
    if not reaches(gamma_max):
        return None
    a, b = 0.0, np.log(gamma_max)
    for _ in range(steps):
        mid = (a + b) / 2
        a, b = (a, mid) if reaches(float(np.exp(mid))) else (mid, b)
    return float(np.exp(b))


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
