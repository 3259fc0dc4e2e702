"""Step 3: the zero-run causal estimator (SPEC §4-§5). Imports neither torch nor transformers."""

from llm_audit.estimate.diagnostics import OverlapThresholds
from llm_audit.estimate.results import Estimates
from llm_audit.estimate.zero_run import estimate

__all__ = ["Estimates", "OverlapThresholds", "estimate"]
