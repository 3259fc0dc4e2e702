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
from llm_audit.estimate.bootstrap import percentile_interval, refit_propensity_replicates, replicate
from llm_audit.estimate.bounds import auc_bounds
from llm_audit.estimate.cutoff.audit import CUTOFF_BOOTSTRAP, cutoff_analysis
from llm_audit.estimate.design import MIN_PER_ARM, AuditData, prepare
from llm_audit.estimate.distributions import score_distributions
from llm_audit.estimate.estimands import get_estimand
from llm_audit.estimate.inference import auc_inference
from llm_audit.estimate.methods import METHODS, Fit, Problem
from llm_audit.estimate.methods.dr import dr_terms
from llm_audit.estimate.metrics import MIN_NONMEMBERS_ABOVE, downsample_curve
from llm_audit.estimate.nuisance import Nuisance, Population, fit_nuisance, propensity_diagnostics
from llm_audit.estimate.options import EstimateConfig
from llm_audit.estimate.outcome import fit_outcome, threshold_grid
from llm_audit.estimate.provenance import provenance
from llm_audit.estimate.shared import SharedStages
from llm_audit.estimate.results import ASSUMPTIONS, UNRELIABLE, Estimates, Result, Value, fpr_key
from llm_audit.estimate.seeds import Seeds
from llm_audit.estimate.sensitivity import sensitivity_gamma
from llm_audit.estimate.slices import slice_aucs
from llm_audit.estimate.verdict import OverlapThresholds
from llm_audit.estimate.weights import hajek
from llm_audit.errors import AuditError
from llm_audit.parallel import parallel_map, total_threads, worker_limits

