"""Reference model (Carlini et al. 2021): the target's likelihood against an independent model's."""

from __future__ import annotations

from llm_audit.scoring.attacks.base import AttackInput, mean_logp


def ref(view: AttackInput, k: float | None = None) -> float:
    """NLL_ref(text) - NLL_target(text) (each model with its own tokenizer): how much easier the text is for
    the audited model than for the reference."""
    return mean_logp(view.main) - mean_logp(view.passes["reference"])
