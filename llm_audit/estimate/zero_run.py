"""The zero-run estimator (docs/method.md §5-§7): naive, IPW and doubly robust memorization metrics for every
score, with intervals and the diagnostics that say whether the correction can be trusted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from llm_audit.errors import AuditError
from llm_audit.estimate import diagnostics as dg
from llm_audit.estimate.bootstrap import bootstrap_replicates, percentile_interval, refit_propensity_replicates
from llm_audit.estimate.design import MIN_PER_ARM, AuditData, balance_columns, prepare
from llm_audit.estimate.dr import (
    OUTCOME_MODELS, DRTerms, dr_cdfs, dr_mean, dr_terms, fit_outcome, grid_roc, threshold_grid,
)
from llm_audit.estimate.metrics import (
    MIN_NONMEMBERS_ABOVE, curve_summaries, downsample_curve, roc_metrics,
)
from llm_audit.estimate.propensity import (
    PROPENSITY_MODELS, apply_overlap, blind_baseline_auc, cross_fit_propensity, fold_splits,
)
from llm_audit.estimate.results import ASSUMPTIONS, SCHEMA_VERSION, Estimates
from llm_audit.estimate.weights import TARGETS, hajek_weights, kish_ess, raw_weights, target_density

Z95 = 1.959963984540054


def _check_options(target, eta, folds, propensity, outcome, n_bootstrap, fpr, dp_epsilon, dp_delta, grid_size):
    if target not in TARGETS:
        raise AuditError(f"target: must be one of {', '.join(TARGETS)}, got '{target}'")
    if not 0 < eta < 0.5:
        raise AuditError(f"eta: must be in (0, 0.5), got {eta}")
    if int(folds) != folds or folds < 2:
        raise AuditError(f"folds: must be an integer >= 2, got {folds}")
    if propensity not in PROPENSITY_MODELS:
        raise AuditError(f"propensity: must be one of {', '.join(PROPENSITY_MODELS)}, got '{propensity}'")
    if outcome not in OUTCOME_MODELS:
        raise AuditError(f"outcome: must be one of {', '.join(OUTCOME_MODELS)}, got '{outcome}'")
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 0:
        raise AuditError(f"bootstrap: must be an integer >= 0, got {n_bootstrap}")
    if not fpr or any(not 0 < a < 1 for a in fpr):
        raise AuditError(f"fpr: every target must be in (0, 1), got {list(fpr)}")
    if dp_epsilon is not None and dp_epsilon < 0:
        raise AuditError(f"dp_epsilon: must be >= 0, got {dp_epsilon}")
    if not 0 <= dp_delta < 1:
        raise AuditError(f"dp_delta: must be in [0, 1), got {dp_delta}")
    if grid_size < 10:
        raise AuditError(f"grid_size: must be >= 10, got {grid_size}")


def _entry(value, reps=None, ci=None) -> dict:
    if value is None:
        return {"value": None, "ci": None}
    if ci is None and reps is not None:
        ci = percentile_interval(reps)
    return {"value": float(value), "ci": ci}


def _block(point: dict, reps: dict | None, fpr, extra_mean: dict | None = None) -> dict:
    """One method's M: every metric with its interval; TPR@FPR with its effective non-member count."""
    r = reps or {}
    tpr = {}
    for a in fpr:
        e = _entry(point["tpr"][a], r.get("tpr_at_fpr", {}).get(a))
        e["n_eff_nonmember_above"] = float(point["n_eff"][a])
        e["unreliable"] = bool(point["n_eff"][a] < MIN_NONMEMBERS_ABOVE)
        tpr[format(a, "g")] = e
    mean = _entry(point["mean_diff"], r.get("mean_diff"))
    if extra_mean:
        mean.update(extra_mean)
    return {
        "auc": _entry(point["auc"], r.get("auc")),
        "tpr_at_fpr": tpr,
        "advantage": _entry(point["advantage"], r.get("advantage")),
        "mean_diff": mean,
    }


def _null_block(fpr) -> dict:
    null = {"value": None, "ci": None}
    return {
        "auc": dict(null),
        "tpr_at_fpr": {format(a, "g"): {**null, "n_eff_nonmember_above": None, "unreliable": True} for a in fpr},
        "advantage": dict(null),
        "mean_diff": dict(null),
    }


