"""The options of step 3 (``estimate:`` in a config): declared, defaulted and checked here only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llm_audit.schema import Checker, Section, option

PROPENSITY_MODELS = ("logistic", "hgb")
OUTCOME_MODELS = ("auto", "linear", "hgb", "distribution")
INTERVALS = ("auto", "bootstrap", "influence")
MIN_BOOTSTRAP = 20
INFLUENCE_ABOVE = 200_000  # intervals: auto switches from the bootstrap to influence functions above this n


@dataclass
class EstimateConfig(Section):
    target: str = option("target population (estimand): `ate` all units, `att` members' covariates, `atc` "
                         "non-members', `ato` the overlap population (weights e(1-e))", default="ate")
    estimands: list[str] = option("estimands computed beside the target, each under its own result keys (`dr_ato`)",
                                  default_factory=lambda: ["ato"])
    methods: list[str] = option("estimation methods, by their names in the method registry (naive is always "
                                "computed): naive, ipw, dr, ebal (entropy balancing), dr_ebal (DR with entropy-"
                                "balancing residual weights)", default_factory=lambda: ["naive", "ipw", "dr", "ebal"])
    eta: float = option("propensities are clipped to [eta, 1-eta]", default=0.02)
    trim: bool = option("drop units outside [eta, 1-eta] instead of clipping", default=False)
    folds: int = option("cross-fitting folds", default=5)
    propensity: Literal["logistic", "hgb"] = option("propensity model: logistic regression or gradient boosting",
                                                    default="logistic")
    outcome: Literal["auto", "linear", "hgb", "distribution"] = option(
        "DR outcome model: `auto` chooses per score by cross-validated Brier score inside the cross-fitting among "
        "location-scale `linear`, location-scale gradient boosting from a linear fit `hgb` and `distribution` "
        "regression",
        default="auto")
    ebal_penalty: float = option("ridge penalty on the entropy-balancing dual (0: exact balance; > 0: approximate "
                                 "balance for many columns and few units, the residual imbalance is reported)",
                                 default=0.0)
    intervals: Literal["auto", "bootstrap", "influence"] = option(
        "how intervals are computed: `bootstrap` (stratified over units; over whole groups with a `group` column), "
        "`influence` (Gaussian draws of the curves' influence functions on the grid: fast at large n; not with "
        f"groups), `auto` (influence above {INFLUENCE_ABOVE:,} units without groups)",
        default="auto")
    refit_propensity: bool = option("refit the cross-fitted propensity inside each bootstrap replicate (slow)",
                                    default=False)
    bootstrap: int = option("bootstrap replicates for the 95% intervals (0: no intervals)", default=1000)
    fpr: list[float] = option("FPR targets of TPR@FPR", default_factory=lambda: [0.001, 0.01, 0.05])
    seed: int = option("seed of folds and bootstrap", default=0)
    jobs: int = option("cores for the parallel stages (folds, score columns, bootstrap; -1: every core the "
                       "process may use); any value gives the same estimates.json", default=-1)
    grid_size: int = option("thresholds of the doubly robust CDF grid", default=100)
    gamma_max: float = option("largest odds ratio the sensitivity analysis searches", default=20.0)
    cutoff: str | None = option("the model's data cutoff (a date: `2024-11-01`, `2024`); texts dated before it are "
                                "members. Null: detected when membership follows the date", default=None)
    dp_epsilon: float | None = option("the model's DP epsilon, if trained with DP (adds the DP sanity bound)",
                                      default=None)
    dp_delta: float = option("the model's DP delta", default=0.0)
    regime: Literal["zero-run", "one-run", "multi-run", "paired"] = option(
        "how membership was assigned (docs/method.md, Regimes); paired: two models, one saw the texts "
        "(docs/paired.md)", default="zero-run")
    inclusion_p: float | None = option("one-run: the probability with which each text was included at random "
                                       "(null: 0.5, unless `inclusion` gives one per text)", default=None)
    inclusion: str | None = option("one-run: table (`id`, `p`) of per-text inclusion probabilities, in place of "
                                   "`inclusion_p`; multi-run: table (`run`, `id`, `member`) of each run's inclusion "
                                   "(null: the scores table's `member` column)", path="file", default=None)

    def check(self, c: Checker) -> None:
        from llm_audit.estimate.estimands import ESTIMANDS
        from llm_audit.estimate.methods import METHODS

        c.require(self.target in ESTIMANDS, "target", f"must be one of {', '.join(ESTIMANDS)}, got {self.target!r}")
        for i, name in enumerate(self.estimands):
            c.require(name in ESTIMANDS, f"estimands[{i}]", f"must be one of {', '.join(ESTIMANDS)}, got {name!r}")
        for i, name in enumerate(self.methods):
            c.require(name in METHODS, f"methods[{i}]", f"unknown method {name!r} (known: {', '.join(METHODS)})")
        c.require(self.ebal_penalty >= 0, "ebal_penalty", f"must be >= 0, got {self.ebal_penalty}")
        c.require(self.intervals in INTERVALS, "intervals", f"must be one of {', '.join(INTERVALS)}, got {self.intervals!r}")
        # the estimator's own bound: eta = 0 leaves a propensity of 0 or 1 unclipped
        c.require(0 < self.eta < 0.5, "eta", f"must be in (0, 0.5), got {self.eta}")
        c.require(int(self.folds) == self.folds and self.folds >= 2, "folds", f"must be an integer >= 2, got {self.folds}")
        c.require(self.propensity in PROPENSITY_MODELS, "propensity",
                  f"must be one of {', '.join(PROPENSITY_MODELS)}, got {self.propensity!r}")
        c.require(self.outcome in OUTCOME_MODELS, "outcome", f"must be one of {', '.join(OUTCOME_MODELS)}, got {self.outcome!r}")
        c.require(int(self.bootstrap) == self.bootstrap and (self.bootstrap == 0 or self.bootstrap >= MIN_BOOTSTRAP),
                  "bootstrap", f"must be 0 (no intervals) or an integer >= {MIN_BOOTSTRAP} (a 95% percentile interval "
                  f"needs replicates beyond both of its ends; 1000 for figures you report), got {self.bootstrap}")
        c.require(self.cutoff is None or _is_date(self.cutoff), "cutoff",
                  f"cannot read {self.cutoff!r} as a date (e.g. 2024-11-01 or 2024)")
        c.require(len(self.fpr) > 0, "fpr", "must name at least one FPR target")
        for i, a in enumerate(self.fpr):
            c.require(0 < a < 1, f"fpr[{i}]", f"must be in (0, 1), got {a}")
        c.require(self.jobs != 0, "jobs", "must be a positive number of jobs or negative (-1: all cores), not 0")
        c.require(self.grid_size >= 10, "grid_size", f"must be >= 10, got {self.grid_size}")
        c.require(self.gamma_max > 1, "gamma_max", f"must be > 1, got {self.gamma_max}")
        c.require(self.dp_epsilon is None or self.dp_epsilon > 0, "dp_epsilon", f"must be positive, got {self.dp_epsilon}")
        c.require(0 <= self.dp_delta < 1, "dp_delta", f"must be in [0, 1), got {self.dp_delta}")
        regime = f"{c.ref('regime')} one-run"
        c.require(self.inclusion_p is None or self.regime == "one-run", "inclusion_p",
                  f"only for {regime}, not {self.regime}")
        c.require(self.inclusion_p is None or 0 < self.inclusion_p < 1, "inclusion_p",
                  f"must be in (0, 1), got {self.inclusion_p}")
        c.require(self.inclusion is None or self.inclusion_p is None, "inclusion_p",
                  f"give either {c.ref('inclusion')} or {c.ref('inclusion_p')}, not both")
        c.require(self.inclusion is None or self.regime != "zero-run", "inclusion",
                  f"only for {c.ref('regime')} one-run or multi-run")


def _is_date(value: object) -> bool:
    """Whether the cutoff option reads as a date (``covariates.date.parse_date``)."""
    from llm_audit.covariates.date import parse_date  # the covariates step's reader, so both agree

    try:
        return parse_date(str(value)) is not None
    except ValueError:
        return False
