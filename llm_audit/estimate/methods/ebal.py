"""Entropy-balancing weighting: each arm re-weighted by the weights that reproduce the target population's mean
of every design column exactly (Hainmueller 2012; ``balancing.py``), in place of inverse propensities
(docs/estimands.md, "Entropy balancing"). Consistent for the mean when the outcome is linear in the design
columns; for ATT also when the propensity's log-odds is (Zhao and Percival 2017). No propensity model is fit."""

from __future__ import annotations

from llm_audit.estimate.estimands import Estimand
from llm_audit.estimate.methods.base import Problem
from llm_audit.estimate.methods.weighted import WeightedFit


class EntropyBalancing:
    name = "ebal"
    needs_propensity = True

    def supports(self, estimand: Estimand) -> bool:
        return estimand.balanceable

    def fit(self, problem: Problem) -> WeightedFit:
        return WeightedFit(problem, problem.balance.weights)
