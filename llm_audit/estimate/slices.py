"""Naive AUC within slices of the corpus (each domain, each date bucket), with bootstrap intervals.

Why: a naive AUC that collapses to 0.5 inside every domain is a domain effect, not memorization; a slice that
holds only one arm says membership is that covariate. A diagnostic of step 3, so the report only prints it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from llm_audit.estimate.bootstrap import ResamplingCounts, percentile_interval, replicate
from llm_audit.estimate.estimands import ESTIMANDS
from llm_audit.estimate.methods import METHODS, Problem
from llm_audit.estimate.results import Value
from llm_audit.parallel import parallel_map

SLICE_BOOTSTRAP = 200  # replicates per slice: an interval to read, not a figure to quote to 3 decimals
MIN_SLICE_ARM = 2  # fewer texts of an arm in a slice: no AUC


def slice_masks(covariates: pd.DataFrame) -> list[tuple[str, str, np.ndarray]]:
    """(kind, label, mask) for each domain and each quartile of the known dates."""
    out: list[tuple[str, str, np.ndarray]] = []
    if "domain" in covariates.columns:
        dom = covariates["domain"].map(lambda v: "unknown" if pd.isna(v) else str(v))
        for value in sorted(dom.unique()):
            out.append(("domain", value, (dom == value).to_numpy()))
    if "date" in covariates.columns:
        date = pd.to_numeric(covariates["date"], errors="coerce")
        known = date.notna() if "date_missing" not in covariates.columns else (covariates["date_missing"] == 0)
        dates = date[known]
        if dates.nunique() >= 2:
            buckets = pd.qcut(dates, q=min(4, int(dates.nunique())), duplicates="drop")
            for interval in buckets.cat.categories:
                mask = np.zeros(len(covariates), dtype=bool)
                mask[np.flatnonzero(known.to_numpy())[(buckets == interval).to_numpy()]] = True
                lo, hi = math.floor(max(interval.left, dates.min())), math.floor(interval.right)
                out.append(("date", f"{lo}-{hi}", mask))
        if (~known).any():
            out.append(("date", "unknown", (~known).to_numpy()))
    return out


def slice_aucs(scores: dict[str, np.ndarray], member: np.ndarray, covariates: pd.DataFrame, seed: int,
               fpr: tuple[float, ...] = (0.05,), jobs: int = 1) -> list[dict[str, Any]]:
    """One row per slice: its counts per arm and each score's naive AUC (a ``Value`` dict, null with one arm).
    Every score of a slice is resampled with the same counts; the slices run on ``jobs`` workers."""

    def one(k_slice: tuple[int, tuple[str, str, np.ndarray]]) -> dict[str, Any]:
        k, (kind, label, mask) = k_slice
        t = member[mask]
        n1, n0 = int(t.sum()), int(len(t) - t.sum())
        row: dict[str, Any] = {"slice": kind, "value": label, "members": n1, "nonmembers": n0, "auc": {}}
        if min(n1, n0) < MIN_SLICE_ARM:
            row["auc"] = {name: Value(None).to_dict() for name in scores}
            return row
        fits = {name: METHODS["naive"].fit(Problem(s[mask], t, fpr, ESTIMANDS["ate"])) for name, s in scores.items()}
        reps = replicate(fits, ResamplingCounts(t, SLICE_BOOTSTRAP, seed + k))
        for name, fit in fits.items():
            ci = percentile_interval(reps[name]["auc"])
            row["auc"][name] = Value(float(fit.point.auc), ci, ci_method="bootstrap percentile").to_dict()
        return row

    return parallel_map(one, list(enumerate(slice_masks(covariates))), jobs=jobs)
