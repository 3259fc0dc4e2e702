"""Multi-run (docs/method.md, "Regimes"): the same pool scored under R models, each trained on its own
Bernoulli(p) draw of the pool. Inclusion is randomized, so pooling every (run, unit) pair gives the causal AUC,
TPR@FPR, advantage and mean memorization over the pool without any propensity model; tau_i =
mean(S_i^r | T_i^r = 1) - mean(S_i^r | T_i^r = 0) is the per-unit memorization. Intervals: two-way bootstrap,
resampling runs (clusters) and units independently."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from llm_audit.errors import AuditError, plain
from llm_audit.estimate.provenance import provenance
from llm_audit.estimate.regimes.randomized import (
    DEFAULT_FPR, causal_result, finite_score_columns, membership, randomized_metrics, require, require_both_arms,
    unit_probabilities,
)
from llm_audit.estimate.results import Estimates


def multi_run(
    scores_df: pd.DataFrame,
    inclusion_df: pd.DataFrame | None = None,
    *,
    p: pd.Series | None = None,
    scores: Sequence[str] | None = None,
    fpr: Sequence[float] = DEFAULT_FPR,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Estimates:
    """Causal metrics from R randomized training runs (docs/method.md §4.1).

    ``scores_df`` is long: one row per (``run``, ``id``) with the score columns; membership comes from
    ``inclusion_df`` (``run``, ``id``, ``member``) or, when that is None, from a ``member`` column of
    ``scores_df``. ``per_unit`` of the result holds tau_i per score with the run counts behind it.
    ``p``: per-unit inclusion probabilities (a Series indexed by ``id``) when the design did not include
    every unit with the same probability; the pooled metrics then use Horvitz-Thompson weights, as in
    ``one_run``. Left None, every unit is assumed to share one probability (unweighted pooling).
    """
    require(scores_df, ["run", "id"], "scores")
    cols = finite_score_columns(scores_df, scores)
    table, member_all = _joined(scores_df, inclusion_df)
    runs = pd.Index(pd.unique(table["run"]))
    units = pd.Index(pd.unique(table["id"]))
    t_grid, s_grids = _grids(table, member_all, runs, units, cols)
    n_in = np.nansum(t_grid, axis=0)
    n_out = np.sum(t_grid == 0, axis=0)
    one_arm = int(np.sum((n_in == 0) | (n_out == 0)))
    if one_arm == len(units):
        raise AuditError(f"scores: no unit is a member in one run and a non-member in another ({len(runs)} run(s)); "
                         "multi-run needs at least 2 runs with their own draws (one model: --regime one-run)")
    notes = [f"{one_arm} of {len(units)} units were a member in every run or in none: their per-unit memorization "
             "is undefined (NaN)"] if one_arm else []
    probs = None if p is None else unit_probabilities(pd.Series(units, dtype=str), p)
    w_grid = None if probs is None else np.where(t_grid == 1, 1.0 / probs, 1.0 / (1.0 - probs))

    results, n_reps = _pooled_results(t_grid, s_grids, w_grid, fpr=fpr, n_bootstrap=n_bootstrap, level=level,
                                      seed=seed)
    counts = {"runs": len(runs), "units": len(units), "pairs": int(np.sum(~np.isnan(t_grid))),
              "member_pairs": int(np.nansum(t_grid)), "units_without_both_arms": one_arm,
              "bootstrap_replicates": n_reps}
    est = Estimates.build(
        regime="multi-run",
        results=results,
        diagnostics={"counts": counts},
        assumptions=[
            "inclusion randomized independently in every run (Bernoulli draws with fresh seeds)",
            "the pooled metrics average over the training randomness of the R runs",
        ],
        config={"fpr": list(fpr), "n_bootstrap": n_bootstrap, "level": level, "seed": seed,
                "p": "per-unit" if p is not None else "common",
                "interval": "percentile, two-way bootstrap over runs and units"},
        provenance=provenance({"scores": scores_df, **({"inclusion": inclusion_df} if inclusion_df is not None else {})}),
        notes=notes,
    )
    est.tables["per_unit"] = _per_unit(units, t_grid, s_grids, n_in, n_out)
    return est


def _pooled_results(t_grid: np.ndarray, s_grids: dict[str, np.ndarray], w_grid: np.ndarray | None, *,
                    fpr: Sequence[float], n_bootstrap: int, level: float, seed: int) -> tuple[dict, int]:
    """The pooled causal metrics of every score over all (run, unit) pairs, with percentile intervals from a
    two-way bootstrap (runs as clusters and units resampled independently); also the replicates kept (those
    with both arms)."""
    n_runs, n_units = t_grid.shape

    def metrics_on(rr: np.ndarray, ii: np.ndarray) -> dict[str, dict[str, Any]] | None:
        t = t_grid[np.ix_(rr, ii)].ravel()
        keep = ~np.isnan(t)
        t = t[keep].astype(int)
        if t.size == 0 or t.min() == t.max():
            return None
        w = None if w_grid is None else w_grid[np.ix_(rr, ii)].ravel()[keep]
        return {c: randomized_metrics(s[np.ix_(rr, ii)].ravel()[keep], t, w, fpr=fpr) for c, s in s_grids.items()}

    point = metrics_on(np.arange(n_runs), np.arange(n_units))
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_bootstrap):
        rep = metrics_on(rng.integers(n_runs, size=n_runs), rng.integers(n_units, size=n_units))
        if rep is not None:
            reps.append(rep)
    return {c: {"causal": causal_result(point[c], [r[c] for r in reps], level)} for c in s_grids}, len(reps)


def _joined(scores_df: pd.DataFrame, inclusion_df: pd.DataFrame | None) -> tuple[pd.DataFrame, np.ndarray]:
    """The long table with each (run, id)'s membership (from ``inclusion_df`` when given, else the scores'
    ``member`` column) and that membership as 0/1; AuditError on a (run, id) without inclusion row or twice."""
    table = scores_df
    if inclusion_df is not None:
        require(inclusion_df, ["run", "id", "member"], "inclusion")
        _no_duplicates(inclusion_df, "inclusion")
        membership(inclusion_df["member"], "inclusion")  # refused in the table's own rows, before the merge reorders them
        inclusion = inclusion_df[["run", "id", "member"]].assign(id=inclusion_df["id"].astype(str))
        table = scores_df.drop(columns=["member"], errors="ignore").assign(id=scores_df["id"].astype(str)).merge(
            inclusion, on=["run", "id"], how="left", validate="many_to_one",
            indicator=True,
        )
        unmatched = table["_merge"] != "both"
        if unmatched.any():
            row = table[unmatched].iloc[0]
            raise AuditError(f"inclusion: {int(unmatched.sum())} (run, id) pairs of the scores have no "
                             f"inclusion row, e.g. run {plain(row['run'])!r}, id {plain(row['id'])!r}")
    else:
        require(scores_df, ["member"], "scores")
    _no_duplicates(table, "scores")
    member = membership(table["member"], "inclusion" if inclusion_df is not None else "scores")
    require_both_arms(member, "inclusion")
    return table, member


def _grids(table: pd.DataFrame, member: np.ndarray, runs: pd.Index, units: pd.Index,
           cols: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Runs x units grids of membership and of each score; a unit a run did not score stays NaN and drops out
    of every replicate."""
    r_idx = runs.get_indexer(table["run"])
    u_idx = units.get_indexer(table["id"])
    t_grid = np.full((len(runs), len(units)), np.nan)
    t_grid[r_idx, u_idx] = member
    s_grids = {}
    for col in cols:
        grid = np.full((len(runs), len(units)), np.nan)
        grid[r_idx, u_idx] = table[col].to_numpy(dtype=float)
        s_grids[col] = grid
    return t_grid, s_grids


def _per_unit(units: pd.Index, t_grid: np.ndarray, s_grids: dict[str, np.ndarray], n_in: np.ndarray,
              n_out: np.ndarray) -> pd.DataFrame:
    """tau_i per score: the unit's mean score over the runs that included it minus over those that did not
    (NaN where one arm is empty), with the run counts behind it."""
    per_unit = pd.DataFrame({"id": units, "n_in": n_in.astype(int), "n_out": n_out.astype(int)})
    with np.errstate(invalid="ignore", divide="ignore"):
        for col, s in s_grids.items():
            mean_in = np.nansum(np.where(t_grid == 1, s, 0.0), axis=0) / n_in
            mean_out = np.nansum(np.where(t_grid == 0, s, 0.0), axis=0) / n_out
            per_unit[col] = mean_in - mean_out
    return per_unit


def _no_duplicates(df: pd.DataFrame, name: str) -> None:
    dup = df.duplicated(["run", "id"])
    if dup.any():
        row = df[dup].iloc[0]
        raise AuditError(f"{name}: (run, id) = ({plain(row['run'])!r}, {plain(row['id'])!r}) appears more than once")
