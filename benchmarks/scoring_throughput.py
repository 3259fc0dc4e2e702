"""Scoring throughput: llm-audit's one-pass scorer against the bare forward pass and a MIMIR-style loop.

Measured in one run on the same texts (Pile documents, joined where shorter, cut to exactly L tokens:
the subset the package ships, or the pile_domains folder LLM_AUDIT_PILE_DOMAINS names), tokens per second for
  (a) the bare batched forward pass, logits only (the limit of any scorer that needs the logits);
  (b) ``llm_audit.scoring.score_corpus``: loss, zlib, Min-K% and Min-K%++ at three k each;
  (c) a per-text loop in the style of MIMIR: batch 1, one pass for the token log-probs (loss, zlib,
      Min-K%), one more pass for Min-K%++'s full next-token distributions.
Models: randomly initialized GPT-2-small size (124M parameters, 50,257-token vocabulary) and a thin 16M
model with the same vocabulary (throughput does not depend on the weights' values); on a GPU also the real
SmolLM2-135M (the offline GGUF, `smollm2`) and a random 1.2B Llama (Llama-3.2-1B's shape, `llama-1b`).
Each row also gives the model FLOP/s of (b), 2 x (parameters in matmuls) + 2 x layers x length x width per
token, and on a GPU whose peak is known (or given with --peak-tflops) the fraction of peak it reaches.

    python benchmarks/scoring_throughput.py            # 128- and 512-token texts, both GPT-2s (~10 min on 2 cores)
    python benchmarks/scoring_throughput.py --quick    # fewer texts: a smoke run
    python benchmarks/scoring_throughput.py --device cuda --dtype bfloat16 --models smollm2,llama-1b \
        --tokens 262144 --batch-tokens 65536          # the GPU measurement
"""

from __future__ import annotations

import argparse
import gzip
import itertools
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

from llm_audit.demo import DATA_FILE as SHIPPED_SUBSET
from llm_audit.scoring import score_corpus, wrap_model
from llm_audit.scoring.batching import pack, plan_windows
from llm_audit.scoring.model import resolve_device, resolve_dtype
from llm_audit.training import train_bpe_tokenizer

DATA_ENV = "LLM_AUDIT_PILE_DOMAINS"  # a pile_domains folder (one <domain>.jsonl.gz each); unset: the shipped subset
VOCAB = 50257
GPT2_SHAPES = {"gpt2-small (124M)": dict(n_embd=768, n_layer=12, n_head=12), "thin (16M)": dict(n_embd=256, n_layer=4, n_head=4)}
# Llama-3.2-1B's shape (1.24B parameters with its 128k vocabulary, tied head), randomly initialized.
LLAMA_1B = dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=2048, tie_word_embeddings=True)
# Dense (no sparsity) tensor-core peaks in TFLOP/s by GPU name, from the vendors' data sheets.
PEAK_TFLOPS = {"H200": {"bfloat16": 989.4, "float16": 989.4}, "H100 PCIe": {"bfloat16": 756.0, "float16": 756.0},
               "H100": {"bfloat16": 989.4, "float16": 989.4}, "A100": {"bfloat16": 312.0, "float16": 312.0},
               "L40S": {"bfloat16": 362.0, "float16": 362.0}, "L4": {"bfloat16": 121.0, "float16": 121.0},
               "A10": {"bfloat16": 125.0, "float16": 125.0}}


def pile_texts(n: int) -> list[str]:
    """Up to ``n`` documents of each domain, domain after domain."""
    folder = os.environ.get(DATA_ENV)
    paths = sorted(Path(folder).glob("*.jsonl.gz")) if folder else [SHIPPED_SUBSET]
    by_domain: dict[str, list[str]] = {}
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                texts = by_domain.setdefault(row.get("domain", path.name), [])
                if len(texts) < n:
                    texts.append(row["text"])
    return [t for texts in by_domain.values() for t in texts]


