"""zlib (Carlini et al. 2021): likelihood relative to the text's generic redundancy."""

from __future__ import annotations

import zlib

from llm_audit.scoring.attacks.base import AttackInput, mean_logp


def zlib_ratio(view: AttackInput, k: float | None = None) -> float:
    """Mean log-prob per byte of the zlib-compressed UTF-8 text."""
    return mean_logp(view.main) / len(zlib.compress(view.text.encode("utf-8")))
