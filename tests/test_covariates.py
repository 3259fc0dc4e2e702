"""Covariate extractors (step 2): hand-computed values, common tests, date parsing, bad input, CLI."""

from __future__ import annotations

import datetime as dt
import json
import math
import zlib

import numpy as np
import pandas as pd
import pytest

from llm_audit.cli import main
from llm_audit.covariates import EXTRACTORS, extract_covariates
from llm_audit.covariates.date import latest_year_in_text, parse_date
from llm_audit.covariates.domain import url_host
from llm_audit.errors import AuditError
from llm_audit.training import train_bpe_tokenizer

TEXTS = [
    "The budget of 1999 was approved, and taxes rose.",
    "Railways expanded quickly; NEW lines opened in 1887 and 1903!",
    "We shall defend the Union. Peace, prosperity and trade.",
    "In 2021 the pandemic response cost $1.9 trillion dollars.",
    "A short one",
    "Climate, energy and jobs: the agenda for 2023 and beyond.",
]


def corpus(**extra: list) -> pd.DataFrame:
    df = pd.DataFrame({"id": [f"t{i}" for i in range(len(TEXTS))], "text": TEXTS, "member": [1, 1, 1, 0, 0, 0]})
    for name, values in extra.items():
        df[name] = values
    return df


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe_tokenizer(TEXTS * 20, vocab_size=300)


# ---- per-extractor values, computed by hand ----


def test_length_counts_chars_words_tokens(tokenizer):
    df = pd.DataFrame({"id": ["a", "b"], "text": ["Hello,  world!\nFoo", "x"]})
    out = extract_covariates(df, ["length"], tokenizer=tokenizer)
    assert out["n_chars"].tolist() == [18.0, 1.0]
    assert out["n_words"].tolist() == [3.0, 1.0]
    expected = [len(tokenizer.encode(t, add_special_tokens=False)) for t in df["text"]]
    assert out["n_tokens"].tolist() == [float(n) for n in expected]
    raw = extract_covariates(df, ["length"], tokenizer=tokenizer.backend_tokenizer)  # a `tokenizers.Tokenizer`
    assert raw["n_tokens"].tolist() == out["n_tokens"].tolist()


def test_length_tokenizer_from_local_folder(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path / "tok")
    out = extract_covariates(corpus(), ["length"], tokenizer=str(tmp_path / "tok"))
    assert out["n_tokens"].tolist() == [float(len(tokenizer.encode(t, add_special_tokens=False))) for t in TEXTS]


def test_lexical_statistics_by_hand():
    text = "Aa bb, aa 12!"  # 13 chars; words aa bb aa 12; letters A a b b a a
    out = extract_covariates(pd.DataFrame({"id": ["a", "b"], "text": [text, "Zzz"]}), ["lexical"])
    row = out.iloc[0]
    assert row["type_token_ratio"] == pytest.approx(3 / 4)
    assert row["digit_share"] == pytest.approx(2 / 13)
    assert row["punct_share"] == pytest.approx(2 / 13)
    assert row["upper_share"] == pytest.approx(1 / 6)
    assert row["mean_word_len"] == pytest.approx(2.0)
    raw = text.encode()
    assert row["zlib_ratio"] == pytest.approx(len(zlib.compress(raw, 9)) / len(raw))


def test_lexical_undefined_values_are_imputed_and_flagged():
    df = pd.DataFrame({"id": ["a", "b", "c", "d"], "text": ["ab cd", "Xy", "--- !!", "a b c"]})
    out = extract_covariates(df, ["lexical"])
    # "--- !!" has no word and no letter: its word statistics are imputed with the median of the others.
    assert out["mean_word_len"].tolist() == [2.0, 2.0, 2.0, 1.0]
    assert out["mean_word_len_missing"].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert out["upper_share"].tolist() == [0.0, 0.5, 0.0, 0.0]
    assert out.attrs["imputed"]["mean_word_len"] == 1
    assert out.attrs["imputed"]["type_token_ratio"] == 1


def test_date_from_column_and_from_text():
    dates = ["2019-07-02", "1887", None, 1625097600, "2021-01-01T12:00:00Z", ""]
    out = extract_covariates(corpus(date=dates), ["date"])
    expected = [2019 + 182 / 365, 1887.0, 1999.0, 2021 + 181 / 365, 2021 + 0.5 / 365, 2023.0]
    # Row 2 ("We shall defend the Union...") has neither a date nor a year: the median of the others.
    expected[2] = float(np.median([e for i, e in enumerate(expected) if i != 2]))
    assert out["date"].tolist() == pytest.approx(expected)
    assert out["date_missing"].tolist() == [0, 0, 1, 0, 0, 0]
    assert out["date_from_text"].tolist() == [0, 0, 0, 0, 0, 1]


