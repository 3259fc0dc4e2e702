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


def test_fewer_than_20_per_arm_gives_naive_figures_and_not_identified(tables):
    # README: "< 20 units per arm" is a reason for not_identified, not a crash; the naive figures stand
    s, c = tables
    s = s.copy()
    s["member"] = 0
    s.loc[:9, "member"] = 1
    est = estimate(s, c, n_bootstrap=20, seed=0, dp_epsilon=1.0)
    d = est.to_dict()
    assert d["diagnostics"]["verdict"] == "not_identified"
    assert d["diagnostics"]["verdict_reasons"] == ["fewer than 20 members (10): too few units for a corrected estimate"]
    lo, hi = est.interval("score", "naive", "auc")
    assert lo <= est.value("score", "naive", "auc") <= hi
    for method in ("ipw", "dr"):
        assert d["scores"]["score"][method]["auc"]["value"] is None and d["scores"]["score"][method]["auc"]["ci"] is None
    assert d["diagnostics"]["blind_auc"] is None and d["diagnostics"]["per_score"]["score"]["placebo_auc"] is None
    assert "fewer than 20 members" in est.summary()
    # below 2 per arm there is no naive AUC worth giving either
    s.loc[1:9, "member"] = 0
    _err(s, c, r"too few units per arm \(1 members, 599 non-members; at least 2 each\)")


def test_fewer_than_20_per_arm_renders_a_report(tables, tmp_path):
    from llm_audit.cli import main

    s, c = tables
    s = s.assign(member=0)
    s.loc[:4, "member"] = 1
    estimate(s, c, n_bootstrap=20, seed=0).save(tmp_path / "e.json")
    assert main(["report", "--estimates", str(tmp_path / "e.json"), "--out-dir", str(tmp_path)]) == 0
    assert "fewer than 20 members (5)" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "report.html").stat().st_size > 0


def test_infinite_covariate_is_named_by_table_column_and_id(tables):
    s, c = tables
    c = c.copy()
    c.loc[[4, 9], "x2"] = [-np.inf, np.inf]
    _err(s, c, r"^covariates table: column 'x2' has 2 infinite value\(s\), e.g. id 'u4' \(row 5\)$")


def test_member_left_in_the_covariates_is_dropped_with_a_note_never_used(tables):
    s, c = tables
    est = estimate(s, c.assign(member=s["member"]), n_bootstrap=0, seed=0)
    d = est.to_dict()
    assert "member" not in d["config"]["covariates"]
    assert d["diagnostics"]["blind_auc"] < 0.9  # with the label as a covariate it was 1.000
    assert any("covariate 'member' dropped: it is the membership label" in n for n in d["notes"])
    plain = estimate(s, c, n_bootstrap=0, seed=0).to_dict()
    assert d["scores"] == plain["scores"] and d["diagnostics"]["blind_auc"] == plain["diagnostics"]["blind_auc"]


def test_member_in_the_covariates_that_disagrees_is_refused(tables):
    s, c = tables
    flipped = s["member"].copy()
    flipped.iloc[7] = 1 - flipped.iloc[7]
    _err(s, c.assign(member=flipped), r"covariates table: column 'member' disagrees with the scores table on 1 id\(s\), e.g. id 'u7'")


def test_a_score_column_as_covariate_is_refused(tables):
    s, c = tables
    _err(s, c.assign(score=s["score"]), "covariates table: column 'score' is also a score column of the scores table")
    # another score of the audited model is post-treatment too, even when it is not estimated in this call
    _err(s.assign(zlib=s["score"] * 0.5), c.assign(zlib=1.0), "column 'zlib' is also a score column", scores=["score"])
    # a reserved column (n_tokens: a length, not a score) stays a covariate
    n_tokens = np.arange(len(s)) % 7
    est = estimate(s.assign(n_tokens=n_tokens), c.assign(n_tokens=n_tokens), n_bootstrap=0, seed=0)
    assert "n_tokens" in est.to_dict()["config"]["covariates"]


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
    assert d["diagnostics"]["per_score"]["score"]["constant"] is True
    assert any("constant" in n for n in d["notes"])
    for method in ("naive", "ipw", "dr"):
        assert est.value("score", method, "auc") == pytest.approx(0.5)
        assert est.value("score", method, "mean_diff") == pytest.approx(0.0, abs=1e-9)


def test_constant_and_all_missing_covariates_are_dropped_with_a_note(tables):
    s, c = tables
    est = estimate(s, c.assign(const=3.0, empty=np.nan), n_bootstrap=0, seed=0)
    notes = est.notes
    assert any("'const' dropped: constant" in n for n in notes)
    assert any("'empty' dropped: all values missing" in n for n in notes)
    assert "const" not in est.to_dict()["config"]["covariates"]


def test_missing_covariate_values_are_imputed_with_a_note(tables):
    s, c = tables
    c = c.copy()
    c.loc[:50, "x1"] = np.nan
    c.loc[:20, "domain"] = None
    est = estimate(s, c, n_bootstrap=0, seed=0)
    notes = est.notes
    assert any("'x1': 51 missing" in n for n in notes)
    assert est.value("score", "ipw", "auc") is not None


def test_no_usable_covariate_gives_naive_equal_corrected(tables):
    s, c = tables
    est = estimate(s, c[["id"]].assign(k=1.0), n_bootstrap=0, seed=0)
    assert est.value("score", "ipw", "auc") == pytest.approx(est.value("score", "naive", "auc"), abs=1e-12)
    assert any("no usable covariate" in n for n in est.notes)


def test_grouped_units_keep_a_document_in_one_fold(tables):
    s, c = tables
    est = estimate(s, c.assign(group=[f"d{i // 3}" for i in range(len(c))]), n_bootstrap=0, seed=0)
    assert est.to_dict()["config"]["grouped_folds"] is True
    assert "group" not in est.to_dict()["config"]["covariates"]


def test_refit_propensity_bootstrap_is_stated_in_the_json(tables):
    s, c = tables
    est = estimate(s, c, n_bootstrap=20, folds=3, seed=0, refit_propensity=True, n_jobs=1)
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
    assert any("'text' dropped: 600 distinct categories" in n for n in d["notes"])
    assert "date" in d["diagnostics"]["smd"]
