"""Step 1: score texts under a causal LM (every MIA score from one batched pass), cached and resumable."""

from llm_audit.scoring.attacks import ATTACKS, DEFAULT_K
from llm_audit.scoring.model import LoadedModel, load_model, wrap_model
from llm_audit.scoring.runner import score_corpus

__all__ = ["ATTACKS", "DEFAULT_K", "LoadedModel", "load_model", "score_corpus", "wrap_model"]