def test_slashed_dates_are_read_in_one_order_for_the_whole_column():
    # 18/10/2013 can only be day-first, so 05/07/2019 in the same column is 5 July, not May 7
    out = extract_covariates(corpus(date=["05/07/2019", "18/10/2013", "01/02/2020", "2020-03-01", "", "3/4/2021"]),
                             ["date"])
    days = [dt.date(2019, 7, 5), dt.date(2013, 10, 18), dt.date(2020, 2, 1), dt.date(2020, 3, 1)]
    expected = [d.year + (d - dt.date(d.year, 1, 1)).days / (366 if d.year % 4 == 0 else 365) for d in days]
    assert out["date"].tolist()[:4] == pytest.approx(expected)
    assert out["date"].iloc[5] == pytest.approx(2021 + (dt.date(2021, 4, 3) - dt.date(2021, 1, 1)).days / 365)
    with pytest.raises(AuditError, match="day-first and month-first dates in one column .'18/10/2013', '05/27/2019'"):
        extract_covariates(corpus(date=["18/10/2013", "05/27/2019", "", "", "", ""]), ["date"])
    both_ways = extract_covariates(corpus(date=["05/07/2019", "01/02/2020", "", "", "", ""]), ["date"])
    assert both_ways["date"].iloc[0] == pytest.approx(2019 + (dt.date(2019, 5, 7) - dt.date(2019, 1, 1)).days / 365)
    assert any("read either way" in n for n in both_ways.attrs["notes"])


def test_date_without_column_is_latest_year_in_text():
    out = extract_covariates(corpus(), ["date"])
    assert out["date"].tolist()[:4] == [1999.0, 1903.0, out["date"].iloc[2], 2021.0]
    assert out["date_missing"].tolist() == [0, 0, 1, 0, 1, 0]
    assert any("no date column" in n for n in out.attrs["notes"])


@pytest.mark.parametrize(
    "value, year",
    [
        ("2019-07-02", 2019 + 182 / 365),
        ("1999", 1999.0),
        (1999, 1999.0),
        (2019.5, 2019.5),
        (1562025600, 2019 + 182 / 365),  # 2019-07-02T00:00:00Z in unix seconds
        (1562025600000, 2019 + 182 / 365),  # the same in milliseconds
        ("1562025600", 2019 + 182 / 365),
        ("2020-01-01T12:00:00+00:00", 2020 + 0.5 / 366),
        ("1790-01-08", 1790 + 7 / 365),  # before pandas' nanosecond range
        ("January 8, 1790", 1790 + 7 / 365),
        (dt.date(2000, 3, 1), 2000 + 60 / 366),
        (pd.Timestamp("2016-12-31"), 2016 + 365 / 366),
        (None, None),
        (math.nan, None),
        (pd.NA, None),
        ("  ", None),
        ("NA", None),
        ("20190702", 2019 + 182 / 365),  # compact ISO YYYYMMDD, not 1970-08-20 in seconds
        (20190702, 2019 + 182 / 365),
        ("201907", 2019 + 181 / 365),  # YYYYMM: the first of the month
        (20191345, 1970 + (20191345 - 0) / (365 * 86400)),  # no calendar date: seconds after all
    ],
)
def test_parse_date(value, year):
    got = parse_date(value)
    assert got == (None if year is None else pytest.approx(year, abs=1e-9))


@pytest.mark.parametrize("value", ["yesterday", "2019-13-45", True, [2019], "inf"])
def test_parse_date_refuses_non_dates(value):
    with pytest.raises(ValueError):
        parse_date(value)


@pytest.mark.parametrize(
    "text, year",
    [
        ("From 1950 to 2003 and then 1999.", 2003.0),
        ("12019 is not a year, nor 2101, nor 1899; 1900 is", 1900.0),
        ("call 555-2100-33", 2100.0),
        ("no digits", None),
    ],
)
def test_latest_year_in_text(text, year):
    got = latest_year_in_text(text)
    assert (math.isnan(got) and year is None) or got == year


def test_domain_from_column_url_host_and_auto_detection():
    sources = ["gov", "gov", None, "news", "news", "blog"]
    out = extract_covariates(corpus(source=sources), ["domain"])
    assert out["domain"].tolist() == ["gov", "gov", "missing", "news", "news", "blog"]
    assert out.attrs["imputed"] == {"domain": 1}
    urls = ["https://www.a.org/x", "http://b.com", "https://A.org/y?q=1", None, "ftp://c.net:21/f", "https://b.com/"]
    out = extract_covariates(corpus(link=urls), ["domain"], domain_column="link")
    assert out["domain"].tolist() == ["a.org", "b.com", "a.org", "missing", "c.net", "b.com"]
    assert pd.api.types.is_string_dtype(out["domain"])
    assert url_host("no-scheme") is None


