"""Step 3: the zero-run causal estimator and the randomized regimes (docs/method.md §4-§7).

Imports neither torch nor transformers."""

from llm_audit.estimate.diagnostics import OverlapThresholds
from llm_audit.estimate.regimes import RegimeEstimates, inclusion_probabilities, multi_run, one_run
from llm_audit.estimate.results import Estimates
from llm_audit.estimate.zero_run import estimate

__all__ = ["Estimates", "OverlapThresholds", "RegimeEstimates", "estimate", "inclusion_probabilities", "multi_run",
           "one_run"]
