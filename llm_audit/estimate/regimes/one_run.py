"""One-run (docs/method.md, "Regimes"): one model, T_i ~ Bernoulli(p_i) with known p_i (canaries).
Horvitz-Thompson weights 1/p_i (members), 1/(1 - p_i) (non-members), normalized within arm, give the causal
metrics over the whole pool; with a constant p they equal the naive ones. Intervals: bootstrap over units. The
estimate rests on no interference between units, and says so."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.stats import binom

from llm_audit.errors import AuditError, plain
from llm_audit.estimate.provenance import provenance
from llm_audit.estimate.regimes.randomized import (
    DEFAULT_FPR, NO_INTERFERENCE, causal_result, finite_score_columns, membership, randomized_metrics, require,
    require_both_arms, unit_probabilities,
)
from llm_audit.estimate.results import Estimates
from llm_audit.estimate.weights import arm_ess


def one_run(
    scores_df: pd.DataFrame,
    *,
    p: float | pd.Series = 0.5,
    scores: Sequence[str] | None = None,
    fpr: Sequence[float] = DEFAULT_FPR,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Estimates:
    """Causal metrics from one training run with randomized inclusion (docs/method.md §4.2).

    ``p`` is the inclusion probability: one number for the whole pool, or a Series of per-unit p_i indexed
    by ``id`` (Horvitz-Thompson weights). ``scores_df`` needs ``id``, ``member`` and the score columns.
    """
    require(scores_df, ["id", "member"], "scores")
    cols = finite_score_columns(scores_df, scores)
    dup = scores_df["id"].duplicated()
    if dup.any():
        hint = " (a `run` column: use --regime multi-run)" if "run" in scores_df.columns else ""
        raise AuditError(f"scores: id {plain(scores_df['id'][dup].iloc[0])!r} appears more than once{hint}")
    member = membership(scores_df["member"], "scores")
    require_both_arms(member, "scores")
    probs, label = _probabilities(scores_df, p)
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
    results = {col: {"causal": causal_result(point[col], [r[col] for r in reps], level)} for col in cols}
    counts = {
        "units": n,
        "members": int(member.sum()),
        "nonmembers": int(n - member.sum()),
        "ess": arm_ess(weight, member),
        "bootstrap_replicates": len(reps),
    }
    return Estimates.build(
        regime="one-run",
        results=results,
        diagnostics={"counts": counts},
        assumptions=["inclusion randomized independently with the stated probabilities", NO_INTERFERENCE],
        config={"p": label, "fpr": list(fpr), "n_bootstrap": n_bootstrap, "level": level, "seed": seed,
                "weights": "Horvitz-Thompson (1/p members, 1/(1-p) non-members), Hajek-normalized per arm",
                "interval": "percentile, bootstrap over units"},
        provenance=provenance({"scores": scores_df}),
        notes=[share_note] if share_note else [],
    )


def _probabilities(scores_df: pd.DataFrame, p: float | pd.Series) -> tuple[np.ndarray, float | str]:
    """Each unit's inclusion probability and how the config records it (the number, or "per-unit")."""
    if isinstance(p, pd.Series):
        return unit_probabilities(scores_df["id"].astype(str), p), "per-unit"
    label = float(p)
    if not 0 < label < 1:
        raise AuditError(f"inclusion probability: need 0 < p < 1, got {label}")
    return np.full(len(scores_df), label), label


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
