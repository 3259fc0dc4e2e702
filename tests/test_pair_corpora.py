"""Loaders of the model pairs' inserted texts (Hubble passages, TOAA canaries), offline on small local files in
the published formats, and the proposed pair configs."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from llm_audit.corpora import load_hubble, load_toaa
from llm_audit.corpora.__main__ import main as corpora_main
from llm_audit.corpus import load_corpus
from llm_audit.errors import AuditError
from llm_audit.estimate.regimes.paired import paired

DATA = Path(__file__).parent / "data"
CONFIGS = Path(__file__).parent.parent / "configs"


def test_hubble_passages_member_is_inserted_at_least_once():
    corpus = load_hubble(DATA / "hubble", ["passages_wikipedia", "passages_gutenberg_popular"])
    assert len(corpus) == 10
    wiki = corpus[corpus["domain"] == "passages_wikipedia"]
    # meta is a JSON string in the .gz file and an object in the plain one: both are read.
    assert wiki["duplicates"].tolist() == [0, 1, 4, 16, 0, 64]
    assert corpus["member"].tolist() == [int(d > 0) for d in corpus["duplicates"]]
    assert corpus["id"].iloc[0] == "passages_wikipedia/000001" and corpus["id"].is_unique
    assert corpus.loc[corpus["domain"] == "passages_gutenberg_popular", "duplicates"].max() == 256
    assert "duplicates >= 1" in corpus.attrs["membership"]


def test_hubble_errors_name_the_file_and_line(tmp_path):
    with gzip.open(tmp_path / "passages_wikipedia_nodup.jsonl.gz", "wt") as f:
        f.write(json.dumps({"text": "a text", "meta": {"duplicates": 1}}) + "\n")
        f.write(json.dumps({"text": "another", "meta": "{\"title\": \"x\"}"}) + "\n")
    with pytest.raises(AuditError, match=r"line 2: 'meta' has no 'duplicates'"):
        load_hubble(tmp_path, ["passages_wikipedia"])
    with pytest.raises(AuditError, match="no passages_gutenberg_popular_nodup.jsonl.gz"):
        load_hubble(tmp_path, ["passages_gutenberg_popular"])
    with pytest.raises(AuditError, match="'testset_mmlu' is not a passage dataset"):
        load_hubble(tmp_path, ["testset_mmlu"])


def test_hubble_corpus_feeds_the_paired_regime_with_duplicates_as_strata():
    corpus = load_hubble(DATA / "hubble")
    dup = corpus["duplicates"].to_numpy()
    base = np.linspace(-3.0, -2.0, len(corpus))
    with_ = pd.DataFrame({"id": corpus["id"], "member": corpus["member"], "loss": base + 0.1 * np.log1p(dup)})
    without = pd.DataFrame({"id": corpus["id"], "loss": base})
    est = paired(with_, without, strata=corpus.set_index("id")["duplicates"], n_bootstrap=20)
    diag = est.to_dict()["diagnostics"]
    assert diag["counts"]["inserted"] == int((dup > 0).sum()) and diag["counts"]["control"] == int((dup == 0).sum())
    assert set(diag["strata"]) == {"1", "4", "16"}  # levels 64 and 256 have one inserted text each: no block
    assert any("stratum 256: 1 inserted text" in n for n in est.notes)
    assert diag["control"]["loss"]["mean_diff"]["value"] == 0.0


def _toaa_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(DATA / "toaa" / "tokenizer")


def test_toaa_decodes_input_ids_and_round_trips():
    tok = _toaa_tokenizer()
    corpus = load_toaa(DATA / "toaa", tok)
    raw = pd.read_parquet(DATA / "toaa" / "data" / "train-00000-of-00001.parquet")
    assert len(corpus) == len(raw) == 8
    assert corpus["member"].tolist() == raw["membership"].tolist()
    for text, ids in zip(corpus["text"], raw["input_ids"]):
        assert tok(text)["input_ids"] == list(ids[1:])  # the leading separator is not text
    assert (corpus["n_input_ids"] == raw["input_ids"].map(len)).all()
    only = load_toaa(DATA / "toaa", tok, conditions=["rare_8tok_16x"])
    assert set(only["condition"]) == {"rare_8tok_16x"} and (only["duplication"] == 16).all()
    with pytest.raises(AuditError, match="no condition 'plain_4x'"):
        load_toaa(DATA / "toaa", tok, conditions=["plain_4x"])


def test_toaa_missing_column_is_named(tmp_path):
    pd.DataFrame({"condition": ["a"], "membership": [1], "input_ids": [[0, 5]]}).to_parquet(tmp_path / "x.parquet")
    with pytest.raises(AuditError, match="no 'duplication' column"):
        load_toaa(tmp_path / "x.parquet", _toaa_tokenizer())


def test_toaa_bad_membership_names_its_file_and_row(tmp_path):
    (tmp_path / "data").mkdir()
    rows = {"condition": ["a", "a"], "duplication": [1, 1], "input_ids": [[0, 5], [0, 6]]}
    pd.DataFrame({**rows, "membership": [1, 0]}).to_parquet(tmp_path / "data" / "train-00000-of-00002.parquet")
    second = tmp_path / "data" / "train-00001-of-00002.parquet"
    pd.DataFrame({**rows, "membership": [0, 3]}).to_parquet(second)
    with pytest.raises(AuditError, match=rf"^{second}: row 2: 'membership' must be 0 or 1$"):
        load_toaa(tmp_path, _toaa_tokenizer())


@pytest.mark.parametrize("argv, expect", [
    (["hubble", "--source", str(DATA / "hubble"), "--datasets", "passages_wikipedia"], "6 texts (4 members, 2 non-members)"),
    (["toaa", "--source", str(DATA / "toaa"), "--tokenizer", str(DATA / "toaa" / "tokenizer")],
     "8 texts (4 members, 4 non-members)"),
])
def test_corpora_command_line_writes_a_corpus_load_corpus_reads(argv, expect, tmp_path, capsys):
    out = tmp_path / "c.jsonl"
    assert corpora_main([*argv, "--out", str(out)]) == 0
    assert expect in capsys.readouterr().out
    back = load_corpus(out)
    assert back["member"].sum() == int(expect.split("(")[1].split(" ")[0])


@pytest.mark.parametrize("name", ["hubble_1b_paired.yaml", "olmo2_179m_canaries_paired.yaml"])
def test_pair_configs_name_both_models_and_the_membership(name):
    """A pair config is an audit config (the model that saw the texts) whose header scores the same corpus under
    the other model and runs the paired regime and the oracle harness on the two tables."""
    from llm_audit.config import SECTIONS

    data = yaml.safe_load((CONFIGS / name).read_text())
    assert set(data) <= {"name", *SECTIONS}  # only the schema's sections: `llm-audit run` reads it
    header = (CONFIGS / name).read_text().split("\nname:")[0]
    assert "Membership: member =" in header
    without = re.search(r"llm-audit score \S+ --model ([\w.-]+/[\w.-]+)", header).group(1)
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", data["model"]["name"]) and without != data["model"]["name"]
    assert "revision" in data["model"]  # pinned, or null with the reason stated in the file
    assert f"--regime paired --scores runs/{data['name']}/scores.parquet" in header
    assert re.search(r"llm-audit oracle .*--selection \S+ --draws 100", header)
