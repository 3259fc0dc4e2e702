"""The corpus loader: every source format, configurable columns, ids, labels, and its bad-input errors."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from llm_audit.corpus import concat_corpora, load_corpus, text_id
from llm_audit.errors import AuditError

ROWS = [
    {"id": "a", "text": "first text", "member": 1, "year": 2019},
    {"id": "b", "text": "second text", "member": 0, "year": 2024},
    {"id": "c", "text": "NA", "member": 1, "year": 2020},
]


def write_jsonl(path: Path, rows: list[dict], opener=open) -> Path:
    with opener(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    return path


@pytest.fixture(params=["jsonl", "jsonl.gz", "csv", "parquet", "datasets"])
def source(request, tmp_path):
    kind = request.param
    df = pd.DataFrame(ROWS)
    if kind == "jsonl":
        return write_jsonl(tmp_path / "c.jsonl", ROWS)
    if kind == "jsonl.gz":
        return write_jsonl(tmp_path / "c.jsonl.gz", ROWS, gzip.open)
    if kind == "csv":
        df.to_csv(tmp_path / "c.csv", index=False)
        return tmp_path / "c.csv"
    if kind == "parquet":
        df.to_parquet(tmp_path / "c.parquet")
        return tmp_path / "c.parquet"
    import datasets

    datasets.Dataset.from_pandas(df).save_to_disk(str(tmp_path / "ds"))
    return tmp_path / "ds"


def test_every_format_gives_the_same_table(source):
    df = load_corpus(source)
    assert list(df.columns[:3]) == ["id", "text", "member"]
    assert list(df["id"]) == ["a", "b", "c"]
    assert list(df["text"]) == ["first text", "second text", "NA"]  # "NA" stays a text, even in CSV
    assert list(df["member"]) == [1, 0, 1] and df["member"].dtype == "int64"
    assert [int(y) for y in df["year"]] == [2019, 2024, 2020]  # metadata kept


def test_wikimia_style_columns_and_generated_ids(tmp_path):
    rows = [{"input": "alpha beta", "label": "1"}, {"input": "gamma", "label": "false"}]
    df = load_corpus(write_jsonl(tmp_path / "w.jsonl", rows), text_column="input", label_column="label")
    assert list(df["text"]) == ["alpha beta", "gamma"]
    assert list(df["member"]) == [1, 0]
    assert list(df["id"]) == [hashlib.sha256(t.encode()).hexdigest()[:16] for t in ["alpha beta", "gamma"]]
    assert text_id("gamma") == df["id"][1]


def test_one_label_for_a_whole_file_and_concatenation(tmp_path):
    members = load_corpus(write_jsonl(tmp_path / "m.jsonl", [{"text": "x one"}, {"text": "x two"}]), member=1)
    others = load_corpus(write_jsonl(tmp_path / "n.jsonl", [{"text": "y one"}]), member=0)
    both = concat_corpora([members, others])
    assert list(both["member"]) == [1, 1, 0] and both["id"].is_unique
    with pytest.raises(AuditError, match="used by different"):
        concat_corpora([members, members.assign(member=0)])


def test_exact_repeats_are_dropped_and_empty_texts_skipped_on_request(tmp_path):
    rows = [ROWS[0], ROWS[0], {"id": "e", "text": "   ", "member": 0}, ROWS[1]]
    df = load_corpus(write_jsonl(tmp_path / "r.jsonl", rows), empty="skip")
    assert list(df["id"]) == ["a", "b"]
    assert df.attrs["skipped_empty"] == 1


def test_labels_are_required_only_when_asked(tmp_path):
    path = write_jsonl(tmp_path / "u.jsonl", [{"text": "no label"}])
    assert "member" not in load_corpus(path).columns
    with pytest.raises(AuditError, match="no 'member' column"):
        load_corpus(path, require_labels=True)


def _error(path, **kwargs) -> str:
    with pytest.raises(AuditError) as info:
        load_corpus(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bad_inputs_name_the_file_and_row(tmp_path):
    assert "no such file" in _error(tmp_path / "missing.jsonl")
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": "ok"}\n\n{"text": broken}\n')
    assert "line 3: malformed JSON" in _error(bad_json)
    not_object = tmp_path / "list.jsonl"
    not_object.write_text('["a", "b"]\n')
    assert "line 1: expected a JSON object" in _error(not_object)
    not_utf8 = tmp_path / "latin.jsonl"
    not_utf8.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    assert "line 2: not valid UTF-8" in _error(not_utf8)
    bad_csv = tmp_path / "latin.csv"
    bad_csv.write_bytes(b"text\nok\ncaf\xe9\n")
    assert "line 3: not valid UTF-8" in _error(bad_csv)
    assert "no 'text' column" in _error(write_jsonl(tmp_path / "nt.jsonl", [{"body": "x"}]))
    assert "no 'input' column" in _error(write_jsonl(tmp_path / "ni.jsonl", [{"text": "x"}]), text_column="input")
    empty_file = tmp_path / "empty.jsonl"
    empty_file.write_text("")
    assert "the corpus is empty" in _error(empty_file)
    assert "row 2: empty text" in _error(write_jsonl(tmp_path / "e.jsonl", [ROWS[0], {"text": ""}]))
    assert "row 1: text is missing" in _error(write_jsonl(tmp_path / "n.jsonl", [{"text": 5}]))
    assert "row 2: 'member' must be 0/1" in _error(write_jsonl(tmp_path / "l.jsonl", [ROWS[0], dict(ROWS[1], member=2)]))
    dup = write_jsonl(tmp_path / "d.jsonl", [ROWS[0], dict(ROWS[1], id="a")])
    assert "id 'a' is used by different texts" in _error(dup)
    assert "unknown corpus format" in _error(write_jsonl(tmp_path / "c.txt", ROWS))
    bad_parquet = tmp_path / "bad.parquet"
    bad_parquet.write_text("not parquet")
    assert "not a readable Parquet file" in _error(bad_parquet)


def test_hub_names_fail_cleanly_offline(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert "could not be loaded as a datasets name" in _error("no-such-user/no-such-dataset-xyz")


def test_datasets_folder_with_several_splits_needs_a_split(tmp_path):
    import datasets

    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS[:2]), "test": datasets.Dataset.from_list(ROWS[2:])})
    dd.save_to_disk(str(tmp_path / "dd"))
    assert "several splits" in _error(tmp_path / "dd")
    assert list(load_corpus(tmp_path / "dd", split="test")["id"]) == ["c"]
    assert "no split 'dev'" in _error(tmp_path / "dd", split="dev")


def test_integer_ids_with_gaps_stay_integers_and_blank_ids_are_hashed(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text('id,text,member\n7,first text,1\n,second text,0\n9,third text,1\n" ",fourth text,0\n')
    df = load_corpus(path)
    assert df["id"].tolist()[0] == "7" and df["id"].tolist()[2] == "9"
    assert len(df["id"].tolist()[1]) == 16 and len(df["id"].tolist()[3]) == 16  # text hashes, not "nan" or " "


def test_a_named_label_or_id_column_that_is_missing_is_refused(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": "x y", "member": 1}, {"id": "b", "text": "z w", "member": 0}])
    with pytest.raises(AuditError, match=r"no 'label' column \(label_column; columns: id, text, member\)"):
        load_corpus(path, label_column="label")  # not a silent fallback to 'member'
    with pytest.raises(AuditError, match=r"no 'doc' column \(id_column"):
        load_corpus(path, id_column="doc")
    assert load_corpus(path, label_column="label", member=1)["member"].tolist() == [1, 1]  # labels given: unused
