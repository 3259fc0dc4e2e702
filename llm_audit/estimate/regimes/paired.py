"""Regime `paired` (docs/method.md, "Model pairs"): two models trained identically except that one of them saw a set of texts.

Model A ("with") saw the inserted texts, model B ("without") did not; both share one tokenizer. For every
inserted text i both potential scores are then observed: S_i(1) under A, S_i(0) under B. The oracle is
defined on the inserted texts, the only ones for which both exist:

- causal AUC = P(S_i(1) > S_j(0)) + 1/2 P(S_i(1) = S_j(0)) over pairs i != j of inserted texts (the
  two-sample Mann-Whitney statistic on the two columns, without the n pairs i = j, so it is an unbiased
  U-statistic for two texts drawn independently from the inserted set);
- TPR@FPR=a and the advantage from the two empirical survival functions F_1(c) = share of S(1) >= c and
  F_0(c) = share of S(0) >= c, with the project's rule (the largest TPR among ROC points with FPR <= a);
- mean memorization E[S(1) - S(0)] and the per-text effect tau_i = S_i(1) - S_i(0);
- percentile intervals from a bootstrap over texts (a text keeps both of its scores).

Texts that neither model saw (in a pair built around an inserted set, the held-out candidates) have two
S(0)-like scores; their "AUC" of A's scores against B's measures how far the two models differ apart from
the insertion (training noise, interference), and is reported as a `control` block, never as memorization.

The estimate layer: no torch, no transformers.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from llm_audit.errors import AuditError, plain
from llm_audit.estimate.design import score_columns
from llm_audit.estimate.metrics import (
    advantage,
    curve_auc,
    effective_nonmembers_above,
    roc_curve_weighted,
    tpr_at_fpr_index,
)
from llm_audit.estimate.provenance import provenance
from llm_audit.estimate.regimes.randomized import DEFAULT_FPR, causal_result
from llm_audit.estimate.results import Estimates, Result, fpr_key
ASSUMPTIONS = [
    "the two models were trained identically (initialization, data order, seed, steps) except for the inserted "
    "texts, so a text's score difference between them is the effect of its inclusion",
    "each inserted text's S(1) was produced with every other inserted text also in training: the oracle is the "
    "effect of inclusion alongside the whole inserted set (interference among inserted texts is part of it)",
]


# ---- the metrics of one pair of columns ------------------------------------------------------------------------


def paired_auc(s1: np.ndarray, s0: np.ndarray, weight: np.ndarray | None = None) -> float:
    """P(S_i(1) > S_j(0)) + 1/2 ties over i != j: the two-column Mann-Whitney statistic without its diagonal.

    ``weight`` are frequency weights (bootstrap multiplicities c_i): the statistic is then that of the sample
    in which text i appears c_i times, i.e. sum_{i,j} c_i c_j k_ij - sum_i c_i k_ii over N^2 - N pairs, N = sum c
    (two copies of one text are two different units of the resample).
    """
    s1 = np.asarray(s1, dtype=float)
    s0 = np.asarray(s0, dtype=float)
    c = np.ones_like(s1) if weight is None else np.asarray(weight, dtype=float)
    n = c.sum()
    if n < 2:
        return float("nan")
    curve = roc_curve_weighted(np.r_[s1, s0], np.r_[np.ones(len(s1)), np.zeros(len(s0))], np.r_[c, c])
    all_pairs = curve_auc(curve.fpr, curve.tpr) * n * n  # sum_{i,j} c_i c_j k(s1_i, s0_j)
    diagonal = np.sum(c * ((s1 > s0) + 0.5 * (s1 == s0)))
    return float((all_pairs - diagonal) / (n * n - n))


def paired_metrics(
    s1: np.ndarray, s0: np.ndarray, weight: np.ndarray | None = None, *, fpr: Sequence[float] = DEFAULT_FPR
) -> dict[str, Any]:
    """AUC (i != j), TPR@FPR (with the count of S(0) values above its threshold), advantage and mean
    memorization of one score's two columns; ``weight`` as in ``paired_auc``."""
    s1 = np.asarray(s1, dtype=float)
    s0 = np.asarray(s0, dtype=float)
    c = np.ones_like(s1) if weight is None else np.asarray(weight, dtype=float)
    scores = np.r_[s1, s0]
    labels = np.r_[np.ones(len(s1)), np.zeros(len(s0))]
    weights = np.r_[c, c]
    curve = roc_curve_weighted(scores, labels, weights)
    tprs = {}
    for a in fpr:
        k = tpr_at_fpr_index(curve.fpr, a)
        n_above = effective_nonmembers_above(scores, labels, weights, curve.thresholds[k]) if k > 0 else 0.0
        tprs[fpr_key(a)] = {"value": float(curve.tpr[k]), "n_eff_nonmember_above": n_above}
    return {
        "auc": paired_auc(s1, s0, c),
        "advantage": advantage(curve.fpr, curve.tpr),
        "mean_diff": float(np.average(s1 - s0, weights=c)),
        "tpr_at_fpr": tprs,
    }


