"""Step 1: score texts under a causal LM (every MIA score from one batched pass per named pass), cached and
resumable.

The names below load on first use: ``llm_audit.scoring.attacks`` (the registry of attacks) imports no torch,
so the torch-free config can validate score names against it without loading the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_audit.scoring.attacks import ATTACKS, DEFAULT_K
    from llm_audit.scoring.model import LoadedModel, load_model, wrap_model
    from llm_audit.scoring.options import ModelConfig, ScoringConfig
    from llm_audit.scoring.runner import score_corpus

_HOMES = {"ATTACKS": "attacks", "DEFAULT_K": "attacks", "LoadedModel": "model", "load_model": "model",
          "wrap_model": "model", "ModelConfig": "options", "ScoringConfig": "options", "score_corpus": "runner"}

__all__ = ["ATTACKS", "DEFAULT_K", "LoadedModel", "ModelConfig", "ScoringConfig", "load_model", "score_corpus",
           "wrap_model"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"llm_audit.scoring.{_HOMES[name]}"), name)