def texts_of_length(docs: list[str], tokenizer, length: int, count: int) -> list[str]:
    """``count`` texts of at least ``length`` tokens: documents in order, each joined with the next ones
    (blank line between) until long enough, the documents reused from the start when they run out."""
    texts: list[str] = []
    parts: list[str] = []
    for doc in itertools.islice(itertools.cycle(docs), 100 * count + len(docs)):
        parts.append(doc)
        joined = "\n\n".join(parts)
        if len(tokenizer(joined)["input_ids"]) >= length:
            texts.append(joined)
            parts = []
            if len(texts) == count:
                break
    return texts


def build_model(name: str, tokenizer, device: torch.device, dtype: torch.dtype):
    """(model, tokenizer the texts are cut with, FLOP per token of one forward at ``length`` tokens)."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    if name == "smollm2":
        from llm_audit.corpora.smollm2 import smollm2_gguf
        from llm_audit.scoring import load_model

        path = smollm2_gguf()
        lm = load_model(path, dtype=dtype, device=str(device))
        return lm.model, lm.tokenizer
    with device:  # initialize on the device: a 1B model's random init on the CPU takes minutes
        if name == "llama-1b":
            model = LlamaForCausalLM(LlamaConfig(**LLAMA_1B))
        else:
            model = GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_positions=1024, **GPT2_SHAPES[name]))
    return model.to(dtype).eval(), tokenizer


def flop_per_token(model, length: int) -> float:
    """Forward FLOP per token (Kaplan et al. 2020): 2 x the parameters used in matmuls (the head counted,
    the embedding lookup and norms not) + 2 x layers x context x width for attention scores and values."""
    config = model.config
    width = getattr(config, "hidden_size", None) or config.n_embd
    layers = getattr(config, "num_hidden_layers", None) or config.n_layer
    embedding = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    matmul = sum(p.numel() for n, p in model.named_parameters() if p.dim() == 2 and p is not embedding)
    if head is embedding:  # a tied head still costs its matmul
        matmul += head.numel()
    return 2.0 * matmul + 2.0 * layers * length * width


def peak_tflops(device: torch.device, dtype: torch.dtype, given: float | None) -> float | None:
    if given is not None:
        return given
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peaks in PEAK_TFLOPS.items():  # "H100 PCIe" before "H100"
        if key in name:
            return peaks.get(str(dtype).removeprefix("torch."))
    return None


def bare_forward(model, ids: list[list[int]], max_batch_tokens: int) -> None:
    """(a): the same length-sorted packing as llm-audit, logits only."""
    device = model.get_input_embeddings().weight.device
    windows = [w for i, t in enumerate(ids) for w in plan_windows(i, len(t), 10**9, 1)]
    with torch.inference_mode():
        for group in pack(windows, max_batch_tokens):
            batch = torch.tensor([ids[w.text] for w in group], device=device)
            model(input_ids=batch, attention_mask=torch.ones_like(batch), use_cache=False).logits


def mimir_loop(model, tokenizer, texts: list[str], length: int) -> list[dict[str, float]]:
    """(c): batch 1; MIMIR recomputes a forward per attack family (log-probs, then full distributions)."""
    out = []
    device = model.get_input_embeddings().weight.device
    with torch.inference_mode():
        for text in texts:
            ids = torch.tensor([tokenizer(text)["input_ids"][:length]], device=device)
            logits = model(input_ids=ids, labels=ids).logits[0, :-1]
            token_logp = torch.log_softmax(logits.float(), -1).gather(1, ids[0, 1:, None])[:, 0].cpu().numpy()
            ids = torch.tensor([tokenizer(text)["input_ids"][:length]], device=device)
            logits = model(input_ids=ids).logits[0, :-1].float()
            logp = torch.log_softmax(logits, -1)
            probs = logp.exp()
            mu = (probs * logp).sum(-1)
            sigma = ((probs * logp.square()).sum(-1) - mu.square()).sqrt()
            z = ((logp.gather(1, ids[0, 1:, None])[:, 0] - mu) / sigma).cpu().numpy()
            row = {"loss": token_logp.mean(), "zlib": token_logp.mean() / len(zlib.compress(text.encode()))}
            for k in (0.1, 0.2, 0.5):
                n = max(1, math.ceil(k * len(token_logp)))
                row[f"mink_{k}"] = np.sort(token_logp)[:n].mean()
                row[f"minkpp_{k}"] = np.sort(z)[:n].mean()
            out.append(row)
    return out


def timed(fn, *args, **kwargs) -> float:
    synchronize = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    synchronize()
    start = time.perf_counter()
    fn(*args, **kwargs)
    synchronize()  # kernels are asynchronous: the clock stops when the GPU is done
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few texts, one length: a smoke run")
    parser.add_argument("--lengths", default="128,512")
    parser.add_argument("--tokens", type=int, default=2048, help="tokens per measurement (texts = tokens / length)")
    parser.add_argument("--repeat", type=int, default=2, help="best of this many interleaved rounds (a, b, c)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--models", default=",".join(GPT2_SHAPES),
                        help=f"comma-separated: {', '.join(GPT2_SHAPES)}, smollm2, llama-1b")
    parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu) or a torch device")
    parser.add_argument("--dtype", default="auto", help="auto: fp32 on CPU, bf16 on GPU")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak for --dtype (default: known GPUs' data sheets)")
    parser.add_argument("--skip-mimir", action="store_true", help="leave out (c) (slow for big models at batch 1)")
    parser.add_argument("--row-chunk", type=int, help="logits tile rows (default: 256 on CPU, 4096 on GPU)")
    parser.add_argument("--vocab-chunk", type=int, help="logits tile vocabulary slice (default: 1024 on CPU, 16384 on GPU)")
    args = parser.parse_args()
    lengths = [128] if args.quick else [int(x) for x in args.lengths.split(",")]
    budget = 512 if args.quick else args.tokens
    repeat = 1 if args.quick else args.repeat
    if args.threads:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    peak = peak_tflops(device, dtype, args.peak_tflops)
    docs = pile_texts(max(300, budget // 128))
    bpe = train_bpe_tokenizer(docs[:300], vocab_size=8192)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()}, {os.cpu_count()} cores"
    print(f"# {where}, torch {torch.__version__} ({torch.get_num_threads()} threads), {str(dtype).removeprefix('torch.')}, "
          f"peak {peak or 'unknown'} TFLOP/s, load average {os.getloadavg()[0]:.1f} at start")
    print("| model | tokens/text | texts | (a) bare forward tok/s | (b) llm-audit tok/s | (c) MIMIR-style tok/s "
          "| b/a | b/c | (b) TFLOP/s | (b) fraction of peak |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        model, tokenizer = build_model(name, bpe, device, dtype)
        lm = wrap_model(model, tokenizer, name=name)
        for length in lengths:
            texts = texts_of_length(docs, tokenizer, length, max(2, budget // length))
            ids = [tokenizer(t)["input_ids"][:length] for t in texts]
            tokens = sum(len(i) for i in ids)
            corpus = pd.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts})
            bare_forward(model, ids[:2], args.batch_tokens)  # warm-up: allocator, kernels
            t_a = t_b = t_c = math.inf
            for _ in range(repeat):  # interleaved, so that a load change on the machine hits all three
                t_a = min(t_a, timed(bare_forward, model, ids, args.batch_tokens))
                t_b = min(t_b, timed(score_corpus, corpus, lm, max_tokens=length, max_batch_tokens=args.batch_tokens,
                                     progress=False, row_chunk=args.row_chunk, vocab_chunk=args.vocab_chunk))
                if not args.skip_mimir:
                    t_c = min(t_c, timed(mimir_loop, model, tokenizer, texts, length))
            a, b, c = tokens / t_a, tokens / t_b, tokens / t_c
            tflops = b * flop_per_token(model, length) / 1e12
            fraction = f"{tflops / peak:.1%}" if peak else "n/a"
            c_cols = ("skipped", "n/a") if args.skip_mimir else (f"{c:,.0f}", f"{b / c:.2f}")
            print(f"| {name} | {length} | {len(texts)} | {a:,.0f} | {b:,.0f} | {c_cols[0]} | {b / a:.2f} | "
                  f"{c_cols[1]} | {tflops:.3g} | {fraction} |", flush=True)


if __name__ == "__main__":
    main()
