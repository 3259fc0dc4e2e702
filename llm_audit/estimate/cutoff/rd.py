"""Memorization at the cutoff: a sharp regression discontinuity in the date (docs/cutoff.md).

When members are the texts dated before d0 and non-members those after, the potential scores S(1), S(0)
are never observed at the same date, but if both vary continuously with the date D at d0, the scores just
before and just after d0 compare S(1) with S(0) for texts dated at d0:

    tau_RD = lim_{d -> d0-} E[S | D = d] - lim_{d -> d0+} E[S | D = d]      (members' side minus non-members')

estimated by local-linear regression on each side with a triangular kernel, the MSE-optimal bandwidth and
the robust bias-corrected interval of Calonico, Cattaneo & Titiunik (2014), through the `rdrobust`
package. The local AUC compares the texts within the bandwidth after removing each side's linear trend in
the date. Every figure is about texts dated near d0, never about the corpus.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field

import numpy as np

from llm_audit.estimate.bootstrap import percentile_interval
from llm_audit.estimate.metrics import (
    MIN_NONMEMBERS_ABOVE, curve_auc, roc_curve_weighted, roc_metrics, tpr_at_fpr_index,
)
from llm_audit.estimate.weights import kish_ess

# Refuse a number unless each side has this many texts within the bandwidth. Below 20 a side, the
# nearest-neighbour variance (3 neighbours) and the bootstrap rest on a handful of texts, and even a
# Mann-Whitney AUC of 20 vs 20 texts has a null standard deviation of 0.09 (interval half-width ~0.18).
MIN_TEXTS_PER_SIDE = 20
# The bias correction fits a local quadratic on each side: 3 distinct dates a side is its hard minimum.
MIN_DATES_PER_SIDE = 3
# A bootstrap interval of the local AUC is given only if at most this share of replicates had to be dropped.
MAX_DROPPED_SHARE = 0.1
STATEMENT = "memorization of texts dated near d0, assuming nothing else changes at d0; not a corpus-wide figure"


def too_few_near(x: np.ndarray, d0: float, h: float | None = None) -> str | None:
    """Why there are too few texts near the cutoff d0 (within ``h`` when given), or None when there are enough."""
    near = np.ones(len(x), dtype=bool) if h is None else np.abs(x - d0) < h
    left, right = near & (x < d0), near & (x >= d0)
    counts = [int(left.sum()), int(right.sum())]
    dates = [len(np.unique(x[left])), len(np.unique(x[right]))]
    if min(counts) >= MIN_TEXTS_PER_SIDE and min(dates) >= MIN_DATES_PER_SIDE:
        return None
    where = "dated" if h is None else f"within h = {h:.3g} years of it,"
    return (f"too few texts near the cutoff: {where} {counts[0]} texts on {_dates(dates[0])} before and "
            f"{counts[1]} texts on {_dates(dates[1])} after "
            f"(needs {MIN_TEXTS_PER_SIDE} texts on {MIN_DATES_PER_SIDE} dates each side)")


def _dates(k: int) -> str:
    return f"{k} date" if k == 1 else f"{k} dates"


@dataclass(frozen=True)
class RDEstimate:
    """A jump at d0: members' side limit minus non-members' side limit, with its robust interval.

    ``value`` is the conventional local-linear estimate, ``bias_corrected`` the point the robust
    interval is centred on; ``h`` / ``b`` the main and bias bandwidths in years; ``n_*`` the texts within h.
    ``reason`` says why there is no number (``value`` is then None).
    """

    value: float | None = None
    ci: tuple[float, float] | None = None
    p_value: float | None = None
    se: float | None = None
    bias_corrected: float | None = None
    h: float | None = None
    b: float | None = None
    n_member_side: int | None = None
    n_nonmember_side: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return {"value": self.value, "ci": None if self.ci is None else list(self.ci), "p_value": self.p_value,
                "se": self.se, "bias_corrected": self.bias_corrected, "h": self.h, "b": self.b,
                "n_member_side": self.n_member_side, "n_nonmember_side": self.n_nonmember_side,
                "reason": self.reason}


def rd_jump(y, dates, d0: float, *, h: float | None = None, cluster=None, level: float = 0.95) -> RDEstimate:
    """Sharp RD of ``y`` on the date at ``d0``: local linear (p = 1), triangular kernel, bandwidth ``h``
    (default: rdrobust's MSE-optimal common bandwidth, "mserd"), robust bias-corrected interval (q = 2);
    with ``cluster`` (e.g. the document a chunk comes from) cluster-robust variances (CR1).

    Rows where ``y`` or the date is missing are left out. Returns a refusal (``reason``) when either side
    has too few texts overall or within the bandwidth, or when rdrobust cannot fit.
    """
    from rdrobust import rdrobust  # imported here: the package pulls in plotnine (seconds to import)

    y = np.asarray(y, dtype=float)
    x = np.asarray(dates, dtype=float)
    ok = np.isfinite(y) & np.isfinite(x)
    groups = None
    if cluster is not None:
        groups = np.unique(np.asarray(cluster)[ok], return_inverse=True)[1].astype(float)
    y, x = y[ok], x[ok]
    reason = too_few_near(x, d0)
    if reason is None and (np.ptp(y[x < d0]) == 0 or np.ptp(y[x >= d0]) == 0):
        reason = "constant on one side of d0"
    if reason is not None:
        return RDEstimate(reason=reason)
    try:
        # rdrobust prints notes ("Mass points detected") and warns about few clusters: the result carries it all.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = rdrobust(y, x, c=d0, p=1, q=2, kernel="triangular", bwselect="mserd", h=h,
                           cluster=groups, level=100 * level)
    except Exception as exc:  # rdrobust raises bare Exceptions as well as numpy's errors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return RDEstimate(reason=f"rdrobust could not fit: {first}")
    bw = float(fit.bws.loc["h", "left"])
    reason = too_few_near(x, d0, bw)
    if reason is not None:
        return RDEstimate(h=bw, reason=reason)
    # rdrobust's effect is right minus left (after minus before); ours is members' (before) minus after.
    lo, hi = (float(v) for v in fit.ci.loc["Robust"])
    return RDEstimate(
        value=-float(fit.coef.loc["Conventional"].iloc[0]), ci=(-hi, -lo),
        p_value=float(fit.pv.loc["Robust"].iloc[0]), se=float(fit.se.loc["Robust"].iloc[0]),
        bias_corrected=-float(fit.coef.loc["Robust"].iloc[0]), h=bw, b=float(fit.bws.loc["b", "left"]),
        n_member_side=int(fit.N_h[0]), n_nonmember_side=int(fit.N_h[1]),
    )


def triangular_weights(dates: np.ndarray, d0: float, h: float) -> np.ndarray:
    """K((D - d0) / h) with K(u) = max(0, 1 - |u|): the kernel of the local fits."""
    return np.clip(1.0 - np.abs(np.asarray(dates, dtype=float) - d0) / h, 0.0, None)


def side_trends(score: np.ndarray, u: np.ndarray, weight: np.ndarray, before: np.ndarray,
                degree: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares polynomial of the score in u = D - d0 on each side (members' side first):
    the coefficients of u, u^2, ... (intercept left out). NaN when a side's weight sits on too few dates to
    fit the polynomial (a bootstrap replicate that drew few clusters)."""
    out = []
    for side in (before, ~before):
        w, s, x = weight[side], score[side], u[side]
        design = np.vander(x, degree + 1, increasing=True) * np.sqrt(w)[:, None]
        coef, _, rank, _ = np.linalg.lstsq(design, s * np.sqrt(w), rcond=None)
        out.append(coef[1:] if rank == degree + 1 else np.full(degree, np.nan))
    return out[0], out[1]


def detrended(score: np.ndarray, u: np.ndarray, weight: np.ndarray, before: np.ndarray,
              degree: int = 1) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """S minus its side's fitted trend in u = D - d0 (degree 1: S - beta_side (D - d0)): the trend is
    removed, the side's level at d0 kept."""
    trends = side_trends(score, u, weight, before, degree)
    powers = np.vander(u, degree + 1, increasing=True)[:, 1:]
    fitted = np.where(before, powers @ trends[0], powers @ trends[1])
    return score - fitted, trends


@dataclass(frozen=True)
class LocalAUC:
    """Members' side vs non-members' side within the bandwidth, trends removed, kernel-weighted.

    ``auc`` / ``tpr_at_fpr`` entries: {"value", "ci", "bias_corrected"} (TPR entries add the effective
    number of non-members above the threshold and whether that is under the project's minimum of 10).
    """

    auc: dict = field(default_factory=lambda: {"value": None, "ci": None})
    tpr_at_fpr: dict = field(default_factory=dict)
    h: float | None = None
    n_member_side: int | None = None
    n_nonmember_side: int | None = None
    slopes: tuple[float, float] | None = None  # per year, members' side then non-members'
    bootstrap_dropped: int = 0  # replicates left out: a side on too few dates to fit its trend, or none within h
    reason: str | None = None

    def to_dict(self) -> dict:
        return {"auc": dict(self.auc), "tpr_at_fpr": {k: dict(v) for k, v in self.tpr_at_fpr.items()},
                "h": self.h, "n_member_side": self.n_member_side, "n_nonmember_side": self.n_nonmember_side,
                "slopes": None if self.slopes is None else list(self.slopes),
                "bootstrap_dropped": self.bootstrap_dropped, "reason": self.reason}


def _resample_within_sides(before: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap counts per text: clusters (texts when no cluster) redrawn within each side."""
    counts = np.zeros(len(before))
    for side in (before, ~before):
        ids, inverse = np.unique(groups[side], return_inverse=True)
        drawn = np.bincount(rng.integers(0, len(ids), size=len(ids)), minlength=len(ids))
        counts[side] = drawn[inverse]
    return counts


def _local_bootstrap(s: np.ndarray, u: np.ndarray, k_h: np.ndarray, k_fit: np.ndarray, before: np.ndarray,
                     groups: np.ndarray, degree: int, *, fpr: tuple[float, ...], n_bootstrap: int,
                     seed: int) -> tuple[list[float], dict[float, list[float]]]:
    """Replicates of the local AUC and TPR@FPR: texts (or clusters, ``groups``) redrawn within each side, the
    trends refit; a replicate leaving a side without a trend or without weight within h is dropped."""
    in_h = k_h > 0
    rng = np.random.default_rng(seed)
    reps_auc, reps_tpr = [], {a: [] for a in fpr}
    for _ in range(n_bootstrap):
        counts = _resample_within_sides(before, groups, rng)
        replicate, trends = detrended(s, u, k_fit * counts, before, degree)
        if np.isnan(trends[0]).any() or np.isnan(trends[1]).any():
            continue
        w = (k_h * counts)[in_h]
        if not (w[before[in_h]].sum() > 0 and w[~before[in_h]].sum() > 0):  # a side redrawn outside h only
            continue
        curve = roc_curve_weighted(replicate[in_h], before[in_h], w)
        reps_auc.append(curve_auc(curve.fpr, curve.tpr))
        for a in fpr:
            reps_tpr[a].append(curve.tpr[tpr_at_fpr_index(curve.fpr, a)])
    return reps_auc, reps_tpr


def _thin_tpr(ess_nonmembers: float, a: float) -> dict:
    """No TPR@FPR = a where the effective non-members near d0 are fewer than 10 / a."""
    return {"value": None, "ci": None, "n_eff_nonmember_above": None, "unreliable": True,
            "reason": f"{ess_nonmembers:.0f} effective non-members near d0, "
                      f"fewer than {MIN_NONMEMBERS_ABOVE / a:.0f} (10 / FPR)"}


def local_auc(score, dates, d0: float, h: float, *, b: float | None = None, fpr: tuple[float, ...] = (0.01, 0.05),
              cluster=None, n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95,
              robust: bool = True) -> LocalAUC:
    """Kernel-weighted Mann-Whitney AUC of the detrended scores, members' side (D < d0) vs the other.

    The texts with |D - d0| < h get weight K = 1 - |D - d0| / h; each side's score is detrended by its
    weighted least-squares line in the date (``value``). The AUC counts every (before, after) pair with
    weight K_i K_j, ties 1/2. TPR@FPR = a follows the project's rule (largest TPR with FPR <= a) and is
    given only when the non-members near d0 number at least 10 / a (Kish effective count of their kernel
    weights).

    Interval: percentile bootstrap, texts (or ``cluster``s) redrawn within each side and the trends refit.
    With ``robust`` (default) the trends are local quadratics fitted with the bias bandwidth ``b``
    (default h; rd_jump's b is the natural choice), while the AUC still compares the texts within h: the
    analogue of the robust bias-corrected interval of the mean (Calonico, Cattaneo & Titiunik 2014), which
    keeps its coverage where the line leaves a curvature bias at the MSE-optimal h. ``bias_corrected`` is
    that point. A replicate that leaves a side on too few dates (few clusters) is dropped and counted.
    """
    s_all = np.asarray(score, dtype=float)
    x_all = np.asarray(dates, dtype=float)
    ok = np.isfinite(s_all) & np.isfinite(x_all)
    reason = too_few_near(x_all[ok], d0, h)
    if reason is not None:
        return LocalAUC(h=h, reason=reason)
    b = h if b is None or not robust else b
    near = ok & (np.abs(x_all - d0) < max(h, b))
    s, u = s_all[near], x_all[near] - d0
    before = u < 0
    k_h = triangular_weights(u, 0.0, h)
    k_fit = triangular_weights(u, 0.0, b)
    in_h = k_h > 0
    groups = np.arange(len(s)) if cluster is None else np.unique(np.asarray(cluster)[near], return_inverse=True)[1]
    degree = 2 if robust else 1

    def metrics(adjusted, weight):
        return roc_metrics(adjusted[in_h], before[in_h], weight[in_h], fpr)

    adjusted, slopes = detrended(s, u, k_h, before)
    point = metrics(adjusted, k_h)
    corrected = metrics(detrended(s, u, k_fit, before, degree)[0], k_h)
    ess_nonmembers = kish_ess(k_h[~before])

    reps_auc, reps_tpr = _local_bootstrap(s, u, k_h, k_fit, before, groups, degree, fpr=fpr,
                                          n_bootstrap=n_bootstrap, seed=seed)
    dropped = n_bootstrap - len(reps_auc)
    # Beyond this share the kept replicates are those that happened to redraw enough clusters: no interval.
    usable = bool(reps_auc) and dropped <= MAX_DROPPED_SHARE * n_bootstrap
    why = None if usable or not n_bootstrap else (
        f"no interval: {dropped} of {n_bootstrap} bootstrap replicates left a side on too few dates "
        f"(too few clusters near d0)")

    def entry(value, value_bc, reps):
        ci = percentile_interval(np.array(reps), level) if usable else None
        return {"value": float(value), "ci": ci, "bias_corrected": float(value_bc)}

    tprs = {}
    for a in fpr:
        if ess_nonmembers < MIN_NONMEMBERS_ABOVE / a:
            tprs[format(a, "g")] = _thin_tpr(ess_nonmembers, a)
        else:
            tprs[format(a, "g")] = {**entry(point.tpr_at_fpr[a], corrected.tpr_at_fpr[a], reps_tpr[a]),
                                    "n_eff_nonmember_above": float(point.n_eff_above[a]),
                                    "unreliable": bool(point.n_eff_above[a] < MIN_NONMEMBERS_ABOVE)}
    return LocalAUC(auc=entry(point.auc, corrected.auc, reps_auc), tpr_at_fpr=tprs, h=float(h),
                    n_member_side=int((before & in_h).sum()), n_nonmember_side=int((~before & in_h).sum()),
                    slopes=(float(slopes[0][0]), float(slopes[1][0])), bootstrap_dropped=dropped, reason=why)