def bootstrap_blocks(
    s1: dict[str, np.ndarray], s0: dict[str, np.ndarray], *, fpr: Sequence[float], n_bootstrap: int,
    level: float, rng: np.random.Generator,
) -> tuple[dict[str, Result], int]:
    """Per score the oracle ``Result`` with percentile intervals from ``n_bootstrap`` resamples of the texts
    (multiplicities drawn once per replicate and shared by every score), and the replicate count."""
    n = len(next(iter(s1.values())))
    reps: dict[str, list[dict[str, Any]]] = {name: [] for name in s1}
    for _ in range(n_bootstrap):
        counts = np.bincount(rng.integers(n, size=n), minlength=n).astype(float)
        keep = counts > 0
        for name in s1:
            reps[name].append(paired_metrics(s1[name][keep], s0[name][keep], counts[keep], fpr=fpr))
    blocks = {name: causal_result(paired_metrics(s1[name], s0[name], fpr=fpr), reps[name], level, method="oracle")
              for name in s1}
    return blocks, n_bootstrap


# ---- the regime ------------------------------------------------------------------------------------------------


def _strata_blocks(strata: pd.Series, ids: pd.Index, inside: np.ndarray, columns: Any, *, fpr: Sequence[float],
                   n_bootstrap: int, level: float, rng: np.random.Generator) -> tuple[dict[str, dict], list[str]]:
    """One oracle block per stratum label over its inserted texts (``inside``: their rows), and a note for
    each label with fewer than 2 inserted texts; AuditError for an id without a label."""
    labels = pd.Series(strata).set_axis(pd.Series(strata).index.astype(str)).reindex(ids)
    if labels.isna().any():
        raise AuditError(f"strata: no value for id {labels.index[labels.isna()][0]!r}")
    per_stratum, notes = {}, []
    for level_value in sorted(pd.unique(labels.iloc[inside]), key=str):
        rows = inside[labels.iloc[inside].to_numpy() == level_value]
        if rows.size < 2:
            notes.append(f"stratum {level_value!s}: {rows.size} inserted text, no block")
            continue
        per_stratum[str(level_value)], _ = bootstrap_blocks(*columns(rows), fpr=fpr, n_bootstrap=n_bootstrap,
                                                            level=level, rng=rng)
    return per_stratum, notes


def _per_unit(with_: pd.DataFrame, without: pd.DataFrame, flag: np.ndarray, cols: Sequence[str]) -> pd.DataFrame:
    """Per text: inserted flag, both potential scores and tau_i = S_i(1) - S_i(0) per score (for texts neither
    model saw, the pair's difference without insertion)."""
    per_unit = pd.DataFrame({"id": with_.index.to_numpy(), "inserted": flag})
    for c in cols:
        s1 = with_[c].to_numpy(dtype=float)
        s0 = without[c].to_numpy(dtype=float)
        per_unit[f"s1_{c}"] = s1
        per_unit[f"s0_{c}"] = s0
        per_unit[c] = s1 - s0
    return per_unit


def _indexed(table: pd.DataFrame, name: str) -> pd.DataFrame:
    if "id" not in table.columns:
        raise AuditError(f"{name}: no 'id' column (columns: {', '.join(map(str, table.columns))})")
    ids = table["id"].astype(str)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise AuditError(f"{name}: id {dup.iloc[0]!r} appears more than once")
    return table.set_axis(ids, axis=0)


def _inserted(with_: pd.DataFrame, inserted: pd.Series | None) -> np.ndarray:
    if inserted is None:
        if "member" not in with_.columns:
            raise AuditError("scores (model with the texts): no 'member' column saying which texts that model saw; "
                             "pass inserted= (a 0/1 Series indexed by id)")
        values = with_["member"]
        source = "scores (model with the texts), column 'member'"
    else:
        values = pd.Series(inserted).set_axis(pd.Series(inserted).index.astype(str)).reindex(with_.index)
        source = "inserted"
        missing = values.index[values.isna()]
        if len(missing):
            raise AuditError(f"inserted: no value for id {missing[0]!r}")
    flag = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero(~flag.isin([0, 1]).to_numpy())
    if bad.size:
        raise AuditError(f"{source}: id {with_.index[bad[0]]!r}: expected 0 or 1, got {plain(values.iloc[bad[0]])!r}")
    return flag.to_numpy(dtype=int)


