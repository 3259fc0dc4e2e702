"""Multi-run and one-run estimators (docs/method.md §4): inclusion is randomized by design, so the naive metrics
estimate the causal ones; no propensity model is needed.

- multi-run: the same pool scored under R models, each trained on its own Bernoulli(p) draw of the pool.
  Pooling every (run, unit) pair gives the causal AUC, TPR@FPR, advantage and mean memorization over the
  pool; tau_i = mean(S_i^r | T_i^r = 1) - mean(S_i^r | T_i^r = 0) is the per-unit memorization. Intervals:
  two-way bootstrap, resampling runs (clusters) and units independently.
- one-run: one model, T_i ~ Bernoulli(p_i) with known p_i. Horvitz-Thompson weights 1/p_i (members),
  1/(1 - p_i) (non-members), normalized within arm, give the causal metrics over the whole pool; with a
  constant p they equal the naive ones. Intervals: bootstrap over units. The estimate rests on no
  interference between units, and says so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.stats import binom

from llm_audit.errors import AuditError
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
from llm_audit.tables import atomic_write_text

SCHEMA_VERSION = 1
DEFAULT_FPR = (0.001, 0.01, 0.05)

NO_INTERFERENCE = (
    "no interference (stability): a unit's score depends only on its own inclusion, not on which other "
    "units were trained on"
)


def _finite_score_columns(df: pd.DataFrame, requested: Sequence[str] | None) -> list[str]:
    """The score columns (the step-1 contract), refusing a missing or infinite score by row."""
    cols = score_columns(df, list(requested) if requested else None)
    for col in cols:
        bad = np.flatnonzero(~np.isfinite(df[col].to_numpy(dtype=float)))
        if bad.size:
            raise AuditError(f"scores table: row {bad[0]}, column '{col}': score is missing or not finite")
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
    tprs = {}
    for a in fpr:
        k = tpr_at_fpr_index(curve.fpr, a)
        n_eff = effective_nonmembers_above(score, member, weight, curve.thresholds[k]) if k > 0 else 0.0
        tprs[_fpr_key(a)] = {"value": float(curve.tpr[k]), "n_eff_nonmember_above": n_eff}
    return {
        "auc": curve_auc(curve.fpr, curve.tpr),
        "advantage": advantage(curve.fpr, curve.tpr),
        "mean_diff": weighted_mean_diff(score, member, weight),
        "tpr_at_fpr": tprs,
    }


def _fpr_key(a: float) -> str:
    return format(a, "g")


def _interval(values: np.ndarray, level: float) -> list[float] | None:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def _with_intervals(point: dict[str, Any], reps: list[dict[str, Any]], level: float) -> dict[str, Any]:
    """The ``M`` dict of the estimates JSON: each value paired with its bootstrap percentile interval."""
    def pick(key: str) -> np.ndarray:
        return np.array([r[key] for r in reps], dtype=float)

    m: dict[str, Any] = {k: {"value": point[k], "ci": _interval(pick(k), level)}
                         for k in ("auc", "advantage", "mean_diff")}
    m["tpr_at_fpr"] = {}
    for key, entry in point["tpr_at_fpr"].items():
        boot = np.array([r["tpr_at_fpr"][key]["value"] for r in reps], dtype=float)
        m["tpr_at_fpr"][key] = {
            "value": entry["value"],
            "ci": _interval(boot, level),
            "n_eff_nonmember_above": entry["n_eff_nonmember_above"],
            "unreliable": entry["n_eff_nonmember_above"] < MIN_NONMEMBERS_ABOVE,
        }
    return m


# ---- results -------------------------------------------------------------------------------------------------


@dataclass
class RegimeEstimates:
    """Randomized-regime estimates: per score one ``M`` (value + interval per metric), the counts behind
    them, and the assumptions they rest on."""

    regime: str
    scores: dict[str, dict[str, Any]]
    counts: dict[str, Any]
    assumptions: list[str]
    config: dict[str, Any]
    per_unit: pd.DataFrame | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)  # what the user should know about the input

    def to_dict(self) -> dict[str, Any]:
        """The estimates JSON: ``{"scores": {score: {"causal": M}}}``; naive equals causal here by design."""
        return {
            "schema_version": SCHEMA_VERSION,
            "regime": self.regime,
            "scores": {name: {"causal": m} for name, m in self.scores.items()},
            "counts": self.counts,
            "assumptions": self.assumptions,
            "config": self.config,
            "notes": self.notes,
        }

    def save(self, path: str | os.PathLike, *, overwrite: bool = True) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n", overwrite=overwrite)

    def summary(self) -> str:
        """A plain-text table, one row per score, then the counts and the assumptions."""
        fprs = [_fpr_key(a) for a in self.config["fpr"]]
        head = ["score", "AUC [95% CI]", *[f"TPR@{a}" for a in fprs], "advantage", "mean diff"]
        rows = [head]
        for name, m in self.scores.items():
            tprs = [_short(m["tpr_at_fpr"][a]) + ("*" if m["tpr_at_fpr"][a]["unreliable"] else "") for a in fprs]
            rows.append([name, _short(m["auc"], ci=True), *tprs, _short(m["advantage"]), _short(m["mean_diff"])])
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines += ["", f"{self.regime}: " + ", ".join(f"{k} {v}" for k, v in self.counts.items() if not isinstance(v, dict))]
        lines += [f"assumes: {a}" for a in self.assumptions]
        if any(e["unreliable"] for m in self.scores.values() for e in m["tpr_at_fpr"].values()):
            lines.append(f"* fewer than {MIN_NONMEMBERS_ABOVE:g} non-members above the threshold: unreliable")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _short(entry: dict[str, Any], ci: bool = False) -> str:
    if ci and entry["ci"] is not None:
        return f"{entry['value']:.3f} [{entry['ci'][0]:.3f}, {entry['ci'][1]:.3f}]"
    return f"{entry['value']:.3f}"


def inclusion_probabilities(table: pd.DataFrame, name: str = "inclusion probabilities") -> pd.Series:
    """Per-unit inclusion probabilities of a one-run design from a table with ``id`` and ``p``."""
    _require(table, ["id", "p"], name)
    dup = table["id"].duplicated()
    if dup.any():
        raise AuditError(f"{name}: id {_plain(table['id'][dup].iloc[0])!r} appears more than once")
    p = pd.to_numeric(table["p"], errors="coerce")
    bad = np.flatnonzero(~((p > 0) & (p < 1)).to_numpy())
    if bad.size:
        raise AuditError(f"{name}: row {bad[0]}, column 'p': need 0 < p < 1, got {_plain(table['p'].iloc[bad[0]])!r}")
    return pd.Series(p.to_numpy(dtype=float), index=table["id"].astype(str))


# ---- input checks ----------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value, so messages show ``3``, not numpy 2's ``np.int64(3)``."""
    return value.item() if isinstance(value, np.generic) else value


