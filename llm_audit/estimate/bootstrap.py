"""Stratified bootstrap over units for the naive and IPW metrics, and the multiplier bootstrap of the
DR terms (docs/method.md §5.5).

Replicates are count vectors N (units resampled with replacement within each arm, so the arm sizes stay
fixed; with a ``group`` column, whole groups, e.g. the chunks of one document, since chunks of a document are
not independent draws: a unit bootstrap then understates the standard error, 2-2.7x on 100 documents of 8
chunks in benchmarks/README.md, "Clustered texts"). The propensity is kept fixed (not refit per replicate), so
the nuisances never refit: a replicate is a re-weighting by N of quantities computed once. The scores are
sorted once; a replicate's weighted ROC curve is then cumulative sums over the tie groups, O(n), and many
replicates are stacked into one array operation. Each chunk of replicates draws from its own child seed, so the result does not depend on
the number of jobs. An audit draws its counts once (``ResamplingCounts``) and replicates every score and
method on them.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from llm_audit.estimate.estimands import Estimand
from llm_audit.estimate.methods.base import Fit, Replicates, concat_replicates
from llm_audit.estimate.weights import hajek
from llm_audit.parallel import parallel_map

_CELLS_PER_CHUNK = 4_000_000  # replicates x units per array: ~32 MB per float64 array


def stratified_counts(member: np.ndarray, n_rep: int, rng: np.random.Generator,
                      clusters: Clusters | None = None) -> np.ndarray:
    """(n_rep, n) resampling counts, each arm resampled to its own size; with ``clusters``, whole clusters
    (each unit counted as often as its cluster is drawn), see ``Clusters``."""
    if clusters is not None:
        return clusters.counts(n_rep, rng)
    counts = np.zeros((n_rep, len(member)), dtype=np.float64)
    for arm in (0, 1):
        idx = np.flatnonzero(member == arm)
        counts[:, idx] = _resample(len(idx), n_rep, rng)
    return counts


def _resample(m: int, n_rep: int, rng: np.random.Generator) -> np.ndarray:
    """(n_rep, m) counts of m items each drawn m times with replacement: one bincount over all replicates."""
    draws = rng.integers(0, m, size=(n_rep, m)) + (np.arange(n_rep) * m)[:, None]
    return np.bincount(draws.ravel(), minlength=n_rep * m).reshape(n_rep, m)


class Clusters:
    """The cluster bootstrap's design: units in clusters (``groups`` (n,), any labels), the clusters split into
    strata by the arms they hold (only non-members, only members, both), and each stratum's clusters resampled
    with replacement to their own number, the cluster analogue of resampling each arm to its size (Davison and
    Hinkley 1997, section 3.8; Field and Welsh 2007). Where every cluster lies in one arm, as when membership is
    a document's and the units its chunks, the arms keep their numbers of clusters."""

    def __init__(self, member: np.ndarray, groups: np.ndarray):
        _, self.code = np.unique(np.asarray(groups), return_inverse=True)
        size = np.bincount(self.code)
        share = np.bincount(self.code, weights=np.asarray(member, dtype=float)) / size
        stratum = np.where(share == 0, 0, np.where(share == 1, 1, 2))
        self.strata = [np.flatnonzero(stratum == k) for k in (0, 1, 2) if np.any(stratum == k)]
        self.n_clusters = len(size)

    def counts(self, n_rep: int, rng: np.random.Generator) -> np.ndarray:
        """(n_rep, n) counts: each unit's is its cluster's number of draws."""
        per_cluster = np.zeros((n_rep, self.n_clusters), dtype=np.float64)
        for idx in self.strata:
            per_cluster[:, idx] = _resample(len(idx), n_rep, rng)
        return per_cluster[:, self.code]


