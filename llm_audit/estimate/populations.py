"""Where each estimand of an audit is computed, with which propensity, and whether it is identified there
(docs/estimands.md, "Several estimands side by side").

- The configured target (``ate``, ``att`` or ``atc``) follows the propensity stage: all (or the trimmed) units
  when the overlap verdict allows, else the units with propensity in [eta, 1-eta] under the ``_overlap`` keys.
- ``ato`` (overlap weights) runs on every unit with the unclipped propensity: its weights are bounded by 1.
  It is identified when each arm keeps an effective sample size of at least the verdict's ``not_ess_min``; the
  table ``overlap_population_table`` says how that population differs from the corpus.
- Another estimand asked for beside the target gets the target's units and its own verdict.

Entropy-balancing weights are computed here, once per estimand and audit, for the methods that use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llm_audit.estimate.balancing import BalanceWeights, entropy_balance
from llm_audit.estimate.design import MIN_PER_ARM, AuditData, balance_columns
from llm_audit.estimate.estimands import Estimand, get_estimand
from llm_audit.estimate.nuisance import Nuisance
from llm_audit.estimate.verdict import OverlapThresholds, overlap_verdict
from llm_audit.estimate.weights import arm_ess


@dataclass
class EstimandPlan:
    """One estimand's population: ``rows`` of the audit (None: nowhere identified), its propensity there, the key
    parts of its results (``key``: "" for the target, "_ato" ...; ``suffix``: "" or "_overlap") and why."""

    estimand: Estimand
    key: str
    rows: np.ndarray | None
    population: str
    suffix: str = ""
    e: np.ndarray | None = None
    verdict: str = "not_identified"
    reasons: list[str] = field(default_factory=list)
    ess: dict[str, float] = field(default_factory=dict)
    balance: BalanceWeights | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"population": self.population, "n": None if self.rows is None else int(len(self.rows)),
                "verdict": self.verdict, "reasons": list(self.reasons), "ess": self.ess,
                "entropy_balancing": None if self.balance is None else self.balance.to_dict()}


def _ess_verdict(ess: dict[str, float], th: OverlapThresholds) -> tuple[str, list[str]]:
    """ATO's rule: an arm under ``not_ess_min`` effective units refuses, under ``weak_ess_min`` warns."""
    arms = {"member": "members", "nonmember": "non-members"}
    low = [f"ESS of {arms[a]} under overlap weights {v:.1f} < {th.not_ess_min:g}" for a, v in ess.items()
           if v < th.not_ess_min]
    if low:
        return "not_identified", low
    weak = [f"ESS of {arms[a]} under overlap weights {v:.1f} < {th.weak_ess_min:g}" for a, v in ess.items()
            if v < th.weak_ess_min]
    return ("weak_overlap", weak) if weak else ("identified", [])


def _overlap_weights_plan(nu: Nuisance, t: np.ndarray, key: str, th: OverlapThresholds) -> EstimandPlan:
    est = get_estimand("ato")
    e = nu.e_raw
    ess = arm_ess(est.residual_weights(e, t), t)  # Kish's ESS is scale-free: no normalization needed
    verdict, reasons = _ess_verdict(ess, th)
    inside = t[nu.overlap.in_overlap].astype(bool)
    n1, n0 = int(inside.sum()), int((~inside).sum())
    if min(n1, n0) < MIN_PER_ARM:  # the ESS of e(1 - e) weights cannot see it: it is scale-free, they are smooth in e
        verdict, reasons = "not_identified", [
            f"overlap population too small: {n1} members and {n0} non-members have a propensity inside "
            f"[eta, 1 - eta] (fewer than {MIN_PER_ARM} in an arm); the overlap weights e(1 - e) of the others are "
            "set by the propensity model's tails and would compare members with non-members unlike them", *reasons]
    rows = np.arange(len(t)) if verdict != "not_identified" else None
    return EstimandPlan(est, key, rows, "all", "", e if rows is not None else None, verdict, reasons, ess)


def _target_plan(nu: Nuisance, est: Estimand) -> EstimandPlan:
    pop = nu.corrected
    if pop is None:
        return EstimandPlan(est, "", None, "all", verdict=nu.verdict, reasons=list(nu.reasons), ess=nu.ess)
    return EstimandPlan(est, "", pop.rows, pop.label, pop.suffix, nu.overlap.e[pop.rows], nu.verdict,
                        list(nu.reasons), nu.ess)


def _secondary_plan(nu: Nuisance, t: np.ndarray, est: Estimand, th: OverlapThresholds) -> EstimandPlan:
    keep = np.flatnonzero(nu.overlap.keep)
    e, tk = nu.overlap.e[keep], t[keep]
    ess = arm_ess(est.residual_weights(e, tk), tk.astype(bool))
    n_keep = {"member": int(tk.sum()), "nonmember": int(len(tk) - tk.sum())}
    outside = sum(nu.overlap.n_clipped.values()) + sum(nu.overlap.n_trimmed.values())
    verdict, reasons = overlap_verdict(nu.blind_auc, ess, n_keep, outside / len(t), th)
    rows = keep if verdict != "not_identified" else None
    return EstimandPlan(est, "_" + est.name, rows, "trimmed" if len(keep) < len(t) else "all", "",
                        e if rows is not None else None, verdict, reasons, ess)


def plan_estimands(data: AuditData, nu: Nuisance | None, target: str, others: list[str], th: OverlapThresholds,
                   *, balance: bool, penalty: float) -> list[EstimandPlan]:
    """The target first, then the other estimands (duplicates of the target dropped), with entropy-balancing
    weights where ``balance`` and the estimand admits them."""
    t = data.member
    names = [target] + [n for n in dict.fromkeys(others) if n != target]
    plans = []
    for i, name in enumerate(names):
        est, key = get_estimand(name), "" if i == 0 else "_" + name
        if nu is None:
            plans.append(EstimandPlan(est, key, None, "all", reasons=["too few units for a corrected estimate"]))
        elif name == "ato":
            plans.append(_overlap_weights_plan(nu, t, key, th))
        else:
            plans.append(_target_plan(nu, est) if i == 0 else _secondary_plan(nu, t, est, th))
    for plan in plans:
        if balance and plan.rows is not None and plan.estimand.balanceable:
            cov = data.covariates.iloc[plan.rows].reset_index(drop=True)
            plan.balance = entropy_balance(cov, t[plan.rows], plan.estimand, penalty)
    return plans


def overlap_population_table(data: AuditData, e: np.ndarray) -> list[dict[str, Any]]:
    """How the overlap population (density prop. to e(1-e)) differs from the corpus: each covariate's mean
    (a category's share) under both, and the difference in units of the corpus SD."""
    names, x = balance_columns(data.covariates)
    h = e * (1.0 - e)
    rows = []
    for j, name in enumerate(names):
        col = x[:, j]
        ok = np.isfinite(col)
        if not ok.any() or h[ok].sum() <= 0:
            continue
        corpus, overlap = float(col[ok].mean()), float(np.average(col[ok], weights=h[ok]))
        sd = float(col[ok].std())
        rows.append({"column": name, "corpus_mean": corpus, "overlap_mean": overlap,
                     "difference_sd": (overlap - corpus) / sd if sd > 0 else 0.0})
    return rows
