"""The propensity stage of the zero-run estimator, fit once per audit: cross-fitted e(x), clipping or
trimming, the blind baseline, the overlap verdict, balance, and the populations the corrected methods use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llm_audit.estimate import diagnostics as dg
from llm_audit.estimate.balance import Balance, assess_balance
from llm_audit.estimate.design import MIN_PER_ARM, AuditData, balance_columns, propensity_parameters
from llm_audit.estimate.estimands import Estimand
from llm_audit.estimate.propensity import (
    Overlap, apply_overlap, blind_baseline_auc, cross_fit_propensity, fixed_tuning, fold_splits,
)
from llm_audit.estimate.verdict import OverlapThresholds, overlap_verdict, units_per_parameter_reasons
from llm_audit.estimate.weights import arm_ess, hajek


@dataclass
class Population:
    """The units a corrected method is computed on, and under which key and label its results travel."""

    rows: np.ndarray  # indices into the audit's units
    label: str  # "all", "trimmed" or "overlap"
    suffix: str  # appended to the method name in the results ("" or "_overlap")


@dataclass
class Nuisance:
    """Everything the propensity stage decides, shared by every score and method."""

    splits: list[tuple[np.ndarray, np.ndarray]]
    e_raw: np.ndarray  # out-of-fold propensity, (n,)
    overlap: Overlap
    blind_auc: float
    verdict: str
    reasons: list[str]
    n_keep: dict[str, int]
    ess: dict[str, float]
    overlap_population: dict[str, int]
    corrected: Population | None  # where the corrected methods run; None: nowhere
    notes: list[str] = field(default_factory=list)
    balance: Balance = field(default_factory=Balance)  # of the IPW weights on the kept units
    refit_model: Any = "logistic"  # the propensity model with its tuning fixed, for the refuters' refits
    ipw_reasons: list[str] = field(default_factory=list)  # why IPW alone is not trusted (too few units a parameter)

    @property
    def identified(self) -> bool:
        return self.verdict != "not_identified"


def fit_nuisance(
    data: AuditData, estimand: Estimand, *, folds: int, eta: float, trim: bool, model: Any,
    fold_seed: int, model_seed: int, thresholds: OverlapThresholds, jobs: int = 1,
) -> Nuisance:
    """Cross-fit the propensity (its folds on ``jobs``), clip or trim it, and decide the verdict and the corrected
    population."""
    t = data.member
    splits = fold_splits(t, data.groups, folds, fold_seed)
    fitted: list = []
    e_raw = cross_fit_propensity(data.covariates, t, splits, model=model, seed=model_seed, fitted=fitted, jobs=jobs)
    ov = apply_overlap(e_raw, t, eta, trim)
    blind = blind_baseline_auc(e_raw, t)
    notes = []
    if blind < 0.5 - dg.placebo_tolerance(t, np.ones(len(t)), floor=0.05):
        notes.append(f"blind-baseline AUC {blind:.3f} is below chance: out of fold the propensity model predicts "
                     "membership worse than a constant (too few units for the covariates?); its weights add variance")
    keep = ov.keep
    w_keep = hajek(estimand.residual_weights(ov.e[keep], t[keep]), t[keep])
    tk = t[keep].astype(bool)
    n_keep = {"member": int(tk.sum()), "nonmember": int((~tk).sum())}
    ess = arm_ess(w_keep, tk)
    outside = sum(ov.n_clipped.values()) + sum(ov.n_trimmed.values())
    verdict, reasons = overlap_verdict(blind, ess, n_keep, outside / len(t), thresholds)
    if min(n_keep.values()) < MIN_PER_ARM:
        verdict = "not_identified"
        reasons.append(f"fewer than {MIN_PER_ARM} units per arm left after trimming")
    if trim:
        notes.append(f"corrected estimates on the {int(keep.sum())} units with propensity in [{eta}, {1 - eta}] (trimmed)")
    nu = Nuisance(splits, e_raw, ov, blind, verdict, reasons, n_keep, ess, {}, None, notes,
                  refit_model=fixed_tuning(model, fitted))
    nu.corrected = _corrected_population(nu, t, trim)
    if isinstance(model, str) and model == "logistic":  # the rule is about its penalty (verdict.py)
        nu.ipw_reasons = units_per_parameter_reasons(t, propensity_parameters(data.covariates))
    names, xb = balance_columns(data.covariates)
    nu.balance = assess_balance(names, xb, t, w_keep, np.flatnonzero(keep))
    return nu


def _corrected_population(nu: Nuisance, t: np.ndarray, trim: bool) -> Population | None:
    """All (or the trimmed) units when identified; otherwise the overlap population, when it is narrower than
    the corpus (else its estimate would be the withheld number under another name) and large enough."""
    ov = nu.overlap
    overlap_rows = np.flatnonzero(ov.in_overlap)
    to = t[overlap_rows].astype(bool)
    nu.overlap_population = {"n": int(len(overlap_rows)), "member": int(to.sum()), "nonmember": int((~to).sum())}
    if nu.identified:
        return Population(np.flatnonzero(ov.keep), "trimmed" if trim else "all", "")
    narrower = len(overlap_rows) < len(t)
    if not narrower:
        nu.notes.append("every unit lies in the overlap region: there is no narrower population to estimate on")
        return None
    if min(int(to.sum()), int((~to).sum())) < MIN_PER_ARM:
        nu.notes.append(f"overlap population too small for an estimate ({int(to.sum())} members, "
                        f"{int((~to).sum())} non-members)")
        return None
    return Population(overlap_rows, "overlap", "_overlap")


def propensity_diagnostics(nu: Nuisance, t: np.ndarray) -> dict[str, Any]:
    """The propensity stage's part of ``diagnostics`` in estimates.json."""
    return {
        "blind_auc": nu.blind_auc,
        "tv_bound": dg.tv_bound(nu.e_raw, t),
        "verdict": nu.verdict,
        "verdict_reasons": nu.reasons,
        "n_corrected": nu.n_keep,
        "ess": nu.ess,
        "clipped": nu.overlap.n_clipped,
        "trimmed": nu.overlap.n_trimmed,
        "propensity_histogram": dg.propensity_histogram(nu.e_raw, t),
        "smd": nu.balance.columns,
        "smd_max_after": nu.balance.smd_max_after,
        "balance": nu.balance.summary(),
        "overlap_population": nu.overlap_population,
    }