class ResamplingCounts:
    """The stratified resampling counts of one audit: ``n_boot`` count vectors over its units, in chunks of
    replicates, each chunk drawn from its own child of ``seed`` (so no result depends on the number of jobs).

    Every score and method of an audit is replicated on these same counts (and a joint statement across them
    is possible). Drawn once and kept, as the smallest integer type that holds them, when they take at most
    ``store_bytes`` (100 MB for 1000 replicates of 100,000 units: drawing them took as long as replicating one
    score's naive and IPW metrics); larger ones are redrawn, identically, wherever a chunk is needed. With
    ``groups`` (n,) the counts resample whole groups (``Clusters``)."""

    def __init__(self, member: np.ndarray, n_boot: int, seed: int, *, store_bytes: int = 256 * 2**20, jobs: int = 1,
                 groups: np.ndarray | None = None):
        self.member = np.asarray(member).astype(int)
        self.clusters = None if groups is None else Clusters(self.member, groups)
        n = len(self.member)
        per_chunk = int(max(1, min(100, _CELLS_PER_CHUNK // max(n, 1))))
        self.sizes = [min(per_chunk, n_boot - i) for i in range(0, n_boot, per_chunk)]
        self.seeds = np.random.SeedSequence(seed).spawn(len(self.sizes))
        self._stored: list[np.ndarray] | None = None
        if n * n_boot <= store_bytes:
            self._stored = parallel_map(self._compact, range(len(self.sizes)), jobs=jobs)

    def __len__(self) -> int:
        return len(self.sizes)

    def chunk(self, k: int) -> np.ndarray:
        """Counts of chunk ``k``, shape (replicates, units): integers, float64 when redrawn."""
        if self._stored is not None:
            return self._stored[k]
        return stratified_counts(self.member, self.sizes[k], np.random.default_rng(self.seeds[k]), self.clusters)

    def _compact(self, k: int) -> np.ndarray:
        counts = stratified_counts(self.member, self.sizes[k], np.random.default_rng(self.seeds[k]), self.clusters)
        return counts.astype(np.min_scalar_type(int(counts.max(initial=0))))


def replicate(fits: dict[str, Fit], counts: ResamplingCounts, *, jobs: int = 1,
              rows: dict[str, np.ndarray] | None = None) -> dict[str, Replicates]:
    """Replicates of every metric of each fitted method on the audit's resampling ``counts``:
    ``{name: {"auc": (B,), "tpr_at_fpr": {a: (B,)}, "advantage": (B,), "mean_diff": (B,)}}``. A method fit on
    a subset of the units (a trimmed or overlap population) names its ``rows``: it sees those columns of the
    counts, so every method of an audit rests on the same resampled corpus. Chunks run on ``jobs`` workers
    (``llm_audit.parallel``)."""
    rows = rows or {}

    def one(k: int) -> dict[str, Replicates]:
        c = counts.chunk(k)
        cache: dict = {}  # shared by the fits of this chunk on all units (the counts in each score's sorted order)
        return {name: fit.replicates(c, cache) if name not in rows else fit.replicates(c[:, rows[name]])
                for name, fit in fits.items()}

    parts = parallel_map(one, range(len(counts)), jobs=jobs)
    return {name: concat_replicates([p[name] for p in parts]) for name in fits}


def bootstrap_replicates(
    fits: dict[str, Fit], member: np.ndarray, *, n_boot: int, seed: int, n_jobs: int = 1,
    rows: dict[str, np.ndarray] | None = None,
) -> dict[str, Replicates]:
    """``replicate`` on counts drawn here (for a single call; an audit draws its ``ResamplingCounts`` once)."""
    return replicate(fits, ResamplingCounts(member, n_boot, seed, store_bytes=0), jobs=n_jobs, rows=rows)


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> list[float]:
    lo, hi = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def _refit_one(seed_seq, covariates, member, score, groups, folds, model, eta, trim, estimand, fpr_targets):
    from llm_audit.estimate.metrics import roc_metrics
    from llm_audit.estimate.propensity import apply_overlap, cross_fit_propensity, fold_splits

    rng = np.random.default_rng(seed_seq)
    if groups is None:
        idx = np.concatenate([rng.choice(np.flatnonzero(member == arm), size=int(np.sum(member == arm)))
                              for arm in (0, 1)])
    else:  # whole groups, each unit as often as its group is drawn (``Clusters``)
        idx = np.repeat(np.arange(len(member)), Clusters(member, groups).counts(1, rng)[0].astype(int))
    t = member[idx]
    # copies of one unit (of one group) share a fold, else the propensity would be scored on its own training rows
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
    # processes: a replicate is many small scikit-learn fits, whose Python overhead holds the GIL
    one = partial(_refit_one, covariates=covariates, member=member, score=score, groups=groups, folds=folds,
                  model=model, eta=eta, trim=trim, estimand=estimand, fpr_targets=fpr_targets)
    reps = parallel_map(one, seqs, jobs=n_jobs, processes=True)
    return {
        "auc": np.array([r[0] for r in reps]),
        "tpr_at_fpr": {a: np.array([r[1][a] for r in reps]) for a in fpr_targets},
        "advantage": np.array([r[2] for r in reps]),
        "mean_diff": np.array([r[3] for r in reps]),
    }
