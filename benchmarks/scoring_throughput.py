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
    python benchmarks/scoring_throughput.py --batching # the batching rule: padding and tokens/s, old vs new

``--batching`` compares, on the demo corpus (the shipped Pile subset) and the State of the Union chunks of
configs/smollm2_sotu.yaml, the batching rule of llm_audit.scoring.batching (rows of a batch each fill at least
MIN_FILL of its width; windows sorted by length within blocks) with the rule before it (a batch grows in text
order until rows x width reaches the token budget): the padding share of every batch plan of the whole corpus
(no forward pass needed); the real tokens per second of the transformer body over each plan, timed on every
k-th batch (the plan's own mix of widths; interleaved rounds, median); and, on a subset of the texts, the
largest difference between score_corpus's scores under the two rules.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import itertools
import json
import math
import os
import platform
import time
import zlib
from functools import partial
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import torch

from llm_audit.demo import DATA_FILE as SHIPPED_SUBSET
from llm_audit.scoring import score_corpus, wrap_model
from llm_audit.scoring.batching import BLOCK_BATCHES, length_blocks, pack, plan_windows
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


# --- the batching rule --------------------------------------------------------------------------------------


@contextlib.contextmanager
def rule(name: str):
    """Score under the batching rule ``name``: "new" (the engine's) or "old" (before the width bound: budget-only
    greedy packing of the windows in text order)."""
    if name == "new":
        yield
        return
    with mock.patch("llm_audit.scoring.engine.pack", partial(pack, min_fill=0.0)), \
            mock.patch("llm_audit.scoring.engine.length_blocks", lambda lengths, block: list(range(len(lengths)))):
        yield


def plan_batches(lengths: list[int], room: int, budget: int, name: str) -> list[list]:
    """The engine's batches of texts of these token ``lengths`` (stride room / 2) under rule ``name``."""
    windows = [w for i in sorted(range(len(lengths)), key=lambda i: -min(lengths[i], room))
               for w in plan_windows(i, lengths[i], room, max(1, room // 2))]
    if name == "old":
        return pack(windows, budget, min_fill=0.0)
    order = length_blocks([w.end - w.begin for w in windows], BLOCK_BATCHES * budget)
    return pack([windows[k] for k in order], budget)


def padding_share(batches: list[list]) -> float:
    real = sum(w.end - w.begin for b in batches for w in b)
    return 1.0 - real / sum(len(b) * max(w.end - w.begin for w in b) for b in batches)


def batching_corpora(docs: list[str]) -> dict[str, list[str]]:
    """The demo corpus (the shipped Pile subset's audit pool) and the State of the Union chunks of
    configs/smollm2_sotu.yaml (250 members drawn with seed 0, and the 83 chunks after the cutoff)."""
    from llm_audit.corpora import sotu
    from llm_audit.demo import FULL, load_demo_corpus

    pool, _ = load_demo_corpus(FULL)
    return {"demo": list(pool["text"]), "sotu": list(sotu.build(max_members=250)["text"])}


def subset(texts: list[str], lengths: list[int], k: int) -> list[str]:
    """``k`` texts spread evenly over the length order: the same mix of lengths as the whole corpus."""
    order = np.argsort(lengths, kind="stable")
    return [texts[i] for i in order[np.linspace(0, len(texts) - 1, min(k, len(texts))).astype(int)]]


def sampled(batches: list[list], tokens: int) -> list[list]:
    """Every k-th batch of a plan, k chosen so that about ``tokens`` real tokens are kept: a sample with the
    plan's own mix of widths and fills."""
    real = sum(w.end - w.begin for b in batches for w in b)
    return batches[:: max(1, round(real / tokens))]


def time_plan(model, batches: list[list], vocab: int, device) -> tuple[float, int]:
    """Seconds of the transformer body (no LM head: llm-audit applies it only at scored positions) over
    these batches, right-padded, random token ids; and their real tokens."""
    body, gen = model.base_model, torch.Generator().manual_seed(0)
    real = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for b in batches:
            lens = [w.end - w.begin for w in b]
            ids = torch.randint(vocab, (len(b), max(lens)), generator=gen).to(device)
            mask = (torch.arange(max(lens))[None, :] < torch.tensor(lens)[:, None]).long().to(device)
            body(input_ids=ids, attention_mask=mask, use_cache=False)
            real += sum(lens)
    return time.perf_counter() - start, real


def batching_main(args, device, dtype) -> None:
    models = args.models.split(",")
    budgets = [int(b) for b in args.budgets.split(",")]
    docs = pile_texts(300)
    bpe = train_bpe_tokenizer(docs[:300], vocab_size=8192)
    corpora = batching_corpora(docs)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"load average {os.getloadavg()[0]:.1f} at start")
    for name in models:
        model, tokenizer = build_model(name, bpe, device, dtype)
        lm = wrap_model(model, tokenizer, name=name)
        context = model.config.max_position_embeddings if hasattr(model.config, "max_position_embeddings") else model.config.n_positions
        contexts = sorted({min(context, c) for c in (args.short_context, context) if c})
        print(f"\n## {name}: padding share of every batch plan (whole corpus; old -> new rule, batches in brackets)\n")
        print("| corpus | texts | tokens | context | " + " | ".join(f"budget {b}" for b in budgets) + " |")
        print("|---|---|---|---|" + "---|" * len(budgets))
        lengths = {c: [len(i) for i in tokenizer(texts, add_special_tokens=True, split_special_tokens=True)["input_ids"]]
                   for c, texts in corpora.items()}
        for corpus, lens in lengths.items():
            for room in contexts:
                cells = []
                for b in budgets:
                    old, new = plan_batches(lens, room, b, "old"), plan_batches(lens, room, b, "new")
                    cells.append(f"{padding_share(old):.1%} ({len(old)}) -> {padding_share(new):.1%} ({len(new)})")
                print(f"| {corpus} | {len(lens)} | {sum(lens):,} | {room} | " + " | ".join(cells) + " |")
        if not args.sample_tokens:
            continue
        timed_contexts = [min(contexts)] if args.short_context else contexts
        print(f"\n## {name}: real tokens/s of the transformer body over each whole-corpus plan (a sample of every "
              f"k-th batch, about {args.sample_tokens:,} real tokens), median of {args.repeat} interleaved rounds\n")
        print(f"| corpus | context | rule, budget | padding | batches timed (their padding) | tok/s | vs old rule at "
              f"budget {budgets[-1]} | load average |")
        print("|---|---|---|---|---|---|---|---|")
        vocab = model.get_input_embeddings().weight.shape[0]
        for corpus, lens in lengths.items():
            for room in timed_contexts:
                runs = [("old", budgets[-1])] + [("new", b) for b in budgets]
                plans = {r: plan_batches(lens, room, r[1], r[0]) for r in runs}
                samples = {r: sampled(plans[r], args.sample_tokens) for r in runs}
                rates: dict = {r: [] for r in runs}
                load = []
                for _ in range(args.repeat):
                    for r in runs:
                        seconds, real = time_plan(model, samples[r], vocab, device)
                        rates[r].append(real / seconds)
                        load.append(os.getloadavg()[0])
                base = float(np.median(rates[runs[0]]))
                for r in runs:
                    rate = float(np.median(rates[r]))
                    print(f"| {corpus} | {room} | {r[0]}, {r[1]} | {padding_share(plans[r]):.1%} | {len(samples[r])} "
                          f"({padding_share(samples[r]):.1%}) | "
                          f"{rate:,.0f} | {rate / base:.2f} | {min(load):.1f}-{max(load):.1f} |", flush=True)
        if not args.texts:
            continue
        print(f"\n## {name}: score_corpus under each rule, {args.texts} texts per corpus: largest score difference\n")
        print("| corpus | context | texts | tokens | max abs score difference, new vs old rule |")
        print("|---|---|---|---|---|")
        for corpus, texts in corpora.items():
            chosen = subset(texts, lengths[corpus], args.texts)
            table = pd.DataFrame({"id": [str(i) for i in range(len(chosen))], "text": chosen})
            tokens = sum(len(i) for i in tokenizer(chosen, add_special_tokens=True, split_special_tokens=True)["input_ids"])
            for room in contexts:
                scores = {}
                for r in ("old", "new"):
                    with rule(r):
                        scores[r] = score_corpus(table, lm, context=room, max_batch_tokens=budgets[-1], progress=False)
                cols = [c for c in scores["old"].columns if c not in ("id", "n_tokens", "truncated")]
                diff = float(np.nanmax(np.abs(scores["new"][cols].to_numpy() - scores["old"][cols].to_numpy())))
                print(f"| {corpus} | {room} | {len(chosen)} | {tokens:,} | {diff:.1e} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few texts, one length: a smoke run")
    parser.add_argument("--lengths", default="128,512")
    parser.add_argument("--tokens", type=int, default=2048, help="tokens per measurement (texts = tokens / length)")
    parser.add_argument("--repeat", type=int, default=2, help="best of this many interleaved rounds (a, b, c)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--models", default=None,
                        help=f"comma-separated: {', '.join(GPT2_SHAPES)}, smollm2, llama-1b")
    parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu) or a torch device")
    parser.add_argument("--dtype", default="auto", help="auto: fp32 on CPU, bf16 on GPU")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak for --dtype (default: known GPUs' data sheets)")
    parser.add_argument("--skip-mimir", action="store_true", help="leave out (c) (slow for big models at batch 1)")
    parser.add_argument("--row-chunk", type=int, help="logits tile rows (default: 256 on CPU, 4096 on GPU)")
    parser.add_argument("--vocab-chunk", type=int, help="logits tile vocabulary slice (default: 1024 on CPU, 16384 on GPU)")
    parser.add_argument("--batching", action="store_true", help="the batching rule: padding and tokens/s, old vs new")
    parser.add_argument("--budgets", default="2048,8192", help="--batching: token budgets (the last: the old rule's)")
    parser.add_argument("--texts", type=int, default=48,
                        help="--batching: texts per corpus scored under both rules for the score difference (0: none)")
    parser.add_argument("--sample-tokens", type=int, default=4096,
                        help="--batching: real tokens of the batches timed per plan (0: padding shares only)")
    parser.add_argument("--short-context", type=int, default=256,
                        help="--batching: a context shorter than the texts' longest, so that long texts slide; the plans "
                        "are timed at this context only (0: none, the model's context timed)")
    args = parser.parse_args()
    args.models = args.models or ("gpt2-small (124M),smollm2" if args.batching else ",".join(GPT2_SHAPES))
    if args.batching:
        torch.set_num_threads(args.threads or torch.get_num_threads())
        device = resolve_device(args.device)
        batching_main(args, device, resolve_dtype(args.dtype, device))
        return
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