def _weighted_point(score, member, weight, fpr) -> tuple[dict, tuple]:
    m = roc_metrics(score, member, weight, fpr)
    point = {"auc": m.auc, "tpr": m.tpr_at_fpr, "n_eff": m.n_eff_above, "advantage": m.advantage, "mean_diff": m.mean_diff}
    return point, (m.curve.fpr, m.curve.tpr)


def _dr_point(terms: DRTerms, score, member, fpr) -> tuple[dict, tuple, float]:
    f0, f1 = dr_cdfs(terms)
    fp, tp = grid_roc(f0, f1)
    auc, tprs, adv = curve_summaries(fp, tp, fpr)
    tau, se = dr_mean(terms)
    t = np.asarray(member).astype(bool)
    n_eff = {}
    for a in fpr:
        k = int(np.sum(fp <= a + 1e-12) - 1)
        if k == 0:
            n_eff[a] = 0.0
        else:
            c = terms.grid[::-1][k - 1] if k <= len(terms.grid) else -np.inf
            n_eff[a] = kish_ess(terms.r[(~t) & (score >= c)])
    point = {"auc": auc[0], "tpr": {a: v[0] for a, v in tprs.items()}, "n_eff": n_eff, "advantage": adv[0], "mean_diff": tau}
    return point, (fp, tp), se


def _subset_terms(terms: DRTerms, rows: np.ndarray) -> DRTerms:
    if len(rows) == len(terms.h):  # all units: no copy of the (n, G) matrices
        return terms
    return DRTerms(
        grid=terms.grid, phi_cdf=(terms.phi_cdf[0][rows], terms.phi_cdf[1][rows]),
        psi_mean=terms.psi_mean[rows], h=terms.h[rows], r=terms.r[rows],
    )


def _curve(fp_tp) -> dict:
    f, t = downsample_curve(*fp_tp)
    return {"fpr": f, "tpr": t}


def _naive(s, t, fpr, n_bootstrap, seed, n_jobs) -> tuple[dict, dict, dict]:
    """The naive point, its block (with the stratified-bootstrap intervals) and its curve."""
    point, curve = _weighted_point(s, t, None, fpr)
    reps = bootstrap_replicates(
        s, t, {"naive": np.ones(len(t))}, None, fpr_targets=fpr, n_boot=n_bootstrap, seed=seed, n_jobs=n_jobs,
    )["naive"] if n_bootstrap else None
    return point, _block(point, reps, fpr), _curve(curve)


# Diagnostics that need the propensity: null when an arm is too small to fit one.
_PROPENSITY_DIAGNOSTICS = ("blind_auc", "tv_bound", "n_corrected", "ess", "clipped", "trimmed", "propensity_histogram",
                           "smd_max_after", "overlap_population")


def _naive_only(data: AuditData, fpr, n_bootstrap, boot_seeds, n_jobs, dp_bound) -> tuple[dict, dict, list[str]]:
    """Scores, curves and verdict reasons when an arm has fewer than MIN_PER_ARM units: too few to fit a
    propensity (or to trust one), so the naive figures are given and the corrected ones are not identified."""
    t = data.member
    counts = {"members": int(t.sum()), "non-members": int(len(t) - t.sum())}
    reasons = [f"fewer than {MIN_PER_ARM} {arm} ({k}): too few units for a corrected estimate"
               for arm, k in counts.items() if k < MIN_PER_ARM]
    out, curves = {}, {}
    for k, (name, s) in enumerate(data.scores.items()):
        _, naive, curve = _naive(s, t, fpr, n_bootstrap, int(boot_seeds[3 * k]), n_jobs)
        out[name] = {"naive": naive, "constant": name in data.constant_scores, "ipw": _null_block(fpr),
                     "dr": _null_block(fpr), "placebo_auc": None, "sensitivity": None}
        if dp_bound is not None:
            out[name]["dp_violation"] = False  # no corrected AUC to hold against the bound
        curves[name] = {"naive": curve}
    return out, curves, reasons


