"""The overlap verdict: is a corrected figure identified, identified with weak overlap, or not identified
(docs/method.md, "Verdict")."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class OverlapThresholds:
    """When the corrected numbers are refused (not_identified) or flagged (weak_overlap).

    The not_identified defaults follow the method's specification; the weak_overlap ones are ours: a blind AUC of 0.90 leaves
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
