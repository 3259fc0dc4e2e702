"""Score distributions per arm, naive and weighted: what the correction did to each score (a step-3 diagnostic).

For every score, the density of members and of non-members on shared bins, once with unit weights (the
comparison the naive AUC makes) and once with the corrected weights (the Hajek-normalized residual weights of
the target estimand on the corrected population, the comparison the IPW AUC makes). Membership-inference
papers show the first (MIMIR, Privacy Meter); the second shows how far the weighting moved the two arms
toward each other. The report only draws these numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from llm_audit.estimate.estimands import Estimand
from llm_audit.estimate.nuisance import Nuisance
from llm_audit.estimate.weights import hajek

MAX_BINS = 30  # Rice rule 2 n^(1/3) bins, at least 10 and at most this
TAIL = 0.005  # the bins span the 0.5% to 99.5% quantiles; the few texts beyond count in the outer bins


def arm_densities(score: np.ndarray, member: np.ndarray, edges: np.ndarray,
                  weight: np.ndarray | None = None) -> dict[str, list[float]]:
    """Density of each arm on ``edges`` (each arm integrates to 1): ``{"member": [...], "nonmember": [...]}``.
    Scores outside the edges count in the outer bins; ``weight`` (one per unit) defaults to equal weights."""
    s = np.clip(np.asarray(score, dtype=float), edges[0], edges[-1])
    t = np.asarray(member).astype(bool)
    w = np.ones(len(s)) if weight is None else np.asarray(weight, dtype=float)
    width = np.diff(edges)
    out = {}
    for arm, rows in (("member", t), ("nonmember", ~t)):
        mass, _ = np.histogram(s[rows], bins=edges, weights=w[rows])
        total = mass.sum()
        out[arm] = (mass / total / width).tolist() if total > 0 else [0.0] * len(width)
    return out


def score_distributions(scores: dict[str, np.ndarray], member: np.ndarray, nuisance: Nuisance | None,
                        estimand: Estimand, bins: int | None = None) -> dict[str, dict[str, Any] | None]:
    """``{score: {"edges", "outside", "naive", "weighted"}}`` (None for a score with fewer than two distinct
    values). ``naive`` and ``weighted`` are ``arm_densities``; ``weighted`` also names its ``population``
    ("all", "trimmed" or "overlap") and is None where no corrected population exists. ``outside``: how many
    texts lie beyond the edges (drawn in the outer bins). ``bins`` defaults to the Rice rule, 2 n^(1/3), between
    10 and ``MAX_BINS``: enough to show a shape, few enough that a bin holds several texts."""
    t = np.asarray(member).astype(int)
    bins = bins or int(np.clip(round(2 * len(t) ** (1 / 3)), 10, MAX_BINS))
    pop = nuisance.corrected if nuisance is not None else None
    weights = None
    if pop is not None:
        tp = t[pop.rows]
        weights = hajek(estimand.residual_weights(nuisance.overlap.e[pop.rows], tp), tp)
    out: dict[str, dict[str, Any] | None] = {}
    for name, s in scores.items():
        s = np.asarray(s, dtype=float)
        lo, hi = np.quantile(s, [TAIL, 1 - TAIL])
        if not hi > lo:
            lo, hi = float(s.min()), float(s.max())
        if not hi > lo:
            out[name] = None
            continue
        edges = np.linspace(lo, hi, bins + 1)
        entry: dict[str, Any] = {
            "edges": edges.tolist(),
            "outside": {"below": int((s < lo).sum()), "above": int((s > hi).sum())},
            "naive": arm_densities(s, t, edges),
            "weighted": None,
        }
        if pop is not None:
            entry["weighted"] = {**arm_densities(s[pop.rows], t[pop.rows], edges, weights),
                                 "population": pop.label, "estimand": estimand.name}
        out[name] = entry
    return out
