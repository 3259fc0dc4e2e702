"""The naive contrast: members vs non-members as they are, what benchmarks print (docs/method.md, "Metrics")."""

from __future__ import annotations

from llm_audit.estimate.methods.base import Problem
from llm_audit.estimate.methods.weighted import WeightedFit


class Naive:
    name = "naive"
    needs_propensity = False
    weights = None  # whose balance the verdict checks (estimate.balance); None: unweighted

    def supports(self, estimand) -> bool:
        return True

    def fit(self, problem: Problem) -> WeightedFit:
        return WeightedFit(problem, None)
