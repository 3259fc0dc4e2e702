"""Tiny causal LMs for the scoring tests: a BPE tokenizer trained on local text, random GPT-2 / Llama saved
with save_pretrained (reloaded through the project's loader by the tests)."""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

PILE = Path("/work/shared/data/pile_domains")
CONTEXT = 64


@functools.lru_cache(maxsize=None)
def pile_texts(domain: str = "wikipedia", n: int = 200) -> tuple[str, ...]:
    import pytest

    if not (PILE / f"{domain}.jsonl.gz").exists():
        pytest.skip(f"{PILE}: the shared pile_domains data is not on this machine")
    with gzip.open(PILE / f"{domain}.jsonl.gz", "rt", encoding="utf-8") as handle:
        return tuple(json.loads(line)["text"] for _, line in zip(range(n), handle))


@functools.lru_cache(maxsize=None)
def tokenizer():
    from llm_audit.training import train_bpe_tokenizer

    return train_bpe_tokenizer(pile_texts()[:100], vocab_size=512)


def save_tiny_model(folder: Path, arch: str, *, context: int = CONTEXT, seed: int = 0) -> Path:
    """A random tiny ``arch`` model and its tokenizer saved in ``folder`` (safetensors)."""
    from llm_audit.training import build_model

    model = build_model(tokenizer(), arch, n_layer=2, d_model=64, n_head=4, context=context, seed=seed)
    model.save_pretrained(folder)
    tokenizer().save_pretrained(folder)
    return folder
