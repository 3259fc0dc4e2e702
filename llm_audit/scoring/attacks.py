"""The membership-inference scores of docs/method.md §8: each a reduction of one text's per-token statistics.

Convention for every score: **higher = more likely member**. To add an attack, write a function
``(stats, text[, k]) -> float`` and add one line to ``ATTACKS``; it then appears in the CLI's ``--scores``,
in the cache and in the scores table. An attack that needs side data (``needs``, e.g. DC-PDD's token
frequencies) is ``(stats, text, ids, data) -> float``, ``ids`` the scored token ids, and is computed only
when the runner is given that data.
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from llm_audit.scoring.frequencies import TokenFrequencies
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


def dcpdd(stats: TokenStats, text: str, ids: np.ndarray, reference: TokenFrequencies) -> float:
    """DC-PDD (Zhang et al. 2024): mean over the first occurrence of each scored token of
    min(p(x_i) * log(1 / f(x_i)), a), f the smoothed token frequency in a reference corpus.

    Sign: the authors' code (zhang-wei-chao/DC-PDD, com_det_sco.py) stores -mean(...) and ranks with
    roc_curve(label, -score), i.e. members have the larger mean; kept un-negated so higher = member."""
    if not len(ids):
        return math.nan
    _, first = np.unique(ids, return_index=True)
    calibrated = np.exp(stats.logp[first]) * reference.log_inverse[ids[first]]
    return float(np.mean(np.minimum(calibrated, reference.clip)))


class Attack(NamedTuple):
    fn: Callable[..., float]
    uses_k: bool
    needs: str | None = None  # the side data it needs (a key of the runner's ``extras``)


ATTACKS: dict[str, Attack] = {
    "loss": Attack(loss, uses_k=False),
    "zlib": Attack(zlib_ratio, uses_k=False),
    "mink": Attack(mink, uses_k=True),
    "minkpp": Attack(minkpp, uses_k=True),
    "dcpdd": Attack(dcpdd, uses_k=False, needs="frequencies"),
}

ScoreFunction = Callable[[TokenStats, str, np.ndarray], float]


def column_name(attack: str, k: float | None = None) -> str:
    return attack if k is None else f"{attack}_{format(k, 'g')}"


def available(extras: Mapping[str, Any]) -> list[str]:
    """The attacks computable with this side data, in registry order."""
    return [name for name, attack in ATTACKS.items() if attack.needs is None or attack.needs in extras]


def score_functions(
    attacks: Sequence[str], k_grid: Sequence[float], extras: Mapping[str, Any] | None = None
) -> dict[str, ScoreFunction]:
    """Column name -> function of (stats, text, scored token ids), for the chosen attacks and k grid, in
    table order. An attack whose side data is not in ``extras`` is left out."""
    extras = extras or {}
    out: dict[str, ScoreFunction] = {}
    for name in attacks:
        attack = ATTACKS[name]
        if attack.needs is not None:
            if attack.needs in extras:
                out[name] = lambda s, t, ids, f=attack.fn, x=extras[attack.needs]: f(s, t, ids, x)
        elif attack.uses_k:
            for k in k_grid:
                out[column_name(name, k)] = lambda s, t, ids, f=attack.fn, k=k: f(s, t, k)
        else:
            out[name] = lambda s, t, ids, f=attack.fn: f(s, t)
    return out


# Scores that combine two passes (the text and its lowercased version; the target and a reference model).
def lowercase_ratio(loss_lowercased: float, loss_text: float) -> float:
    """NLL(lowercased) / NLL(text) as docs/method.md §8 defines it. Already higher = member: a memorized text has a
    small NLL that lowercasing (which breaks the memorized token sequence) raises."""
    return loss_lowercased / loss_text


def ref_difference(loss_target: float, loss_reference: float) -> float:
    """NLL_ref(text) - NLL_target(text): how much easier the text is for the target than for a reference."""
    return loss_target - loss_reference


def recall_ratio(loss_conditional: float, loss_text: float) -> float:
    """ReCaLL (Xie et al. 2024): LL(text | non-member prefix) / LL(text), LL the mean token log-likelihood
    (negative), over the same tokens. Already higher = member: the paper finds that a non-member prefix
    lowers a member's LL more (so the ratio of two negatives grows past 1), and its code
    (ruoyuxie/recall, src/run.py and eval.py) ranks ``ll_nonmember / ll`` with roc_curve(label, score)."""
    return loss_conditional / loss_text
