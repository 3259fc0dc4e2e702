"""Inverse propensity weighting: each arm re-weighted to the target population by the estimand's residual
weights r(e), Hajek-normalized within the arm (docs/method.md, "IPW")."""

from __future__ import annotations

from llm_audit.estimate.methods.base import Problem
from llm_audit.estimate.methods.weighted import WeightedFit
from llm_audit.estimate.weights import hajek


class IPW:
    name = "ipw"
    needs_propensity = True
    weights = "propensity"  # whose balance the verdict checks (estimate.balance); None: unweighted

    def supports(self, estimand) -> bool:
        return True

    def fit(self, problem: Problem) -> WeightedFit:
        r = problem.estimand.residual_weights(problem.e, problem.member)
        return WeightedFit(problem, hajek(r, problem.member))
