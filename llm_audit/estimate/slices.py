"""Naive AUC within slices of the corpus (each domain, each date bucket), with bootstrap intervals.

Why: a naive AUC that collapses to 0.5 inside every domain is a domain effect, not memorization; a slice that
holds only one arm says membership is that covariate. A diagnostic of step 3, so the report only prints it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from llm_audit.estimate.bootstrap import ResamplingCounts, percentile_interval, replicate
from llm_audit.estimate.cutoff.design import detect_design
from llm_audit.estimate.estimands import ESTIMANDS
from llm_audit.estimate.methods import METHODS, Problem
from llm_audit.estimate.results import Value
from llm_audit.parallel import parallel_map

SLICE_BOOTSTRAP = 200  # replicates per slice: an interval to read, not a figure to quote to 3 decimals
MIN_SLICE_ARM = 2  # fewer texts of an arm in a slice: no AUC


def slice_masks(covariates: pd.DataFrame, member: np.ndarray | None = None) -> list[tuple[str, str, np.ndarray]]:
    """(kind, label, mask) for each domain and each quartile of the known dates (split at the cutoff date
    when ``member`` follows the date, see ``year_buckets``)."""
    out: list[tuple[str, str, np.ndarray]] = []
    if "domain" in covariates.columns:
        dom = covariates["domain"].map(lambda v: "unknown" if pd.isna(v) else str(v))
        for value in sorted(dom.unique()):
            out.append(("domain", value, (dom == value).to_numpy()))
    if "date" in covariates.columns:
        date = pd.to_numeric(covariates["date"], errors="coerce")
        known = date.notna() if "date_missing" not in covariates.columns else (covariates["date_missing"] == 0)
        known = (known & date.notna()).to_numpy()
        dates = date.to_numpy(dtype=float)[known]
        cutoff = _cutoff(dates, None if member is None else np.asarray(member)[known])
        for label, in_bucket in year_buckets(dates, cutoff=cutoff):
            mask = np.zeros(len(covariates), dtype=bool)
            mask[np.flatnonzero(known)[in_bucket]] = True
            out.append(("date", label, mask))
        if (~known).any():
            out.append(("date", "unknown", ~known))
    return out


def _cutoff(dates: np.ndarray, member: np.ndarray | None) -> float | None:
    """The cutoff date d0 when membership follows the date (members before, non-members after), else None."""
    if member is None or len(np.unique(dates)) < 2 or member.all() or not member.any():
        return None
    design = detect_design(dates, member)
    return design.d0 if design.is_cutoff else None


def year_buckets(dates: np.ndarray, q: int = 4, cutoff: float | None = None) -> list[tuple[str, np.ndarray]]:
    """Up to ``q`` buckets of dates with about equal counts: ``(label, mask)``, the labels disjoint.

    A bucket holds the dates in ``[c_k, c_{k+1})``, its edges ``c_k`` the quantiles rounded to the nearest new
    year, so no year sits in two labels ("1993 to 2009", then "2010 to 2015"). A ``cutoff`` (the date that
    splits members from non-members) replaces the nearest quantile edge, at the start of its day, so that each
    bucket holds one side of it ("2005 to 2009-12-19", "2009-12-20 to 2014"). The outer buckets are open
    ("before 1993", "2016 or later"): the extreme years are often years a text mentions (a forecast for 2080, a
    history from 1903), not when it was written, and a label "2016-2080" would read as a span of dates.
    """
    dates = np.asarray(dates, dtype=float)
    if len(np.unique(np.floor(dates))) < 2:
        return []
    cuts = np.unique(np.round(np.quantile(dates, np.arange(1, q) / q)))
    if cutoff is not None:
        cuts = np.delete(cuts, np.argmin(np.abs(cuts - cutoff)))
        cuts = np.unique(np.r_[cuts, _day_start(cutoff)])
    edges = np.r_[-np.inf, cuts, np.inf]
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (dates >= lo) & (dates < hi)
        if not mask.any():
            continue
        if lo == -np.inf:
            label = f"before {_first(hi)}"
        elif hi == np.inf:
            label = f"{_first(lo)} or later"
        elif _first(lo) == _last(hi):
            label = _first(lo)
        else:
            label = f"{_first(lo)} to {_last(hi)}"
        out.append((label, mask))
    return out


def _day(x: float) -> dt.date:
    """The calendar day a fractional year falls on (2019.5 -> 2019-07-02)."""
    year = int(np.floor(x))
    start = dt.date(year, 1, 1)
    days = (dt.date(year + 1, 1, 1) - start).days
    return start + dt.timedelta(days=int(np.floor((x - year) * days + 1e-9)))


def _day_start(x: float) -> float:
    """The fractional year at the start of the day ``x`` falls on."""
    day = _day(x)
    days = (dt.date(day.year + 1, 1, 1) - dt.date(day.year, 1, 1)).days
    return day.year + (day - dt.date(day.year, 1, 1)).days / days


def _first(edge: float) -> str:
    """An edge as the first year or day a bucket starting there holds."""
    return str(int(edge)) if edge == int(edge) else _day(edge).isoformat()


def _last(edge: float) -> str:
    """An edge as the last year or day a bucket ending (exclusive) there holds."""
    return str(int(edge) - 1) if edge == int(edge) else (_day(edge) - dt.timedelta(days=1)).isoformat()


def slice_aucs(scores: dict[str, np.ndarray], member: np.ndarray, covariates: pd.DataFrame, seed: int,
               fpr: tuple[float, ...] = (0.05,), jobs: int = 1, groups: np.ndarray | None = None
               ) -> list[dict[str, Any]]:
    """One row per slice: its counts per arm and each score's naive AUC (a ``Value`` dict, null with one arm).
    Every score of a slice is resampled with the same counts (whole ``groups`` where given); the slices run on
    ``jobs`` workers."""

    def one(k_slice: tuple[int, tuple[str, str, np.ndarray]]) -> dict[str, Any]:
        k, (kind, label, mask) = k_slice
        t = member[mask]
        n1, n0 = int(t.sum()), int(len(t) - t.sum())
        row: dict[str, Any] = {"slice": kind, "value": label, "members": n1, "nonmembers": n0, "auc": {}}
        if min(n1, n0) < MIN_SLICE_ARM:
            row["auc"] = {name: Value(None).to_dict() for name in scores}
            return row
        fits = {name: METHODS["naive"].fit(Problem(s[mask], t, fpr, ESTIMANDS["ate"])) for name, s in scores.items()}
        reps = replicate(fits, ResamplingCounts(t, SLICE_BOOTSTRAP, seed + k,
                                                     groups=None if groups is None else groups[mask]))
        for name, fit in fits.items():
            ci = percentile_interval(reps[name]["auc"])
            row["auc"][name] = Value(float(fit.point.auc), ci, ci_method="bootstrap percentile").to_dict()
        return row

    return parallel_map(one, list(enumerate(slice_masks(covariates, member))), jobs=jobs)
