"""The options of step 3 (``estimate:`` in a config): declared, defaulted and checked here only."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from llm_audit.schema import Checker, option

PROPENSITY_MODELS = ("logistic", "hgb")
OUTCOME_MODELS = ("auto", "linear", "hgb", "distribution")
INTERVALS = ("auto", "bootstrap", "influence")
INFLUENCE_ABOVE = 200_000  # intervals: auto switches from the bootstrap to influence functions above this n


@dataclass
class EstimateConfig:
    target: str = option("target population (estimand): `ate` all units, `att` members' covariates, `atc` "
                         "non-members', `ato` the overlap population (weights e(1-e))", default="ate")
    estimands: list[str] = option("estimands computed beside the target, each under its own result keys (`dr_ato`)",
                                  default_factory=lambda: ["ato"])
    eta: float = option("propensities are clipped to [eta, 1-eta]", default=0.02)
    trim: bool = option("drop units outside [eta, 1-eta] instead of clipping", default=False)
    folds: int = option("cross-fitting folds", default=5)
    propensity: Literal["logistic", "hgb"] = option("propensity model: logistic regression or gradient boosting",
                                                    default="logistic")
    outcome: Literal["auto", "linear", "hgb", "distribution"] = option(
        "DR outcome model: `auto` chooses per score by cross-validated Brier score inside the cross-fitting among "
        "location-scale `linear`, location-scale gradient boosting `hgb` and `distribution` regression",
        default="auto")
    ebal_penalty: float = option("ridge penalty on the entropy-balancing dual (0: exact balance; > 0: approximate "
                                 "balance for many columns and few units, the residual imbalance is reported)",
                                 default=0.0)
    intervals: Literal["auto", "bootstrap", "influence"] = option(
        "how intervals are computed: `bootstrap` (stratified over units), `influence` (Gaussian draws of the "
        f"curves' influence functions on the grid: fast at large n), `auto` (influence above {INFLUENCE_ABOVE:,} units)",
        default="auto")
    refit_propensity: bool = option("refit the cross-fitted propensity inside each bootstrap replicate (slow)",
                                    default=False)
    bootstrap: int = option("bootstrap replicates for the 95% intervals (0: no intervals)", default=1000)
    fpr: list[float] = option("FPR targets of TPR@FPR", default_factory=lambda: [0.001, 0.01, 0.05])
    seed: int = option("seed of folds and bootstrap", default=0)
    jobs: int = option("parallel jobs (-1: every core the process may use)", default=-1)
    grid_size: int = option("thresholds of the doubly robust CDF grid", default=100)
    gamma_max: float = option("largest odds ratio the sensitivity analysis searches", default=20.0)
    dp_epsilon: float | None = option("the model's DP epsilon, if trained with DP (adds the DP sanity bound)",
                                      default=None)
    dp_delta: float = option("the model's DP delta", default=0.0)
    regime: Literal["zero-run", "one-run", "multi-run"] = option(
        "how membership was assigned (docs/method.md, Regimes)", default="zero-run")
    inclusion_p: float = option("one-run: the probability with which each text was included at random", default=0.5)
    inclusion: str | None = option("one-run: table (`id`, `p`) of per-text inclusion probabilities, in place of "
                                   "`inclusion_p`", default=None)

    def validate(self, where: str = "") -> "EstimateConfig":
        """Check every value; ``where`` prefixes the key in the message. Returns self."""
        from llm_audit.estimate.estimands import ESTIMANDS

        c = Checker(where)
        c.require(self.target in ESTIMANDS, "target", f"must be one of {', '.join(ESTIMANDS)}, got {self.target!r}")
        for i, name in enumerate(self.estimands):
            c.require(name in ESTIMANDS, f"estimands[{i}]", f"must be one of {', '.join(ESTIMANDS)}, got {name!r}")
        c.require(self.ebal_penalty >= 0, "ebal_penalty", f"must be >= 0, got {self.ebal_penalty}")
        c.require(self.intervals in INTERVALS, "intervals", f"must be one of {', '.join(INTERVALS)}, got {self.intervals!r}")
        # the estimator's own bound: eta = 0 leaves a propensity of 0 or 1 unclipped
        c.require(0 < self.eta < 0.5, "eta", f"must be in (0, 0.5), got {self.eta}")
        c.require(int(self.folds) == self.folds and self.folds >= 2, "folds", f"must be an integer >= 2, got {self.folds}")
        c.require(self.propensity in PROPENSITY_MODELS, "propensity",
                  f"must be one of {', '.join(PROPENSITY_MODELS)}, got {self.propensity!r}")
        c.require(self.outcome in OUTCOME_MODELS, "outcome", f"must be one of {', '.join(OUTCOME_MODELS)}, got {self.outcome!r}")
        c.require(int(self.bootstrap) == self.bootstrap and self.bootstrap >= 0, "bootstrap",
                  f"must be an integer >= 0, got {self.bootstrap}")
        c.require(len(self.fpr) > 0, "fpr", "must name at least one FPR target")
        for i, a in enumerate(self.fpr):
            c.require(0 < a < 1, f"fpr[{i}]", f"must be in (0, 1), got {a}")
        c.require(self.jobs != 0, "jobs", "must be a positive number of jobs or negative (-1: all cores), not 0")
        c.require(self.grid_size >= 10, "grid_size", f"must be >= 10, got {self.grid_size}")
        c.require(self.gamma_max > 1, "gamma_max", f"must be > 1, got {self.gamma_max}")
        c.require(self.dp_epsilon is None or self.dp_epsilon > 0, "dp_epsilon", f"must be positive, got {self.dp_epsilon}")
        c.require(0 <= self.dp_delta < 1, "dp_delta", f"must be in [0, 1), got {self.dp_delta}")
        c.require(0 < self.inclusion_p < 1, "inclusion_p", f"must be in (0, 1), got {self.inclusion_p}")
        c.require(self.inclusion is None or self.regime == "one-run", "inclusion", f"only for regime one-run, not {self.regime}")
        return self

    def with_(self, **changes: Any) -> "EstimateConfig":
        """A copy with some options changed (not validated: call ``validate``)."""
        return replace(self, **changes)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]
