"""Tiny causal LMs for the scoring tests: a BPE tokenizer trained on local text, random GPT-2 / Llama saved
with save_pretrained (reloaded through the project's loader by the tests).

The text is the subset of Pile documents the package ships (``llm_audit/data/pile_subset.jsonl.gz``, 160
documents of 250-1000 characters per domain), so the tests need nothing outside the repository.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

from llm_audit.demo import DATA_FILE

CONTEXT = 64


@functools.lru_cache(maxsize=None)
def pile_texts(domain: str = "wikipedia") -> tuple[str, ...]:
    """The shipped documents of ``domain``, in file order."""
    with gzip.open(DATA_FILE, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    texts = tuple(row["text"] for row in rows if row["domain"] == domain)
    if not texts:
        raise ValueError(f"{DATA_FILE}: no document of domain {domain!r}")
    return texts


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
