"""Doubly robust CDFs and mean with entropy-balancing weights in the residual term (docs/estimands.md):
F_t(c) = sum_i h_i mu_t(X_i, c) / sum_i h_i + sum_{i in arm t} w_i (1{S_i >= c} - mu_t(X_i, c)), w the arm's
balancing weights summing to 1 (``balancing.py``). Consistent when the outcome model is right or the balancing
weights carry the arm to the target population (for ATT: the propensity's log-odds linear in the design
columns); the propensity model is not used. The machinery is ``dr.py``'s."""

from __future__ import annotations

from llm_audit.estimate.estimands import Estimand
from llm_audit.estimate.methods.base import Problem
from llm_audit.estimate.methods.dr import DRFit


class DREntropyBalancing:
    name = "dr_ebal"
    needs_propensity = True
    outcome_model = True  # corrects, by its outcome model, what the weights leave unbalanced

    def supports(self, estimand: Estimand) -> bool:
        return estimand.balanceable

    def fit(self, problem: Problem) -> DRFit:
        return DRFit(problem, "ebal")
