"""The oracle harness: grade the zero-run estimator against the exact truth of a model pair (docs/paired.md).

A pair (model A saw the inserted texts, model B did not) gives both potential scores of every inserted text.
The harness plays the auditor's situation many times over on those texts (the pool):

1. draw a confounded member set: T_i ~ Bernoulli(e(X_i)), with a stated propensity on the covariates,
   logit e(x) = b + strength * sum_k coef_k z_k(x), z_k a standardized numeric covariate or an indicator
   ``column=value``; the intercept b makes the expected member share ``share``;
2. give each text the score of the model that matches its drawn membership: S_i = S_i(1) (model A) when
   T_i = 1, S_i(0) (model B) otherwise;
3. run the zero-run estimator (``llm_audit.estimate.estimate``) on (X, T, S);
4. grade every method and metric against the truth: the paired oracle over ALL pool texts,
   P(S_i(1) > S_j(0)) for i != j (the ATE causal AUC), and likewise TPR@FPR, advantage and mean memorization.

Repeating over draws gives the coverage of each method's interval, split by the verdict the estimator
printed; draws it declared ``not_identified`` are counted and shown, not hidden.

What the harness does and does not test. Membership is drawn from the covariates alone, so unconfoundedness
(A2) holds by construction unless covariates the propensity uses are ``hidden`` from the estimator; the
truth is a finite-pool quantity (the pool's own potential scores), which the estimator's intervals, built
for a sampled population, cover conservatively. Interference: in reality model A saw the whole pool, so each
S_i(1) was produced with every other pool text in training too; the synthetic audit pretends that only the
drawn members were. The harness therefore grades estimation under no interference, with potential scores
that are those of "inclusion alongside the whole pool".

The estimate layer: no torch, no transformers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.optimize import brentq

from llm_audit.errors import AuditError
from llm_audit.estimate import estimate
from llm_audit.estimate.regimes.paired import paired
from llm_audit.estimate.regimes.randomized import DEFAULT_FPR
from llm_audit.estimate.results import UNRELIABLE, Estimates, fpr_key
from llm_audit.parallel import plan, total_threads

# The methods graded: naive, ipw, dr and ebal estimate the whole pool (target `ate`); the overlap ones estimate a
# narrower population and are graded against the whole-pool truth for information only.
METHODS = ("naive", "ipw", "dr", "ebal", "ipw_overlap", "dr_overlap")
METRICS = ("auc", "tpr_at_fpr", "advantage", "mean_diff")
GRADE_COLUMNS = ["score", "method", "metric", "value", "lo", "hi", "truth", "covered", "flag"]


@dataclass(frozen=True)
class Propensity:
    """P(member | X): logit e(x) = b + strength * sum_k terms[k] * z_k(x), with b set so that the mean of e
    over the pool is ``share``.

    A term key is a covariate column (numeric: standardized over the pool, z = (x - mean) / sd) or
    ``column=value`` (1 when the column equals value, as text, else 0), e.g.
    ``Propensity({"n_tokens": -1.0, "domain=github": 1.5}, strength=2.0)``: shorter texts and GitHub texts are
    members more often.
    """

    terms: Mapping[str, float]
    strength: float = 1.0
    share: float = 0.5

    def linear(self, covariates: pd.DataFrame) -> np.ndarray:
        """sum_k terms[k] z_k(x) per row (before strength and intercept)."""
        if not self.terms:
            raise AuditError("propensity: no term (give at least one covariate, e.g. {'n_tokens': 1.0})")
        out = np.zeros(len(covariates))
        for key, coef in self.terms.items():
            column, _, level = key.partition("=")
            if column not in covariates.columns:
                raise AuditError(f"propensity: term '{key}': no covariate '{column}' "
                                 f"(covariates: {', '.join(map(str, covariates.columns))})")
            col = covariates[column]
            if level:
                z = (col.astype(str) == level).to_numpy(dtype=float)
                if not z.any():
                    raise AuditError(f"propensity: term '{key}': no text has {column} = {level!r}")
            elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                x = col.to_numpy(dtype=float)
                sd = x.std()
                if not np.isfinite(sd) or sd == 0:
                    raise AuditError(f"propensity: term '{key}': covariate '{column}' is constant or not finite")
                z = (x - x.mean()) / sd
            else:
                raise AuditError(f"propensity: term '{key}': '{column}' is categorical; name a level, "
                                 f"e.g. '{column}={col.astype(str).iloc[0]}'")
            out += float(coef) * z
        return out

    def probabilities(self, covariates: pd.DataFrame) -> np.ndarray:
        """e(x) for every row of ``covariates``."""
        if not 0 < self.share < 1:
            raise AuditError(f"propensity: share must be in (0, 1), got {self.share}")
        lin = self.strength * self.linear(covariates)
        intercept = brentq(lambda b: np.mean(_sigmoid(b + lin)) - self.share, -60.0, 60.0)
        return _sigmoid(intercept + lin)

    def formula(self) -> str:
        inner = " + ".join(f"{c:g} z({k})" if "=" not in k else f"{c:g} [{k}]" for k, c in self.terms.items())
        return f"logit e(x) = b + {self.strength:g} * ({inner}), b such that mean e = {self.share:g}"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def observed_scores(truth: Estimates, member: np.ndarray, scores: Sequence[str]) -> pd.DataFrame:
    """The scores table of one synthetic audit: per pool text the score under the model matching its drawn
    membership (``s1_<score>`` when member, ``s0_<score>`` otherwise)."""
    per_unit = truth.tables["per_unit"]
    pool = per_unit[per_unit["inserted"] == 1]
    out = pd.DataFrame({"id": pool["id"].to_numpy(), "member": member})
    for c in scores:
        out[c] = np.where(member == 1, pool[f"s1_{c}"].to_numpy(), pool[f"s0_{c}"].to_numpy())
    return out


def grade(est: Any, truth: Estimates, scores: Sequence[str], fpr: Sequence[float]) -> pd.DataFrame:
    """One row per (score, method, metric) of one zero-run estimate (an ``Estimates``: ``value`` and
    ``interval`` by score, method, metric and FPR): value, interval, the oracle truth, whether the interval
    covers it, and ``flag`` "unreliable" where the estimate printed the figure so flagged (a TPR@FPR resting on
    fewer than 10 effective non-members above its threshold), else "". Methods and metrics the estimator did not
    print (value None) are left out."""
    rows = []
    for score in scores:
        for method in METHODS:
            for metric in METRICS:
                targets = [(f"tpr@{fpr_key(a)}", a) for a in fpr] if metric == "tpr_at_fpr" else [(metric, None)]
                for name, a in targets:
                    try:
                        value = est.value(score, method, metric, a)
                    except KeyError:  # a method the estimate does not carry at all
                        continue
                    if value is None:
                        continue
                    ci = est.interval(score, method, metric, a)
                    true = truth.value(score, "oracle", metric, a)
                    lo, hi = ci if ci is not None else (np.nan, np.nan)
                    rows.append({"score": score, "method": method, "metric": name, "value": value, "lo": lo,
                                 "hi": hi, "truth": true, "covered": bool(ci is not None and lo <= true <= hi),
                                 "flag": UNRELIABLE if est.flagged(score, method, metric, a) else ""})
    return pd.DataFrame(rows, columns=GRADE_COLUMNS)


@dataclass
class OracleResult:
    """Every draw's grades, the draws themselves (members, blind AUC, verdict) and the truth they were graded
    against."""

    truth: Estimates
    grades: pd.DataFrame  # draw, verdict, score, method, metric, value, lo, hi, truth, covered, flag
    draws: pd.DataFrame  # draw, members, nonmembers, blind_auc, verdict
    propensity: str
    config: dict[str, Any] = field(default_factory=dict)

    def verdicts(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.draws["verdict"].value_counts().sort_index().items()}

    def coverage(self) -> pd.DataFrame:
        """Per score, method, metric, printed verdict and flag (figures the estimate printed as unreliable apart):
        draws, share of intervals covering the truth, mean error (bias), mean absolute error and mean interval
        width."""
        g = self.grades.assign(error=self.grades["value"] - self.grades["truth"],
                               width=self.grades["hi"] - self.grades["lo"])
        out = g.groupby(["score", "method", "metric", "verdict", "flag"], sort=False).agg(
            draws=("covered", "size"), coverage=("covered", "mean"), truth=("truth", "first"),
            bias=("error", "mean"), mae=("error", lambda e: float(np.mean(np.abs(e)))), width=("width", "mean"),
        )
        return out.reset_index()

    def table(self, metrics: Sequence[str] = ("auc", "tpr@0.01", "mean_diff"),
              methods: Sequence[str] = METHODS) -> str:
        """The coverage table in Markdown, one row per score, metric, method and verdict."""
        cov = self.coverage()
        cov = cov[cov["metric"].isin(metrics) & cov["method"].isin(methods)]
        order = {m: i for i, m in enumerate(metrics)}
        cov = cov.assign(_m=cov["metric"].map(order), _k=cov["method"].map({m: i for i, m in enumerate(METHODS)}))
        cov = cov.sort_values(["score", "_m", "_k", "verdict"], kind="stable")
        lines = ["| score | metric | method | verdict | draws | truth | mean estimate - truth | MAE | mean CI width "
                 "| coverage |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in cov.itertuples():
            verdict = f"{r.verdict}, flagged {r.flag}" if r.flag else r.verdict
            lines.append(f"| {r.score} | {r.metric} | {r.method} | {verdict} | {r.draws} | {r.truth:.3f} "
                         f"| {r.bias:+.3f} | {r.mae:.3f} | {r.width:.3f} | {100 * r.coverage:.1f}% |")
        return "\n".join(lines)

    def summary(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.verdicts().items())
        return "\n".join([
            f"oracle harness: {len(self.draws)} draws on {self.truth.to_dict()['diagnostics']['counts']['inserted']} "
            f"pool texts; {self.propensity}",
            f"verdicts: {counts}; mean blind-baseline AUC {self.draws['blind_auc'].mean():.3f}",
            "",
            self.table(),
        ])


def _checked_options(estimate_options: Mapping[str, Any] | None, draws: int) -> dict[str, Any]:
    """The estimate options of every draw; AuditError for a target other than the truth's (ate), an option the
    harness sets itself, or a draw count below 1."""
    options = dict(estimate_options or {})
    if options.get("target", "ate") != "ate":
        raise AuditError(f"estimate target: the oracle truth is the whole pool's (ate), got '{options['target']}'")
    for key in ("scores", "fpr", "seed"):
        if key in options:
            raise AuditError(f"estimate_options: '{key}' is set by the harness itself")
    if int(draws) != draws or draws < 1:
        raise AuditError(f"draws: must be an integer >= 1, got {draws}")
    return options


def _pool_covariates(covariates: pd.DataFrame, pool_ids: pd.Series, hidden: Sequence[str]) -> pd.DataFrame:
    """The covariates of the pool texts, in the pool's order; AuditError for a missing id column, a pool text
    without a row, or a hidden covariate that is not there."""
    if "id" not in covariates.columns:
        raise AuditError("covariates: no 'id' column")
    cov = covariates.assign(id=covariates["id"].astype(str)).drop_duplicates("id").set_index("id")
    missing = pool_ids[~pool_ids.isin(cov.index)]
    if len(missing):
        raise AuditError(f"covariates: no row for pool text id {missing.iloc[0]!r}")
    unknown = [h for h in hidden if h not in cov.columns]
    if unknown:
        raise AuditError(f"hidden: no covariate '{unknown[0]}'")
    return cov.loc[pool_ids.to_numpy()].reset_index()


def _one_draw(r, e, truth, covariates, scores, fpr, seed, options):
    rng = np.random.default_rng([seed, r])
    member = (rng.random(len(e)) < e).astype(int)
    observed = observed_scores(truth, member, scores)
    n1 = int(member.sum())
    info = {"draw": r, "members": n1, "nonmembers": int(len(member) - n1)}
    if min(n1, len(member) - n1) < 2:  # the estimator refuses a single arm; so would any audit
        return {**info, "blind_auc": np.nan, "verdict": "one_arm"}, None
    est = estimate(observed, covariates, scores=list(scores), fpr=fpr, seed=int(rng.integers(2**31)), **options)
    # each method is graded under the verdict printed for it (a method withheld or lowered has its own)
    own = {m: v["verdict"] for m, v in (est.to_dict()["diagnostics"].get("method_verdicts") or {}).items()}
    grades = grade(est, truth, scores, fpr).assign(draw=r)
    grades["verdict"] = [own.get(m, est.verdict) for m in grades["method"]]
    blind = est.to_dict().get("diagnostics", {}).get("blind_auc")
    return {**info, "blind_auc": np.nan if blind is None else blind, "verdict": est.verdict}, grades


def oracle_audit(
    scores_with: pd.DataFrame,
    scores_without: pd.DataFrame,
    covariates: pd.DataFrame,
    propensity: Propensity,
    *,
    draws: int = 100,
    inserted: pd.Series | None = None,
    scores: Sequence[str] | None = None,
    hidden: Sequence[str] = (),
    fpr: Sequence[float] = DEFAULT_FPR,
    seed: int = 0,
    truth_bootstrap: int = 1000,
    estimate_options: Mapping[str, Any] | None = None,
    n_jobs: int = 1,
    progress: Callable[[int], None] | None = None,
) -> OracleResult:
    """Grade the zero-run estimator against the oracle of a pair over ``draws`` confounded member sets.

    ``scores_with`` / ``scores_without`` and ``inserted`` as in ``paired``: the pool is the inserted texts.
    ``covariates``: the covariates table (``id`` + columns) of at least the pool texts; ``hidden`` names
    covariates the propensity may use but the estimator does not see (unmeasured confounding).
    ``estimate_options``: keyword options of ``estimate`` (e.g. ``n_bootstrap``, ``outcome``); the target
    is the whole pool (``ate``), the estimand of the truth. ``n_jobs``: draws run in parallel processes.
    """
    options = _checked_options(estimate_options, draws)
    fpr = tuple(float(a) for a in fpr)
    truth = paired(scores_with, scores_without, inserted=inserted, scores=scores, fpr=fpr,
                   n_bootstrap=truth_bootstrap, seed=seed)
    cols = truth.score_names
    per_unit = truth.tables["per_unit"]
    pool_ids = per_unit.loc[per_unit["inserted"] == 1, "id"]
    cov = _pool_covariates(covariates, pool_ids, hidden)
    e = propensity.probabilities(cov)
    visible = cov.drop(columns=list(hidden))

    # the draws' workers and each draw's own parallel stages share the cores (llm_audit.parallel)
    layout = plan(n_jobs, draws)
    asked = int(options.get("n_jobs", options.get("jobs", -1)))  # estimate() takes either name
    per_draw = {**{k: v for k, v in options.items() if k != "n_jobs"},
                "jobs": min(layout.threads, total_threads(asked))}
    jobs = Parallel(n_jobs=layout.workers, return_as="generator")(
        delayed(_one_draw)(r, e, truth, visible, cols, fpr, seed, per_draw) for r in range(draws)
    )
    infos, parts = [], []
    for done, (info, grades) in enumerate(jobs, start=1):
        infos.append(info)
        if grades is not None:
            parts.append(grades)
        if progress is not None:
            progress(done)
    columns = ["draw", "verdict", *GRADE_COLUMNS]
    grades = pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
    config = {"draws": draws, "seed": seed, "fpr": list(fpr), "hidden": list(hidden), "scores": cols,
              "propensity": {"terms": dict(propensity.terms), "strength": propensity.strength,
                             "share": propensity.share},
              "propensity_range": [float(e.min()), float(e.max())], "estimate_options": options}
    return OracleResult(truth=truth, grades=grades, draws=pd.DataFrame(infos), propensity=propensity.formula(),
                        config=config)
