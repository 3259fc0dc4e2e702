"""The sizes of the model-pair benchmark: the same code path, from the CI smoke run to the README table."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PairSize:
    name: str
    candidates_per_domain: int  # candidate texts per domain (whole documents of the shipped corpus)
    filler_per_domain: int  # documents model B reads where model A reads an inserted text
    vocab_size: int
    d_model: int
    n_layer: int
    n_head: int
    context: int
    pretrain_steps: int  # base model, on the background documents only
    finetune_steps: int  # each model of the pair
    batch_size: int
    seq_len: int
    pretrain_lr: float
    finetune_lr: float
    strengths: tuple[float, ...]  # confounding strengths of the harness's propensity
    draws: int  # harness draws per strength
    n_bootstrap: int  # bootstrap replicates of each zero-run estimate
    truth_bootstrap: int  # bootstrap replicates of the oracle's own interval
    tfidf_k: int
    table_scores: tuple[str, ...] = ("loss", "mink_0.2")

    def key(self) -> str:
        """Cache folder name: the size's name and a hash of every field."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.name}-{digest}"


SIZES = {
    # CI (tests/test_paired.py): a 30k-parameter model, 180 candidates, 2 draws; about 30 s on 2 shared cores.
    "small": PairSize(
        name="small", candidates_per_domain=30, filler_per_domain=15, vocab_size=512, d_model=32, n_layer=1, n_head=2, context=128,
        pretrain_steps=60, finetune_steps=80, batch_size=8, seq_len=64, pretrain_lr=5e-3, finetune_lr=5e-3,
        strengths=(1.0,), draws=2, n_bootstrap=30, truth_bootstrap=50, tfidf_k=4,
    ),
    # The README table: a 0.4M-parameter GPT-2, 600 candidates (300 inserted), 100 draws per strength.
    "default": PairSize(
        name="default", candidates_per_domain=100, filler_per_domain=40, vocab_size=1024, d_model=128, n_layer=2, n_head=4, context=256,
        pretrain_steps=600, finetune_steps=150, batch_size=16, seq_len=128, pretrain_lr=3e-3, finetune_lr=1e-3,
        strengths=(1.0, 2.0), draws=100, n_bootstrap=300, truth_bootstrap=1000, tfidf_k=16,
    ),
}
