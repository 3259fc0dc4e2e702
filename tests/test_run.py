"""End to end: `llm-audit run` on a tiny model and a small real corpus; the run folder, step reuse, the
score cache, refusals."""

from __future__ import annotations

import gzip
import json
import random
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from llm_audit.cli import main
from llm_audit.config import AuditConfig, load_config
from llm_audit.errors import AuditError
from llm_audit.pipeline import run_audit, run_dir_for

DATA_FILE = Path(__file__).resolve().parents[1] / "llm_audit" / "data" / "pile_subset.jsonl.gz"


def _docs(per_domain: int) -> list[dict]:
    """Real text: the first ``per_domain`` documents of 3 domains of the demo corpus the package ships."""
    rows, seen = [], {}
    with gzip.open(DATA_FILE, "rt", encoding="utf-8") as handle:
        for line in handle:
            r = json.loads(line)
            if seen.get(r["domain"], 0) < per_domain and len(seen) <= 3 - (r["domain"] not in seen):
                seen[r["domain"]] = seen.get(r["domain"], 0) + 1
                rows.append({"id": r["id"], "domain": r["domain"], "text": r["text"][:300]})
    return rows


@pytest.fixture(scope="module")
def one_thread():
    """The tiny model gains nothing from intra-op threads, and on a busy 2-core machine they cost 10x."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def audit(tmp_path_factory, one_thread):
    from llm_audit.training import build_model, train_bpe_tokenizer, train_causal_lm

    root = tmp_path_factory.mktemp("audit")
    rows = _docs(30)
    rng = random.Random(0)
    first = rows[0]["domain"]
    for r in rows:
        r["member"] = int(rng.random() < (0.7 if r["domain"] == first else 0.35))
    tok = train_bpe_tokenizer([r["text"] for r in rows], 400)
    model = build_model(tok, n_layer=1, d_model=32, n_head=2, context=128)
    train_causal_lm(model, tok, [r["text"] for r in rows if r["member"]], steps=30, batch_size=8, seq_len=64)
    model.save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    with open(root / "corpus.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    config = {"name": "tiny", "corpus": {"path": "corpus.jsonl"}, "model": {"name": "model"},
              "scoring": {"k": [0.2], "batch_tokens": 4096}, "covariates": {"tfidf_k": 4},
              "estimate": {"bootstrap": 20, "folds": 3}}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    code = main(["run", str(root / "config.yaml"), "--runs-dir", str(root / "runs"), "--no-progress"])
    assert code == 0
    return root, config, len(rows)


def test_run_folder_has_every_file(audit):
    root, _, n = audit
    run = root / "runs" / "tiny"
    for name in ("config.yaml", "run.json", "scores.parquet", "covariates.parquet", "estimates.json",
                 "report.md", "report.html"):
        assert (run / name).is_file(), name
    record = json.loads((run / "run.json").read_text())
    assert record["config_hash"] == load_config(run / "config.yaml").hash() == load_config(root / "config.yaml").hash()
    assert record["llm_audit_version"] and record["steps"]["score"]["texts_scored"] == n
    scores = pd.read_parquet(run / "scores.parquet")
    assert len(scores) == n and {"id", "member", "n_tokens", "truncated", "loss", "zlib", "mink_0.2", "minkpp_0.2"} <= set(scores)


def test_estimates_json_has_documented_keys(audit):
    root, _, _ = audit
    est = json.loads((root / "runs" / "tiny" / "estimates.json").read_text())
    assert {"schema_version", "scores", "diagnostics", "config"} <= set(est)
    assert {"blind_auc", "verdict", "ess", "smd"} <= set(est["diagnostics"])
    for blocks in est["scores"].values():
        for method in ("naive", "ipw", "dr"):
            m = blocks[method]
            assert {"auc", "tpr_at_fpr", "advantage", "mean_diff"} <= set(m)
            assert set(m["tpr_at_fpr"]) == {"0.001", "0.01", "0.05"}
    assert 0 <= est["scores"]["loss"]["naive"]["auc"]["value"] <= 1


def test_markdown_report_has_headline(audit):
    root, _, _ = audit
    md = (root / "runs" / "tiny" / "report.md").read_text()
    # naive beside the corrected figures, or beside what can be said when they are not identified (this tiny run)
    assert re.search(r"^\| score \| naive AUC \| (IPW|DR)[^|]* AUC \|", md, re.M), md
    for score in ("loss", "zlib", "mink_0.2", "minkpp_0.2"):
        assert f"| {score} |" in md
    assert "Blind-baseline AUC" in md and "**Verdict:" in md


def test_rerun_reuses_every_step_and_force_reads_the_cache(audit, one_thread, monkeypatch, capsys):
    import llm_audit.scoring as scoring

    root, _, n = audit
    run = root / "runs" / "tiny"
    before = json.loads((run / "run.json").read_text())["steps"]

    def refuse(*args, **kwargs):
        raise AssertionError("scoring was run again")

    with monkeypatch.context() as m:
        m.setattr(scoring, "score_corpus", refuse)
        assert main(["run", str(root / "config.yaml"), "--runs-dir", str(root / "runs"), "--no-progress"]) == 0
    assert "score: done before, reused" in capsys.readouterr().err
    assert json.loads((run / "run.json").read_text())["steps"] == before
    # --force redoes every step, but the score cache holds every text: none is scored again.
    assert main(["run", str(root / "config.yaml"), "--runs-dir", str(root / "runs"), "--force", "--no-progress"]) == 0
    step = json.loads((run / "run.json").read_text())["steps"]["score"]
    assert step["texts"] == n and step["texts_scored"] == 0
    assert f"score: {n} texts (0 scored, {n} from the cache)" in capsys.readouterr().err


def test_changed_config_is_refused(audit, capsys):
    root, config, _ = audit
    changed = dict(config, estimate={"bootstrap": 30, "folds": 3})
    (root / "changed.yaml").write_text(yaml.safe_dump(changed))
    before = (root / "runs" / "tiny" / "estimates.json").read_bytes()
    assert main(["run", str(root / "changed.yaml"), "--runs-dir", str(root / "runs"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("llm-audit: error: ") and "holds a run of a different config" in err and "--force" in err
    assert "\n" not in err
    assert (root / "runs" / "tiny" / "estimates.json").read_bytes() == before


def test_report_and_compare_on_a_run_folder(audit, capsys):
    root, _, _ = audit
    run = root / "runs" / "tiny"
    assert main(["report", str(run), "--out-dir", str(root / "rep")]) == 0
    assert "Naive AUC by slice" in (root / "rep" / "report.md").read_text()
    assert main(["compare", str(run)]) == 0
    assert "| tiny | loss |" in capsys.readouterr().out


def test_recall_and_dcpdd_scores_from_the_config(audit, tmp_path):
    """`scores: [loss, recall, dcpdd]` reaches the engine with both side corpora and the clip."""
    from llm_audit.scoring import load_model, score_corpus

    root, _, n = audit
    prefix = [{"id": "p0", "text": "A short text that was never trained on."}]
    reference = [{"id": f"q{i}", "text": t} for i, t in enumerate(
        ["The river froze in winter.", "Stocks rose after the report.", "She wrote a letter to her friend."])]
    for name, records in (("prefix.jsonl", prefix), ("reference.jsonl", reference)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in records))
    config = {"name": "side", "corpus": {"path": str(root / "corpus.jsonl")}, "model": {"name": str(root / "model")},
              "scoring": {"k": [0.2], "batch_tokens": 4096, "scores": ["loss", "recall", "dcpdd"],
                          "recall_prefix": "prefix.jsonl", "dcpdd_reference": "reference.jsonl", "dcpdd_clip": 0.05},
              "covariates": {"tfidf_k": 4}, "estimate": {"bootstrap": 20, "folds": 3}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["run", str(tmp_path / "config.yaml"), "--runs-dir", str(tmp_path / "runs"), "--no-progress"]) == 0
    scores = pd.read_parquet(tmp_path / "runs" / "side" / "scores.parquet")
    assert len(scores) == n and {"loss", "recall", "dcpdd"} <= set(scores.columns)
    corpus = pd.read_json(root / "corpus.jsonl", lines=True, dtype={"id": str})
    direct = score_corpus(corpus[["id", "text", "member"]], load_model(root / "model"), scores=["loss", "recall", "dcpdd"],
                          k_grid=[0.2], recall_prefix=[prefix[0]["text"]],
                          dcpdd_reference=[r["text"] for r in reference], dcpdd_clip=0.05, progress=False)
    for column in ("recall", "dcpdd"):
        assert scores[column].to_numpy() == pytest.approx(direct[column].to_numpy(), rel=1e-5, abs=1e-6)


def test_one_run_regime_with_an_inclusion_table(audit):
    """`estimate.inclusion` (a per-text p table) reaches the one-run estimator."""
    root, config, n = audit
    ids = pd.read_json(root / "corpus.jsonl", lines=True, dtype={"id": str})["id"]
    pd.DataFrame({"id": ids, "p": 0.4}).to_csv(root / "inclusion.csv", index=False)
    one = dict(config, name="one", estimate={"bootstrap": 0, "regime": "one-run", "inclusion": "inclusion.csv"})
    (root / "one.yaml").write_text(yaml.safe_dump(one))
    assert main(["run", str(root / "one.yaml"), "--runs-dir", str(root / "runs"), "--no-progress"]) == 0
    d = json.loads((root / "runs" / "one" / "estimates.json").read_text())
    assert d["regime"] == "one-run" and d["config"]["p"] == "per-unit" and d["diagnostics"]["counts"]["units"] == n
    pd.DataFrame({"id": ids, "p": 1.0}).to_csv(root / "bad_inclusion.csv", index=False)
    bad = dict(one, name="bad", estimate={"regime": "one-run", "inclusion": "bad_inclusion.csv"})
    (root / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(AuditError, match=r"bad_inclusion.csv: row 1, column 'p': need 0 < p < 1"):
        run_audit(load_config(root / "bad.yaml"), runs_dir=root / "runs", progress=False)
    assert not (root / "runs" / "bad").exists()  # refused before the run folder and the scoring


@pytest.mark.parametrize(
    "corpus, expected",
    [
        ('{"text": "a b c"}\n{"text": "d e f"}\n', "no 'member' column with membership labels"),
        ('{"text": "a b c", "member": 1}\n{"text": "d e f", "member": 1}\n', "no non-members in the corpus"),
    ],
)
def test_corpus_without_labels_is_refused_before_scoring(tmp_path, capsys, corpus, expected):
    (tmp_path / "c.jsonl").write_text(corpus)
    (tmp_path / "m").mkdir()  # never loaded: the corpus check comes first
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(
        {"name": "x", "corpus": {"path": "c.jsonl"}, "model": {"name": "./m"}}))
    assert main(["run", str(tmp_path / "config.yaml"), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert expected in capsys.readouterr().err
    assert not (tmp_path / "runs" / "x").exists()


def test_run_names_cannot_leave_the_runs_folder(tmp_path):
    for name in ("../evil", "a/b", "..", "/abs"):
        with pytest.raises(AuditError, match="not a valid run name"):
            run_dir_for(AuditConfig(name=name), tmp_path)
    assert run_dir_for(AuditConfig(name="ok-1.2"), tmp_path) == (tmp_path / "ok-1.2").resolve()


def test_a_bad_date_column_fails_before_the_model_loads(tmp_path, capsys):
    rows = [{"text": f"text number {i}", "member": i % 2, "when": "garbage" if i == 3 else 2000 + i} for i in range(6)]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "m").mkdir()  # not a loadable model: the covariates step must fail first
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(
        {"name": "x", "corpus": {"path": "c.jsonl"}, "model": {"name": "./m"},
         "covariates": {"extractors": ["date"], "date_column": "when"}}))
    assert main(["run", str(tmp_path / "config.yaml"), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "row 4 (id " in capsys.readouterr().err
    assert not (tmp_path / "runs" / "x" / "scores.parquet").exists()


def test_texts_too_short_to_score_are_refused_or_skipped(audit, capsys):
    root, config, n = audit
    rows = pd.read_json(root / "corpus.jsonl", lines=True, dtype={"id": str})
    rows.loc[3, "text"] = "a"  # one token: no token has a context, every score would be NaN
    rows.to_json(root / "short.jsonl", orient="records", lines=True)
    short = dict(config, name="short", corpus={"path": "short.jsonl"})
    (root / "short.yaml").write_text(yaml.safe_dump(short))
    assert main(["run", str(root / "short.yaml"), "--runs-dir", str(root / "runs"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"id {rows.loc[3, 'id']}: fewer than 2 tokens, nothing to score (1 such text(s)" in err
    assert not (root / "runs" / "short" / "scores.parquet").exists()
    skip = dict(short, corpus={"path": "short.jsonl", "empty": "skip"})
    (root / "short.yaml").write_text(yaml.safe_dump(skip))
    assert main(["run", str(root / "short.yaml"), "--runs-dir", str(root / "runs"), "--no-progress", "--force"]) == 0
    assert "1 text(s) of fewer than 2 tokens left out" in capsys.readouterr().err
    d = json.loads((root / "runs" / "short" / "estimates.json").read_text())
    assert d["diagnostics"]["n"]["total"] == n - 1
    # Both tables on disk leave it out: `llm-audit estimate` on the run folder's tables finds the same ids.
    ids = [pd.read_parquet(root / "runs" / "short" / f"{t}.parquet")["id"].tolist() for t in ("scores", "covariates")]
    assert ids[0] == ids[1] and rows.loc[3, "id"] not in ids[0] and len(ids[0]) == n - 1
