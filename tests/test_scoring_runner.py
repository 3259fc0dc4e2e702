"""The runner around the engine: two-pass scores, cache and resume, a killed run, direction on a trained
model, data-parallel ranks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from llm_audit.scoring import load_model, score_corpus, wrap_model
from scoring_models import CONTEXT, pile_texts, save_tiny_model, tokenizer


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("gpt2"), "gpt2")


@pytest.fixture(scope="module")
def gpt2(gpt2_dir):
    return load_model(gpt2_dir)


def short_corpus(n: int, chars: int = 150, offset: int = 0) -> pd.DataFrame:
    texts = [t[:chars] for t in pile_texts()[offset : offset + n]]
    return pd.DataFrame({"id": [f"d{i}" for i in range(n)], "text": texts, "member": [i % 2 for i in range(n)]})


def hf_nll(model, tok, text: str) -> float:
    ids = torch.tensor([tok(text)["input_ids"]])
    with torch.no_grad():
        return float(model(input_ids=ids, labels=ids).loss)


def test_lowercase_and_ref_are_ratios_and_differences_of_nll(gpt2, tmp_path):
    ref_lm = load_model(save_tiny_model(tmp_path / "llama", "llama", seed=3))
    corpus = short_corpus(4, chars=80)
    table = score_corpus(corpus, gpt2, scores=["loss", "lowercase", "ref"], reference=ref_lm, progress=False)
    assert list(table.columns) == ["id", "member", "n_tokens", "truncated", "loss", "lowercase", "ref"]
    for row, text in zip(table.itertuples(index=False), corpus["text"]):
        nll = hf_nll(gpt2.model, gpt2.tokenizer, text)
        assert row.loss == pytest.approx(-nll, abs=1e-4)
        assert row.lowercase == pytest.approx(hf_nll(gpt2.model, gpt2.tokenizer, text.lower()) / nll, abs=1e-4)
        assert row.ref == pytest.approx(hf_nll(ref_lm.model, ref_lm.tokenizer, text) - nll, abs=1e-4)
    assert table.attrs["model"]["id"] == gpt2.fingerprint["id"]
    assert table.attrs["reference_model"]["id"] == ref_lm.fingerprint["id"]


def test_duplicate_texts_are_scored_once(gpt2):
    corpus = short_corpus(3)
    corpus = pd.concat([corpus, corpus.assign(id=["e0", "e1", "e2"])], ignore_index=True)
    table = score_corpus(corpus, gpt2, progress=False)
    assert table.attrs["n_computed"] == 3
    np.testing.assert_array_equal(table["loss"][:3], table["loss"][3:])


class Stop(Exception):
    pass


def _cached_rows(cache_dir: Path) -> int:
    return sum(len(pd.read_parquet(p)) for p in cache_dir.rglob("part-*.parquet"))


def test_interrupted_run_resumes_scoring_only_the_missing_texts(gpt2, tmp_path):
    corpus = short_corpus(8, chars=200)
    plain = score_corpus(corpus, gpt2, progress=False)

    def stop_after_three(batch_number: int) -> None:
        if batch_number == 3:
            raise Stop

    with pytest.raises(Stop):
        score_corpus(corpus, gpt2, cache_dir=tmp_path, max_batch_tokens=CONTEXT, on_batch=stop_after_three,
                     progress=False)
    done = _cached_rows(tmp_path)
    assert 0 < done < len(corpus)
    resumed = score_corpus(corpus, gpt2, cache_dir=tmp_path, max_batch_tokens=CONTEXT, progress=False)
    assert resumed.attrs["n_computed"] == len(corpus) - done
    pd.testing.assert_frame_equal(resumed, plain, check_exact=False, atol=1e-6, rtol=0)
    again = score_corpus(corpus, gpt2, cache_dir=tmp_path, progress=False)
    assert again.attrs["n_computed"] == 0
    pd.testing.assert_frame_equal(again, plain, check_exact=False, atol=1e-6, rtol=0)
    assert len(list(tmp_path.rglob("part-*.parquet"))) == 1, "a finished run merges its shards"


def test_cache_is_keyed_by_model_and_parameters(gpt2, tmp_path):
    corpus = short_corpus(3)
    score_corpus(corpus, gpt2, cache_dir=tmp_path, progress=False)
    assert score_corpus(corpus, gpt2, cache_dir=tmp_path, k_grid=(0.3,), progress=False).attrs["n_computed"] == 3
    assert score_corpus(corpus, gpt2, cache_dir=tmp_path, max_tokens=20, progress=False).attrs["n_computed"] == 3
    other = wrap_model(type(gpt2.model)(gpt2.model.config).eval(), gpt2.tokenizer)
    assert score_corpus(corpus, other, cache_dir=tmp_path, progress=False).attrs["n_computed"] == 3
    assert score_corpus(corpus, gpt2, cache_dir=tmp_path, progress=False).attrs["n_computed"] == 0


def test_main_pass_cache_keeps_its_key(gpt2, tmp_path):
    """Caches written before the attack registry stay valid: the main group's key is the version-2 layout."""
    from llm_audit.scoring.cache import cache_key

    score_corpus(short_corpus(2), gpt2, cache_dir=tmp_path, scores=["loss", "lowercase"], progress=False)
    main = {"version": 2, "model": gpt2.fingerprint["id"], "attacks": ["loss", "mink", "minkpp", "zlib"],
            "k_grid": [0.1, 0.2, 0.5], "context": CONTEXT, "stride": CONTEXT // 2, "max_tokens": None}
    assert (tmp_path / cache_key(main) / "key.json").is_file()
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2  # and the lowercase group's


def _write_jsonl(corpus: pd.DataFrame, path: Path) -> Path:
    corpus.to_json(path, orient="records", lines=True)
    return path


def test_killed_run_leaves_a_readable_cache_and_resumes(gpt2, gpt2_dir, tmp_path):
    corpus = short_corpus(40, chars=300)
    source = _write_jsonl(corpus, tmp_path / "corpus.jsonl")
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "llm_audit", "score", str(source), "--model", str(gpt2_dir), "--out",
           str(tmp_path / "scores.parquet"), "--cache-dir", str(cache), "--batch-tokens", str(CONTEXT), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and len(list(cache.rglob("part-*.parquet"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _cached_rows(cache)  # every shard on disk is a complete Parquet file
    assert 0 < done < len(corpus)
    assert not (tmp_path / "scores.parquet").exists()
    resumed = score_corpus(corpus, gpt2, cache_dir=cache, progress=False)
    assert resumed.attrs["n_computed"] == len(corpus) - done
    pd.testing.assert_frame_equal(resumed, score_corpus(corpus, gpt2, progress=False), check_exact=False, atol=1e-6, rtol=0)


@pytest.mark.slow
def test_texts_trained_on_score_higher_than_held_out_texts():
    from llm_audit.training import build_model, train_causal_lm

    members = [t[:400] for t in pile_texts()[120:128]]
    held_out = [t[:400] for t in pile_texts()[128:136]]
    model = build_model(tokenizer(), "gpt2", n_layer=2, d_model=64, n_head=4, context=CONTEXT, seed=0)
    train_causal_lm(model, tokenizer(), members, steps=150, batch_size=8, seq_len=CONTEXT, lr=3e-3, seed=0)
    corpus = pd.DataFrame({"id": [f"m{i}" for i in range(8)] + [f"h{i}" for i in range(8)],
                           "text": members + held_out, "member": [1] * 8 + [0] * 8})
    table = score_corpus(corpus, model, tokenizer=tokenizer(), progress=False)
    for score in ("loss", "mink_0.2", "minkpp_0.2"):
        member_scores = table.loc[table["member"] == 1, score]
        other_scores = table.loc[table["member"] == 0, score]
        assert member_scores.min() > other_scores.max(), score


@pytest.mark.slow
def test_two_processes_under_accelerate_give_the_one_process_table(gpt2, gpt2_dir, tmp_path):
    corpus = short_corpus(10, chars=250)
    source = _write_jsonl(corpus, tmp_path / "corpus.jsonl")
    out = tmp_path / "scores.parquet"
    accelerate = Path(sys.executable).with_name("accelerate")
    # --multi_gpu starts torchrun-style workers; without GPUs the ranks meet over gloo on CPU.
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "llm_audit", "score", str(source),
           "--model", str(gpt2_dir), "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    two = pd.read_parquet(out)
    assert two.attrs["n_computed"] == 5  # the main rank's half
    pd.testing.assert_frame_equal(two, score_corpus(corpus, gpt2, progress=False), check_exact=False, atol=1e-6, rtol=0)


def test_tokenizer_without_pad_token_pads_with_eos(gpt2):
    import copy

    tok = copy.deepcopy(gpt2.tokenizer)
    tok.pad_token = None
    assert tok.pad_token_id is None
    corpus = short_corpus(3, chars=60)
    table = score_corpus(corpus, gpt2.model, tokenizer=tok, progress=False)
    assert tok.pad_token_id == tok.eos_token_id
    pd.testing.assert_frame_equal(table, score_corpus(corpus, gpt2, progress=False), check_exact=False, atol=1e-6, rtol=0)


def test_special_token_strings_in_a_text_are_scored_as_plain_text(gpt2):
    text = "The log line read <|endoftext|> and then stopped."
    table = score_corpus(pd.DataFrame({"id": ["s"], "text": [text]}), gpt2, scores=["loss"], progress=False)
    as_text = gpt2.tokenizer(text, split_special_tokens=True)["input_ids"]
    assert gpt2.tokenizer.eos_token_id not in as_text
    assert table["n_tokens"].iloc[0] == len(as_text) > len(gpt2.tokenizer(text)["input_ids"])
    assert table["loss"].iloc[0] == pytest.approx(-hf_nll(gpt2.model, lambda t: {"input_ids": as_text}, text), abs=1e-4)
