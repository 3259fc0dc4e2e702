"""The randomized regimes: inclusion was assigned at random, so the member / non-member comparison is itself
causal and no propensity model is needed."""

from llm_audit.estimate.regimes.multi_run import multi_run
from llm_audit.estimate.regimes.one_run import one_run
from llm_audit.estimate.regimes.paired import paired
from llm_audit.estimate.regimes.randomized import inclusion_probabilities, randomized_metrics

__all__ = ["inclusion_probabilities", "multi_run", "one_run", "paired", "randomized_metrics"]
