"""``device_map``: a model spread by accelerate's dispatch (here over CPU and disk, the only devices a CPU
machine has) scores exactly like the same model loaded whole; contradictory settings are refused."""

from __future__ import annotations

import pandas as pd
import pytest

from llm_audit.errors import AuditError
from llm_audit.scoring import load_model, score_corpus
from llm_audit.scoring.forward import resolve_head
from scoring_models import pile_texts, save_tiny_model

# Offloaded modules hold their weights on the `meta` device and load them in accelerate's hooks.
BODY_OFFLOADED = {"model.embed_tokens": "cpu", "model.layers.0": "disk", "model.layers.1": "cpu",
                  "model.norm": "cpu", "model.rotary_emb": "cpu", "lm_head": "cpu"}
# The (tied) head offloaded too: the body/head split cannot reach its weight, the model's own forward can.
HEAD_OFFLOADED = {"model.embed_tokens": "disk", "model.layers.0": "cpu", "model.layers.1": "disk",
                  "model.norm": "cpu", "model.rotary_emb": "cpu", "lm_head": "disk"}


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("llama") / "model", "llama")


@pytest.fixture(scope="module")
def corpus():
    texts = list(pile_texts()[:6]) + [pile_texts()[6] * 3]  # the last one is longer than the context: windows
    return pd.DataFrame({"id": [f"t{i}" for i in range(7)], "text": texts, "member": [0, 1] * 3 + [1]})


@pytest.mark.parametrize("device_map, split_head", [(BODY_OFFLOADED, True), (HEAD_OFFLOADED, False)])
def test_a_dispatched_model_scores_like_the_whole_model(llama_dir, corpus, tmp_path, device_map, split_head):
    scores = ["loss", "zlib", "mink", "minkpp"]
    whole = load_model(llama_dir)
    spread = load_model(llama_dir, device_map=device_map, offload_folder=tmp_path / "offload")
    assert spread.model.hf_device_map == device_map
    assert (resolve_head(spread.model) is not None) is split_head
    assert spread.fingerprint["id"] == whole.fingerprint["id"]  # where the weights sit is not what they compute
    expected = score_corpus(corpus, whole, scores=scores, progress=False)
    got = score_corpus(corpus, spread, scores=scores, max_batch_tokens=256, progress=False)
    columns = [c for c in expected.columns if c not in ("id", "text", "member", "truncated", "n_tokens")]
    pd.testing.assert_frame_equal(got[columns], expected[columns], rtol=0, atol=1e-5)


def test_device_map_contradictions_are_refused(llama_dir, monkeypatch):
    with pytest.raises(AuditError, match="leave device at auto"):
        load_model(llama_dir, device_map="auto", device="cpu")
    with pytest.raises(AuditError, match="unknown 'everywhere'"):
        load_model(llama_dir, device_map="everywhere")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(AuditError, match="each process holds a whole model"):
        load_model(llama_dir, device_map="auto")


def test_score_cli_takes_a_device_map(llama_dir, corpus, tmp_path):
    from llm_audit.cli import main

    corpus.to_json(tmp_path / "c.jsonl", orient="records", lines=True)
    out = tmp_path / "s.parquet"
    assert main(["score", str(tmp_path / "c.jsonl"), "--model", str(llama_dir), "--device-map", "auto",
                 "--scores", "loss", "--out", str(out), "--no-progress"]) == 0
    expected = score_corpus(corpus, load_model(llama_dir), scores=["loss"], progress=False)
    assert pd.read_parquet(out)["loss"].to_numpy() == pytest.approx(expected["loss"].to_numpy(), abs=1e-5)
    assert main(["score", str(tmp_path / "c.jsonl"), "--model", str(llama_dir), "--offload-folder", "x",
                 "--out", str(tmp_path / "t.parquet")]) == 2
    assert not (tmp_path / "t.parquet").exists()