Z95 = 1.959963984540054
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
        self.data_ = data
        self.seeds_ = Seeds(opts.seed)
        notes = _table_notes(covariates_df) + data.notes
        self.nuisance_: Nuisance | None = None
        if min(int(data.member.sum()), int(len(data.member) - data.member.sum())) >= MIN_PER_ARM:
            self.nuisance_ = self._fit_nuisance(data, opts)
            notes += self.nuisance_.notes
        self._shared = SharedStages(data, self.nuisance_, opts, self.seeds_("bootstrap"))
        self.auc_replicates_: dict[str, dict[str, np.ndarray]] = {}  # {score: {key: (B,)}}, for the family statement
        score_notes: dict[str, list[str]] = {name: [] for name in data.scores}
        done = parallel_map(lambda name: self._estimate_score(name, score_notes[name]), list(data.scores),
                            jobs=opts.jobs, max_workers=self._shared.max_score_workers)
        self._shared = None  # the resampling counts and design matrices are not needed past here
        results, curves, per_score = {}, {}, {}
        for name, (res, curve, diag) in zip(data.scores, done):
            results[name], curves[name], per_score[name] = res, curve, diag
            notes += score_notes[name]
        self.auc_replicates_ = {name: self.auc_replicates_[name] for name in data.scores}  # in the scores' order
        cutoff, at_cutoff = cutoff_analysis(data, d0=opts.cutoff, fpr=tuple(opts.fpr), seed=self.seeds_("cutoff"),
                                            n_bootstrap=min(opts.bootstrap, CUTOFF_BOOTSTRAP))
        for name, result in at_cutoff.items():
            results[name]["cutoff"] = result
        diagnostics = {**self._diagnostics(per_score), "cutoff": cutoff, "inference": auc_inference(
            results, self.auc_replicates_, unshared=("ipw",) if opts.refit_propensity else ())}
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
        """Every method's result for one score, its curves and its per-score diagnostics."""
        opts, data, nu = self.options, self.data_, self.nuisance_
        s, t = data.scores[name], data.member
        fpr = tuple(float(a) for a in opts.fpr)
        fits: dict[str, Fit] = {"naive": METHODS["naive"].fit(Problem(s, t, fpr, self.estimand_))}
        labels = {"naive": ("naive", None, "all")}
        rows: dict[str, np.ndarray] = {}
        per_score: dict[str, Any] = {"constant": name in data.constant_scores, "placebo_auc": None, "sensitivity": None}
        corrected = [m for m in self.methods if METHODS[m].needs_propensity]
        pop = nu.corrected if nu is not None else None
        if pop is not None and corrected:
            problem = Problem(s[pop.rows], t[pop.rows], fpr, self.estimand_, e=nu.overlap.e[pop.rows],
                              dr_terms=lambda: self._dr_terms(s).subset(pop.rows))
            for m in corrected:
                key = m + pop.suffix
                fits[key], labels[key], rows[key] = METHODS[m].fit(problem), (m, self.estimand_.name, pop.label), pop.rows
            per_score.update(self._refutation(name, s, pop, fits["naive"].point.auc, notes))
        if nu is not None and not nu.identified:
            per_score["bounds"] = auc_bounds(s, t, nu.e_raw, eta=opts.eta, n_bootstrap=min(opts.bootstrap, BOUNDS_BOOTSTRAP),
                                             seed=self.seeds_("bounds", name)).to_dict()
        reps = self._replicates(fits, rows, name, s)
        self.auc_replicates_[name] = {key: r["auc"] for key, r in reps.items()}
        results = {"naive": _result(fits["naive"], reps.get("naive"), *labels["naive"], fpr)}
        results.update({m: Result.null(m, self.estimand_.name, [fpr_key(a) for a in fpr]) for m in corrected})
        results.update({key: _result(fit, reps.get(key), *labels[key], fpr) for key, fit in fits.items()})
        curves = {key: _curve(fit.point.curve) for key, fit in fits.items()}
        if opts.dp_epsilon is not None:
            bound = dg.dp_auc_bound(opts.dp_epsilon, opts.dp_delta)
            vals = [r.auc.value for key, r in results.items() if key != "naive"]
            per_score["dp_violation"] = any(v is not None and v > bound for v in vals)
            if per_score["dp_violation"]:
                notes.append(f"score '{name}': corrected AUC above the DP bound {bound:.3f}: a bug or a violated assumption")
        return results, curves, per_score

    def _replicates(self, fits: dict[str, Fit], rows: dict[str, np.ndarray], name: str, s: np.ndarray) -> dict[str, Any]:
        """Bootstrap replicates of every fit on the same resampled corpus: one stream for the whole audit, so
        every score and method is resampled alike (and a joint statement across them is possible)."""
        opts, data = self.options, self.data_
        if not opts.bootstrap:
            return {}
        reps = replicate(fits, self._shared.resampling, jobs=self._shared.jobs_per_score, rows=rows)
        if opts.refit_propensity and "ipw" in fits:  # the IPW of the full (or trimmed) population only
            reps["ipw"] = refit_propensity_replicates(
                data.covariates, data.member, s, data.groups, folds=opts.folds,
                model=self.propensity_model or opts.propensity, eta=opts.eta, trim=opts.trim, estimand=self.estimand_,
                fpr_targets=tuple(opts.fpr), n_boot=opts.bootstrap, seed=self.seeds_("refit", name),
                n_jobs=self._shared.jobs_per_score,
            )
        return reps

    def _dr_terms(self, s: np.ndarray):
        """The per-unit DR terms of one score over every unit: the cross-fitted outcome model, fit on demand."""
        opts, data, nu = self.options, self.data_, self.nuisance_
        t, e = data.member, nu.overlap.e
        om = fit_outcome(data.covariates, t, s, nu.splits, model=self.outcome_model or opts.outcome,
                         seed=self.seeds_("outcome"), jobs=self._shared.jobs_per_score, designs=self._shared.designs)
        return dr_terms(s, t, om, self.estimand_.density(e, t), self.estimand_.residual_weights(e, t),
                        threshold_grid(s, opts.grid_size))

    def _refutation(self, name: str, s: np.ndarray, pop: Population, naive_auc: float,
                    notes: list[str]) -> dict[str, Any]:
        """Placebo and sensitivity on the corrected population, for the IPW weighting."""
        opts, t, nu = self.options, self.data_.member, self.nuisance_
        rows, e = pop.rows, nu.overlap.e[pop.rows]
        w = hajek(self.estimand_.residual_weights(e, t[rows]), t[rows])
        placebo = dg.placebo_auc(s[rows], t[rows], nu.e_raw[rows], w, self.seeds_("placebo", name))
        tolerance = dg.placebo_tolerance(t[rows], w)
        if abs(placebo - 0.5) > tolerance:
            notes.append(f"score '{name}': placebo AUC {placebo:.3f} is further from 0.5 than chance allows "
                         f"(+-{tolerance:.3f}): the weights do not remove the covariate shift")
        sens = {
            "of": "ipw" + pop.suffix,
            "gamma_to_naive": sensitivity_gamma(s[rows], t[rows], e, self.estimand_, naive_auc, opts.gamma_max),
            "gamma_to_chance": sensitivity_gamma(s[rows], t[rows], e, self.estimand_, 0.5, opts.gamma_max),
            "gamma_max": opts.gamma_max,
        }
        return {"placebo_auc": placebo, "sensitivity": sens}

    # --- assembly ----------------------------------------------------------------------------------------------

    def _diagnostics(self, per_score: dict[str, Any]) -> dict[str, Any]:
        opts, t, nu = self.options, self.data_.member, self.nuisance_
        n1 = int(t.sum())
        if nu is not None:
            stage = propensity_diagnostics(nu, t)
        else:
            counts = {"members": n1, "non-members": int(len(t) - n1)}
            reasons = [f"fewer than {MIN_PER_ARM} {arm} ({k}): too few units for a corrected estimate"
                       for arm, k in counts.items() if k < MIN_PER_ARM]
            stage = {**dict.fromkeys(("blind_auc", "tv_bound", "n_corrected", "ess", "clipped", "trimmed",
                                      "propensity_histogram", "smd_max_after", "overlap_population")),
                     "smd": {}, "verdict": "not_identified", "verdict_reasons": reasons}
        bound = dg.dp_auc_bound(opts.dp_epsilon, opts.dp_delta) if opts.dp_epsilon is not None else None
        return {
            **stage,
            "per_score": per_score,
            "slices": slice_aucs(self.data_.scores, t, self.data_.covariates, self.seeds_("slices"), jobs=opts.jobs),
            "distributions": score_distributions(self.data_.scores, t, nu, self.estimand_),
            "n": {"member": n1, "nonmember": int(len(t) - n1), "total": int(len(t))},
            "dp": {"epsilon": opts.dp_epsilon, "delta": opts.dp_delta, "auc_bound": bound} if bound is not None else None,
            "thresholds": self.thresholds.to_dict(),
            "uncertainty": _uncertainty(opts),
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


def _result(fit: Fit, reps: dict | None, method: str, estimand: str | None, population: str, fpr: tuple) -> Result:
    """A method's point estimates and bootstrap replicates as a ``Result`` of ``Value``s."""
    p, r = fit.point, reps or {}

    def value(v: float, rep: np.ndarray | None, **extra: Any) -> Value:
        ci = percentile_interval(rep) if rep is not None else None
        return Value(float(v), ci, ci_method="bootstrap percentile" if ci is not None else None, **extra)

    tpr = {}
    for a in fpr:
        flags = [UNRELIABLE] if p.n_eff[a] < MIN_NONMEMBERS_ABOVE else []
        tpr[fpr_key(a)] = value(p.tpr[a], r.get("tpr_at_fpr", {}).get(a), n_eff=float(p.n_eff[a]), flags=flags)
    if p.mean_se is not None:
        mean = Value(float(p.mean_diff), [p.mean_diff - Z95 * p.mean_se, p.mean_diff + Z95 * p.mean_se],
                     se=p.mean_se, ci_method="influence function")
    else:
        mean = value(p.mean_diff, r.get("mean_diff"))
    return Result(method, estimand, population, value(p.auc, r.get("auc")), tpr,
                  value(p.advantage, r.get("advantage")), mean)


def _curve(fp_tp: tuple) -> dict:
    f, t = downsample_curve(*fp_tp)
    return {"fpr": f, "tpr": t}


def _uncertainty(opts: EstimateConfig) -> dict[str, Any]:
    refit = ("the propensity is refit (cross-fitted) inside each replicate for the full-population IPW"
             if opts.refit_propensity else "the cross-fitted propensity is kept fixed (not refit per replicate)")
    return {
        "level": 0.95,
        "bootstrap_replicates": opts.bootstrap,
        "naive_ipw": "stratified bootstrap over units, percentile intervals; " + refit,
        "propensity_refit": opts.refit_propensity,
        "dr": "multiplier bootstrap of the per-unit DR terms (nuisances not refit); the DR mean uses the "
              "influence-function standard error",
    }