def _corrected(
    s, t, e, rows, all_terms: DRTerms, target, fpr, n_bootstrap, seed, n_jobs, ipw_reps: dict | None = None,
) -> tuple[dict, dict, dict, dict]:
    """IPW and DR blocks (and curves) on the units ``rows``; ``ipw_reps`` replaces the IPW replicates
    (those of the refit-propensity bootstrap)."""
    s_r, t_r = s[rows], t[rows]
    w = hajek_weights(e[rows], t_r, target)
    terms = _subset_terms(all_terms, rows)
    ipw_point, ipw_curve = _weighted_point(s_r, t_r, w, fpr)
    dr_point, dr_curve, se = _dr_point(terms, s_r, t_r, fpr)
    reps = bootstrap_replicates(s_r, t_r, {"ipw": w}, terms, fpr_targets=fpr, n_boot=n_bootstrap, seed=seed, n_jobs=n_jobs) if n_bootstrap else {}
    if ipw_reps is not None:
        reps["ipw"] = ipw_reps
    dr_extra = {"se": se, "ci": [dr_point["mean_diff"] - Z95 * se, dr_point["mean_diff"] + Z95 * se],
                "ci_method": "influence function"}
    return (
        _block(ipw_point, reps.get("ipw"), fpr),
        _block(dr_point, reps.get("dr"), fpr, dr_extra),
        _curve(ipw_curve),
        _curve(dr_curve),
    )


