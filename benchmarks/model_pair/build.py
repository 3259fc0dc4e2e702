"""Build the offline pair: data split, tokenizer and base model, the two fine-tunes, two scoring passes,
covariates; and, for comparison, a few randomized fine-tunes (the multi-run truth of the same recipe).

Every step is seeded and its output cached in the run folder, so an interrupted run resumes.

The pair, as Hubble builds its standard and perturbed models: one token stream (the inserted candidates and a
replay slice of background documents, shuffled with the seed) trains model A; model B trains on the same
stream with every inserted text's tokens overwritten by as many tokens of a filler document (fresh text of the
same domains, in neither the base model's data nor the candidates, read from its start as the inserted text
is). The streams have equal length, so both
fine-tunes draw the same blocks in the same order from the same initialization: the two models differ only in
what they read at the inserted texts' positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

import llm_audit
from llm_audit.corpus import load_corpus
from llm_audit.covariates import extract_covariates
from llm_audit.errors import AuditError
from llm_audit.scoring import score_corpus
from llm_audit.scoring.pair import score_pair
from llm_audit.training import build_model, token_stream, train_bpe_tokenizer, train_on_stream

from benchmarks.model_pair.sizes import PairSize
from benchmarks.run_folder import RunFolder, save_model

DATA_FILE = Path(llm_audit.__file__).parent / "data" / "pile_subset.jsonl.gz"
COVARIATES = ("length", "domain", "lexical", "tfidf")


@dataclass
class Context(RunFolder):
    size: PairSize
    seed: int
    folder: Path
    log: Callable[[str], None] = print


def split_corpus(size: PairSize, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(candidates with ``member`` = inserted in model A, filler, background), a seeded draw per domain:
    ``candidates_per_domain`` candidates, ``filler_per_domain`` filler documents (model B reads them where
    model A reads the inserted texts: fresh text for both models), the rest background (tokenizer, base model,
    replay). A random half of the candidates is inserted."""
    docs = load_corpus(DATA_FILE)[["id", "domain", "text"]]
    rng = np.random.default_rng([seed, 0])
    cand, fill = [], []
    for _, group in docs.groupby("domain", sort=True):
        need = size.candidates_per_domain + size.filler_per_domain
        if len(group) < need + 10:
            raise AuditError(f"{DATA_FILE}: {len(group)} documents of domain {group['domain'].iloc[0]}; "
                             f"the size needs {need} plus background")
        picked = rng.choice(group.index.to_numpy(), size=need, replace=False)
        cand.extend(picked[: size.candidates_per_domain])
        fill.extend(picked[size.candidates_per_domain:])
    candidates = docs.loc[cand].sample(frac=1.0, random_state=seed).reset_index(drop=True)
    inserted = np.zeros(len(candidates), dtype=int)
    inserted[rng.permutation(len(candidates))[: len(candidates) // 2]] = 1
    filler = docs.loc[fill].reset_index(drop=True)
    return candidates.assign(member=inserted), filler, docs.drop(index=cand + fill).reset_index(drop=True)


def load(folder: Path) -> tuple[torch.nn.Module, Any]:
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
    return model.eval(), tokenizer


def base_model(ctx: Context, background: pd.DataFrame) -> Path:
    """Tokenizer and base LM trained on the background documents only (never a candidate)."""
    folder = ctx.folder / "base_model"
    if not folder.exists():
        with ctx.timed("pretrain"):
            size = ctx.size
            texts = background["text"].tolist()
            tokenizer = train_bpe_tokenizer(texts, vocab_size=size.vocab_size)
            model = build_model(tokenizer, "gpt2", n_layer=size.n_layer, d_model=size.d_model, n_head=size.n_head,
                                context=size.context, seed=ctx.seed)
            order = np.random.default_rng([ctx.seed, 1]).permutation(len(texts))
            train_on_stream(model, token_stream(tokenizer, [texts[i] for i in order]), steps=size.pretrain_steps,
                            batch_size=size.batch_size, seq_len=size.seq_len, lr=size.pretrain_lr,
                            warmup=max(1, size.pretrain_steps // 20), seed=ctx.seed)
            save_model(model, tokenizer, folder)
    return folder


def pair_streams(tokenizer: Any, inserted: list[str], replay: list[str], filler: list[str],
                 seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(stream of model A, stream of model B): the same documents in the same shuffled order, each followed
    by eos; in B every inserted text's tokens are replaced by as many tokens of a filler document, read from
    its start like the inserted text (the next filler document's tokens continue a slot the first one is too
    short for). Filler documents are matched to inserted texts by length rank, spread evenly so that each is
    used about as often as the others. The streams have equal length and differ only where A reads an
    inserted text."""
    eos = tokenizer.eos_token_id
    ins_ids = [tokenizer(t)["input_ids"] for t in inserted]
    fill_ids = sorted((tokenizer(t)["input_ids"] for t in filler), key=len)
    # Rank matching: the k-th shortest inserted text gets the filler document of the same length rank.
    by_rank = np.argsort([len(ids) for ids in ins_ids], kind="stable")
    slot_doc = np.empty(len(ins_ids), dtype=int)
    slot_doc[by_rank] = np.floor(np.arange(len(ins_ids)) * len(fill_ids) / len(ins_ids)).astype(int)
    slots = []
    for k, ids in enumerate(ins_ids):
        take, doc = [], int(slot_doc[k])
        while len(take) < len(ids):
            take.extend(fill_ids[doc % len(fill_ids)] + [eos])
            doc += 1
        slots.append(take[: len(ids)])
    docs = [(ids, k) for k, ids in enumerate(ins_ids)] + [(tokenizer(t)["input_ids"], None) for t in replay]
    order = np.random.default_rng([seed, 2]).permutation(len(docs))
    a, b = [], []
    for i in order:
        ids, slot = docs[i]
        a.extend(ids + [eos])
        b.extend((ids if slot is None else slots[slot]) + [eos])
    return torch.tensor(a, dtype=torch.long), torch.tensor(b, dtype=torch.long)


def finetune(ctx: Context, base: Path, stream: torch.Tensor, seed: int) -> tuple[torch.nn.Module, Any]:
    model, tokenizer = load(base)
    size = ctx.size
    train_on_stream(model, stream, steps=size.finetune_steps, batch_size=size.batch_size, seq_len=size.seq_len,
                    lr=size.finetune_lr, warmup=max(1, size.finetune_steps // 10), seed=seed)
    return model, tokenizer


def replay_slice(background: pd.DataFrame, n_replay: int, seed: int) -> list[str]:
    """Background documents mixed into every fine-tune (half as many as the inserted texts), so that a
    fine-tune is not only the inserted texts."""
    order = np.random.default_rng([seed, 3]).permutation(len(background))
    return list(background["text"].to_numpy()[order[:n_replay]])


def build_pair(ctx: Context) -> dict[str, pd.DataFrame]:
    """The pair's two scores tables (``with`` / ``without``) over every candidate and the candidates'
    covariates; ``candidates`` (with ``member`` = inserted in A) for reference."""
    ctx.folder.mkdir(parents=True, exist_ok=True)
    candidates, filler, background = split_corpus(ctx.size, ctx.seed)
    base = base_model(ctx, background)
    inserted = candidates.loc[candidates["member"] == 1, "text"].tolist()
    replay = replay_slice(background, len(inserted) // 2, ctx.seed)
    cache = ctx.folder / "score_cache"

    def scores_of_pair() -> pd.DataFrame:
        _, tokenizer = load(base)
        stream_a, stream_b = pair_streams(tokenizer, inserted, replay, filler["text"].tolist(), ctx.seed)
        model_a, _ = finetune(ctx, base, stream_a, seed=1000 * ctx.seed + 1)
        model_b, _ = finetune(ctx, base, stream_b, seed=1000 * ctx.seed + 1)
        with_, without = score_pair(candidates[["id", "text", "member"]], model_a, model_b, tokenizer=tokenizer,
                                    cache_dir=cache, progress=False)
        return pd.concat([with_.assign(model="with"), without.assign(model="without")], ignore_index=True)

    both = ctx.cached("pair_scores", scores_of_pair)
    _, tokenizer = load(base)
    covariates = ctx.cached("covariates", lambda: extract_covariates(
        candidates[["id", "domain", "text"]], COVARIATES, tokenizer=tokenizer, domain_column="domain",
        tfidf_k=ctx.size.tfidf_k, seed=ctx.seed))
    return {
        "with": both[both["model"] == "with"].drop(columns="model").reset_index(drop=True),
        "without": both[both["model"] == "without"].drop(columns="model").reset_index(drop=True),
        "covariates": covariates,
        "candidates": candidates,
    }


def multi_run_scores(ctx: Context, runs: int) -> pd.DataFrame:
    """``runs`` fine-tunes of the same base, each on its own Bernoulli(1/2) half of ALL candidates with the
    same replay slice, scored on every candidate: the long table ``multi_run`` pools (run, id, member)."""
    candidates, _, background = split_corpus(ctx.size, ctx.seed)
    base = base_model(ctx, background)
    replay = replay_slice(background, int(candidates["member"].sum()) // 2, ctx.seed)
    texts = candidates["text"].tolist()
    frames = []
    for r in range(runs):
        def one_run(r: int = r) -> pd.DataFrame:
            member = (np.random.default_rng([ctx.seed, 4, r]).random(len(candidates)) < 0.5).astype(int)
            model, tokenizer = load(base)
            docs = [texts[i] for i in np.flatnonzero(member)] + replay
            order = np.random.default_rng([ctx.seed, 5, r]).permutation(len(docs))
            stream = token_stream(tokenizer, [docs[i] for i in order])
            size = ctx.size
            train_on_stream(model, stream, steps=size.finetune_steps, batch_size=size.batch_size,
                            seq_len=size.seq_len, lr=size.finetune_lr, warmup=max(1, size.finetune_steps // 10),
                            seed=1000 * ctx.seed + 100 + r)
            scores = score_corpus(candidates[["id", "text"]], model, tokenizer=tokenizer,
                                  cache_dir=ctx.folder / "score_cache", progress=False)
            return scores.assign(member=member, run=r)
        frames.append(ctx.cached(f"multi_run_{r:02d}", one_run))
    return pd.concat(frames, ignore_index=True)
