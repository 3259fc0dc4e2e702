"""What every attack is and what it reads: one text's per-token statistics in the passes it asked for."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

if TYPE_CHECKING:  # stats.py needs torch; the registry must not
    from llm_audit.scoring.stats import TokenStats


@dataclass(frozen=True)
class AttackInput:
    """One text as the attacks see it.

    ``passes``: per pass the attack asked for, the text's ``TokenStats`` (float64 arrays with one entry per
    scored token, in text order; empty for a text of fewer than 2 tokens). ``ids``: the scored token ids of
    the main pass (every token but the first), aligned with ``passes["main"]``. ``side``: the prepared side
    data (``dcpdd_reference``: a ``TokenFrequencies``; ``reference``: the reference model)."""

    passes: Mapping[str, TokenStats]
    text: str
    ids: np.ndarray
    side: Mapping[str, Any] = field(default_factory=dict)

    @property
    def main(self) -> TokenStats:
        return self.passes["main"]


@dataclass(frozen=True)
class Attack:
    """A membership score ``fn(view, k) -> float``: higher = more likely member, NaN when the text has no
    scored token. ``passes``: the passes it reads (their side data comes with them, see ``PASSES``);
    ``uses_k``: computed once per k of the grid (columns ``<name>_<k>``), else called with ``k=None``;
    ``needs``: side data ``fn`` reads itself from ``view.side`` (its ``key()`` enters the cache key);
    ``units``: what one unit of the score is, for the report (a mean difference is printed in them)."""

    fn: Callable[[AttackInput, float | None], float]
    passes: tuple[str, ...] = ("main",)
    uses_k: bool = False
    needs: tuple[str, ...] = ()
    units: str = ""


def mean_logp(stats: TokenStats) -> float:
    """Mean log-prob of the scored tokens (minus the mean NLL); NaN when there is none."""
    return float(np.mean(stats.logp)) if len(stats.logp) else math.nan


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator in IEEE arithmetic: inf or NaN, not an exception, when the denominator is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(numerator) / np.float64(denominator))
