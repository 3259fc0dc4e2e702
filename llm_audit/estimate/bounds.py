"""Bounds on the corpus-wide causal AUC where overlap fails: its identified set (Manski 1990).

The ATE AUC is theta = P(S_i(1) > S_j(0)) + 1/2 P(=), i and j drawn independently from the corpus. Split
the corpus by the (cross-fitted) propensity e(X):

    O  = {eta <= e <= 1 - eta}   both potential scores identified (inverse-propensity weights),
    N1 = {e > 1 - eta}           only members there: S(1) is observed, S(0) is not,
    N0 = {e < eta}               only non-members there: S(0) is observed, S(1) is not.

A pair (i, j) is identified when S_i(1) is (i in O or N1) and S_j(0) is (j in O or N0); its share is
M1 * M0 with M1 = pi_O + pi_N1, M0 = pi_O + pi_N0 (pi: the corpus shares of the regions). The identified
part theta_id = sum over identified pairs of P(S_i(1) > S_j(0)) is estimated with the Hajek IPW weights
inside O (members 1/e, non-members 1/(1 - e), each normalized to the mass pi_O) and the observed scores in
N1 (for S(1)) and N0 (for S(0)), each normalized to its region's mass. Every other pair can go either way,
so without further assumptions

    theta in [theta_id, theta_id + (1 - M1 * M0)],

and both ends are attained (the bounds are sharp): the width is the unidentified share of pairs. Units of
N0 that are members (or of N1 that are non-members) are not used: their region's other potential score is
what is unknown, and a 1/e weight there is what overlap failure makes unusable.

Interval: a bootstrap over units (resampled within each arm, or whole groups with ``groups``; the propensity
kept fixed, as in the rest of the estimate step); the outer percentile interval [q_{a/2}(lower*),
q_{1-a/2}(upper*)] covers the whole identified set with probability >= 1 - a, so it also covers theta
(conservatively: the Imbens & Manski 2004 interval for theta alone is shorter when the set is wide).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llm_audit.errors import AuditError
from llm_audit.estimate.bootstrap import Clusters, stratified_counts

_CELLS_PER_CHUNK = 4_000_000  # replicates x units per array


@dataclass(frozen=True)
class AUCBounds:
    """The identified set [lower, upper] of the corpus-wide (ATE) causal AUC and its interval."""

    lower: float
    upper: float
    ci: tuple[float, float] | None
    unidentified_share: float  # 1 - M1 * M0: the share of pairs whose comparison is unknown
    shares: dict[str, float]  # corpus shares of the overlap region and of the two non-overlap regions
    eta: float
    n_bootstrap: int

    def to_dict(self) -> dict:
        return {
            "value": None,  # a set, not a point: never print one number for it
            "identified_set": [self.lower, self.upper],
            "ci": None if self.ci is None else list(self.ci),
            "unidentified_share": self.unidentified_share,
            "shares": dict(self.shares),
            "eta": self.eta,
            "n_bootstrap": self.n_bootstrap,
            "label": "identified set of the corpus-wide causal AUC (worst case for pairs outside overlap)",
        }


def _region_weights(counts: np.ndarray, member: np.ndarray, propensity: np.ndarray, eta: float):
    """Per row of ``counts`` (replicates x units): the S(1) weights w1 and S(0) weights w0 of every unit
    (each summing to the identified mass M1 / M0) and the three region shares."""
    t = member
    e = propensity
    regions = {"overlap": (e >= eta) & (e <= 1 - eta), "members_only": e > 1 - eta, "nonmembers_only": e < eta}
    total = counts.sum(axis=1, keepdims=True)
    shares = {name: (counts @ mask.astype(float))[:, None] / total for name, mask in regions.items()}

    def normalized(raw: np.ndarray, units: np.ndarray, mass: np.ndarray) -> np.ndarray:
        w = counts * np.where(units, raw, 0.0)[None, :]
        s = w.sum(axis=1, keepdims=True)
        return np.divide(w * mass, s, out=np.zeros_like(w), where=s > 0)

    in_o = regions["overlap"]
    with np.errstate(divide="ignore"):
        w1 = (normalized(1.0 / e, t & in_o, shares["overlap"])
              + normalized(np.ones_like(e), t & regions["members_only"], shares["members_only"]))
        w0 = (normalized(1.0 / (1.0 - e), ~t & in_o, shares["overlap"])
              + normalized(np.ones_like(e), ~t & regions["nonmembers_only"], shares["nonmembers_only"]))
    return w1, w0, {k: v[:, 0] for k, v in shares.items()}


def _bounds_rows(counts, score_order, starts, member, propensity, eta):
    """Lower bound, upper bound and unidentified share for each row of ``counts``."""
    w1, w0, shares = _region_weights(counts, member, propensity, eta)
    # Scores sorted decreasing, tie groups summed: theta_id = sum over non-member mass at each score of the
    # member mass strictly above it plus half the member mass tied with it.
    pos = np.add.reduceat(w1[:, score_order], starts, axis=1)
    neg = np.add.reduceat(w0[:, score_order], starts, axis=1)
    above_or_tied = np.cumsum(pos, axis=1)
    theta_id = np.sum(neg * (above_or_tied - pos / 2.0), axis=1)
    unidentified = 1.0 - w1.sum(axis=1) * w0.sum(axis=1)
    return theta_id, theta_id + unidentified, unidentified, shares


def auc_bounds(score, member, propensity, *, eta: float = 0.02, n_bootstrap: int = 1000, seed: int = 0,
               level: float = 0.95, groups: np.ndarray | None = None) -> AUCBounds:
    """Identified set of the ATE causal AUC given each unit's cross-fitted propensity (see module doc).

    ``score``: higher = member; ``member``: 0/1; ``propensity``: e(X) in [0, 1] (not clipped: clipping is
    what hides the overlap failure). With every unit in [eta, 1 - eta] the set is the single point of the
    Hajek IPW AUC. ``groups`` (n,): the interval resamples whole groups (``bootstrap.Clusters``).
    """
    s = np.asarray(score, dtype=float)
    t = np.asarray(member).astype(bool)
    e = np.asarray(propensity, dtype=float)
    if not (len(s) == len(t) == len(e)):
        raise AuditError(f"bounds: score, member and propensity lengths differ ({len(s)}, {len(t)}, {len(e)})")
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(e))):
        raise AuditError("bounds: scores and propensities must be finite")
    if np.any((e < 0) | (e > 1)):
        raise AuditError("bounds: propensities must lie in [0, 1]")
    if not 0 < eta < 0.5:
        raise AuditError(f"bounds: eta must be in (0, 0.5), got {eta}")
    if t.all() or not t.any():
        raise AuditError("bounds: needs members and non-members")
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s_sorted) != 0) + 1]
    lower, upper, unidentified, shares = _bounds_rows(np.ones((1, len(s))), order, starts, t, e, eta)
    ci = None
    if n_bootstrap:
        rng = np.random.default_rng(seed)
        clusters = None if groups is None else Clusters(t.astype(int), groups)
        per_chunk = int(max(1, min(200, _CELLS_PER_CHUNK // len(s))))
        lows, highs = [], []
        for done in range(0, n_bootstrap, per_chunk):
            counts = stratified_counts(t.astype(int), min(per_chunk, n_bootstrap - done), rng, clusters)
            lo, hi, _, _ = _bounds_rows(counts, order, starts, t, e, eta)
            lows.append(lo)
            highs.append(hi)
        alpha = 1.0 - level
        ci = (float(np.quantile(np.concatenate(lows), alpha / 2)),
              float(np.quantile(np.concatenate(highs), 1 - alpha / 2)))
    return AUCBounds(lower=float(lower[0]), upper=float(upper[0]), ci=ci, unidentified_share=float(unidentified[0]),
                     shares={k: float(v[0]) for k, v in shares.items()}, eta=float(eta), n_bootstrap=int(n_bootstrap))
