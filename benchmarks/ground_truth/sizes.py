"""The benchmark's sizes: the same code path, from a CI smoke run to the headline figures."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Size:
    name: str
    vocab_size: int
    d_model: int
    n_layer: int
    n_head: int
    context: int
    pool_per_domain: int  # audit-pool texts per domain (one chunk per document)
    chunk_tokens: tuple[int, int]  # chunk length drawn uniformly in [lo, hi] tokens
    tokenizer_docs: int  # base documents the tokenizer is trained on
    pretrain_docs: int  # base documents the base model is pretrained on
    pretrain_steps: int
    finetune_steps: int
    batch_size: int
    seq_len: int
    pretrain_lr: float
    finetune_lr: float
    runs: int  # multi-run truth: number of fine-tunes
    strengths: tuple[float, ...]  # zero-run confounding strengths a
    n_bootstrap: int
    tfidf_k: int  # TF-IDF/SVD dimensions among the zero-run covariates (few units support few dimensions)
    table_scores: tuple[str, ...] = ("loss", "zlib", "mink_0.2", "minkpp_0.2")

    def key(self) -> str:
        """Cache folder name: the size's name and a hash of every field, so a changed size never reuses
        a stale cache."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.name}-{digest}"


SIZES = {
    # CI: a 0.1M-parameter model, 240 short texts, 4 runs; a minute or two on a shared 2-core machine. It fits
    # the Pile subset the package ships (160 documents per domain: 80 pool candidates, 80 base documents).
    "small": Size(
        name="small", vocab_size=384, d_model=64, n_layer=2, n_head=2, context=128,
        pool_per_domain=40, chunk_tokens=(24, 48), tokenizer_docs=300, pretrain_docs=480,
        pretrain_steps=150, finetune_steps=60, batch_size=8, seq_len=64, pretrain_lr=3e-3, finetune_lr=2e-3,
        runs=4, strengths=(0.0, 2.0), n_bootstrap=100, tfidf_k=4,
    ),
    "medium": Size(
        name="medium", vocab_size=1024, d_model=128, n_layer=2, n_head=4, context=256,
        pool_per_domain=50, chunk_tokens=(64, 128), tokenizer_docs=1000, pretrain_docs=3000,
        pretrain_steps=600, finetune_steps=120, batch_size=16, seq_len=128, pretrain_lr=3e-3, finetune_lr=1e-3,
        runs=8, strengths=(0.0, 1.0, 2.0), n_bootstrap=200, tfidf_k=16,
    ),
    # The headline size: a 3.7M-parameter GPT-2, 600 texts, 16 runs; 72 min on a shared 2-core machine with
    # one thread (111 min with --design-matched), measured 2026-11-23. It fits pile_domains (1,000 documents a
    # domain: 200 pool candidates, 800 base documents each, so 4,800 base documents; the 2026-11-23 run
    # asked for 5,000 and was given the 4,800 there are).
    "default": Size(
        name="default", vocab_size=2048, d_model=256, n_layer=4, n_head=4, context=256,
        pool_per_domain=100, chunk_tokens=(64, 128), tokenizer_docs=2000, pretrain_docs=4800,
        pretrain_steps=1500, finetune_steps=200, batch_size=16, seq_len=128, pretrain_lr=2e-3, finetune_lr=1e-3,
        runs=16, strengths=(0.0, 1.0, 2.0), n_bootstrap=500, tfidf_k=32,
    ),
}
