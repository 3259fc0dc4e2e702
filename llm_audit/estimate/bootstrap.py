"""Stratified bootstrap over units for the naive and IPW metrics, and the multiplier bootstrap of the
DR terms (docs/method.md §5.5).

Replicates are count vectors N (units resampled with replacement within each arm, so the arm sizes stay
fixed). The propensity is kept fixed (not refit per replicate), so the nuisances never refit: a replicate
is a re-weighting by N of quantities computed once. The scores are sorted once; a replicate's weighted ROC
curve is then cumulative sums over the tie groups, O(n), and many replicates are stacked into one array
operation. Each chunk of replicates draws from its own child seed, so the result does not depend on
the number of jobs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from llm_audit.estimate.estimands import Estimand
from llm_audit.estimate.methods.base import Fit, Replicates
from llm_audit.estimate.weights import hajek

_CELLS_PER_CHUNK = 4_000_000  # replicates x units per array: ~32 MB per float64 array


def stratified_counts(member: np.ndarray, n_rep: int, rng: np.random.Generator) -> np.ndarray:
    """(n_rep, n) resampling counts, each arm resampled to its own size."""
    n = len(member)
    counts = np.zeros((n_rep, n), dtype=np.float64)
    for arm in (0, 1):
        idx = np.flatnonzero(member == arm)
        m = len(idx)
        draws = rng.integers(0, m, size=(n_rep, m)) + (np.arange(n_rep) * m)[:, None]
        counts[:, idx] = np.bincount(draws.ravel(), minlength=n_rep * m).reshape(n_rep, m)
    return counts


def _chunk(seed_seq, n_rep: int, member: np.ndarray, fits: dict[str, Fit],
           rows: dict[str, np.ndarray]) -> dict[str, Replicates]:
    counts = stratified_counts(member, n_rep, np.random.default_rng(seed_seq))
    cache: dict = {}  # shared by the fits of this chunk on all units (the counts in each score's sorted order)
    return {name: fit.replicates(counts, cache) if name not in rows else fit.replicates(counts[:, rows[name]])
            for name, fit in fits.items()}


def bootstrap_replicates(
    fits: dict[str, Fit], member: np.ndarray, *, n_boot: int, seed: int, n_jobs: int = 1,
    rows: dict[str, np.ndarray] | None = None,
) -> dict[str, Replicates]:
    """Replicates of every metric of each fitted method, all on the same resampling counts of the units:
    ``{name: {"auc": (B,), "tpr_at_fpr": {a: (B,)}, "advantage": (B,), "mean_diff": (B,)}}``. A method fit on
    a subset of the units (a trimmed or overlap population) names its ``rows``: it sees those columns of the
    counts, so every method of an audit rests on the same resampled corpus."""
    t = np.asarray(member).astype(int)
    per_chunk = int(max(1, min(100, _CELLS_PER_CHUNK // max(len(t), 1))))
    sizes = [min(per_chunk, n_boot - i) for i in range(0, n_boot, per_chunk)]
    seqs = np.random.SeedSequence(seed).spawn(len(sizes))
    # One BLAS thread per worker: the workers already fill the cores, and multi-threaded BLAS inside
    # each of them oversubscribes the machine (measured 20x slower on 2 busy cores).
    with threadpool_limits(1):
        parts = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(_chunk)(sq, b, t, fits, rows or {}) for sq, b in zip(seqs, sizes)
        )
    return {name: _concat([p[name] for p in parts]) for name in fits}


def _concat(parts: list[Replicates]) -> Replicates:
    """Chunks of replicates joined along the replicate axis (metrics (B,), curves (B, G), TPRs per target)."""
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "tpr_at_fpr"}
    out["tpr_at_fpr"] = {a: np.concatenate([p["tpr_at_fpr"][a] for p in parts]) for a in parts[0]["tpr_at_fpr"]}
    return out


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> list[float]:
    lo, hi = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def _refit_one(seed_seq, covariates, member, score, groups, folds, model, eta, trim, estimand, fpr_targets):
    from llm_audit.estimate.metrics import roc_metrics
    from llm_audit.estimate.propensity import apply_overlap, cross_fit_propensity, fold_splits

    rng = np.random.default_rng(seed_seq)
    idx = np.concatenate([rng.choice(np.flatnonzero(member == arm), size=int(np.sum(member == arm))) for arm in (0, 1)])
    t = member[idx]
    # copies of one unit share a fold, else the propensity would be scored on its own training rows
    g = idx.astype(str) if groups is None else groups[idx]
    splits = fold_splits(t, g, folds, int(rng.integers(2**31)))
    e_raw = cross_fit_propensity(covariates.iloc[idx].reset_index(drop=True), t, splits, model=model, seed=int(rng.integers(2**31)))
    ov = apply_overlap(e_raw, t, eta, trim)
    k = ov.keep
    m = roc_metrics(score[idx][k], t[k], hajek(estimand.residual_weights(ov.e[k], t[k]), t[k]), fpr_targets)
    return m.auc, m.tpr_at_fpr, m.advantage, m.mean_diff


def refit_propensity_replicates(
    covariates, member: np.ndarray, score: np.ndarray, groups: np.ndarray | None, *,
    folds: int, model: Any, eta: float, trim: bool, estimand: Estimand,
    fpr_targets: tuple[float, ...], n_boot: int, seed: int, n_jobs: int = 1,
) -> dict:
    """IPW replicates with the cross-fitted propensity refit inside each replicate (slow: K calibrated
    fits per replicate); captures the propensity's own estimation error, which the fixed-e_hat bootstrap
    leaves out."""
    seqs = np.random.SeedSequence(seed).spawn(n_boot)
    reps = Parallel(n_jobs=n_jobs)(
        delayed(_refit_one)(sq, covariates, member, score, groups, folds, model, eta, trim, estimand, fpr_targets)
        for sq in seqs
    )
    return {
        "auc": np.array([r[0] for r in reps]),
        "tpr_at_fpr": {a: np.array([r[1][a] for r in reps]) for a in fpr_targets},
        "advantage": np.array([r[2] for r in reps]),
        "mean_diff": np.array([r[3] for r in reps]),
    }
