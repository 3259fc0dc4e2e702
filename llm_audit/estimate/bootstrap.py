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

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from llm_audit.estimate.dr import DRTerms, grid_roc, monotone_cdf
from llm_audit.estimate.metrics import curve_summaries

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


def _roc_replicates(counts, s_sorted, order, starts, t_sorted, w_sorted, fpr_targets):
    wc = counts[:, order] * w_sorted[None, :]
    wm = wc * t_sorted[None, :]
    wn = wc - wm
    pos = np.cumsum(np.add.reduceat(wm, starts, axis=1), axis=1)
    neg = np.cumsum(np.add.reduceat(wn, starts, axis=1), axis=1)
    sm, sn = pos[:, -1:], neg[:, -1:]
    zero = np.zeros((len(counts), 1))
    auc, tprs, adv = curve_summaries(np.hstack([zero, neg / sn]), np.hstack([zero, pos / sm]), fpr_targets)
    mean = (wm @ s_sorted) / sm[:, 0] - (wn @ s_sorted) / sn[:, 0]
    return {"auc": auc, "tpr_at_fpr": tprs, "advantage": adv, "mean_diff": mean}


def _dr_replicates(counts, terms: DRTerms, fpr_targets):
    c32 = counts.astype(np.float32)
    hs = counts @ terms.h
    f = [c32 @ p for p in terms.phi_cdf]
    f0 = np.array([monotone_cdf(row / d) for row, d in zip(f[0].astype(np.float64), hs)])
    f1 = np.array([monotone_cdf(row / d) for row, d in zip(f[1].astype(np.float64), hs)])
    pts = [grid_roc(a, b) for a, b in zip(f0, f1)]
    auc, tprs, adv = curve_summaries(np.array([p[0] for p in pts]), np.array([p[1] for p in pts]), fpr_targets)
    return {"auc": auc, "tpr_at_fpr": tprs, "advantage": adv, "mean_diff": (counts @ terms.psi_mean) / hs}


def _chunk(seed_seq, n_rep, score, member, weights, dr, fpr_targets, sort):
    rng = np.random.default_rng(seed_seq)
    counts = stratified_counts(member, n_rep, rng)
    order, starts, s_sorted, t_sorted = sort
    out = {name: _roc_replicates(counts, s_sorted, order, starts, t_sorted, w[order], fpr_targets)
           for name, w in weights.items()}
    if dr is not None:
        out["dr"] = _dr_replicates(counts, dr, fpr_targets)
    return out


def bootstrap_replicates(
    score: np.ndarray,
    member: np.ndarray,
    weights: dict[str, np.ndarray],
    dr: DRTerms | None,
    *,
    fpr_targets: tuple[float, ...],
    n_boot: int,
    seed: int,
    n_jobs: int = 1,
) -> dict[str, dict]:
    """Replicates of every metric for each named weighting (e.g. 'naive': ones, 'ipw': Hajek) and
    for the DR terms; ``{name: {"auc": (B,), "tpr_at_fpr": {a: (B,)}, "advantage": (B,), "mean_diff": (B,)}}``."""
    t = np.asarray(member).astype(int)
    order = np.argsort(-score, kind="mergesort")
    s_sorted = score[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s_sorted) != 0) + 1]
    sort = (order, starts, s_sorted, t[order].astype(float))
    per_chunk = int(max(1, min(100, _CELLS_PER_CHUNK // max(len(score), 1))))
    sizes = [min(per_chunk, n_boot - i) for i in range(0, n_boot, per_chunk)]
    seqs = np.random.SeedSequence(seed).spawn(len(sizes))
    # One BLAS thread per worker: the workers already fill the cores, and multi-threaded BLAS inside
    # each of them oversubscribes the machine (measured 20x slower on 2 busy cores).
    with threadpool_limits(1):
        parts = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(_chunk)(sq, b, score, t, weights, dr, fpr_targets, sort) for sq, b in zip(seqs, sizes)
        )
    out: dict[str, dict] = {}
    for name in parts[0]:
        out[name] = {
            "auc": np.concatenate([p[name]["auc"] for p in parts]),
            "advantage": np.concatenate([p[name]["advantage"] for p in parts]),
            "mean_diff": np.concatenate([p[name]["mean_diff"] for p in parts]),
            "tpr_at_fpr": {a: np.concatenate([p[name]["tpr_at_fpr"][a] for p in parts]) for a in fpr_targets},
        }
    return out


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> list[float]:
    lo, hi = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def _refit_one(seed_seq, covariates, member, score, groups, folds, model, eta, trim, target, fpr_targets):
    from llm_audit.estimate.metrics import roc_metrics
    from llm_audit.estimate.propensity import apply_overlap, cross_fit_propensity, fold_splits
    from llm_audit.estimate.weights import hajek_weights

    rng = np.random.default_rng(seed_seq)
    idx = np.concatenate([rng.choice(np.flatnonzero(member == arm), size=int(np.sum(member == arm))) for arm in (0, 1)])
    t = member[idx]
    # copies of one unit share a fold, else the propensity would be scored on its own training rows
    g = idx.astype(str) if groups is None else groups[idx]
    splits = fold_splits(t, g, folds, int(rng.integers(2**31)))
    e_raw = cross_fit_propensity(covariates.iloc[idx].reset_index(drop=True), t, splits, model=model, seed=int(rng.integers(2**31)))
    ov = apply_overlap(e_raw, t, eta, trim)
    k = ov.keep
    m = roc_metrics(score[idx][k], t[k], hajek_weights(ov.e[k], t[k], target), fpr_targets)
    return m.auc, m.tpr_at_fpr, m.advantage, m.mean_diff


def refit_propensity_replicates(
    covariates, member: np.ndarray, score: np.ndarray, groups: np.ndarray | None, *,
    folds: int, model: str, eta: float, trim: bool, target: str,
    fpr_targets: tuple[float, ...], n_boot: int, seed: int, n_jobs: int = 1,
) -> dict:
    """IPW replicates with the cross-fitted propensity refit inside each replicate (slow: K calibrated
    fits per replicate); captures the propensity's own estimation error, which the fixed-e_hat bootstrap
    leaves out."""
    seqs = np.random.SeedSequence(seed).spawn(n_boot)
    reps = Parallel(n_jobs=n_jobs)(
        delayed(_refit_one)(sq, covariates, member, score, groups, folds, model, eta, trim, target, fpr_targets)
        for sq in seqs
    )
    return {
        "auc": np.array([r[0] for r in reps]),
        "tpr_at_fpr": {a: np.array([r[1][a] for r in reps]) for a in fpr_targets},
        "advantage": np.array([r[2] for r in reps]),
        "mean_diff": np.array([r[3] for r in reps]),
    }
