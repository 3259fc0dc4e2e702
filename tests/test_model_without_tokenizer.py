"""A model folder that holds weights but no tokenizer is refused as such, naming the folder and the files
looked for, by every step that tokenizes; it used to load an empty tokenizer and blame the corpus ("fewer
than 2 tokens", for every text)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from llm_audit.cli import main
from llm_audit.errors import AuditError

PILE_SUBSET = Path(__file__).parent.parent / "llm_audit" / "data" / "pile_subset.jsonl.gz"
LOOKED_FOR = "tokenizer.json, tokenizer_config.json, vocab.json"


@pytest.fixture(scope="module")
def tokenizer():
    from llm_audit.training import train_bpe_tokenizer

    with gzip.open(PILE_SUBSET, "rt", encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for _, line in zip(range(100), handle)]
    return train_bpe_tokenizer(texts, vocab_size=300)


def save_weights_only(folder: Path, tokenizer, arch: str) -> Path:
    from llm_audit.training import build_model

    build_model(tokenizer, arch, n_layer=1, d_model=32, n_head=2, context=32).save_pretrained(folder)
    assert not [p for p in folder.iterdir() if "token" in p.name or "vocab" in p.name]
    return folder


def corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    rows = [{"id": f"r{i}", "text": f"The cat sat on mat number {i}.", "member": i % 2} for i in range(4)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def one_line_error(capsys) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip() and not ln.startswith("Loading weights")]
    assert len(lines) == 1, lines
    return lines[0]


# GPT-2: transformers builds an empty tokenizer from config.json; Llama: it fails about sentencepiece.
@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_score_and_load_model_say_the_folder_has_no_tokenizer(arch, tokenizer, tmp_path, capsys):
    from llm_audit.scoring import load_model

    folder = save_weights_only(tmp_path / "model", tokenizer, arch)
    with pytest.raises(AuditError) as info:
        load_model(folder, device="cpu")
    message = str(info.value)
    assert message.startswith(f"{folder}: the model folder has no tokenizer") and LOOKED_FOR in message
    assert "\n" not in message and "corpus" not in message
    out = tmp_path / "scores.parquet"
    capsys.readouterr()
    assert main(["score", str(corpus_file(tmp_path)), "--model", str(folder), "--out", str(out), "--no-progress"]) == 2
    line = one_line_error(capsys)
    assert f"{folder}: the model folder has no tokenizer" in line and LOOKED_FOR in line and not out.exists()


def test_the_length_covariate_says_the_folder_has_no_tokenizer(tokenizer, tmp_path, capsys):
    folder = save_weights_only(tmp_path / "model", tokenizer, "gpt2")
    out = tmp_path / "covariates.parquet"
    capsys.readouterr()
    assert main(["covariates", str(corpus_file(tmp_path)), "--extractors", "length", "--tokenizer", str(folder),
                 "--out", str(out)]) == 2
    line = one_line_error(capsys)
    assert f"{folder}: the model folder has no tokenizer" in line and not out.exists()


def test_a_tokenizer_config_without_its_vocabulary_is_refused(tokenizer, tmp_path):
    """A GPT-2 tokenizer_config.json whose vocab.json and merges.txt are gone passes the file check and loads
    as an empty tokenizer: that is refused too."""
    from llm_audit.scoring import load_model

    folder = save_weights_only(tmp_path / "model", tokenizer, "gpt2")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GPT2Tokenizer"}), encoding="utf-8")
    with pytest.raises(AuditError, match=f"^{folder}: the tokenizer has no vocabulary beyond its special tokens"):
        load_model(folder, device="cpu")


def test_a_model_with_its_tokenizer_loads(tokenizer, tmp_path):
    from llm_audit.scoring import load_model

    folder = save_weights_only(tmp_path / "model", tokenizer, "gpt2")
    tokenizer.save_pretrained(folder)
    loaded = load_model(folder, device="cpu")
    assert loaded.tokenizer("The cat sat.")["input_ids"] == tokenizer("The cat sat.")["input_ids"]
