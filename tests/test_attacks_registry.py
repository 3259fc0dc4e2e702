"""Common tests of every registered attack (parametrized from the registry, so a new attack is covered at
once): a float, or NaN for a text with no scored token; the same value however the windows and batches are
cut; higher on a text the model was trained on than on an unseen one. Then the registry's refusals, each pass
run once, and a toy attack added from this file reaching the engine, the CLI and the config."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest

from llm_audit.errors import AuditError
from llm_audit.scoring import score_corpus, wrap_model
from llm_audit.scoring.attacks import (ATTACKS, PASSES, SIDE_DATA, Attack, AttackInput, choose, columns,
                                       requirements)
from llm_audit.scoring.attacks.base import mean_logp
from llm_audit.scoring.frequencies import count_tokens
from llm_audit.scoring.stats import TokenStats
from scoring_models import CONTEXT, pile_texts, tokenizer

NAMES = list(ATTACKS)
K_GRID = (0.2, 0.5)


@pytest.fixture(scope="module")
def base():
    """A random tiny GPT-2: the reference model, and the starting point of the fine-tuned target."""
    from llm_audit.training import build_model

    return build_model(tokenizer(), "gpt2", n_layer=2, d_model=64, n_head=4, context=CONTEXT, seed=0)


@pytest.fixture(scope="module")
def member() -> str:
    return pile_texts()[120][:150]


@pytest.fixture(scope="module")
def target(base, member):
    """``base`` fine-tuned for 100 steps on ``member`` alone (about 5 s on one core)."""
    from llm_audit.training import train_causal_lm

    model = copy.deepcopy(base)
    train_causal_lm(model, tokenizer(), [member], steps=100, batch_size=8, seq_len=CONTEXT, lr=3e-3, seed=0)
    return wrap_model(model, tokenizer())


@pytest.fixture(scope="module")
def side(base):
    """Every kind of side data, in the form ``score_corpus`` takes and the attacks read. DC-PDD's clip is set
    out of reach here (the clip is tested against a plain computation in test_scoring_attacks_extra)."""
    return {"reference": wrap_model(base, tokenizer()),
            "recall_prefix": [pile_texts()[150][:30]],
            "dcpdd_reference": count_tokens(list(pile_texts()[100:130]), tokenizer(), clip=100.0)}


def test_every_kind_of_side_data_has_a_test_value(side):
    assert set(side) == set(SIDE_DATA)
    for attack in ATTACKS.values():
        assert set(attack.passes) <= set(PASSES) and "main" in PASSES and set(attack.needs) <= set(SIDE_DATA)


def scores_of(name: str, corpus: pd.DataFrame, lm, side, **options) -> pd.DataFrame:
    """The columns of attack ``name``, given exactly the side data it needs."""
    needed = {key: side[key] for key in requirements(name)}
    table = score_corpus(corpus, lm, scores=[name], k_grid=K_GRID, progress=False, **needed, **options)
    return table[list(columns(name, K_GRID))]


def synthetic(n: int, side) -> AttackInput:
    rng = np.random.default_rng(n)
    passes = {p: TokenStats(-rng.exponential(2.0, n), -rng.exponential(3.0, n), rng.exponential(1.0, n))
              for p in PASSES}
    return AttackInput(passes, "Some Text here.", rng.integers(0, len(tokenizer()), n), side)


@pytest.mark.parametrize("name", NAMES)
def test_a_float_or_nan_below_two_tokens(name, target, side):
    attack = ATTACKS[name]
    for k in columns(name, K_GRID).values():
        value = attack.fn(synthetic(7, side), k)
        assert isinstance(value, float) and math.isfinite(value)
        assert math.isnan(attack.fn(synthetic(0, side), k))
    corpus = pd.DataFrame({"id": ["text", "one"], "text": [pile_texts()[3][:80], "a"]})
    assert len(tokenizer()("a")["input_ids"]) == 1
    table = scores_of(name, corpus, target, side)
    assert (table.dtypes == np.float64).all()
    assert np.isfinite(table.iloc[0]).all() and table.iloc[1].isna().all()


@pytest.mark.parametrize("name", NAMES)
def test_the_same_value_however_the_windows_are_cut(name, target, side):
    short = [t[:40] for t in pile_texts()[10:14]]
    long = pile_texts()[20][:500]
    prefix = len(tokenizer()(side["recall_prefix"][0])["input_ids"])
    assert max(len(tokenizer()(t)["input_ids"]) for s in short for t in (s, s.lower())) + prefix <= 48
    assert len(tokenizer()(long)["input_ids"]) > 2 * CONTEXT
    corpus = pd.DataFrame({"id": [f"s{i}" for i in range(4)] + ["long"], "text": short + [long]})
    one_batch = scores_of(name, corpus, target, side)
    # the short texts fit one window of 48 tokens (prefix included): the stride and context must not matter
    cut = scores_of(name, corpus, target, side, context=48, stride=7, max_batch_tokens=48, padding_side="left")
    np.testing.assert_allclose(cut.iloc[:4], one_batch.iloc[:4], rtol=0, atol=1e-5)
    # the long text keeps its windows; one window per batch, padded on the left, must not matter either
    alone = scores_of(name, corpus.iloc[[4]], target, side, max_batch_tokens=CONTEXT, padding_side="left")
    np.testing.assert_allclose(alone.iloc[0], one_batch.iloc[4], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_the_same_value_whatever_batches_a_texts_windows_fall_in(name, target, side):
    """Long texts of different lengths: the batching groups windows by length, so a text's windows finish out
    of order. Its value must not depend on that (DC-PDD keeps each token's first occurrence, so the order of
    the windows matters to it: this failed before the windows were put back in order)."""
    texts = [pile_texts()[i][: 250 + 60 * (i % 5)] for i in range(30, 36)]
    assert all(len(tokenizer()(t)["input_ids"]) > CONTEXT for t in texts)
    corpus = pd.DataFrame({"id": [f"l{i}" for i in range(len(texts))], "text": texts})
    together = scores_of(name, corpus, target, side)
    apart = scores_of(name, corpus, target, side, max_batch_tokens=2 * CONTEXT)
    np.testing.assert_allclose(apart, together, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_higher_on_the_text_trained_on(name, target, side, member):
    unseen = pile_texts()[121][:150]
    corpus = pd.DataFrame({"id": ["member", "unseen"], "text": [member, unseen]})
    table = scores_of(name, corpus, target, side)
    assert (table.iloc[0] > table.iloc[1]).all(), table


def test_unknown_and_unsupplied_attacks_are_refused_in_one_line():
    with pytest.raises(AuditError, match=r"^scores: unknown score 'minkplus' \(known: loss, zlib, mink, minkpp, dcpdd, "
                                         r"lowercase, ref, recall\)$"):
        choose(["loss", "minkplus"], [])
    with pytest.raises(AuditError, match=r"^scores: 'ref' needs a reference model \(--ref-model / "
                                         r"scoring.reference_model\)$"):
        choose(["ref"], ["recall_prefix"])
    with pytest.raises(AuditError, match=r"'recall' needs known non-member prefix texts \(--recall-prefix"):
        choose(["recall"], [])
    assert choose(None, []) == ["loss", "zlib", "mink", "minkpp"]
    # side data adds the attacks that read it; the table follows the registry's order
    assert choose(["lowercase", "loss"], ["reference", "dcpdd_reference"]) == ["loss", "dcpdd", "lowercase", "ref"]


def test_each_pass_runs_once_and_alone_gives_the_same_numbers(target, side, monkeypatch):
    from llm_audit.scoring import engine

    corpus = pd.DataFrame({"id": ["a", "b", "c"], "text": [t[:60] for t in pile_texts()[30:33]]})
    alone = score_corpus(corpus, target, scores=["loss", "mink"], max_batch_tokens=40, progress=False)
    windows = []
    original = engine.batch_stats

    def counting(model, head, batch, **kwargs):
        windows.append(len(batch.windows))
        return original(model, head, batch, **kwargs)

    monkeypatch.setattr(engine, "batch_stats", counting)
    together = score_corpus(corpus, target, scores=["loss", "mink", "lowercase", "recall"], max_batch_tokens=40,
                            recall_prefix=side["recall_prefix"], progress=False)
    assert sum(windows) == 3 * len(corpus)  # main, lowercased, prefixed: one window per short text each
    # the main pass is batched alone whatever else runs: its numbers do not move by a bit
    pd.testing.assert_frame_equal(together[alone.columns], alone, check_exact=True)


def drop(view: AttackInput, k: float | None = None) -> float:
    """Toy attack: the mean log-prob lost by lowercasing."""
    return mean_logp(view.main) - mean_logp(view.passes["lowercased"])


def test_a_toy_attack_is_one_function_and_one_registry_line(target, tmp_path, monkeypatch, capsys):
    from llm_audit.cli import main
    from llm_audit.config import load_config

    monkeypatch.setitem(ATTACKS, "drop", Attack(drop, passes=("main", "lowercased")))
    corpus = pd.DataFrame({"id": ["a", "b"], "text": [t[:90] for t in pile_texts()[40:42]], "member": [1, 0]})
    table = score_corpus(corpus, target, scores=["loss", "lowercase", "drop"], progress=False)
    assert list(table.columns)[-3:] == ["loss", "lowercase", "drop"]
    np.testing.assert_allclose(table["drop"], table["loss"] * (1 - table["lowercase"]), rtol=1e-9)

    folder = tmp_path / "model"
    target.model.save_pretrained(folder)
    target.tokenizer.save_pretrained(folder)
    source = tmp_path / "corpus.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in corpus.to_dict("records")))
    out = tmp_path / "scores.csv"
    assert main(["score", str(source), "--model", str(folder), "--scores", "drop", "--out", str(out),
                 "--no-progress"]) == 0
    np.testing.assert_allclose(pd.read_csv(out)["drop"], table["drop"], rtol=1e-6)
    config = tmp_path / "config.yaml"
    config.write_text(f"name: toy\ncorpus: {{path: {source}}}\nmodel: {{name: {folder}}}\n"
                      "scoring: {scores: [drop]}\n")
    assert load_config(config).scoring.scores == ["drop"]
