"""ReCaLL and DC-PDD: golden values against a plain computation (batch 1, explicit log_softmax over the
whole vocabulary, one forward per scored token), the frequency table against a Counter, the cache key, the
CLI end to end and its refusals."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from llm_audit.cli import main
from llm_audit.errors import AuditError
from llm_audit.scoring import load_model, score_corpus
from llm_audit.scoring.frequencies import count_tokens
from scoring_models import CONTEXT, pile_texts, save_tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("gpt2"), "gpt2")


@pytest.fixture(scope="module")
def lm(model_dir):
    return load_model(model_dir)


@pytest.fixture(scope="module")
def corpus():
    docs = pile_texts()
    texts = [docs[0][:60], docs[1][:120], docs[2][:20], docs[3][:160]]  # the last one past the prefixed window
    return pd.DataFrame({"id": [f"t{i}" for i in range(len(texts))], "text": texts, "member": [1, 0, 1, 0]})


PREFIX = [pile_texts("wikipedia")[150][:20], pile_texts("wikipedia")[151][:20]]
REFERENCE = list(pile_texts("wikipedia")[100:130])


_PLAIN: dict = {}


def plain_logp(model, context_ids: list[int], ids: list[int], room: int, stride: int) -> np.ndarray:
    """log p(ids[j] | context_ids + ids[begin_j:j]) for j >= 1, begin_j the start of the first window of
    ``room`` tokens (windows every ``stride``) that reaches past j. Batch 1, full log_softmax in float64;
    tokens sharing a window start share one forward (causal attention: the logits at a position depend only
    on the tokens before it)."""
    key = (id(model), tuple(context_ids), tuple(ids), room, stride)
    if key not in _PLAIN:
        begins = {j: 0 if j < room else ((j - room) // stride + 1) * stride for j in range(1, len(ids))}
        out = {}
        for begin in sorted(set(begins.values())):
            last = max(j for j, b in begins.items() if b == begin)
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([context_ids + ids[begin:last]])).logits[0].double()
            logp = torch.log_softmax(logits, dim=-1)
            for j, b in begins.items():
                if b == begin:
                    out[j] = float(logp[len(context_ids) + j - 1 - begin, ids[j]])
        _PLAIN[key] = np.array([out[j] for j in range(1, len(ids))])
    return _PLAIN[key]


def test_frequency_table_equals_a_counter(lm):
    tok = lm.tokenizer
    counter = Counter(i for t in REFERENCE for i in tok(t, add_special_tokens=False)["input_ids"])
    table = count_tokens(REFERENCE, tok)
    total, size = sum(counter.values()), len(tok)
    assert len(table.counts) == size and int(table.counts.sum()) == total
    for token in range(size):
        assert table.counts[token] == counter.get(token, 0)
        assert table.log_inverse[token] == pytest.approx(math.log((total + size) / (counter.get(token, 0) + 1)), rel=1e-12)


@pytest.mark.parametrize("clip", [0.01, 0.002])
def test_dcpdd_equals_plain_computation(lm, corpus, clip):
    tok = lm.tokenizer
    table = score_corpus(corpus, lm, scores=["loss"], dcpdd_reference=REFERENCE, dcpdd_clip=clip,
                         max_batch_tokens=100, progress=False)
    assert list(table.columns) == ["id", "member", "n_tokens", "truncated", "loss", "dcpdd"]
    counter = Counter(i for t in REFERENCE for i in tok(t, add_special_tokens=False)["input_ids"])
    total = sum(counter.values()) + len(tok)
    clipped = 0
    for text, got in zip(corpus["text"], table["dcpdd"]):
        ids = tok(text)["input_ids"]
        logp = plain_logp(lm.model, [], ids, CONTEXT, CONTEXT // 2)
        seen, terms = set(), []
        for j in range(1, len(ids)):
            if ids[j] in seen:
                continue
            seen.add(ids[j])
            term = math.exp(logp[j - 1]) * math.log(total / (counter.get(ids[j], 0) + 1))
            clipped += term > clip
            terms.append(min(term, clip))
        assert got == pytest.approx(np.mean(terms), rel=1e-4)
    assert clipped, "the clip must bind on some token for the test to check it"


@pytest.mark.parametrize("stride", [None, 40])
def test_recall_equals_plain_computation(lm, corpus, stride):
    tok = lm.tokenizer
    table = score_corpus(corpus, lm, scores=["loss", "recall"], recall_prefix=PREFIX, stride=stride,
                         max_batch_tokens=150, padding_side="left", progress=False)
    assert list(table.columns) == ["id", "member", "n_tokens", "truncated", "loss", "recall"]
    prefix = tok("\n\n".join(PREFIX))["input_ids"]
    room = CONTEXT - len(prefix)
    used = stride or CONTEXT // 2
    prefixed_stride = used if used < room else room // 2
    assert len(prefix) <= CONTEXT // 2 and max(table["n_tokens"]) > room + prefixed_stride
    for text, loss, got in zip(corpus["text"], table["loss"], table["recall"]):
        ids = tok(text)["input_ids"]
        unconditional = plain_logp(lm.model, [], ids, CONTEXT, used).mean()
        conditional = plain_logp(lm.model, prefix, ids, room, prefixed_stride).mean()
        assert loss == pytest.approx(unconditional, abs=1e-4)
        assert got == pytest.approx(conditional / unconditional, rel=1e-4)


def test_cache_key_follows_prefix_and_reference(lm, corpus, tmp_path):
    cache = tmp_path / "cache"
    small = corpus.iloc[:2]

    def run(prefix, reference):
        table = score_corpus(small, lm, recall_prefix=prefix, dcpdd_reference=reference, cache_dir=cache, progress=False)
        return table, table.attrs["n_computed"]

    first, n = run(PREFIX, REFERENCE)
    assert n == 2  # two texts, each through the main and the prefixed pass
    again, n = run(PREFIX, REFERENCE)
    assert n == 0 and again[["recall", "dcpdd"]].equals(first[["recall", "dcpdd"]])
    other_prefix, n = run(PREFIX[:1], REFERENCE)  # only the recall group (main + prefixed pass) is missing
    assert n == 2 and not np.allclose(other_prefix["recall"], first["recall"])
    assert other_prefix["dcpdd"].equals(first["dcpdd"])
    other_reference, n = run(PREFIX, REFERENCE[:3])  # only the main group is missing
    assert n == 2 and not np.allclose(other_reference["dcpdd"], first["dcpdd"])
    assert other_reference["recall"].equals(first["recall"])
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 4


def write_jsonl(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return path


def test_cli_end_to_end(model_dir, lm, corpus, tmp_path):
    source = tmp_path / "c.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in corpus.to_dict("records")), encoding="utf-8")
    prefix = write_jsonl(tmp_path / "prefix.jsonl", PREFIX)
    reference = write_jsonl(tmp_path / "reference.jsonl", REFERENCE)
    out = tmp_path / "scores.parquet"
    assert main(["score", str(source), "--model", str(model_dir), "--out", str(out), "--scores", "loss,recall,dcpdd",
                 "--recall-prefix", str(prefix), "--dcpdd-reference", str(reference), "--dcpdd-clip", "0.005",
                 "--no-progress"]) == 0
    table = pd.read_parquet(out)
    assert list(table.columns) == ["id", "member", "n_tokens", "truncated", "loss", "dcpdd", "recall"]
    direct = score_corpus(corpus, lm, scores=["loss"], recall_prefix=PREFIX, dcpdd_reference=REFERENCE,
                          dcpdd_clip=0.005, progress=False)
    for column in ("recall", "dcpdd"):
        assert np.allclose(table[column], direct[column], rtol=1e-6)


def test_bad_inputs_refuse_in_one_line(model_dir, lm, corpus, tmp_path, capsys):
    source = write_jsonl(tmp_path / "c.jsonl", list(corpus["text"]))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    base = ["score", str(source), "--model", str(model_dir), "--no-progress"]
    cases = [
        (["--recall-prefix", str(tmp_path / "missing.jsonl")], "missing.jsonl: no such file"),
        (["--dcpdd-reference", str(empty)], "empty.jsonl: the corpus is empty"),
        (["--scores", "loss,recall"], "--recall-prefix: required by the `recall` score (known non-member prefix texts)"),
        (["--scores", "dcpdd"], "--dcpdd-reference: required by the `dcpdd` score (a reference corpus for token "),
        (["--scores", "loss,ref"], "--ref-model: required by the `ref` score (a reference model)"),
        (["--scores", "loss,minkplus"], "--scores[1]: unknown score 'minkplus' (known: loss, zlib, mink, minkpp, dcpdd"),
        (["--dcpdd-reference", str(source), "--dcpdd-clip", "0"], "--dcpdd-clip: must be positive"),
    ]
    for i, (extra, message) in enumerate(cases):
        out = tmp_path / f"out{i}.csv"
        assert main([*base, "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert not out.exists()
    with pytest.raises(AuditError, match="dcpdd_reference: the reference corpus has no text"):
        score_corpus(corpus, lm, dcpdd_reference=[], progress=False)
    with pytest.raises(AuditError, match="recall_prefix: .* more than half the context"):
        score_corpus(corpus, lm, recall_prefix=[pile_texts()[7][:600]], progress=False)
