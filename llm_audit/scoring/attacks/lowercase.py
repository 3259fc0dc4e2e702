"""Lowercase (Carlini et al. 2021): how much lowercasing, which breaks a memorized token sequence, costs."""

from __future__ import annotations

from llm_audit.scoring.attacks.base import AttackInput, mean_logp, ratio


def lowercase(view: AttackInput, k: float | None = None) -> float:
    """NLL(lowercased text) / NLL(text), as docs/method.md §8 defines it (the ratio of the two mean log-probs, both
    negative). Already higher = member: a memorized text has a small NLL that lowercasing raises."""
    return ratio(mean_logp(view.passes["lowercased"]), mean_logp(view.main))
