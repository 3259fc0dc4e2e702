"""The models of the benchmark: a base LM pretrained on the base corpus, and fine-tunes of it on chosen
pool texts, each scored on the whole pool with the project's scorer (``llm_audit.scoring.score_corpus``)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

from llm_audit.scoring import score_corpus
from llm_audit.training import build_model, train_bpe_tokenizer, train_causal_lm

from benchmarks.ground_truth.sizes import Size
from benchmarks.run_folder import save_model


def pretrain_base(folder: Path, base_texts: Sequence[str], size: Size, seed: int) -> list[float]:
    """Train the tokenizer and the base model on base texts only and save both to ``folder`` (written
    to a temporary sibling and renamed, so a killed run never leaves half a model)."""
    order = np.random.default_rng(seed).permutation(len(base_texts))
    tokenizer = train_bpe_tokenizer([base_texts[i] for i in order[: size.tokenizer_docs]], vocab_size=size.vocab_size)
    model = build_model(tokenizer, "gpt2", n_layer=size.n_layer, d_model=size.d_model, n_head=size.n_head,
                        context=size.context, seed=seed)
    losses = train_causal_lm(model, tokenizer, [base_texts[i] for i in order[: size.pretrain_docs]], steps=size.pretrain_steps,
                             batch_size=size.batch_size, seq_len=size.seq_len, lr=size.pretrain_lr,
                             warmup=max(1, size.pretrain_steps // 20), seed=seed)
    save_model(model, tokenizer, folder)
    return losses


def load_base(folder: Path) -> tuple[torch.nn.Module, object]:
    hf_logging.disable_progress_bar()  # one bar per fine-tune would bury the benchmark's own log
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    return model.eval(), tokenizer


def score_pool(model: torch.nn.Module, tokenizer, pool: pd.DataFrame) -> pd.DataFrame:
    """Every score of the pool texts under ``model`` (``id``, ``n_tokens``, ``truncated``, scores)."""
    return score_corpus(pool[["id", "text"]], model, tokenizer=tokenizer, progress=False)


def finetune_and_score(base: Path, train_texts: Sequence[str], pool: pd.DataFrame, size: Size,
                       seed: int) -> pd.DataFrame:
    """Fine-tune a fresh copy of the base model on ``train_texts`` (shuffled with ``seed``) and score the
    pool with it. The model itself is not kept: the scores are what every regime needs."""
    model, tokenizer = load_base(base)
    order = np.random.default_rng(seed).permutation(len(train_texts))
    train_causal_lm(model, tokenizer, [train_texts[i] for i in order], steps=size.finetune_steps,
                    batch_size=size.batch_size, seq_len=size.seq_len, lr=size.finetune_lr,
                    warmup=max(1, size.finetune_steps // 10), seed=seed)
    return score_pool(model, tokenizer, pool)