def _aligned(scores_with: pd.DataFrame, scores_without: pd.DataFrame, requested: Sequence[str] | None):
    with_ = _indexed(scores_with, "scores (model with the texts)")
    without = _indexed(scores_without, "scores (model without them)")
    only = with_.index.difference(without.index)
    if len(only):
        raise AuditError(f"scores (model without them): no row for id {only[0]!r} ({len(only)} id(s) scored under "
                         "one model only); score the same corpus under both models")
    only = without.index.difference(with_.index)
    if len(only):
        raise AuditError(f"scores (model with the texts): no row for id {only[0]!r} ({len(only)} id(s) scored "
                         "under one model only); score the same corpus under both models")
    without = without.loc[with_.index]
    cols = score_columns(scores_with, list(requested) if requested else None)
    missing = [c for c in cols if c not in without.columns]
    if missing:
        raise AuditError(f"scores (model without them): no column '{missing[0]}' (the two tables need the same scores)")
    if "n_tokens" in with_.columns and "n_tokens" in without.columns:
        differ = np.flatnonzero(with_["n_tokens"].to_numpy() != without["n_tokens"].to_numpy())
        if differ.size:
            i = differ[0]
            raise AuditError(f"scores: id {with_.index[i]!r} has {plain(with_['n_tokens'].iloc[i])} tokens under one "
                             f"model and {plain(without['n_tokens'].iloc[i])} under the other: a pair needs one "
                             "tokenizer")
    for table, name in ((with_, "scores (model with the texts)"), (without, "scores (model without them)")):
        for col in cols:
            bad = np.flatnonzero(~np.isfinite(table[col].to_numpy(dtype=float)))
            if bad.size:
                raise AuditError(f"{name}: id {table.index[bad[0]]!r}, column '{col}': score is missing or not finite")
    return with_, without, cols


def paired(
    scores_with: pd.DataFrame,
    scores_without: pd.DataFrame,
    *,
    inserted: pd.Series | None = None,
    strata: pd.Series | None = None,
    scores: Sequence[str] | None = None,
    fpr: Sequence[float] = DEFAULT_FPR,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Estimates:
    """The oracle metrics of a model pair (docs/method.md, "Model pairs"): results under the key ``oracle``,
    the ``control`` and ``strata`` blocks in ``diagnostics``, the per-text effects in ``tables["per_unit"]``.

    ``scores_with``: the scores table of the candidate texts under the model that saw the inserted ones (``id``
    and score columns, as ``score_corpus`` writes it); ``scores_without``: the same ids under the model that
    did not. ``inserted``: 0/1 per id (a Series indexed by id), 1 = the first model saw the text; None takes
    the ``member`` column of ``scores_with``. ``strata``: an optional label per id (e.g. Hubble's duplicate
    count) for one extra block per label over its inserted texts. Intervals: percentile, ``n_bootstrap``
    resamples of the texts.
    """
    fpr = tuple(float(a) for a in fpr)
    if not fpr or any(not 0 < a < 1 for a in fpr):
        raise AuditError(f"fpr: every target must be in (0, 1), got {list(fpr)}")
    if int(n_bootstrap) != n_bootstrap or n_bootstrap < 1:
        raise AuditError(f"bootstrap: must be an integer >= 1, got {n_bootstrap}")
    with_, without, cols = _aligned(scores_with, scores_without, scores)
    flag = _inserted(with_, inserted)
    if flag.sum() < 2:
        raise AuditError(f"inserted: {int(flag.sum())} text(s) seen by the first model; the oracle needs at least 2")
    rng = np.random.default_rng(seed)

    def columns(rows: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        return ({c: with_[c].to_numpy(dtype=float)[rows] for c in cols},
                {c: without[c].to_numpy(dtype=float)[rows] for c in cols})

    inside = np.flatnonzero(flag == 1)
    outside = np.flatnonzero(flag == 0)
    blocks, n_reps = bootstrap_blocks(*columns(inside), fpr=fpr, n_bootstrap=n_bootstrap, level=level, rng=rng)
    control = None
    if outside.size >= 2:
        control, _ = bootstrap_blocks(*columns(outside), fpr=fpr, n_bootstrap=n_bootstrap, level=level, rng=rng)

    per_stratum, notes = (None, []) if strata is None else _strata_blocks(
        strata, with_.index, inside, columns, fpr=fpr, n_bootstrap=n_bootstrap, level=level, rng=rng)
    per_unit = _per_unit(with_, without, flag, cols)
    counts = {"texts": int(len(flag)), "inserted": int(flag.sum()), "control": int(outside.size),
              "bootstrap_replicates": n_reps}
    est = Estimates.build(
        regime="paired",
        results={name: {"oracle": r} for name, r in blocks.items()},
        diagnostics={
            "counts": counts,
            "control": None if control is None else {name: r.to_dict() for name, r in control.items()},
            "strata": None if per_stratum is None else {
                label: {name: r.to_dict() for name, r in rs.items()} for label, rs in per_stratum.items()},
        },
        config={"fpr": list(fpr), "n_bootstrap": n_bootstrap, "level": level, "seed": seed,
                "interval": "percentile, bootstrap over texts (a text keeps both its scores)",
                "auc": "Mann-Whitney of S(1) against S(0) over pairs i != j, ties 1/2"},
        provenance=provenance({"scores_with": scores_with, "scores_without": scores_without}),
        assumptions=ASSUMPTIONS,
        notes=notes,
    )
    est.tables["per_unit"] = per_unit
    return est
