"""Golden values: every score of the engine equals a plain computation (batch 1, explicit log_softmax over
the whole vocabulary, one forward per token for the sliding-window rule), for a random GPT-2 and Llama
saved and reloaded, across batch budgets, padding sides and strides."""

from __future__ import annotations

import math
import zlib
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import torch

from llm_audit.scoring import load_model, score_corpus
from scoring_models import CONTEXT, pile_texts, save_tiny_model

K_GRID = (0.1, 0.2, 0.5)


def reference_token_stats(model, ids: list[int], context: int, stride: int) -> tuple[np.ndarray, ...]:
    """Token j >= 1 is scored once, in the first window [w*stride, w*stride + context) reaching past it.

    Batch 1, full log_softmax in float64. Tokens sharing a window start share one forward (causal
    attention: the logits at j-1 depend only on tokens begin..j-1)."""
    begins = {j: 0 if j < context else ((j - context) // stride + 1) * stride for j in range(1, len(ids))}
    logits_at = {}
    for begin in sorted(set(begins.values())):
        last = max(j for j, b in begins.items() if b == begin)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids[begin:last]])).logits[0].double()
        for j, b in begins.items():
            if b == begin:
                logits_at[j] = logits[j - 1 - begin]
    logp, mean, var = [], [], []
    for j in range(1, len(ids)):
        lp = torch.log_softmax(logits_at[j], dim=-1)
        p = lp.exp()
        mu = float((p * lp).sum())
        logp.append(float(lp[ids[j]]))
        mean.append(mu)
        var.append(float((p * lp * lp).sum()) - mu * mu)
    return np.array(logp), np.array(mean), np.array(var)


def smallest_mean(values: np.ndarray, k: float) -> float:
    count = max(1, math.ceil(Fraction(str(k)) * len(values)))
    return float(np.mean(sorted(values)[:count]))


_REFERENCES: dict = {}


def reference_scores(model, tokenizer, text: str, context: int, stride: int) -> dict[str, float]:
    ids = tokenizer(text)["input_ids"]
    key = (id(model), text, stride if len(ids) > context else None)  # the stride matters past the context only
    if key not in _REFERENCES:
        _REFERENCES[key] = _reference_scores(model, ids, text, context, stride)
    return _REFERENCES[key]


def _reference_scores(model, ids: list[int], text: str, context: int, stride: int) -> dict[str, float]:
    logp, mean, var = reference_token_stats(model, ids, context, stride)
    out = {"n_tokens": len(ids), "loss": logp.mean(), "zlib": logp.mean() / len(zlib.compress(text.encode("utf-8")))}
    z = (logp - mean) / np.sqrt(var)
    for k in K_GRID:
        out[f"mink_{k:g}"] = smallest_mean(logp, k)
        out[f"minkpp_{k:g}"] = smallest_mean(z, k)
    return out


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def tiny(request, tmp_path_factory):
    folder = save_tiny_model(tmp_path_factory.mktemp(request.param), request.param)
    return load_model(folder)


@pytest.fixture(scope="module")
def corpus():
    docs = pile_texts()
    texts = [docs[0][:12], docs[1][:80], docs[2][:150], docs[3][:200], docs[4][:60], docs[5][:450], docs[6][:300]]
    return pd.DataFrame({"id": [f"t{i}" for i in range(len(texts))], "text": texts, "member": [1, 0] * 3 + [1]})


@pytest.mark.parametrize(
    "batch_tokens, padding_side, stride",
    [(64, "right", None), (100_000, "left", 7), (200, "right", 63), (130, "left", 32)],
)
def test_scores_equal_plain_computation(tiny, corpus, batch_tokens, padding_side, stride):
    lm = tiny
    table = score_corpus(corpus, lm, max_batch_tokens=batch_tokens, padding_side=padding_side, stride=stride,
                         progress=False)
    used_stride = stride or CONTEXT // 2
    lengths = [len(lm.tokenizer(t)["input_ids"]) for t in corpus["text"]]
    assert max(lengths) > 1.5 * CONTEXT, "the corpus must hold a text longer than the context"
    assert list(table["id"]) == list(corpus["id"]) and list(table["member"]) == list(corpus["member"])
    assert not table["truncated"].any()
    for row, text in zip(table.itertuples(index=False), corpus["text"]):
        expected = reference_scores(lm.model, lm.tokenizer, text, CONTEXT, used_stride)
        got = dict(zip(table.columns, row))
        assert got["n_tokens"] == expected["n_tokens"]
        for column, value in expected.items():
            assert got[column] == pytest.approx(value, abs=1e-4), column


def test_truncation_scores_the_first_max_tokens(tiny, corpus):
    lm = tiny
    long_text = corpus["text"][5]
    table = score_corpus(corpus.iloc[[5, 0]].reset_index(drop=True), lm, max_tokens=40, progress=False)
    assert list(table["n_tokens"]) == [40, len(lm.tokenizer(corpus["text"][0])["input_ids"])]
    assert list(table["truncated"]) == [True, False]
    ids = lm.tokenizer(long_text)["input_ids"][:40]
    logp, _, _ = reference_token_stats(lm.model, ids, CONTEXT, CONTEXT // 2)
    assert table["loss"][0] == pytest.approx(logp.mean(), abs=1e-4)


def test_single_token_text_has_no_score(tiny):
    lm = tiny
    text = "a"
    assert len(lm.tokenizer(text)["input_ids"]) == 1
    table = score_corpus(pd.DataFrame({"id": ["x"], "text": [text]}), lm, progress=False)
    assert table["n_tokens"][0] == 1
    assert table[["loss", "mink_0.2", "minkpp_0.2"]].isna().all().all()


def test_head_split_is_found_and_the_logits_fallback_agrees(tiny, corpus, monkeypatch):
    from llm_audit.scoring import engine
    from llm_audit.scoring.forward import resolve_head

    lm = tiny
    assert resolve_head(lm.model) is not None, "GPT-2 and Llama must take the tiled-head path"
    monkeypatch.setattr(engine, "resolve_head", lambda model: None)
    table = score_corpus(corpus, lm, stride=16, max_batch_tokens=256, progress=False)
    for row, text in zip(table.itertuples(index=False), corpus["text"]):
        got = dict(zip(table.columns, row))
        for column, value in reference_scores(lm.model, lm.tokenizer, text, CONTEXT, 16).items():
            assert got[column] == pytest.approx(value, abs=1e-4), column
