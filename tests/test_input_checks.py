"""Inputs a new user gave the tool on its first day (a fresh-user review): dates as text, a stray word in a score
column, reserved columns, ids that look like numbers, separation by a category, degenerate replicates, devices,
overwritten sidecars, an unusable cutoff, duplicated config keys. Each is a one-line error or an honest result."""

import json

import numpy as np
import pandas as pd
import pytest

from llm_audit.config import load_config
from llm_audit.corpus import load_corpus
from llm_audit.errors import AuditError
from llm_audit.estimate import estimate
from llm_audit.estimate.design import prepare
from llm_audit.estimate.options import EstimateConfig
from llm_audit.report.markdown import for_terminal
from llm_audit.scoring.model import resolve_device
from llm_audit.tables import read_table, write_table


def _dated(n=400, seed=0):
    """Members dated 2000-2015, non-members 2010-2023; the score follows the year only (no memorization)."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, n)
    year = np.where(t == 1, rng.uniform(2000, 2015, n), rng.uniform(2010, 2023, n))
    day = pd.to_datetime("2000-01-01") + pd.to_timedelta((year - 2000) * 365.2425, unit="D")
    iso = day.strftime("%Y-%m-%d")
    ids = [f"t{i}" for i in range(n)]
    scores = pd.DataFrame({"id": ids, "member": t, "loss": -0.1 * year + rng.normal(0, 0.3, n)})
    return scores, pd.DataFrame({"id": ids, "date": iso, "length": rng.normal(size=n)})


def test_dates_given_as_text_are_read_as_dates_not_dropped_as_categories():
    scores, cov = _dated()
    data = prepare(scores, cov)
    assert data.covariates["date"].dtype == float and data.covariates["date"].between(2000, 2024).all()
    assert "covariate 'date': text read as dates (fractional years)" in data.notes
    years = pd.Series(data.covariates["date"].to_numpy(), index=data.ids)  # prepare puts the units in id order
    numeric = cov.assign(date=years.loc[cov["id"]].to_numpy())
    as_text = estimate(scores, cov, n_bootstrap=0, seed=0, n_jobs=1, methods=("naive", "ipw"), estimands=[])
    as_year = estimate(scores, numeric, n_bootstrap=0, seed=0, n_jobs=1, methods=("naive", "ipw"), estimands=[])
    assert as_text.to_dict()["diagnostics"]["blind_auc"] == as_year.to_dict()["diagnostics"]["blind_auc"] > 0.85
    assert as_text.verdict != "identified"


@pytest.mark.parametrize("values", [("v2", "v10"), ("8", "12-14"), ("3-4", "10-12"), ("1st", "2nd"), ("10am", "2pm"),
                                    ("1/2", "3/4"), ("3", "2019-01-01"), ("10:30", "11:45"), ("A1", "B2")])
def test_a_category_with_digits_stays_a_category(values):
    scores, cov = _dated(100)
    cov = cov.assign(band=np.where(np.arange(100) % 2, *values))
    data = prepare(scores, cov)
    assert data.covariates["band"].dtype != float


def test_dates_with_gaps_are_dates():
    scores, cov = _dated(100)
    cov["date"] = cov["date"].where(np.arange(100) % 10 != 0, "")
    assert prepare(scores, cov).covariates["date"].isna().sum() == 10


def test_a_date_or_number_column_with_a_stray_value_is_refused_not_dropped():
    scores, cov = _dated()
    for bad, what in (("unknown", "a date"), ("2019-02-30", "a date")):
        with pytest.raises(AuditError, match=f"covariates table: column 'date' id 't7': '{bad}' is not {what}"):
            prepare(scores, cov.assign(date=cov["date"].where(cov.index != 7, bad)))
    years_too = cov.assign(date=cov["date"].where(cov.index % 10 != 0, cov["date"].str[:4]))  # '2012' beside ISO dates
    assert prepare(scores, years_too).covariates["date"].dtype == float
    words = cov.assign(length=cov["length"].astype(object).where(cov.index != 4, "err"))
    with pytest.raises(AuditError, match="covariates table: column 'length' id 't4': 'err' is not a number"):
        prepare(scores, words)
    with pytest.raises(AuditError, match="id 't4'"):  # named by id whatever the covariates table's row order
        prepare(scores, words.iloc[::-1])


def test_a_score_column_with_many_non_numbers_is_left_out_with_a_note():
    scores, cov = _dated()
    text = scores.assign(loss=scores["loss"].astype(object).where(scores.index % 80 != 0, "1,868.9"))  # 5 of 400
    data = prepare(text.assign(other=scores["loss"]), cov)
    assert list(data.scores) == ["other"]
    assert "scores table: column 'loss' left out: 5 of 400 values are not numbers (e.g. '1,868.9')" in data.notes


def test_a_stray_word_in_a_score_column_is_refused_not_dropped():
    scores, cov = _dated(60)
    scores["loss"] = scores["loss"].astype(object)
    scores.loc[7, "loss"] = "err"
    with pytest.raises(AuditError, match=r"column 'loss' row 8: 'err' is not a number .*--scores-cols"):
        prepare(scores, cov)
    # a text column of numbers, or one with many words, is text: not a score, not an error
    text = scores.assign(loss=scores["loss"].where(scores.index != 7, 0.0).astype(float),
                         zip=[f"{i:05d}" for i in range(60)], source=["web" if i % 3 else "1999" for i in range(60)])
    assert list(prepare(text, cov).scores) == ["loss"]


def test_the_label_is_never_a_score_and_an_id_is_never_missing():
    scores, cov = _dated(60)
    with pytest.raises(AuditError, match="column 'member' is reserved"):
        prepare(scores, cov, ["member"])
    with pytest.raises(AuditError, match=r"scores table: 1 row\(s\) without an id, e.g. row 4"):
        prepare(scores.assign(id=scores["id"].where(scores.index != 3)), cov)


def test_a_missing_group_is_refused_and_few_groups_get_a_note():
    scores, cov = _dated(60)
    cov["group"] = [f"d{i // 4}" for i in range(60)]
    assert any("few of them" in n for n in prepare(scores, cov).notes)
    cov.loc[5, "group"] = None
    with pytest.raises(AuditError, match="column 'group' has 1 missing value"):
        prepare(scores, cov)


def test_multi_run_joins_ids_read_as_numbers_with_ids_read_as_text():
    from llm_audit.estimate.regimes import multi_run

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"run": np.repeat([0, 1, 2], 40), "id": np.tile(np.arange(40), 3)})  # integer ids (Parquet)
    df["member"] = rng.integers(0, 2, len(df))
    df["loss"] = rng.normal(size=len(df)) - 0.5 * df["member"]
    inclusion = df[["run", "id", "member"]].assign(id=df["id"].astype(str))  # a CSV one, ids as text
    joined = multi_run(df.drop(columns="member"), inclusion, n_bootstrap=20).to_dict()
    assert joined["scores"]["loss"]


def test_the_scores_table_reads_labels_as_the_corpus_does():
    scores, cov = _dated(60)
    words = scores.assign(member=np.where(scores["member"] == 1, "Yes", "no"))
    data = prepare(words, cov)
    assert np.array_equal(data.member, scores.set_index("id").loc[data.ids, "member"].to_numpy())
    with pytest.raises(AuditError, match=r"column 'member' row 3: value 'maybe' is not 0/1"):
        prepare(words.assign(member=words["member"].where(words.index != 2, "maybe")), cov)


def test_csv_ids_stay_text(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("id,member,loss\n00012,1,0.5\n00013,0,0.4\n")
    assert list(read_table(path)["id"]) == ["00012", "00013"]


def test_separation_by_a_category_leaves_no_overlap_population():
    rng = np.random.default_rng(1)
    n = 400
    dom = rng.choice(["a", "b", "c"], n)
    t = (dom == "a").astype(int)
    ids = [f"t{i}" for i in range(n)]
    scores = pd.DataFrame({"id": ids, "member": t, "loss": rng.normal(size=n) + 0.5 * t})
    cov = pd.DataFrame({"id": ids, "domain": dom, "length": rng.normal(size=n)})
    d = estimate(scores, cov, n_bootstrap=0, seed=0, n_jobs=1).to_dict()
    for key in ("ipw_ato", "dr_ato"):
        assert d["scores"]["loss"][key]["auc"]["value"] is None
    ato = d["diagnostics"]["estimands"]["ato"]
    assert ato["verdict"] == "not_identified" and ato["reasons"][0].startswith("overlap population too small: 0 members")


def test_a_score_that_separates_the_arms_does_not_fail_subset_stability():
    from llm_audit.report.layout import refuters
    from llm_audit.report.summary import summarize

    scores, cov = _dated(300)
    scores = scores.assign(loss=10.0 * scores["member"] + 1e-6 * np.arange(300))
    cov = cov.assign(date=np.random.default_rng(0).normal(size=300))  # unconfounded
    est = estimate(scores, cov, n_bootstrap=50, seed=0, n_jobs=1)
    rows = [r for r in est.to_dict()["diagnostics"]["refuters"] if r["refuter"] == "subset_stability"]
    assert rows and all(r["passed"] is not False for r in rows)
    # no confounder within the searched range reaches 0.5: said as such, and the report calls it reported, not "not run"
    [sens] = [r for r in est.to_dict()["diagnostics"]["refuters"] if r["refuter"] == "sensitivity"]
    assert sens["value"] is None and sens["statistic"].startswith("Gamma to reach AUC 0.5: > 20")
    [row] = [r for r in refuters(summarize(est))[1] if r[0] == "sensitivity"]
    assert row[1] == "reported"


def test_too_few_replicates_for_an_interval_are_refused():
    with pytest.raises(AuditError, match="bootstrap: must be 0 .* or an integer >= 20"):
        EstimateConfig(bootstrap=2).validate()
    EstimateConfig(bootstrap=0).validate()


def test_a_device_this_torch_cannot_use_is_one_line():
    for device in ("cuda:99", "foo"):
        with pytest.raises(AuditError, match="device:"):
            resolve_device(device)
    assert resolve_device("cpu").type == "cpu"


def test_a_named_text_column_wins_over_a_text_column_beside_it(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"text": "raw html <b>", "clean": f"clean text number {i}", "member": i % 2})
                            + "\n" for i in range(4)))
    corpus = load_corpus(path, text_column="clean")
    assert list(corpus["text"]) == [f"clean text number {i}" for i in range(4)]


def test_a_users_file_where_the_sidecar_goes_is_not_replaced(tmp_path):
    (tmp_path / "x.csv.meta.json").write_text("my notes\n")
    df = pd.DataFrame({"id": ["a"], "v": [1.0]})
    df.attrs = {"notes": ["n"]}
    with pytest.raises(AuditError, match=r"x.csv.meta.json: already exists"):
        write_table(df, tmp_path / "x.csv", overwrite=False)
    assert (tmp_path / "x.csv.meta.json").read_text() == "my notes\n" and not (tmp_path / "x.csv").exists()


def test_a_cutoff_that_cannot_be_used_is_an_error_not_ignored():
    with pytest.raises(AuditError, match="cutoff: cannot read 'notadate' as a date"):
        EstimateConfig(cutoff="notadate").validate()
    scores, cov = _dated(100)
    with pytest.raises(AuditError, match="cutoff: '2015' given, but the covariates have no usable 'date' column"):
        estimate(scores, cov.drop(columns="date"), n_bootstrap=0, seed=0, n_jobs=1, cutoff="2015")


def test_a_config_key_given_twice_is_refused(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("estimate: {bootstrap: 50}\nestimate: {bootstrap: 5000}\n")
    with pytest.raises(AuditError, match="line 2: not valid YAML \\(key 'estimate' given twice\\)"):
        load_config(path)
    path.write_text("common: &c {bootstrap: 50, folds: 3}\nestimate: {<<: *c, bootstrap: 60}\n")
    with pytest.raises(AuditError, match="common"):  # a merge key is fine; the unknown section is what fails
        load_config(path)


def test_the_terminal_gets_plain_text_not_entities():
    assert for_terminal("z 9.4, adj. p &lt;= 0.005") == "z 9.4, adj. p <= 0.005"