def estimate(
    scores_df: pd.DataFrame,
    covariates_df: pd.DataFrame,
    *,
    scores: list[str] | None = None,
    target: str = "ate",
    eta: float = 0.02,
    trim: bool = False,
    folds: int = 5,
    propensity: str = "logistic",
    outcome: str = "linear",
    n_bootstrap: int = 1000,
    fpr: tuple[float, ...] = (0.001, 0.01, 0.05),
    seed: int = 0,
    dp_epsilon: float | None = None,
    dp_delta: float = 0.0,
    n_jobs: int = -1,
    grid_size: int = 100,
    thresholds: dg.OverlapThresholds = dg.OverlapThresholds(),
    gamma_max: float = 20.0,
    refit_propensity: bool = False,
) -> Estimates:
    """Naive vs causally corrected memorization for every score column (docs/method.md §5), with diagnostics."""
    fpr = tuple(float(a) for a in fpr)
    _check_options(target, eta, folds, propensity, outcome, n_bootstrap, fpr, dp_epsilon, dp_delta, grid_size)
    data: AuditData = prepare(scores_df, covariates_df, scores)
    t = data.member
    n1, n0 = int(t.sum()), int(len(t) - t.sum())
    attrs_notes = covariates_df.attrs.get("notes") if isinstance(covariates_df.attrs, dict) else None
    notes = [str(n) for n in attrs_notes] if isinstance(attrs_notes, (list, tuple)) else []
    notes += data.notes
    seeds = np.random.SeedSequence(seed).generate_state(4)
    dp_bound = dg.dp_auc_bound(dp_epsilon, dp_delta) if dp_epsilon is not None else None
    boot_seeds = np.random.SeedSequence(int(seeds[2])).generate_state(3 * len(data.scores) + 1)
    config = {
        "target": target, "eta": eta, "trim": trim, "folds": folds, "propensity": propensity, "outcome": outcome,
        "n_bootstrap": n_bootstrap, "fpr": list(fpr), "seed": seed, "dp_epsilon": dp_epsilon, "dp_delta": dp_delta,
        "grid_size": grid_size, "gamma_max": gamma_max, "scores": list(data.scores), "covariates": list(map(str, data.covariates.columns)),
        "grouped_folds": data.groups is not None, "refit_propensity": refit_propensity,
    }
    common = {
        "n": {"member": n1, "nonmember": n0, "total": int(len(t))},
        "dp": {"epsilon": dp_epsilon, "delta": dp_delta, "auc_bound": dp_bound} if dp_bound is not None else None,
        "thresholds": thresholds.to_dict(),
        "uncertainty": {
            "level": 0.95,
            "bootstrap_replicates": n_bootstrap,
            "naive_ipw": "stratified bootstrap over units, percentile intervals; " + (
                "the propensity is refit (cross-fitted) inside each replicate for the full-population IPW"
                if refit_propensity else "the cross-fitted propensity is kept fixed (not refit per replicate)"),
            "propensity_refit": refit_propensity,
            "dr": "multiplier bootstrap of the per-unit DR terms (nuisances not refit); the DR mean uses the influence-function standard error",
        },
        "assumptions": ASSUMPTIONS,
        "notes": notes,
    }
    if min(n1, n0) < MIN_PER_ARM:
        out_scores, curves, reasons = _naive_only(data, fpr, n_bootstrap, boot_seeds, n_jobs, dp_bound)
        diagnostics = {**dict.fromkeys(_PROPENSITY_DIAGNOSTICS), "smd": {}, "verdict": "not_identified",
                       "verdict_reasons": reasons, **common}
        return Estimates({"schema_version": SCHEMA_VERSION, "scores": out_scores, "curves": curves,
                          "diagnostics": diagnostics, "config": config})
    if folds > min(n1, n0):
        raise AuditError(f"folds: {folds} folds need at least {folds} units per arm ({n1} members, {n0} non-members)")
    splits = fold_splits(t, data.groups, folds, int(seeds[0]))
    e_raw = cross_fit_propensity(data.covariates, t, splits, model=propensity, seed=int(seeds[1]))
    ov = apply_overlap(e_raw, t, eta, trim)
    keep = ov.keep

    blind = blind_baseline_auc(e_raw, t)
    if blind < 0.5 - dg.placebo_tolerance(t, np.ones(len(t))):
        notes.append(f"blind-baseline AUC {blind:.3f} is below chance: out of fold the propensity model predicts "
                     "membership worse than a constant (too few units for the covariates?); its weights add variance")
    w_keep = hajek_weights(ov.e[keep], t[keep], target)
    tk = t[keep].astype(bool)
    n_keep = {"member": int(tk.sum()), "nonmember": int((~tk).sum())}
    ess = {"member": kish_ess(w_keep[tk]), "nonmember": kish_ess(w_keep[~tk])}
    outside = sum(ov.n_clipped.values()) + sum(ov.n_trimmed.values())
    verdict, reasons = dg.overlap_verdict(blind, ess, n_keep, outside / len(t), thresholds)
    if min(n_keep.values()) < MIN_PER_ARM:
        verdict = "not_identified"
        reasons.append(f"fewer than {MIN_PER_ARM} units per arm left after trimming")
    identified = verdict != "not_identified"
    if trim:
        notes.append(f"corrected estimates on the {int(keep.sum())} units with propensity in [{eta}, {1 - eta}] (trimmed)")

    overlap_rows = np.flatnonzero(ov.in_overlap)
    to = t[overlap_rows].astype(bool)
    overlap_pop = {"n": int(len(overlap_rows)), "member": int(to.sum()), "nonmember": int((~to).sum())}
    # With every unit inside [eta, 1-eta] the "overlap population" is the whole corpus: its estimate would be
    # the very number the verdict withholds, under another name.
    narrower = overlap_pop["n"] < len(t)
    overlap_ok = min(overlap_pop["member"], overlap_pop["nonmember"]) >= MIN_PER_ARM and narrower
    if not identified and not narrower:
        notes.append("every unit lies in the overlap region: there is no narrower population to estimate on")
    elif not identified and not overlap_ok:
        notes.append(f"overlap population too small for an estimate ({overlap_pop['member']} members, {overlap_pop['nonmember']} non-members)")

    names, xb = balance_columns(data.covariates)
    w_all = np.zeros(len(t))
    w_all[keep] = w_keep
    smd_before, _ = dg.standardized_mean_differences(xb, t, np.ones(len(t)))
    _, smd_after = dg.standardized_mean_differences(xb[keep], t[keep], w_keep)
    smd = {nm: {"before": float(b), "after": float(a)} for nm, b, a in zip(names, smd_before, smd_after)}

    h_all = target_density(ov.e, t, target)
    r_all = raw_weights(ov.e, t, target)

    out_scores, curves = {}, {}
    for k, (name, s) in enumerate(data.scores.items()):
        naive_point, naive_block, naive_curve = _naive(s, t, fpr, n_bootstrap, int(boot_seeds[3 * k]), n_jobs)
        entry = {"naive": naive_block, "constant": name in data.constant_scores}
        curves[name] = {"naive": naive_curve}

        om = fit_outcome(data.covariates, t, s, splits, model=outcome, seed=int(seeds[3]))
        terms = dr_terms(s, t, om, h_all, r_all, threshold_grid(s, grid_size))
        if identified:
            refit = refit_propensity_replicates(
                data.covariates, t, s, data.groups, folds=folds, model=propensity, eta=eta, trim=trim,
                target=target, fpr_targets=fpr, n_boot=n_bootstrap, seed=int(boot_seeds[3 * k + 1]), n_jobs=n_jobs,
            ) if refit_propensity and n_bootstrap else None
            ipw, dr, c_ipw, c_dr = _corrected(
                s, t, ov.e, np.flatnonzero(keep), terms, target, fpr, n_bootstrap, int(boot_seeds[3 * k + 1]), n_jobs, refit,
            )
            entry.update(ipw=ipw, dr=dr)
            curves[name].update(ipw=c_ipw, dr=c_dr)
            sens_rows = np.flatnonzero(keep)
        else:
            entry.update(ipw=_null_block(fpr), dr=_null_block(fpr))
            sens_rows = overlap_rows
            if overlap_ok:
                ipw, dr, c_ipw, c_dr = _corrected(s, t, ov.e, overlap_rows, terms, target, fpr, n_bootstrap, int(boot_seeds[3 * k + 2]), n_jobs)
                entry.update(ipw_overlap=ipw, dr_overlap=dr)
                curves[name].update(ipw_overlap=c_ipw, dr_overlap=c_dr)
        corrected_key = "ipw" if identified else "ipw_overlap"
        if corrected_key in entry and (identified or overlap_ok):
            rows = sens_rows
            w_r = hajek_weights(ov.e[rows], t[rows], target)
            entry["placebo_auc"] = dg.placebo_auc(s[rows], t[rows], e_raw[rows], w_r, int(boot_seeds[-1]))
            entry["sensitivity"] = {
                "of": corrected_key,
                "gamma_to_naive": dg.sensitivity_gamma(s[rows], t[rows], ov.e[rows], target, naive_point["auc"], gamma_max),
                "gamma_to_chance": dg.sensitivity_gamma(s[rows], t[rows], ov.e[rows], target, 0.5, gamma_max),
                "gamma_max": gamma_max,
            }
            tolerance = dg.placebo_tolerance(t[rows], w_r)
            if abs(entry["placebo_auc"] - 0.5) > tolerance:
                notes.append(f"score '{name}': placebo AUC {entry['placebo_auc']:.3f} is further from 0.5 than chance allows "
                             f"(+-{tolerance:.3f}): the weights do not remove the covariate shift")
        else:
            entry["placebo_auc"] = None
            entry["sensitivity"] = None
        if dp_bound is not None:
            vals = [entry[m]["auc"]["value"] for m in ("ipw", "dr", "ipw_overlap", "dr_overlap") if m in entry]
            entry["dp_violation"] = any(v is not None and v > dp_bound for v in vals)
            if entry["dp_violation"]:
                notes.append(f"score '{name}': corrected AUC above the DP bound {dp_bound:.3f}: a bug or a violated assumption")
        out_scores[name] = entry

    diagnostics = {
        "blind_auc": blind,
        "tv_bound": dg.tv_bound(e_raw, t),
        "verdict": verdict,
        "verdict_reasons": reasons,
        "n_corrected": n_keep,
        "ess": ess,
        "clipped": ov.n_clipped,
        "trimmed": ov.n_trimmed,
        "propensity_histogram": dg.propensity_histogram(e_raw, t),
        "smd": smd,
        "smd_max_after": float(np.nanmax(np.abs(smd_after))) if len(names) and np.isfinite(smd_after).any() else None,
        "overlap_population": overlap_pop,
        **common,
    }
    return Estimates({"schema_version": SCHEMA_VERSION, "scores": out_scores, "curves": curves,
                      "diagnostics": diagnostics, "config": config})
