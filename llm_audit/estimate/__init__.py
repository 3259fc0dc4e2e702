"""Step 3: the zero-run causal estimator and the randomized regimes. Imports neither torch nor transformers."""

from llm_audit.estimate.estimands import ESTIMANDS, Estimand
from llm_audit.estimate.methods import METHODS
from llm_audit.estimate.options import EstimateConfig
from llm_audit.estimate.regimes import inclusion_probabilities, multi_run, one_run
from llm_audit.estimate.results import Estimates, Result, Value
from llm_audit.estimate.verdict import OverlapThresholds
from llm_audit.estimate.zero_run import ZeroRunEstimator, estimate

__all__ = ["ESTIMANDS", "METHODS", "EstimateConfig", "Estimand", "Estimates", "OverlapThresholds", "Result", "Value",
           "ZeroRunEstimator", "estimate", "inclusion_probabilities", "multi_run", "one_run"]
