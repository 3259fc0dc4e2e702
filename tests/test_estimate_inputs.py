"""Bad input to the estimator: a one-line AuditError, or a clearly flagged result; never a crash."""

import numpy as np
import pytest

from llm_audit.errors import AuditError
from llm_audit.estimate import estimate
from llm_audit.simulate import simulate


@pytest.fixture()
def tables():
    return simulate(600, 0.5, 0.5, seed=5)


def _err(s, c, match, **kw):
    with pytest.raises(AuditError, match=match) as info:
        estimate(s, c, n_bootstrap=0, **kw)
    assert "\n" not in str(info.value)


def test_one_class_only(tables):
    s, c = tables
    _err(s.assign(member=1), c, "one class only")


def test_too_few_units_per_arm(tables):
    s, c = tables
    s = s.copy()
    s["member"] = 0
    s.loc[:9, "member"] = 1
    _err(s, c, "too few units per arm")


def test_nan_scores_named_with_an_id(tables):
    s, c = tables
    s = s.copy()
    s.loc[7, "score"] = np.nan
    _err(s, c, r"'score' has 1 NaN.*id 'u7'")


def test_ids_missing_between_tables(tables):
    s, c = tables
    _err(s, c.iloc[3:], r"3 id\(s\) in the scores table are missing from the covariates table, e.g. 'u0'")
    _err(s.iloc[:-2], c, r"2 id\(s\) in the covariates table are missing from the scores table")


def test_missing_member_column_and_bad_labels(tables):
    s, c = tables
    _err(s.drop(columns="member"), c, "no 'member' column")
    _err(s.assign(member=s["member"] * 2), c, "is not 0/1")


def test_bad_options(tables):
    s, c = tables
    _err(s, c, "target", target="atx")
    _err(s, c, "eta", eta=0.7)
    _err(s, c, "fpr", fpr=(0.0,))
    _err(s, c, "no column 'nope'", scores=["nope"])


def test_all_scores_equal_is_flagged_and_gives_chance(tables):
    s, c = tables
    est = estimate(s.assign(score=1.0), c, n_bootstrap=20, seed=0)
    d = est.to_dict()
    assert d["scores"]["score"]["constant"] is True
    assert any("constant" in n for n in d["diagnostics"]["notes"])
    for method in ("naive", "ipw", "dr"):
        assert est.value("score", method, "auc") == pytest.approx(0.5)
        assert est.value("score", method, "mean_diff") == pytest.approx(0.0, abs=1e-9)


def test_constant_and_all_missing_covariates_are_dropped_with_a_note(tables):
    s, c = tables
    est = estimate(s, c.assign(const=3.0, empty=np.nan), n_bootstrap=0, seed=0)
    notes = est.to_dict()["diagnostics"]["notes"]
    assert any("'const' dropped: constant" in n for n in notes)
    assert any("'empty' dropped: all values missing" in n for n in notes)
    assert "const" not in est.to_dict()["config"]["covariates"]


def test_missing_covariate_values_are_imputed_with_a_note(tables):
    s, c = tables
    c = c.copy()
    c.loc[:50, "x1"] = np.nan
    c.loc[:20, "domain"] = None
    est = estimate(s, c, n_bootstrap=0, seed=0)
    notes = est.to_dict()["diagnostics"]["notes"]
    assert any("'x1': 51 missing" in n for n in notes)
    assert est.value("score", "ipw", "auc") is not None


def test_no_usable_covariate_gives_naive_equal_corrected(tables):
    s, c = tables
    est = estimate(s, c[["id"]].assign(k=1.0), n_bootstrap=0, seed=0)
    assert est.value("score", "ipw", "auc") == pytest.approx(est.value("score", "naive", "auc"), abs=1e-12)
    assert any("no usable covariate" in n for n in est.to_dict()["diagnostics"]["notes"])


def test_grouped_units_keep_a_document_in_one_fold(tables):
    s, c = tables
    est = estimate(s, c.assign(group=[f"d{i // 3}" for i in range(len(c))]), n_bootstrap=0, seed=0)
    assert est.to_dict()["config"]["grouped_folds"] is True
    assert "group" not in est.to_dict()["config"]["covariates"]


def test_refit_propensity_bootstrap_is_stated_in_the_json(tables):
    s, c = tables
    est = estimate(s, c, n_bootstrap=3, folds=3, seed=0, refit_propensity=True, n_jobs=1)
    d = est.to_dict()
    assert d["config"]["refit_propensity"] is True
    assert "refit" in d["diagnostics"]["uncertainty"]["naive_ipw"]
    lo, hi = est.interval("score", "ipw", "auc")
    assert 0 < lo <= hi < 1


def test_dates_become_years_and_free_text_is_dropped(tables):
    import pandas as pd

    s, c = tables
    c = c.assign(date=pd.to_datetime("2020-01-01") + pd.to_timedelta(np.arange(len(c)), unit="D"),
                 text=[f"text {i}" for i in range(len(c))])
    est = estimate(s, c, n_bootstrap=0, seed=0)
    d = est.to_dict()
    assert "date" in d["config"]["covariates"] and "text" not in d["config"]["covariates"]
    assert any("'text' dropped: 600 distinct categories" in n for n in d["diagnostics"]["notes"])
    assert "date" in d["diagnostics"]["smd"]
