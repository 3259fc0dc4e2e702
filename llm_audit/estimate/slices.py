"""Naive AUC within slices of the corpus (each domain, each date bucket), with bootstrap intervals.

Why: a naive AUC that collapses to 0.5 inside every domain is a domain effect, not memorization; a slice that
holds only one arm says membership is that covariate. A diagnostic of step 3, so the report only prints it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from llm_audit.estimate.bootstrap import bootstrap_replicates, percentile_interval
from llm_audit.estimate.estimands import ESTIMANDS
from llm_audit.estimate.methods import METHODS, Problem
from llm_audit.estimate.results import Value

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
        known = (known & date.notna()).to_numpy()
        for label, in_bucket in year_buckets(date.to_numpy(dtype=float)[known]):
            mask = np.zeros(len(covariates), dtype=bool)
            mask[np.flatnonzero(known)[in_bucket]] = True
            out.append(("date", label, mask))
        if (~known).any():
            out.append(("date", "unknown", ~known))
    return out


def year_buckets(dates: np.ndarray, q: int = 4) -> list[tuple[str, np.ndarray]]:
    """Up to ``q`` buckets of whole years with about equal counts: ``(label, mask)`` with disjoint labels.

    A bucket holds the years ``[c_k, c_{k+1})``, its edges ``c_k`` observed years at the quantiles, so no year
    sits in two labels ("1993-2009", then "2010-2015"). The outer buckets are open ("before 1993", "2016 or
    later"): the extreme years are often years a text mentions (a forecast for 2080, a history from 1903),
    not when it was written, and a label "2016-2080" would read as a span of dates.
    """
    years = np.floor(np.asarray(dates, dtype=float))
    if len(np.unique(years)) < 2:
        return []
    inner = np.quantile(years, np.arange(1, q) / q, method="higher")
    cuts = np.unique(inner[inner > years.min()])  # an edge at the earliest year leaves an empty first bucket
    edges = np.r_[-np.inf, cuts, np.inf]
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (years >= lo) & (years < hi)
        if not mask.any():
            continue
        if lo == -np.inf:
            label = f"before {int(hi)}"
        elif hi == np.inf:
            label = f"{int(lo)} or later"
        else:
            label = f"{int(lo)}" if hi - lo == 1 else f"{int(lo)}-{int(hi) - 1}"
        out.append((label, mask))
    return out


def slice_aucs(scores: dict[str, np.ndarray], member: np.ndarray, covariates: pd.DataFrame, seed: int,
               fpr: tuple[float, ...] = (0.05,)) -> list[dict[str, Any]]:
    """One row per slice: its counts per arm and each score's naive AUC (a ``Value`` dict, null with one arm)."""
    rows = []
    for k, (kind, label, mask) in enumerate(slice_masks(covariates)):
        t = member[mask]
        n1, n0 = int(t.sum()), int(len(t) - t.sum())
        row: dict[str, Any] = {"slice": kind, "value": label, "members": n1, "nonmembers": n0, "auc": {}}
        for name, s in scores.items():
            if min(n1, n0) < MIN_SLICE_ARM:
                row["auc"][name] = Value(None).to_dict()
                continue
            fit = METHODS["naive"].fit(Problem(s[mask], t, fpr, ESTIMANDS["ate"]))
            reps = bootstrap_replicates({"naive": fit}, t, n_boot=SLICE_BOOTSTRAP, seed=seed + k, n_jobs=1)
            ci = percentile_interval(reps["naive"]["auc"])
            row["auc"][name] = Value(float(fit.point.auc), ci, ci_method="bootstrap percentile").to_dict()
        rows.append(row)
    return rows
