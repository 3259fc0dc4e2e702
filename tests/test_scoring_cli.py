"""`llm-audit score` end to end, and every bad input it must refuse: one line, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from llm_audit.cli import main
from scoring_models import pile_texts, save_tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"), "gpt2")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def good_rows(n: int = 4) -> list[dict]:
    return [{"id": f"r{i}", "text": t[:120], "member": i % 2, "domain": "wiki"} for i, t in enumerate(pile_texts()[:n])]


def test_score_writes_the_contract_table(model_dir, tmp_path):
    source = write_jsonl(tmp_path / "c.jsonl", good_rows())
    out = tmp_path / "scores.parquet"
    assert main(["score", str(source), "--model", str(model_dir), "--out", str(out), "--k", "0.2,0.5",
                 "--no-progress"]) == 0
    table = pd.read_parquet(out)
    assert list(table.columns) == ["id", "member", "n_tokens", "truncated", "loss", "zlib", "mink_0.2", "mink_0.5",
                                   "minkpp_0.2", "minkpp_0.5"]
    assert list(table["id"]) == ["r0", "r1", "r2", "r3"] and list(table["member"]) == [0, 1, 0, 1]
    assert table.attrs["model"]["weights_sha256"]  # the fingerprint travels in the Parquet metadata
    csv = tmp_path / "scores.csv"
    assert main(["score", str(source), "--model", str(model_dir), "--out", str(csv), "--scores", "loss,minkpp",
                 "--max-tokens", "8", "--no-progress"]) == 0
    small = pd.read_csv(csv)
    assert list(small.columns) == ["id", "member", "n_tokens", "truncated", "loss", "minkpp_0.1", "minkpp_0.2", "minkpp_0.5"]
    assert small["truncated"].all() and (small["n_tokens"] == 8).all()


def test_existing_output_is_kept_without_overwrite(model_dir, tmp_path, capsys):
    source = write_jsonl(tmp_path / "c.jsonl", good_rows(2))
    out = tmp_path / "scores.csv"
    out.write_text("keep me")
    assert main(["score", str(source), "--model", str(model_dir), "--out", str(out), "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert main(["score", str(source), "--model", str(model_dir), "--out", str(out), "--overwrite", "--no-progress"]) == 0
    assert len(pd.read_csv(out)) == 2


def _bad_inputs(tmp: Path, model_dir: Path):
    rows = good_rows(3)
    no_weights = tmp / "no_weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text((model_dir / "config.json").read_text())
    malformed = tmp / "malformed.jsonl"
    malformed.write_text(json.dumps(rows[0]) + "\n" + '{"id": "x", "text": "unterminated\n')
    return {
        "missing file": (tmp / "nope.jsonl", model_dir, "no such file"),
        "malformed JSONL": (malformed, model_dir, "line 2"),
        "missing text column": (write_jsonl(tmp / "a.jsonl", [{"id": "1", "body": "x"}]), model_dir, "'text'"),
        "empty text": (write_jsonl(tmp / "b.jsonl", rows[:1] + [{"id": "e", "text": "  ", "member": 1}]), model_dir,
                       "row 2: empty text"),
        "member not 0/1": (write_jsonl(tmp / "c.jsonl", rows[:1] + [{"id": "m", "text": "a b", "member": 2}]), model_dir,
                           "row 2"),
        "duplicate ids": (write_jsonl(tmp / "d.jsonl", [rows[0], dict(rows[1], id=rows[0]["id"])]), model_dir, "r0"),
        "model path missing": (write_jsonl(tmp / "e.jsonl", rows), tmp / "no_model", "no_model"),
        "model without weights": (write_jsonl(tmp / "f.jsonl", rows), no_weights, "no model weights"),
    }


@pytest.mark.parametrize("case", ["missing file", "malformed JSONL", "missing text column", "empty text",
                                  "member not 0/1", "duplicate ids", "model path missing", "model without weights"])
def test_bad_input_is_one_line_and_writes_nothing(case, model_dir, tmp_path, capsys):
    source, model, needle = _bad_inputs(tmp_path, model_dir)[case]
    out = tmp_path / "out" / "scores.parquet"
    out.parent.mkdir()
    cache = tmp_path / "cache"
    code = main(["score", str(source), "--model", str(model), "--out", str(out), "--cache-dir", str(cache),
                 "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("llm-audit: error: ") and "\n" not in err and needle in err, err
    assert list(out.parent.iterdir()) == []
    assert not cache.exists()


def test_pickled_weights_need_allow_pickle(model_dir, tmp_path, capsys):
    import torch
    from safetensors.torch import load_file

    from llm_audit.scoring import load_model

    folder = tmp_path / "pickled"
    folder.mkdir()
    for path in model_dir.iterdir():
        if path.suffix != ".safetensors":
            (folder / path.name).write_bytes(path.read_bytes())
    torch.save(load_file(model_dir / "model.safetensors"), folder / "pytorch_model.bin")
    source = write_jsonl(tmp_path / "c.jsonl", good_rows(2))
    out = tmp_path / "s.parquet"
    assert main(["score", str(source), "--model", str(folder), "--out", str(out), "--no-progress"]) == 2
    assert "--allow-pickle" in capsys.readouterr().err and not out.exists()
    pickled = load_model(folder, allow_pickle=True)
    assert pickled.fingerprint["id"] != load_model(model_dir).fingerprint["id"]  # other weight files, other hash
    # a local model is named by its folder, never by the path to it (estimates.json is shared)
    assert pickled.fingerprint["name"] == "pickled (local folder)" and str(tmp_path) not in json.dumps(pickled.fingerprint)


def test_texts_too_short_to_score_are_refused_or_left_out(model_dir, tmp_path, capsys):
    source = write_jsonl(tmp_path / "c.jsonl", good_rows() + [{"id": "tiny", "text": "a", "member": 0}])
    out = tmp_path / "s.parquet"
    argv = ["score", str(source), "--model", str(model_dir), "--out", str(out), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "id tiny: fewer than 2 tokens, nothing to score (1 such text(s); leave them out with --empty skip)" in err
    assert not out.exists()
    assert main(argv + ["--empty", "skip"]) == 0
    assert "1 text(s) of fewer than 2 tokens left out" in capsys.readouterr().err
    assert pd.read_parquet(out)["id"].tolist() == [f"r{i}" for i in range(4)]


def test_score_and_covariates_leave_out_the_same_texts_with_empty_skip(model_dir, tmp_path, capsys):
    """One rule for every step: a one-token text ("The") is left out by `score` and by `covariates` given the
    model's tokenizer, so `estimate` finds the same ids in both tables (it failed on a missing id)."""
    from scoring_models import tokenizer

    assert len(tokenizer()("The")["input_ids"]) == 1  # the premise: one token, nothing to condition on
    rows = [{"id": f"r{i}", "text": t[:200], "member": i % 2} for i, t in enumerate(pile_texts()[:40])]
    source = write_jsonl(tmp_path / "c.jsonl", rows + [{"id": "the", "text": "The", "member": 1}])
    scores, covariates = tmp_path / "s.parquet", tmp_path / "c.parquet"
    cov_argv = ["covariates", str(source), "--tokenizer", str(model_dir), "--out", str(covariates),
                "--extractors", "length,lexical"]
    assert main(cov_argv) == 2  # refused without --empty skip, as `score` refuses it
    assert "id the: fewer than 2 tokens, nothing to score" in capsys.readouterr().err and not covariates.exists()
    assert main(["score", str(source), "--model", str(model_dir), "--out", str(scores), "--empty", "skip",
                 "--no-progress"]) == 0
    assert main(cov_argv + ["--empty", "skip"]) == 0
    assert "1 text(s) of fewer than 2 tokens left out" in capsys.readouterr().err
    expected = [f"r{i}" for i in range(40)]
    assert pd.read_parquet(scores)["id"].tolist() == pd.read_parquet(covariates)["id"].tolist() == expected
    assert main(["estimate", "--scores", str(scores), "--covariates", str(covariates), "--out",
                 str(tmp_path / "e.json"), "--bootstrap", "0", "--folds", "2"]) == 0
