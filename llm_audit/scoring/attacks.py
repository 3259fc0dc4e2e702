"""The membership-inference scores of SPEC §6: each a reduction of one text's per-token statistics.

Convention for every score: **higher = more likely member**. To add an attack, write a function
``(stats, text[, k]) -> float`` and add one line to ``ATTACKS``; it then appears in the CLI's ``--scores``,
in the cache and in the scores table.
"""

from __future__ import annotations

import math
import zlib
from typing import Callable, NamedTuple, Sequence

import numpy as np

from llm_audit.scoring.stats import TokenStats

DEFAULT_K = (0.1, 0.2, 0.5)


def loss(stats: TokenStats, text: str) -> float:
    """Mean log-prob of the text's tokens (minus the mean NLL)."""
    return float(np.mean(stats.logp)) if len(stats.logp) else math.nan


def zlib_ratio(stats: TokenStats, text: str) -> float:
    """Mean log-prob per byte of the zlib-compressed UTF-8 text: likelihood relative to generic redundancy."""
    return loss(stats, text) / len(zlib.compress(text.encode("utf-8")))


def n_smallest(n_scored: int, k: float) -> int:
    """ceil(k * n), at least 1. Rounded first so that e.g. 0.1 * 30 counts as 3, not 4 (binary floats)."""
    return max(1, math.ceil(round(k * n_scored, 9)))


def mink(stats: TokenStats, text: str, k: float) -> float:
    """Min-K% (Shi et al. 2024): mean log-prob of the k fraction of least likely tokens."""
    if not len(stats.logp):
        return math.nan
    return float(np.mean(np.sort(stats.logp)[: n_smallest(len(stats.logp), k)]))


def minkpp(stats: TokenStats, text: str, k: float) -> float:
    """Min-K%++ (Zhang et al. 2025): Min-K% on log-probs standardized by the next-token distribution."""
    if not len(stats.logp):
        return math.nan
    # A (near) one-hot next-token distribution has sigma = 0; the floor keeps z finite there.
    z = (stats.logp - stats.mean) / np.sqrt(np.maximum(stats.var, 1e-12))
    return float(np.mean(np.sort(z)[: n_smallest(len(z), k)]))


class Attack(NamedTuple):
    fn: Callable[..., float]
    uses_k: bool


ATTACKS: dict[str, Attack] = {
    "loss": Attack(loss, uses_k=False),
    "zlib": Attack(zlib_ratio, uses_k=False),
    "mink": Attack(mink, uses_k=True),
    "minkpp": Attack(minkpp, uses_k=True),
}


def column_name(attack: str, k: float | None = None) -> str:
    return attack if k is None else f"{attack}_{format(k, 'g')}"


def score_functions(attacks: Sequence[str], k_grid: Sequence[float]) -> dict[str, Callable[[TokenStats, str], float]]:
    """Column name -> function of (stats, text), for the chosen attacks and k grid, in table order."""
    out: dict[str, Callable[[TokenStats, str], float]] = {}
    for name in attacks:
        attack = ATTACKS[name]
        if attack.uses_k:
            for k in k_grid:
                out[column_name(name, k)] = lambda s, t, f=attack.fn, k=k: f(s, t, k)
        else:
            out[name] = attack.fn
    return out


# Scores that combine two passes (the text and its lowercased version; the target and a reference model).
def lowercase_ratio(loss_lowercased: float, loss_text: float) -> float:
    """NLL(lowercased) / NLL(text) as SPEC §6 defines it. Already higher = member: a memorized text has a
    small NLL that lowercasing (which breaks the memorized token sequence) raises."""
    return loss_lowercased / loss_text


def ref_difference(loss_target: float, loss_reference: float) -> float:
    """NLL_ref(text) - NLL_target(text): how much easier the text is for the target than for a reference."""
    return loss_target - loss_reference
