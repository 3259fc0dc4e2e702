"""Small causal LMs trained here: the demo's audited model, test fixtures, the ground-truth benchmark.

A byte-level BPE tokenizer trained on local text, a GPT-2 or Llama architecture built from a config, and a
plain training loop. Deterministic on CPU for a given seed.
"""

from __future__ import annotations

import math
import random
from typing import Iterable, Literal, Sequence

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

EOS = "<|endoftext|>"


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``texts`` (no download), with ``<|endoftext|>`` as eos and pad."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=EOS, unk_token=EOS)


def build_model(
    tokenizer: PreTrainedTokenizerFast,
    arch: Literal["gpt2", "llama"] = "gpt2",
    *,
    n_layer: int = 2,
    d_model: int = 128,
    n_head: int = 4,
    context: int = 256,
    seed: int = 0,
) -> torch.nn.Module:
    """A randomly initialized causal LM sized for CPU work (``d_model=128, n_layer=2`` is about 0.7M
    parameters plus the embeddings)."""
    torch.manual_seed(seed)
    vocab = len(tokenizer)
    if arch == "gpt2":
        config = GPT2Config(
            vocab_size=vocab, n_positions=context, n_embd=d_model, n_layer=n_layer, n_head=n_head,
            bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        )
        model = GPT2LMHeadModel(config)
    elif arch == "llama":
        config = LlamaConfig(
            vocab_size=vocab, hidden_size=d_model, intermediate_size=4 * d_model, num_hidden_layers=n_layer,
            num_attention_heads=n_head, num_key_value_heads=n_head, max_position_embeddings=context,
            bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
        )
        model = LlamaForCausalLM(config)
    else:
        raise ValueError(f"unknown architecture {arch!r} (gpt2 or llama)")
    return model.float().eval()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def token_stream(tokenizer: PreTrainedTokenizerFast, texts: Sequence[str]) -> torch.Tensor:
    """``texts`` tokenized and joined with eos into one training stream (1-d LongTensor)."""
    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer(text)["input_ids"])
        ids.append(tokenizer.eos_token_id)
    return torch.tensor(ids, dtype=torch.long)


def train_causal_lm(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerFast,
    texts: Sequence[str],
    *,
    steps: int = 300,
    batch_size: int = 8,
    seq_len: int = 128,
    lr: float = 3e-3,
    warmup: int = 20,
    seed: int = 0,
) -> list[float]:
    """Train ``model`` in place on ``texts`` with AdamW and a cosine schedule; return the loss per step.

    Texts are joined with eos and cut into ``seq_len`` blocks that start at random offsets, so every text is
    seen in many left contexts (the way pretraining sees it). Deterministic given ``seed`` on CPU.
    """
    return train_on_stream(model, token_stream(tokenizer, texts), steps=steps, batch_size=batch_size,
                           seq_len=seq_len, lr=lr, warmup=warmup, seed=seed)


def train_on_stream(
    model: torch.nn.Module,
    stream: torch.Tensor,
    *,
    steps: int = 300,
    batch_size: int = 8,
    seq_len: int = 128,
    lr: float = 3e-3,
    warmup: int = 20,
    seed: int = 0,
) -> list[float]:
    """``train_causal_lm`` on a ready token stream. The block offsets depend only on ``seed`` and the stream's
    length, so two streams of equal length that differ in some tokens train on the same positions in the same
    order: the way a model pair is built that differs only by inserted texts."""
    seed_everything(seed)
    if len(stream) <= seq_len + 1:
        stream = stream.repeat(math.ceil((seq_len + 2) / len(stream)))
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    model.train()
    losses = []
    for _ in range(steps):
        starts = torch.randint(0, len(stream) - seq_len - 1, (batch_size,), generator=gen)
        batch = torch.stack([stream[s : s + seq_len] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses
