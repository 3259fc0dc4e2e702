"""Naive AUC by slice (a step-3 diagnostic): each slice's AUC against sklearn on that slice alone."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from llm_audit.estimate.slices import slice_aucs


def test_slice_aucs_match_sklearn_per_slice_and_cover_every_unit():
    rng = np.random.default_rng(3)
    n = 300
    member = rng.integers(0, 2, n)
    domain = np.where(rng.random(n) < 0.5, "wiki", "code")
    date = rng.integers(1990, 2020, n).astype(float)
    date[:12] = np.nan  # unknown dates get a slice of their own
    covs = pd.DataFrame({"domain": domain, "date": date})
    scores = {"loss": rng.normal(member, 1.0)}
    rows = slice_aucs(scores, member, covs, seed=0)
    for row in rows:
        if row["slice"] == "domain":
            mask = domain == row["value"]
        elif row["value"] == "unknown":
            mask = np.isnan(date)
        else:
            continue
        assert (row["members"], row["nonmembers"]) == (int(member[mask].sum()), int((1 - member[mask]).sum()))
        auc = row["auc"]["loss"]
        assert auc["value"] == pytest.approx(roc_auc_score(member[mask], scores["loss"][mask]), abs=1e-12)
        assert auc["ci"][0] <= auc["value"] <= auc["ci"][1]
    dates = [r for r in rows if r["slice"] == "date"]
    assert sum(r["members"] + r["nonmembers"] for r in dates) == n


def test_a_slice_with_one_arm_has_no_auc():
    member = np.r_[np.ones(20, int), np.zeros(20, int)]
    covs = pd.DataFrame({"domain": np.r_[["old"] * 20, ["new"] * 20]})
    rows = slice_aucs({"loss": np.arange(40.0)}, member, covs, seed=0)
    assert all(r["auc"]["loss"]["value"] is None for r in rows)


def _years_of(label: str) -> tuple[float, float]:
    """The whole years a date-slice label names, read back from its words: [first, last]."""
    if label.startswith("before "):
        return -np.inf, int(label.split()[1]) - 1
    if label.endswith(" or later"):
        return int(label.split()[0]), np.inf
    first, _, last = label.partition(" to ")
    return int(first), int(last or first)


def test_date_slices_have_disjoint_labels_that_hold_their_texts_and_hide_mentioned_extremes():
    rng = np.random.default_rng(5)
    n = 400
    date = rng.uniform(1995, 2021, n)
    date[0], date[1] = 2080.0, 1903.0  # years a text mentions, not when it was written
    member = rng.integers(0, 2, n)
    rows = slice_aucs({"loss": rng.normal(size=n)}, member, pd.DataFrame({"date": date}), seed=0)
    spans = [(r, _years_of(r["value"])) for r in rows if r["slice"] == "date"]
    assert len(spans) == 4
    years = np.floor(date)
    for row, (first, last) in spans:
        inside = (years >= first) & (years <= last)
        assert (row["members"], row["nonmembers"]) == (int(member[inside].sum()), int((1 - member[inside]).sum()))
    for (_, (_, last)), (_, (nxt, _)) in zip(spans, spans[1:]):
        assert last + 1 == nxt  # disjoint and gapless: the next slice starts the year after this one ends
    assert sum(r["members"] + r["nonmembers"] for r, _ in spans) == n
    labels = " ".join(r["value"] for r, _ in spans)
    assert "2080" not in labels and "1903" not in labels
    assert spans[0][0]["value"].startswith("before ") and spans[-1][0]["value"].endswith(" or later")


def test_a_corpus_split_at_a_date_is_split_there_to_the_day():
    rng = np.random.default_rng(6)
    day = rng.integers(0, 365 * 20, 300)  # days since 2000-01-01
    date = np.array([d.year + (d - dt.date(d.year, 1, 1)).days / (366 if d.year % 4 == 0 else 365)
                     for d in (dt.date(2000, 1, 1) + dt.timedelta(days=int(k)) for k in day)])
    member = (day < day[np.argsort(day)[170]]).astype(int)  # a cutoff day between the median and a quartile
    rows = slice_aucs({"loss": rng.normal(size=300)}, member, pd.DataFrame({"date": date}), seed=0)
    dates = [r for r in rows if r["slice"] == "date"]
    assert len(dates) == 4 and all(min(r["members"], r["nonmembers"]) == 0 for r in dates)
    cut = dt.date(2000, 1, 1) + dt.timedelta(days=int(day[np.argsort(day)[170]]))
    last_member = dt.date(2000, 1, 1) + dt.timedelta(days=int(day[member == 1].max()))
    labels = [r["value"] for r in dates]
    # the member side ends on a day between the last member's and the first non-member's; the next starts a day later
    end = dt.date.fromisoformat(labels[1].split(" to ")[1])
    assert last_member <= end < cut
    assert labels[2].startswith((end + dt.timedelta(days=1)).isoformat() + " to ")