def test_domain_and_date_skip_with_a_note_when_nothing_to_read():
    df = pd.DataFrame({"id": ["a", "b"], "text": ["no year", "none here at all"]})
    out = extract_covariates(df, ["domain", "date", "length"])
    assert list(out.columns) == ["id", "n_chars", "n_words"]
    notes = " | ".join(out.attrs["notes"])
    assert "domain: skipped" in notes and "date: dropped (missing for every text)" in notes


def test_tfidf_projection_matches_the_svd_of_a_hand_built_tfidf_matrix():
    texts = ["apple banana apple", "banana cherry", "cherry date date date", "apple date", "egg"]
    df = pd.DataFrame({"id": list("abcde"), "text": texts})
    out = extract_covariates(df, ["tfidf"], tfidf_k=2)
    vocab = sorted({w for t in texts for w in t.split()})
    n = len(texts)
    tf = np.array([[t.split().count(w) for w in vocab] for t in texts], dtype=float)
    df_counts = (tf > 0).sum(axis=0)
    idf = np.log((1 + n) / (1 + df_counts)) + 1  # smooth idf
    x = np.where(tf > 0, 1 + np.log(np.where(tf > 0, tf, 1)), 0) * idf  # sublinear tf
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    singular = np.linalg.svd(x, compute_uv=False)
    proj = out[["tfidf_0", "tfidf_1"]].to_numpy()
    # The columns of X V_k have norms equal to the top-k singular values of X.
    assert np.linalg.norm(proj, axis=0) == pytest.approx(singular[:2], rel=1e-6)


def test_tfidf_k_is_capped_by_the_pool():
    out = extract_covariates(corpus(), ["tfidf"], tfidf_k=32)
    assert [c for c in out.columns if c.startswith("tfidf_")] == [f"tfidf_{j}" for j in range(len(TEXTS) - 1)]
    assert any("k capped at 5" in n for n in out.attrs["notes"])


def test_ref_loss_read_by_id_with_missing_imputed():
    ref = pd.DataFrame({"id": ["t5", "t0", "t1", "t2", "t3", "zz"], "loss": [-1.0, -2.0, -3.0, -4.0, -5.0, 9.0]})
    out = extract_covariates(corpus(), ["ref_loss"], reference_scores=ref)
    assert out["ref_loss"].tolist() == [-2.0, -3.0, -4.0, -5.0, -3.0, -1.0]  # t4 missing: median of the 5
    assert out["ref_loss_missing"].tolist() == [0, 0, 0, 0, 1, 0]


def test_constant_covariate_dropped_with_a_note():
    df = pd.DataFrame({"id": ["a", "b", "c"], "text": ["xx", "yy", "zz"], "source": ["w", "w", "w"]})
    out = extract_covariates(df, ["length", "domain"])
    assert list(out.columns) == ["id"]
    assert {"n_chars: dropped (the same value for every text)", "domain: dropped (the same value for every text)"} <= set(
        out.attrs["notes"]
    )


def test_covariates_never_see_membership():
    df = corpus()
    flipped = df.assign(member=1 - df["member"])
    pd.testing.assert_frame_equal(extract_covariates(df), extract_covariates(flipped))


# ---- common tests: every extractor ----

_EXTRA = {
    "date": {"date": ["2001-01-01", None, "1887", 1.6e9, "1950", None]},
    "domain": {"url": ["https://a.org", "https://b.org", None, "https://a.org/x", "https://c.org", "https://b.org/"]},
}


@pytest.mark.parametrize("name", sorted(EXTRACTORS))
def test_common_one_row_per_id_no_nan_deterministic(name, tokenizer):
    df = corpus(**_EXTRA.get(name, {})).sample(frac=1, random_state=3)
    ref = pd.DataFrame({"id": [f"t{i}" for i in range(5)], "loss": [-1.0, -2.5, -2.0, -3.0, -1.5]})
    kwargs = {"tokenizer": tokenizer, "reference_scores": ref, "tfidf_k": 3}
    out = extract_covariates(df, [name], **kwargs)
    again = extract_covariates(df, [name], **kwargs)
    assert out["id"].tolist() == df["id"].tolist()
    assert out.shape[1] > 1
    assert not out.isna().any().any()
    for col in out.columns[1:]:
        assert pd.api.types.is_float_dtype(out[col]) or pd.api.types.is_string_dtype(out[col]), col
    pd.testing.assert_frame_equal(out, again)
    assert out.attrs == again.attrs