def _membership(values: pd.Series, name: str) -> np.ndarray:
    member = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero(~member.isin([0, 1]).to_numpy())
    if bad.size:
        raise AuditError(f"{name}: row {bad[0]}, column 'member': expected 0 or 1, got {_plain(values.iloc[bad[0]])!r}")
    return member.to_numpy(dtype=int)


def _require(df: pd.DataFrame, cols: Sequence[str], name: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise AuditError(f"{name}: no '{missing[0]}' column (columns: {', '.join(map(str, df.columns))})")


def _require_both_arms(member: np.ndarray, name: str) -> None:
    if member.min() == member.max():
        raise AuditError(f"{name}: every row has member = {member[0]}; need members and non-members")


# ---- multi-run ---------------------------------------------------------------------------------------------------


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
) -> RegimeEstimates:
    """Causal metrics from R randomized training runs (docs/method.md §4.1).

    ``scores_df`` is long: one row per (``run``, ``id``) with the score columns; membership comes from
    ``inclusion_df`` (``run``, ``id``, ``member``) or, when that is None, from a ``member`` column of
    ``scores_df``. ``per_unit`` of the result holds tau_i per score with the run counts behind it.
    ``p``: per-unit inclusion probabilities (a Series indexed by ``id``) when the design did not include
    every unit with the same probability; the pooled metrics then use Horvitz-Thompson weights, as in
    ``one_run``. Left None, every unit is assumed to share one probability (unweighted pooling).
    """
    _require(scores_df, ["run", "id"], "scores")
    cols = _finite_score_columns(scores_df, scores)
    table = scores_df
    if inclusion_df is not None:
        _require(inclusion_df, ["run", "id", "member"], "inclusion")
        _no_duplicates(inclusion_df, "inclusion")
        table = scores_df.drop(columns=["member"], errors="ignore").merge(
            inclusion_df[["run", "id", "member"]], on=["run", "id"], how="left", validate="many_to_one",
            indicator=True,
        )
        unmatched = table["_merge"] != "both"
        if unmatched.any():
            row = table[unmatched].iloc[0]
            raise AuditError(f"inclusion: {int(unmatched.sum())} (run, id) pairs of the scores have no "
                             f"inclusion row, e.g. run {_plain(row['run'])!r}, id {_plain(row['id'])!r}")
    else:
        _require(scores_df, ["member"], "scores")
    _no_duplicates(table, "scores")
    member_all = _membership(table["member"], "inclusion" if inclusion_df is not None else "scores")
    _require_both_arms(member_all, "inclusion")

    runs = pd.Index(pd.unique(table["run"]))
    units = pd.Index(pd.unique(table["id"]))
    r_idx = runs.get_indexer(table["run"])
    u_idx = units.get_indexer(table["id"])
    # Runs x units grids; a unit a run did not score stays NaN and drops out of every replicate.
    t_grid = np.full((len(runs), len(units)), np.nan)
    t_grid[r_idx, u_idx] = member_all
    s_grids = {}
    for col in cols:
        grid = np.full((len(runs), len(units)), np.nan)
        grid[r_idx, u_idx] = table[col].to_numpy(dtype=float)
        s_grids[col] = grid

    n_in = np.nansum(t_grid, axis=0)
    n_out = np.sum(t_grid == 0, axis=0)
    one_arm = int(np.sum((n_in == 0) | (n_out == 0)))
    if one_arm == len(units):
        raise AuditError(f"scores: no unit is a member in one run and a non-member in another ({len(runs)} run(s)); "
                         "multi-run needs at least 2 runs with their own draws (one model: --regime one-run)")
    notes = [f"{one_arm} of {len(units)} units were a member in every run or in none: their per-unit memorization "
             "is undefined (NaN)"] if one_arm else []
    probs = None if p is None else _unit_probabilities(pd.Series(units, dtype=str), p)
    w_grid = None if probs is None else np.where(t_grid == 1, 1.0 / probs, 1.0 / (1.0 - probs))

    def metrics_on(rr: np.ndarray, ii: np.ndarray) -> dict[str, dict[str, Any]] | None:
        t = t_grid[np.ix_(rr, ii)].ravel()
        keep = ~np.isnan(t)
        t = t[keep].astype(int)
        if t.size == 0 or t.min() == t.max():
            return None
        w = None if w_grid is None else w_grid[np.ix_(rr, ii)].ravel()[keep]
        return {col: randomized_metrics(s_grids[col][np.ix_(rr, ii)].ravel()[keep], t, w, fpr=fpr) for col in cols}

    point = metrics_on(np.arange(len(runs)), np.arange(len(units)))
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_bootstrap):
        rep = metrics_on(rng.integers(len(runs), size=len(runs)), rng.integers(len(units), size=len(units)))
        if rep is not None:
            reps.append(rep)
    estimates = {col: _with_intervals(point[col], [r[col] for r in reps], level) for col in cols}

    per_unit = pd.DataFrame({"id": units, "n_in": n_in.astype(int), "n_out": n_out.astype(int)})
    with np.errstate(invalid="ignore", divide="ignore"):
        for col in cols:
            s = s_grids[col]
            mean_in = np.nansum(np.where(t_grid == 1, s, 0.0), axis=0) / n_in
            mean_out = np.nansum(np.where(t_grid == 0, s, 0.0), axis=0) / n_out
            per_unit[col] = mean_in - mean_out
    counts = {
        "runs": len(runs),
        "units": len(units),
        "pairs": int(np.sum(~np.isnan(t_grid))),
        "member_pairs": int(np.nansum(t_grid)),
        "units_without_both_arms": one_arm,
        "bootstrap_replicates": len(reps),
    }
    return RegimeEstimates(
        regime="multi-run",
        scores=estimates,
        counts=counts,
        assumptions=[
            "inclusion randomized independently in every run (Bernoulli draws with fresh seeds)",
            "the pooled metrics average over the training randomness of the R runs",
        ],
        config={"fpr": list(fpr), "n_bootstrap": n_bootstrap, "level": level, "seed": seed,
                "p": "per-unit" if p is not None else "common",
                "interval": "percentile, two-way bootstrap over runs and units"},
        per_unit=per_unit,
        notes=notes,
    )


