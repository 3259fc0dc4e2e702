"""What the randomized regimes share: the metrics of one (weighted) member / non-member comparison, input
checks, and the results built from bootstrap replicates."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from llm_audit.corpus import label_value
from llm_audit.errors import AuditError, plain
from llm_audit.estimate.design import score_columns
from llm_audit.estimate.metrics import (
    MIN_NONMEMBERS_ABOVE,
    advantage,
    curve_auc,
    effective_nonmembers_above,
    roc_curve_weighted,
    tpr_at_fpr_index,
    weighted_mean_diff,
)
from llm_audit.estimate.results import UNRELIABLE, Result, Value, fpr_key

DEFAULT_FPR = (0.001, 0.01, 0.05)

NO_INTERFERENCE = (
    "no interference (stability): a unit's score depends only on its own inclusion, not on which other "
    "units were trained on"
)


def finite_score_columns(df: pd.DataFrame, requested: Sequence[str] | None) -> list[str]:
    """The score columns (the step-1 contract), refusing a missing or infinite score by row."""
    cols = score_columns(df, list(requested) if requested else None)
    for col in cols:
        bad = np.flatnonzero(~np.isfinite(df[col].to_numpy(dtype=float)))
        if bad.size:
            raise AuditError(f"scores table: row {bad[0] + 1}, column '{col}': score is missing or not finite")
    return cols


def randomized_metrics(
    score: np.ndarray, member: np.ndarray, weight: np.ndarray | None = None, *, fpr: Sequence[float] = DEFAULT_FPR
) -> dict[str, Any]:
    """AUC, TPR@FPR (with the effective non-members above its threshold), advantage and mean difference of
    members vs non-members, from one weighted ROC curve with the project's shared metric functions.

    The AUC is the trapezoid area of the full curve (every distinct score a point), which is the weighted
    Mann-Whitney statistic with ties counted 1/2; one sort per call keeps the bootstrap cheap.
    """
    curve = roc_curve_weighted(score, member, weight)
    return {
        "auc": curve_auc(curve.fpr, curve.tpr),
        "advantage": advantage(curve.fpr, curve.tpr),
        "mean_diff": weighted_mean_diff(score, member, weight),
        "tpr_at_fpr": tpr_entries(curve, score, member, weight, fpr),
    }


def tpr_entries(curve: Any, score: np.ndarray, member: np.ndarray, weight: np.ndarray | None,
                fpr: Sequence[float]) -> dict[str, dict[str, float]]:
    """TPR@FPR per target read off a weighted ROC ``curve`` (the project's rule: the largest TPR with FPR <= a),
    with the effective number of non-members above its threshold (0 at the curve's origin)."""
    tprs = {}
    for a in fpr:
        k = tpr_at_fpr_index(curve.fpr, a)
        n_eff = effective_nonmembers_above(score, member, weight, curve.thresholds[k]) if k > 0 else 0.0
        tprs[fpr_key(a)] = {"value": float(curve.tpr[k]), "n_eff_nonmember_above": n_eff}
    return tprs


def _interval(values: np.ndarray, level: float) -> list[float] | None:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def causal_result(point: dict[str, Any], reps: list[dict[str, Any]], level: float, method: str = "causal") -> Result:
    """A ``Result`` over the pool (estimand ate): each value paired with its bootstrap percentile interval."""
    def value(v: float, boot: list[float], **extra: Any) -> Value:
        ci = _interval(np.array(boot, dtype=float), level)
        return Value(v, ci, ci_method="bootstrap percentile" if ci is not None else None, **extra)

    tpr = {}
    for key, entry in point["tpr_at_fpr"].items():
        n_eff = entry["n_eff_nonmember_above"]
        tpr[key] = value(entry["value"], [r["tpr_at_fpr"][key]["value"] for r in reps], n_eff=n_eff,
                         flags=[UNRELIABLE] if n_eff < MIN_NONMEMBERS_ABOVE else [])
    return Result(method, "ate", "all", value(point["auc"], [r["auc"] for r in reps]), tpr,
                  value(point["advantage"], [r["advantage"] for r in reps]),
                  value(point["mean_diff"], [r["mean_diff"] for r in reps]))


def membership(values: pd.Series, name: str) -> np.ndarray:
    """The ``member`` column as 0/1, read as the corpus reads labels (``corpus.label_value``)."""
    member = values.map(label_value)
    bad = np.flatnonzero(member.isna().to_numpy())
    if bad.size:
        raise AuditError(f"{name}: row {bad[0] + 1}, column 'member': expected 0 or 1, got {plain(values.iloc[bad[0]])!r}")
    return member.to_numpy(dtype=int)


def require(df: pd.DataFrame, cols: Sequence[str], name: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise AuditError(f"{name}: no '{missing[0]}' column (columns: {', '.join(map(str, df.columns))})")


def require_both_arms(member: np.ndarray, name: str) -> None:
    if member.min() == member.max():
        raise AuditError(f"{name}: every row has member = {member[0]}; need members and non-members")


def unit_probabilities(ids: pd.Series, p: pd.Series) -> np.ndarray:
    """``p`` looked up for every id, refusing a missing id or a p outside (0, 1)."""
    probs = ids.map(p).to_numpy(dtype=float)
    missing = np.flatnonzero(np.isnan(probs))
    if missing.size:
        raise AuditError(f"inclusion probabilities: {missing.size} ids of the scores have none, "
                         f"e.g. id {ids.iloc[missing[0]]!r}")
    bad = np.flatnonzero(~((probs > 0) & (probs < 1)))
    if bad.size:
        raise AuditError(f"inclusion probabilities: id {ids.iloc[bad[0]]!r} has p = {probs[bad[0]]}; need 0 < p < 1")
    return probs


def inclusion_probabilities(table: pd.DataFrame, name: str = "inclusion probabilities") -> pd.Series:
    """Per-unit inclusion probabilities of a one-run design from a table with ``id`` and ``p``."""
    require(table, ["id", "p"], name)
    dup = table["id"].duplicated()
    if dup.any():
        raise AuditError(f"{name}: id {plain(table['id'][dup].iloc[0])!r} appears more than once")
    p = pd.to_numeric(table["p"], errors="coerce")
    bad = np.flatnonzero(~((p > 0) & (p < 1)).to_numpy())
    if bad.size:
        raise AuditError(f"{name}: row {bad[0] + 1}, column 'p': need 0 < p < 1, got {plain(table['p'].iloc[bad[0]])!r}")
    return pd.Series(p.to_numpy(dtype=float), index=table["id"].astype(str))