def test_all_default_extractors_round_trip_through_parquet(tmp_path):
    from llm_audit.tables import read_table, write_table

    out = extract_covariates(corpus(source=["a", "b", "a", "b", "a", "b"]))
    write_table(out, tmp_path / "cov.parquet")
    back = read_table(tmp_path / "cov.parquet")
    pd.testing.assert_frame_equal(out, back, check_dtype=False)
    assert back.attrs["imputed"] == out.attrs["imputed"]


# ---- bad input: one-line AuditError ----


@pytest.mark.parametrize(
    "df, kwargs, fragment",
    [
        (corpus(), {"date_column": "when"}, "date column 'when' is not in the corpus"),
        (corpus(), {"domain_column": "site"}, "domain column 'site' is not in the corpus"),
        (corpus(date=["2001", "1999", "soon", None, None, None]), {}, "row 3 (id t2): cannot read 'soon' as a date"),
        (corpus().iloc[:0], {}, "the corpus is empty"),
        (corpus(), {"extractors": ["length", "vibes"]}, "unknown extractor 'vibes'"),
        (corpus(), {"domain_column": "member"}, "is the member column"),
        (corpus(), {"extractors": ["ref_loss"]}, "reference"),
        (corpus(), {"extractors": ["ref_loss"], "reference_scores": pd.DataFrame({"id": ["t0"]})}, "no 'loss' column"),
        (corpus(), {"tfidf_k": 0}, "covariates.tfidf_k: must be a positive integer, got 0"),
        (corpus().drop(columns=["text"]), {}, "no 'text' column"),
        (corpus(), {"extractors": ["length"], "tokenizer": "./no/such/tokenizer"}, "no such file or folder"),
    ],
)
def test_bad_input_one_line_error(df, kwargs, fragment):
    with pytest.raises(AuditError) as err:
        extract_covariates(df, **kwargs)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


# ---- CLI ----


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_cli_end_to_end(tmp_path, capsys):
    rows = [
        {"doc": f"d{i}", "body": t, "label": m, "year": y, "site": s}
        for i, (t, m, y, s) in enumerate(
            zip(TEXTS, [1, 1, 1, 0, 0, 0], [1999, 1887, None, 2021, 2022, 2023], ["a", "b", "a", "b", "a", "b"])
        )
    ]
    _write_jsonl(tmp_path / "c.jsonl", rows)
    out = tmp_path / "cov.parquet"
    argv = ["covariates", str(tmp_path / "c.jsonl"), "--out", str(out), "--extractors", "length,date,domain,lexical",
            "--text-column", "body", "--label-column", "label", "--id-column", "doc", "--date-column", "year",
            "--domain-column", "site"]
    assert main(argv) == 0
    table = pd.read_parquet(out)
    assert table["id"].tolist() == [f"d{i}" for i in range(6)]
    assert table["domain"].tolist() == ["a", "b", "a", "b", "a", "b"]
    assert table["date"].tolist()[:2] == [1999.0, 1887.0]
    assert "member" not in table.columns and "label" not in table.columns
    assert "wrote 6 rows" in capsys.readouterr().out

    assert main(argv) == 2  # exists, no --overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(argv + ["--overwrite", "--tfidf-k", "2", "--extractors", "tfidf"]) == 0
    assert [c for c in pd.read_parquet(out).columns] == ["id", "tfidf_0", "tfidf_1"]


def test_cli_bad_date_column_is_one_line(tmp_path, capsys):
    _write_jsonl(tmp_path / "c.jsonl", [{"text": "a b"}, {"text": "c d"}])
    assert main(["covariates", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "o.csv"), "--date-column", "when"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("llm-audit: error: date column 'when'") and "\n" not in err
    assert not (tmp_path / "o.csv").exists()


def test_group_column_carried_through_not_a_covariate():
    out = extract_covariates(corpus(group=["s1", "s1", "s2", None, "s3", "s3"]), ["length"])
    assert out.columns[:2].tolist() == ["id", "group"]
    assert out["group"].tolist() == ["s1", "s1", "s2", "t3", "s3", "s3"]
    assert "group_missing" not in out.columns


def test_cli_empty_texts_refused_or_skipped(tmp_path, capsys):
    rows = [{"id": f"t{i}", "text": t, "member": i % 2} for i, t in enumerate(TEXTS)] + [{"id": "blank", "text": "  \n"}]
    _write_jsonl(tmp_path / "c.jsonl", rows)
    argv = ["covariates", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "o.csv"), "--extractors", "length"]
    assert main(argv) == 2
    assert "row 7: empty text (1 empty in all; skip them with --empty skip" in capsys.readouterr().err
    assert main(argv + ["--empty", "skip"]) == 0
    assert pd.read_csv(tmp_path / "o.csv")["id"].tolist() == [f"t{i}" for i in range(len(TEXTS))]
