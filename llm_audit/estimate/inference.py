"""Tests of each AUC against chance (0.5), one by one and as a family across the scores (a step-3 diagnostic).

An audit tests several scores at once, so "some score beats chance" needs a family-wise error rate. Per result
key (``naive``, ``ipw``, ``dr``, ...) and score k, with theta_k the AUC and se_k the standard deviation of its
bootstrap replicates theta*_kb:

- ``z`` = (theta_k - 0.5) / se_k and the two-sided normal p-value ``p`` (one score alone);
- the **max-t** family statement (Romano & Wolf 2005, single step; the multiplier-bootstrap form of
  Chernozhukov, Chetverikov & Kato 2013): M_b = max_k |theta*_kb - theta_k| / se_k, c the ``level`` quantile of
  M_b; simultaneous intervals theta_k +- c se_k cover every score's AUC at once with probability ``level``, and
  the adjusted p-value of score k is (1 + #{b: M_b >= |z_k|}) / (B + 1).

Why max-t rather than Bonferroni: every score of an audit is a function of the same texts and the bootstrap
resamples them alike for every score (one stream of counts per audit), so the replicates carry the scores'
correlation. Membership scores are strongly correlated (loss, Min-K% and Min-K%++ read the same
log-probabilities), and max-t uses that: its critical value lies between the one-score 1.96 (scores identical)
and Bonferroni's (scores independent), never above Bonferroni's beyond bootstrap noise. Where the replicates do
not share the resampling (IPW with the propensity refit per replicate draws its own per score), the family
falls back to Bonferroni: c = Phi^-1(1 - (1 - level) / (2K)), adjusted p = min(1, K p).
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
from scipy.stats import norm

from llm_audit.estimate.results import Result

NULL_AUC = 0.5


def auc_inference(results: dict[str, dict[str, Result]], replicates: dict[str, dict[str, np.ndarray]], *,
                  level: float = 0.95, unshared: Iterable[str] = ()) -> dict[str, Any]:
    """``{"null", "level", "families": {key: family}}``; a family (see ``family_statement``) per result key with
    bootstrap replicates of at least one score. ``replicates[score][key]`` holds the AUC replicates; keys in
    ``unshared`` were not resampled alike across scores (Bonferroni)."""
    unshared = set(unshared)
    keys = dict.fromkeys(k for per in replicates.values() for k in per)
    families = {}
    for key in keys:
        points, reps = {}, {}
        for score, per in replicates.items():
            result = results.get(score, {}).get(key)
            if key in per and result is not None and result.auc.value is not None:
                points[score], reps[score] = float(result.auc.value), np.asarray(per[key], dtype=float)
        family = family_statement(points, reps, level=level, max_t=key not in unshared)
        if family is not None:
            families[key] = family
    return {"null": NULL_AUC, "level": level, "families": families}


def family_statement(points: dict[str, float], reps: dict[str, np.ndarray], *, level: float = 0.95,
                     max_t: bool = True) -> dict[str, Any] | None:
    """One key's statement across scores: ``{"adjustment", "critical_value", "bonferroni_critical_value",
    "n_bootstrap", "scores": {score: {"auc", "se", "z", "p", "p_adjusted", "ci_simultaneous"}}}``; None when no
    score has a usable bootstrap.
    Replicates where some score is not finite are left out for all scores alike."""
    names = [k for k in points if len(reps[k]) >= 2]
    if not names:
        return None
    stack = np.vstack([reps[k] for k in names])  # (K, B)
    stack = stack[:, np.isfinite(stack).all(axis=0)]
    se = stack.std(axis=1, ddof=1) if stack.shape[1] >= 2 else np.zeros(len(names))
    names = [k for k, s in zip(names, se) if s > 0]
    if not names:
        return None
    keep = se > 0
    stack, se = stack[keep], se[keep]
    theta = np.array([points[k] for k in names])
    z = (theta - NULL_AUC) / se
    p = 2 * norm.sf(np.abs(z))
    n_scores, n_boot = len(names), stack.shape[1]
    bonferroni = float(norm.ppf(1 - (1 - level) / (2 * n_scores)))
    if max_t:
        m = np.max(np.abs(stack - theta[:, None]) / se[:, None], axis=0)  # (B,)
        c = float(np.quantile(m, level))
        p_adj = (1 + (m[None, :] >= np.abs(z)[:, None]).sum(axis=1)) / (n_boot + 1)
        adjustment = "max-t"
    else:
        c = bonferroni
        p_adj = np.minimum(1.0, n_scores * p)
        adjustment = "bonferroni"
    return {
        "adjustment": adjustment,
        "critical_value": c,
        "bonferroni_critical_value": bonferroni,
        "n_bootstrap": int(n_boot),
        "scores": {k: {"auc": float(t), "se": float(s), "z": float(zk), "p": float(pk), "p_adjusted": float(pa),
                       "ci_simultaneous": [float(t - c * s), float(t + c * s)]}
                   for k, t, s, zk, pk, pa in zip(names, theta, se, z, p, p_adj)},
    }
