"""What every refuter sees and returns (docs/refuters.md).

A refuter asks one question of a corrected estimate whose answer is known when the correction works: a placebo
comes out at chance, an irrelevant covariate changes nothing, half the data tells the same story. It returns one
``RefuterRow`` per score (or one for the audit): the statistic, the pass rule with its threshold, and whether it
passed (``None`` when the check is reported only, or could not run: ``detail`` says why). Rows are plain data, so
the JSON, the reports and the verdict read them alike, and a new refuter adds rows without touching them.

In ``estimates.json`` (``diagnostics.refuters``) a row is ``{refuter, question, score, statistic, value, rule,
passed, detail, values}``: ``statistic`` is the figure as printed ("corrected AUC 0.512"), ``value`` the number.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from llm_audit.estimate.design import AuditData
from llm_audit.estimate.estimands import Estimand
from llm_audit.estimate.metrics import weighted_auc, weighted_auc_se
from llm_audit.estimate.nuisance import Nuisance, Population
from llm_audit.estimate.options import EstimateConfig
from llm_audit.estimate.seeds import Seeds
from llm_audit.estimate.weights import hajek


@dataclass
class RefuterRow:
    """One line of the refuter table."""

    refuter: str  # registry name, e.g. "negative_control"
    question: str  # what it asks, in words
    score: str | None  # the score it was run on; None for a check of the whole audit
    statistic_name: str
    value: float | None  # the statistic; None when the check did not run
    rule: str  # the pass rule, with the threshold this audit gets
    passed: bool | None  # None: reported only, or not run
    detail: str = ""  # what a failure means, or why the check did not run
    values: dict[str, Any] = field(default_factory=dict)  # further numbers a refuter reports (machine-readable)

    @property
    def statistic(self) -> str:
        """The statistic as printed: its name and value, or why it is missing."""
        return f"{self.statistic_name} {self.value:.3f}" if self.value is not None else (self.detail or "not computed")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["statistic_name"]
        return {**out, "statistic": self.statistic}


@dataclass
class Context:
    """The estimate as the refuters see it: the corrected population, its IPW weights, and per score the IPW AUC
    and its standard error. ``refits`` holds the propensity refits some refuters share (each made at most once
    per audit, whatever the number of scores)."""

    data: AuditData
    nuisance: Nuisance
    estimand: Estimand
    population: Population
    options: EstimateConfig
    seeds: Seeds
    refits: Any  # refits.Refits
    naive_auc: dict[str, float]
    # per score, its cross-fitted prognostic scores {name: m_0(x) (n,)} (OutcomeFit.prognostic_scores)
    prognostic: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # per score, every method's Result by key
    replicates: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # per score and key, AUC replicates (B,)
    weights: np.ndarray = field(init=False)  # (len(population.rows),) Hajek weights
    auc: dict[str, float] = field(init=False)  # IPW AUC on the population, per score
    se: dict[str, float] = field(init=False)  # its standard error (weights fixed; clustered by document)

    def __post_init__(self) -> None:
        rows, t = self.population.rows, self.data.member
        self.weights = self.ipw_weights(self.nuisance.overlap.e[rows], rows)
        self.auc, self.se = {}, {}
        for name, s in self.data.scores.items():
            self.auc[name] = weighted_auc(s[rows], t[rows], self.weights)
            self.se[name] = self.auc_se(s)

    @property
    def groups(self) -> np.ndarray | None:
        """The document of each unit of the population (None when units are independent)."""
        return None if self.data.groups is None else self.data.groups[self.population.rows]

    def auc_se(self, values: np.ndarray) -> float:
        """SE of the weighted AUC of ``values`` (n,) on the population, clustered by document when there are groups."""
        rows = self.population.rows
        return weighted_auc_se(values[rows], self.data.member[rows], self.weights, self.groups)

    def ipw_weights(self, e: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Hajek-normalized residual weights of the estimand for propensities ``e`` of units ``rows``."""
        t = self.data.member[rows]
        return hajek(self.estimand.residual_weights(e, t), t)


class Refuter(Protocol):
    name: str
    question: str

    def run(self, ctx: Context) -> list[RefuterRow]: ...
