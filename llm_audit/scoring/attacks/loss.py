"""LOSS (Yeom et al. 2018): the text's mean log-likelihood."""

from __future__ import annotations

from llm_audit.scoring.attacks.base import AttackInput, mean_logp


def loss(view: AttackInput, k: float | None = None) -> float:
    """Mean log-prob of the text's tokens (minus the mean NLL)."""
    return mean_logp(view.main)
