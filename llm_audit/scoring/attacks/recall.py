"""ReCaLL (Xie et al. 2024): how much a non-member prefix changes the text's likelihood."""

from __future__ import annotations

from llm_audit.scoring.attacks.base import AttackInput, mean_logp, ratio


def recall(view: AttackInput, k: float | None = None) -> float:
    """LL(text | non-member prefix) / LL(text), LL the mean token log-likelihood (negative), over the same
    tokens. Already higher = member: the paper finds that a non-member prefix lowers a member's LL more (so
    the ratio of two negatives grows past 1), and its code (ruoyuxie/recall, src/run.py and eval.py) ranks
    ``ll_nonmember / ll`` with roc_curve(label, score)."""
    return ratio(mean_logp(view.passes["prefixed"]), mean_logp(view.main))