def _no_duplicates(df: pd.DataFrame, name: str) -> None:
    dup = df.duplicated(["run", "id"])
    if dup.any():
        row = df[dup].iloc[0]
        raise AuditError(f"{name}: (run, id) = ({_plain(row['run'])!r}, {_plain(row['id'])!r}) appears more than once")


def _unit_probabilities(ids: pd.Series, p: pd.Series) -> np.ndarray:
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


# ---- one-run ---------------------------------------------------------------------------------------------------


def one_run(
    scores_df: pd.DataFrame,
    *,
    p: float | pd.Series = 0.5,
    scores: Sequence[str] | None = None,
    fpr: Sequence[float] = DEFAULT_FPR,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> RegimeEstimates:
    """Causal metrics from one training run with randomized inclusion (docs/method.md §4.2).

    ``p`` is the inclusion probability: one number for the whole pool, or a Series of per-unit p_i indexed
    by ``id`` (Horvitz-Thompson weights). ``scores_df`` needs ``id``, ``member`` and the score columns.
    """
    _require(scores_df, ["id", "member"], "scores")
    cols = _finite_score_columns(scores_df, scores)
    dup = scores_df["id"].duplicated()
    if dup.any():
        hint = " (a `run` column: use --regime multi-run)" if "run" in scores_df.columns else ""
        raise AuditError(f"scores: id {_plain(scores_df['id'][dup].iloc[0])!r} appears more than once{hint}")
    member = _membership(scores_df["member"], "scores")
    _require_both_arms(member, "scores")
    if isinstance(p, pd.Series):
        probs = _unit_probabilities(scores_df["id"].astype(str), p)
        label = "per-unit"
    else:
        probs = np.full(len(scores_df), float(p))
        label = float(p)
        if not 0 < label < 1:
            raise AuditError(f"inclusion probability: need 0 < p < 1, got {label}")
    share_note = _member_share_note(member, probs)
    weight = np.where(member == 1, 1.0 / probs, 1.0 / (1.0 - probs))
    values = {col: scores_df[col].to_numpy(dtype=float) for col in cols}

    def metrics_on(idx: np.ndarray) -> dict[str, dict[str, Any]] | None:
        t = member[idx]
        if t.min() == t.max():
            return None
        return {col: randomized_metrics(values[col][idx], t, weight[idx], fpr=fpr) for col in cols}

    n = len(scores_df)
    point = metrics_on(np.arange(n))
    rng = np.random.default_rng(seed)
    reps = [r for r in (metrics_on(rng.integers(n, size=n)) for _ in range(n_bootstrap)) if r is not None]
    estimates = {col: _with_intervals(point[col], [r[col] for r in reps], level) for col in cols}
    w1, w0 = weight[member == 1], weight[member == 0]
    counts = {
        "units": n,
        "members": int(member.sum()),
        "nonmembers": int(n - member.sum()),
        "ess": {"member": float(w1.sum() ** 2 / np.sum(w1**2)), "nonmember": float(w0.sum() ** 2 / np.sum(w0**2))},
        "bootstrap_replicates": len(reps),
    }
    return RegimeEstimates(
        regime="one-run",
        scores=estimates,
        counts=counts,
        assumptions=[
            "inclusion randomized independently with the stated probabilities",
            NO_INTERFERENCE,
        ],
        config={"p": label, "fpr": list(fpr), "n_bootstrap": n_bootstrap, "level": level, "seed": seed,
                "weights": "Horvitz-Thompson (1/p members, 1/(1-p) non-members), Hajek-normalized per arm",
                "interval": "percentile, bootstrap over units"},
        notes=[share_note] if share_note else [],
    )


def _member_share_note(member: np.ndarray, probs: np.ndarray) -> str | None:
    """A note when the count of members is outside the 99.9% range the stated inclusion probabilities
    allow: the wrong p, or a split that was not randomized, and the weights (and the causal reading)
    would then be wrong. Exact binomial for a common p; normal approximation for per-unit p_i."""
    k, n = int(member.sum()), len(member)
    if np.all(probs == probs[0]):
        lo, hi = binom.interval(0.999, n, probs[0])
    else:
        mean, sd = float(probs.sum()), float(np.sqrt(np.sum(probs * (1 - probs))))
        lo, hi = mean - 3.29 * sd, mean + 3.29 * sd
    if lo <= k <= hi:
        return None
    return (f"{k} members of {n} (share {k / n:.3f}) is outside the 99.9% range of the stated inclusion probability "
            f"(mean p {probs.mean():.3g}: {lo:.0f} to {hi:.0f} members): check p, and that inclusion was randomized")
