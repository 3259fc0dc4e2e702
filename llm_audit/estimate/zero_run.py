"""The zero-run estimator (docs/method.md): naive and confounding-corrected memorization metrics for every
score of one audited model, with intervals and the diagnostics that say whether a correction can be trusted.

``ZeroRunEstimator(options).fit(scores_df, covariates_df)`` fits the nuisances once (the propensity stage, then
one outcome model per score), runs every registered method on every score, then the diagnostics, and leaves
the result in ``estimates_``. ``estimate(...)`` is the one-call form.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, RegressorMixin

from llm_audit.estimate import diagnostics as dg
from llm_audit.estimate.bootstrap import refit_propensity_replicates, replicate
from llm_audit.estimate.bounds import auc_bounds
from llm_audit.estimate.corrected import BALANCING_METHODS, ScoreTerms, corrected_fits
from llm_audit.estimate.cutoff.audit import CUTOFF_BOOTSTRAP, cutoff_analysis
from llm_audit.estimate.balance import Balance, assess_balance
from llm_audit.estimate.design import MIN_PER_ARM, AuditData, balance_columns, prepare
from llm_audit.estimate.distributions import score_distributions
from llm_audit.estimate.estimands import get_estimand
from llm_audit.estimate.grid_curves import fpr_grid
from llm_audit.estimate.inference import auc_inference
from llm_audit.estimate.intervals import build_result, curve_bands, curve_entry
from llm_audit.estimate.methods import METHODS, Fit, Problem
from llm_audit.estimate.metrics import weighted_auc
from llm_audit.estimate.nuisance import Nuisance, fit_nuisance, propensity_diagnostics
from llm_audit.estimate.options import INFLUENCE_ABOVE, EstimateConfig
from llm_audit.estimate.outcome import fit_outcome, threshold_grid
from llm_audit.estimate.populations import overlap_population_table, plan_estimands
from llm_audit.estimate.provenance import provenance
from llm_audit.estimate.refuters import Context, Refits, RefuterRow, failure_reasons, run_refuters
from llm_audit.estimate.refuters.prognostic import WEIGHTING_FLOOR, WEIGHTING_Z, weighting_reasons, worst_prognostic
from llm_audit.estimate.results import ASSUMPTIONS, Estimates, Result
from llm_audit.estimate.shared import SharedStages
from llm_audit.estimate.seeds import Seeds
from llm_audit.estimate.slices import slice_aucs
from llm_audit.estimate.verdict import SEVERITY, OverlapThresholds, lowered_verdict
from llm_audit.errors import AuditError
from llm_audit.parallel import parallel_map, total_threads, worker_limits

BOUNDS_BOOTSTRAP = 400  # replicates of the identified set's interval


class ZeroRunEstimator:
    """Naive vs corrected memorization for every score column (docs/method.md, "Zero-run estimator").

    ``options`` is the step's config section (``EstimateConfig``); keyword ``overrides`` change single options
    (``methods``: names in ``METHODS``; the naive contrast is always computed). ``propensity_model`` /
    ``outcome_model`` replace the named nuisance models by any scikit-learn classifier / regressor.
    """

    def __init__(
        self, options: EstimateConfig | None = None, *,
        propensity_model: ClassifierMixin | None = None, outcome_model: RegressorMixin | None = None,
        thresholds: OverlapThresholds = OverlapThresholds(), **overrides: Any,
    ):
        if "methods" in overrides:
            overrides["methods"] = list(overrides["methods"])
        self.options = (options or EstimateConfig()).with_(**overrides)
        self.methods = tuple(self.options.methods)
        self.propensity_model = propensity_model
        self.outcome_model = outcome_model
        self.thresholds = thresholds

    def fit(self, scores_df: pd.DataFrame, covariates_df: pd.DataFrame, *, scores: list[str] | None = None) -> "ZeroRunEstimator":
        """Estimate every score of ``scores_df`` (id, member, score columns) against the covariates (id, ...)."""
        with worker_limits(total_threads(self.options.validate().jobs)):  # no stage uses more cores than jobs
            return self._fit(scores_df, covariates_df, scores)

    def _fit(self, scores_df: pd.DataFrame, covariates_df: pd.DataFrame, scores: list[str] | None) -> "ZeroRunEstimator":
        opts = self.options.validate()
        self.estimand_ = get_estimand(opts.target)
        data = prepare(scores_df, covariates_df, scores)
        if opts.intervals == "influence" and data.groups is not None:
            raise AuditError("estimate.intervals: 'influence' draws treat the units as independent; with a 'group' "
                             "column use 'bootstrap' or 'auto' (whole groups are resampled)")
        self.data_ = data
        self.seeds_ = Seeds(opts.seed)
        notes = _table_notes(covariates_df) + data.notes
        self.nuisance_: Nuisance | None = None
        if min(int(data.member.sum()), int(len(data.member) - data.member.sum())) >= MIN_PER_ARM:
            self.nuisance_ = self._fit_nuisance(data, opts)
            notes += self.nuisance_.notes
        self.plans_ = plan_estimands(data, self.nuisance_, opts.target, list(opts.estimands), self.thresholds,
                                     balance=any(m in BALANCING_METHODS for m in self.methods), penalty=opts.ebal_penalty)
        notes += [r for p in self.plans_ if p.balance is not None for r in p.balance.reasons]
        self.ebal_balance_ = self._ebal_balance()
        self._shared = SharedStages(data, opts, self.seeds_("bootstrap"))
        self.auc_replicates_: dict[str, dict[str, np.ndarray]] = {}  # {score: {key: (B,)}}, for the family statement
        self.prognostic_: dict[str, dict[str, np.ndarray]] = {}  # {score: {name: cross-fitted m_0(x) (n,)}}
        score_notes: dict[str, list[str]] = {name: [] for name in data.scores}
        done = parallel_map(lambda name: self._estimate_score(name, score_notes[name]), list(data.scores),
                            jobs=opts.jobs, max_workers=self._shared.max_score_workers)
        self._shared = None  # the resampling counts are not needed past here
        # filled as the score threads finish: in the scores' order, so that what is read from it is too
        self.prognostic_ = {name: self.prognostic_[name] for name in data.scores if name in self.prognostic_}
        results, curves, per_score = {}, {}, {}
        for name, (res, curve, diag) in zip(data.scores, done):
            results[name], curves[name], per_score[name] = res, curve, diag
            notes += score_notes[name]
        self.auc_replicates_ = {name: self.auc_replicates_[name] for name in data.scores}  # in the scores' order
        self.ipw_weights_: tuple[np.ndarray, np.ndarray] | None = None  # (rows, weights), set by _refute
        self.refuters_ = self._refute(results, per_score)
        cutoff, at_cutoff = cutoff_analysis(data, d0=opts.cutoff, fpr=tuple(opts.fpr), seed=self.seeds_("cutoff"),
                                            n_bootstrap=min(opts.bootstrap, CUTOFF_BOOTSTRAP))
        for name, result in at_cutoff.items():
            results[name]["cutoff"] = result
        # influence-function draws are one stream per fit, not shared across scores: the family is Bonferroni's
        unshared = (("ipw",) if opts.refit_propensity else ()) if not _influence(opts, data) else \
            tuple(k for per in self.auc_replicates_.values() for k in per)
        diagnostics = {**self._diagnostics(per_score), "cutoff": cutoff,
                       "inference": auc_inference(results, self.auc_replicates_, unshared=unshared)}
        self.estimates_ = Estimates.build(
            regime="zero-run", results=results, curves=curves, diagnostics=diagnostics,
            config=self._config(), provenance=provenance({"scores": scores_df, "covariates": covariates_df},
                                                        model=scores_df.attrs.get("model"), config=self._config()),
            assumptions=ASSUMPTIONS, notes=notes,
        )
        return self

    # --- stages ------------------------------------------------------------------------------------------------

    def _fit_nuisance(self, data: AuditData, opts: EstimateConfig) -> Nuisance:
        if opts.folds > min(int(data.member.sum()), int(len(data.member) - data.member.sum())):
            n1 = int(data.member.sum())
            raise AuditError(f"folds: {opts.folds} folds need at least {opts.folds} units per arm ({n1} members, "
                             f"{len(data.member) - n1} non-members)")
        return fit_nuisance(
            data, self.estimand_, folds=opts.folds, eta=opts.eta, trim=opts.trim,
            model=self.propensity_model or opts.propensity, fold_seed=self.seeds_("folds"),
            model_seed=self.seeds_("propensity"), thresholds=self.thresholds, jobs=opts.jobs,
        )

    def _estimate_score(self, name: str, notes: list[str]) -> tuple[dict, dict, dict]:
        """Every method's result for one score on every estimand, its curves and its per-score diagnostics."""
        opts, data, nu = self.options, self.data_, self.nuisance_
        s, t = data.scores[name], data.member
        fpr = tuple(float(a) for a in opts.fpr)
        grid, u = threshold_grid(s, opts.grid_size), fpr_grid(fpr)
        naive = Problem(s, t, fpr, self.estimand_, grid=grid, fpr_grid=u)
        fits: dict[str, Fit] = {"naive": METHODS["naive"].fit(naive)}
        labels = {"naive": ("naive", None, "all")}
        per_score: dict[str, Any] = {"constant": name in data.constant_scores, "placebo_auc": None, "sensitivity": None}
        terms = ScoreTerms(s, t, lambda: fit_outcome(data.covariates, t, s, nu.splits, grid,
                                                     model=self.outcome_model or opts.outcome, seed=self.seeds_("outcome"),
                                                     n_jobs=self._shared.jobs_per_score))
        corrected = [m for m in self.methods if METHODS[m].needs_propensity]
        # a method whose weights leave a covariate severely out of balance is withheld (docs/refuters.md)
        withheld = [m for m in corrected if nu is not None and nu.identified and self._severe(m)]
        more, more_labels, rows, nulls = corrected_fits(self.plans_, corrected, s, t, fpr, grid, u, terms, naive.sorted,
                                                        withheld=withheld)
        fits.update(more), labels.update(more_labels)
        if terms.fitted:
            per_score["outcome_model"] = terms.fit.selection
            self.prognostic_[name] = terms.fit.prognostic_scores()
        if nu is not None and not nu.identified:
            per_score["bounds"] = auc_bounds(s, t, nu.e_raw, eta=opts.eta, n_bootstrap=min(opts.bootstrap, BOUNDS_BOOTSTRAP),
                                             seed=self.seeds_("bounds", name), groups=self.data_.groups).to_dict()
        reps, how = self._replicates(fits, rows, name, s)
        self.auc_replicates_[name] = {key: r["auc"] for key, r in reps.items()}
        results, curves = dict(nulls), {}
        for key, fit in fits.items():
            bands = curve_bands(fit, reps.get(key), grid, u)
            results[key] = build_result(fit, reps.get(key), *labels[key], fpr, how, bands)
            curves[key] = curve_entry(fit, bands)
        results = {"naive": results.pop("naive"), **results}
        if opts.dp_epsilon is not None:
            bound = dg.dp_auc_bound(opts.dp_epsilon, opts.dp_delta)
            vals = [r.auc.value for key, r in results.items() if key != "naive"]
            per_score["dp_violation"] = any(v is not None and v > bound for v in vals)
            if per_score["dp_violation"]:
                notes.append(f"score '{name}': corrected AUC above the DP bound {bound:.3f}: a bug or a violated assumption")
        return results, curves, per_score

    def _replicates(self, fits: dict[str, Fit], rows: dict[str, np.ndarray], name: str,
                    s: np.ndarray) -> tuple[dict[str, Any], str]:
        """Replicates of every fit and how they were drawn. Bootstrap: one stream for the whole audit, every
        score and method on the same resampled corpus (a joint statement across them is possible). Influence
        functions (large n): Gaussian draws of each fit's curves on the grid, one keyed stream per fit."""
        opts, data = self.options, self.data_
        if not opts.bootstrap:
            return {}, ""
        if _influence(opts, data):
            reps = {key: fit.gaussian_replicates(opts.bootstrap, np.random.default_rng(self.seeds_("influence", name, key)))
                    for key, fit in fits.items()}
            return reps, "influence function (Gaussian draws on the threshold grid), percentile"
        reps = replicate(fits, self._shared.resampling, jobs=self._shared.jobs_per_score, rows=rows)
        if opts.refit_propensity and "ipw" in fits:  # the IPW of the full (or trimmed) population only
            reps["ipw"] = refit_propensity_replicates(
                data.covariates, data.member, s, data.groups, folds=opts.folds,
                model=self.propensity_model or opts.propensity, eta=opts.eta, trim=opts.trim, estimand=self.estimand_,
                fpr_targets=tuple(opts.fpr), n_boot=opts.bootstrap, seed=self.seeds_("refit", name),
                n_jobs=self._shared.jobs_per_score,
            )
        return reps, "bootstrap percentile"

    def _ebal_balance(self) -> Balance | None:
        """Balance after the target's entropy-balancing weights. They match the means by construction, so what
        this can flag is the rest of the distribution (weighted KS): a selection on a covariate's shape."""
        target = next(p for p in self.plans_ if p.key == "")
        if target.balance is None or not target.balance.identified:
            return None
        names, xb = balance_columns(self.data_.covariates)
        return assess_balance(names, xb, self.data_.member, target.balance.weights, target.rows)

    def _balance_of(self, method: str) -> Balance | None:
        """The balance the method's weights leave: the propensity weights' or entropy balancing's."""
        if getattr(METHODS[method], "weights", None) == "propensity":
            return self.nuisance_.balance if self.nuisance_ is not None else None
        return self.ebal_balance_ if method in BALANCING_METHODS else None

    def _severe(self, method: str) -> dict[str, str]:
        """Columns the method's weights leave severely out of balance (its figures are then withheld)."""
        balance = self._balance_of(method)
        return balance.severe if balance is not None else {}

    def _refute(self, results: dict[str, dict[str, Result]], per_score: dict[str, Any]) -> list[RefuterRow]:
        """Every refuter on the corrected population with the IPW weights; the placebo and sensitivity figures
        are also kept per score (``per_score``), as before the refuter table existed."""
        nu, data = self.nuisance_, self.data_
        if nu is None or nu.corrected is None:
            return []
        naive = {name: results[name]["naive"].auc.value for name in data.scores}
        ctx = Context(data, nu, self.estimand_, nu.corrected, self.options, self.seeds_,
                      Refits(data, nu, self.options.folds, self.seeds_, jobs=self.options.jobs), naive,
                      prognostic=self.prognostic_, results=results, replicates=self._joint_replicates())
        self.ipw_weights_ = (nu.corrected.rows, ctx.weights)  # the propensity weights the refuters judged
        rows = run_refuters(ctx)
        for row in rows:
            if row.score is not None and row.refuter == "placebo_membership":
                per_score[row.score]["placebo_auc"] = row.value
            if row.score is not None and row.refuter == "sensitivity":
                per_score[row.score]["sensitivity"] = {"of": "ipw" + nu.corrected.suffix, **row.values}
        return rows

    def _joint_replicates(self) -> dict[str, dict[str, np.ndarray]]:
        """The AUC replicates drawn on the audit's shared resampling counts, which give the joint law of two methods'
        figures: none under influence-function draws (one stream per fit), and not the IPW refit per replicate."""
        if _influence(self.options, self.data_):
            return {}
        return {name: {k: v for k, v in reps.items() if not (self.options.refit_propensity and k == "ipw")}
                for name, reps in self.auc_replicates_.items()}

    def _verdicts(self, overlap: str, reasons: list[str]) -> tuple[str, list[str], dict[str, dict]]:
        """Each corrected method's verdict (the overlap verdict lowered by the balance its weights leave and by
        the refuters) and the audit's: that of its best method (of methods equally good, the one with fewest reasons,
        so that a reason about one method alone is not given as the audit's)."""
        nu = self.nuisance_
        failures = failure_reasons(self.refuters_)
        per_method = {}
        target = next(p for p in self.plans_ if p.key == "")
        for m in [m for m in self.methods if METHODS[m].needs_propensity]:
            imbalanced = self._balance_of(m).weak if self._balance_of(m) is not None else {}
            severe = self._severe(m) if nu is not None and nu.identified else {}
            weighting_only = not getattr(METHODS[m], "outcome_model", False)
            own = self._prognostic_reasons(m) if weighting_only else []
            if weighting_only and getattr(METHODS[m], "weights", None) == "propensity" and nu is not None:
                own = nu.ipw_reasons + own
            v, why = lowered_verdict(overlap, reasons, severe, imbalanced, failures + own)
            if m in BALANCING_METHODS and (target.balance is None or not target.balance.identified):
                v, why = "not_identified", [*(target.balance.reasons if target.balance is not None else []), *why]
            per_method[m] = {"verdict": v, "reasons": why}
        if not per_method:
            return (*lowered_verdict(overlap, reasons, {}, {}, failures), {})
        best = min(per_method.values(), key=lambda x: (SEVERITY[x["verdict"]], len(x["reasons"])))
        return best["verdict"], best["reasons"], per_method

    def _prognostic_reasons(self, method: str) -> list[str]:
        """A weighting-only method (IPW, entropy balancing) answers for the balance its own weights leave on each
        score's prognostic scores m_0(x) (the outcome model's and the linear one; the one furthest outside its
        band counts: ``refuters.prognostic.weighting_reasons``). For the propensity weights a score whose
        prognostic refuter already failed is left out: that failure is among the reasons."""
        found = self._method_weights(method)
        if found is None or not self.prognostic_:
            return []
        rows, w = found
        data = self.data_
        groups = None if data.groups is None else data.groups[rows]
        failed = {r.score for r in self.refuters_ if r.refuter == "prognostic_balance" and r.passed is False}
        imbalance = {}
        for name, m0s in self.prognostic_.items():
            if getattr(METHODS[method], "weights", None) == "propensity" and name in failed:
                continue
            got = worst_prognostic(m0s, rows, data.member[rows], w, groups, z=WEIGHTING_Z, floor=WEIGHTING_FLOOR)
            if got is not None:
                imbalance[name] = got[1:3]
        return weighting_reasons(imbalance)

    def _method_weights(self, method: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The rows of the target population and the weights a weighting method gives them (None: none)."""
        if getattr(METHODS[method], "weights", None) == "propensity":
            return self.ipw_weights_
        target = next(p for p in self.plans_ if p.key == "")
        if method in BALANCING_METHODS and target.balance is not None and target.balance.identified:
            return target.rows, target.balance.weights
        return None

    # --- assembly ----------------------------------------------------------------------------------------------

    def _diagnostics(self, per_score: dict[str, Any]) -> dict[str, Any]:
        opts, t, nu = self.options, self.data_.member, self.nuisance_
        n1 = int(t.sum())
        if nu is not None:
            stage = propensity_diagnostics(nu, t)
            stage["verdict"], stage["verdict_reasons"], stage["method_verdicts"] = self._verdicts(nu.verdict, nu.reasons)
        else:
            counts = {"members": n1, "non-members": int(len(t) - n1)}
            reasons = [f"fewer than {MIN_PER_ARM} {arm} ({k}): too few units for a corrected estimate"
                       for arm, k in counts.items() if k < MIN_PER_ARM]
            stage = {**dict.fromkeys(("blind_auc", "tv_bound", "n_corrected", "ess", "clipped", "trimmed",
                                      "propensity_histogram", "smd_max_after", "overlap_population", "balance")),
                     "smd": {}, "verdict": "not_identified", "verdict_reasons": reasons, "method_verdicts": {}}
        bound = dg.dp_auc_bound(opts.dp_epsilon, opts.dp_delta) if opts.dp_epsilon is not None else None
        nc = self.data_.negative_control
        return {
            **stage,
            "blind_text_auc": weighted_auc(nc, t) if nc is not None else None,
            "refuters": [row.to_dict() for row in self.refuters_],
            "estimands": {p.estimand.name: p.to_dict() for p in self.plans_},
            "overlap_weights_population": overlap_population_table(self.data_, nu.e_raw) if nu is not None else None,
            "per_score": per_score,
            "slices": slice_aucs(self.data_.scores, t, self.data_.covariates, self.seeds_("slices"), jobs=opts.jobs,
                                 groups=self.data_.groups),
            "distributions": score_distributions(self.data_.scores, t, nu, self.estimand_),
            "n": {"member": n1, "nonmember": int(len(t) - n1), "total": int(len(t))},
            "dp": {"epsilon": opts.dp_epsilon, "delta": opts.dp_delta, "auc_bound": bound} if bound is not None else None,
            "thresholds": self.thresholds.to_dict(),
            "uncertainty": _uncertainty(opts, self.data_),
        }

    def _config(self) -> dict[str, Any]:
        """The options the numbers depend on (``jobs`` is left out: any value gives the same bytes)."""
        cfg = asdict(self.options)
        del cfg["jobs"]
        cfg.update(methods=list(self.methods), scores=list(self.data_.scores),
                   covariates=list(map(str, self.data_.covariates.columns)), grouped_folds=self.data_.groups is not None)
        if self.propensity_model is not None:
            cfg["propensity"] = repr(self.propensity_model)
        if self.outcome_model is not None:
            cfg["outcome"] = repr(self.outcome_model)
        return cfg


def estimate(scores_df: pd.DataFrame, covariates_df: pd.DataFrame, *, scores: list[str] | None = None,
             n_bootstrap: int | None = None, n_jobs: int | None = None, **options: Any) -> Estimates:
    """One call: ``ZeroRunEstimator(**options).fit(scores_df, covariates_df).estimates_``. ``n_bootstrap`` and
    ``n_jobs`` are the config's ``bootstrap`` and ``jobs``; other keywords are ``EstimateConfig`` fields or
    ``ZeroRunEstimator`` arguments."""
    if n_bootstrap is not None:
        options["bootstrap"] = n_bootstrap
    if n_jobs is not None:
        options["jobs"] = n_jobs
    return ZeroRunEstimator(**options).fit(scores_df, covariates_df, scores=scores).estimates_


def _table_notes(covariates_df: pd.DataFrame) -> list[str]:
    """Notes the covariates step left in the table's attrs (what it skipped or capped)."""
    attrs = covariates_df.attrs.get("notes") if isinstance(covariates_df.attrs, dict) else None
    return [str(n) for n in attrs] if isinstance(attrs, (list, tuple)) else []


def _influence(opts: EstimateConfig, data: AuditData) -> bool:
    """Whether the intervals come from influence-function draws rather than the bootstrap (``intervals``): not
    with groups, whose units are not independent (the bootstrap then resamples whole groups)."""
    return opts.intervals == "influence" or (opts.intervals == "auto" and len(data.member) > INFLUENCE_ABOVE
                                             and data.groups is None)


def _uncertainty(opts: EstimateConfig, data: AuditData) -> dict[str, Any]:
    refit = ("the propensity is refit (cross-fitted) inside each replicate for the full-population IPW"
             if opts.refit_propensity else "the cross-fitted propensity is kept fixed (not refit per replicate)")
    if _influence(opts, data):
        naive_ipw = ("influence functions of the weighted curves on the threshold grid, Gaussian draws, percentile "
                     "intervals around the exact estimate; " + refit)
        dr = "Gaussian draws with the covariance of the per-unit DR terms on the grid (nuisances not refit)"
    else:
        over = "units" if data.groups is None else "groups (the 'group' column: each group's units together)"
        naive_ipw = f"stratified bootstrap over {over}, percentile intervals; " + refit
        dr = "multiplier bootstrap of the per-unit DR terms (nuisances not refit)"
    return {
        "level": 0.95,
        "bootstrap_replicates": opts.bootstrap,
        "naive_ipw": naive_ipw,
        "propensity_refit": opts.refit_propensity,
        "dr": dr + ", widened where needed to the spread of the per-fold estimates (the outcome model's own "
                   "error); the DR mean uses the influence-function standard error with the same floor",
        "bands": "sup-t bands over the threshold grid (F_0, F_1) and an FPR grid (ROC) from the same replicates; "
                 "each TPR@FPR carries the ROC band at its FPR",
    }
