"""Scoring throughput: llm-audit's one-pass scorer against the bare forward pass and a MIMIR-style loop.

Measured in one run on the same texts (Pile documents cut to exactly L tokens), tokens per second for
  (a) the bare batched forward pass, logits only (the limit of any scorer that needs the logits);
  (b) ``llm_audit.scoring.score_corpus``: loss, zlib, Min-K% and Min-K%++ at three k each;
  (c) a per-text loop in the style of MIMIR: batch 1, one pass for the token log-probs (loss, zlib,
      Min-K%), one more pass for Min-K%++'s full next-token distributions.
Models are randomly initialized (throughput does not depend on the weights' values): GPT-2-small size
(124M parameters, 50,257-token vocabulary) and a thin 16M model with the same vocabulary.

    python benchmarks/scoring_throughput.py            # 128- and 512-token texts, both models (~10 min on 2 cores)
    python benchmarks/scoring_throughput.py --quick    # fewer texts: a smoke run
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from llm_audit.scoring import score_corpus, wrap_model
from llm_audit.scoring.batching import pack, plan_windows
from llm_audit.training import train_bpe_tokenizer

PILE = Path(os.environ.get("LLM_AUDIT_PILE", "/work/shared/data/pile_domains"))
VOCAB = 50257
MODELS = {"gpt2-small (124M)": dict(n_embd=768, n_layer=12, n_head=12), "thin (16M)": dict(n_embd=256, n_layer=4, n_head=4)}


def pile_texts(n: int) -> list[str]:
    texts = []
    for path in sorted(PILE.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            texts.extend(json.loads(line)["text"] for _, line in zip(range(n), handle))
    return texts


def bare_forward(model, ids: list[list[int]], max_batch_tokens: int) -> None:
    """(a): the same length-sorted packing as llm-audit, logits only."""
    windows = [w for i, t in enumerate(ids) for w in plan_windows(i, len(t), 10**9, 1)]
    with torch.inference_mode():
        for group in pack(windows, max_batch_tokens):
            batch = torch.tensor([ids[w.text] for w in group])
            model(input_ids=batch, attention_mask=torch.ones_like(batch), use_cache=False).logits


def mimir_loop(model, tokenizer, texts: list[str], length: int) -> list[dict[str, float]]:
    """(c): batch 1; MIMIR recomputes a forward per attack family (log-probs, then full distributions)."""
    out = []
    with torch.inference_mode():
        for text in texts:
            ids = torch.tensor([tokenizer(text)["input_ids"][:length]])
            logits = model(input_ids=ids, labels=ids).logits[0, :-1]
            token_logp = torch.log_softmax(logits.float(), -1).gather(1, ids[0, 1:, None])[:, 0].numpy()
            ids = torch.tensor([tokenizer(text)["input_ids"][:length]])
            logits = model(input_ids=ids).logits[0, :-1].float()
            logp = torch.log_softmax(logits, -1)
            probs = logp.exp()
            mu = (probs * logp).sum(-1)
            sigma = ((probs * logp.square()).sum(-1) - mu.square()).sqrt()
            z = ((logp.gather(1, ids[0, 1:, None])[:, 0] - mu) / sigma).numpy()
            row = {"loss": token_logp.mean(), "zlib": token_logp.mean() / len(zlib.compress(text.encode()))}
            for k in (0.1, 0.2, 0.5):
                n = max(1, math.ceil(k * len(token_logp)))
                row[f"mink_{k}"] = np.sort(token_logp)[:n].mean()
                row[f"minkpp_{k}"] = np.sort(z)[:n].mean()
            out.append(row)
    return out


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few texts, one length: a smoke run")
    parser.add_argument("--lengths", default="128,512")
    parser.add_argument("--tokens", type=int, default=2048, help="tokens per measurement (texts = tokens / length)")
    parser.add_argument("--repeat", type=int, default=2, help="best of this many interleaved rounds (a, b, c)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--row-chunk", type=int, default=256)
    parser.add_argument("--vocab-chunk", type=int, default=1024)
    args = parser.parse_args()
    lengths = [128] if args.quick else [int(x) for x in args.lengths.split(",")]
    budget = 512 if args.quick else args.tokens
    repeat = 1 if args.quick else args.repeat
    if args.threads:
        torch.set_num_threads(args.threads)

    docs = pile_texts(300)
    tokenizer = train_bpe_tokenizer(docs, vocab_size=8192)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), fp32, load average {os.getloadavg()[0]:.1f} at start")
    print("| model | tokens/text | texts | (a) bare forward tok/s | (b) llm-audit tok/s | (c) MIMIR-style tok/s | b/a | b/c |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        torch.manual_seed(0)
        config = GPT2Config(vocab_size=VOCAB, n_positions=1024, **MODELS[name])
        model = GPT2LMHeadModel(config).float().eval()
        lm = wrap_model(model, tokenizer, name=name)
        for length in lengths:
            texts = [t for t in docs if len(tokenizer(t)["input_ids"]) >= length][: max(2, budget // length)]
            ids = [tokenizer(t)["input_ids"][:length] for t in texts]
            tokens = sum(len(i) for i in ids)
            corpus = pd.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts})
            bare_forward(model, ids[:2], args.batch_tokens)  # warm-up: allocator, kernels
            t_a = t_b = t_c = math.inf
            for _ in range(repeat):  # interleaved, so that a load change on the machine hits all three
                t_a = min(t_a, timed(bare_forward, model, ids, args.batch_tokens))
                t_b = min(t_b, timed(score_corpus, corpus, lm, max_tokens=length, max_batch_tokens=args.batch_tokens,
                                     progress=False, row_chunk=args.row_chunk, vocab_chunk=args.vocab_chunk))
                t_c = min(t_c, timed(mimir_loop, model, tokenizer, texts, length))
            a, b, c = tokens / t_a, tokens / t_b, tokens / t_c
            print(f"| {name} | {length} | {len(texts)} | {a:,.0f} | {b:,.0f} | {c:,.0f} | {b / a:.2f} | {b / c:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
