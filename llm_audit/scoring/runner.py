"""Score a corpus: tokenize once, window, pack, run the batched passes, reduce, cache, merge ranks.

``score_corpus`` is the step-1 entry point; it returns the scores table of the pipeline contract (``id``,
``member``, ``n_tokens``, ``truncated``, one column per score, higher = more likely member).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from llm_audit.corpus import text_hash
from llm_audit.errors import AuditError
from llm_audit.scoring.attacks import (ATTACKS, DEFAULT_K, available, lowercase_ratio, recall_ratio, ref_difference,
                                      score_functions)
from llm_audit.scoring.batching import Window, check_window_params, collate, pack, plan_windows
from llm_audit.scoring.cache import KEY_COLUMN, ScoreCache
from llm_audit.scoring.forward import as_token_stats, batch_stats, resolve_head
from llm_audit.scoring.frequencies import DEFAULT_CLIP, TokenFrequencies, count_tokens
from llm_audit.scoring.model import LoadedModel, load_model, wrap_model

CACHE_VERSION = 2  # 2: special-token strings in a text are scored as plain text
PREFIX_SEPARATOR = "\n\n"  # between the texts of the ReCaLL prefix, so that they read as separate documents


@dataclass(frozen=True)
class Settings:
    """Everything besides the model that decides a text's scores (and so keys the cache)."""

    k_grid: tuple[float, ...]
    context: int
    stride: int
    max_tokens: int | None


@dataclass(frozen=True)
class Pass:
    """What one pass over the texts adds to the model and ``Settings``: a token prefix put in front of every
    window (ReCaLL) and the side data of the attacks that need it (``extras``), each with its cache key."""

    prefix: tuple[int, ...] = ()
    extras: dict[str, Any] | None = None
    key: dict[str, Any] | None = None


@dataclass(frozen=True)
class Execution:
    """How the passes run; no effect on the numbers beyond float rounding."""

    max_batch_tokens: int = 8192
    padding_side: str = "right"
    row_chunk: int | None = None
    vocab_chunk: int | None = None
    progress: bool = True
    on_batch: Callable[[int], None] | None = None


def model_context(model: Any, tokenizer: Any) -> int:
    config = model.config
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 10**7:
        return limit
    raise AuditError("context: the model config gives no context length; pass context= / --context")


def resolve_context(lm: LoadedModel, context: int | None) -> int:
    """``context`` or the model's own; a longer one than the model has positions would fail mid-forward."""
    if context is None:
        return model_context(lm.model, lm.tokenizer)
    try:
        limit = model_context(lm.model, lm.tokenizer)
    except AuditError:  # the model states no length: the caller's context is all there is
        return context
    if context > limit:
        raise AuditError(f"context: {context} tokens, more than the model's {limit} positions")
    return context


def _as_loaded(model: Any, tokenizer: Any = None) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, (str, Path)):
        return load_model(model)
    if tokenizer is None:
        raise AuditError("model: an in-memory model needs its tokenizer (tokenizer=)")
    return wrap_model(model, tokenizer)


def distributed_state() -> Any:
    """accelerate's process state when launched on several processes, else None."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch
    from accelerate import PartialState

    # Without a GPU, accelerate only builds a (gloo) process group when told it runs on CPU.
    state = PartialState(cpu=not torch.cuda.is_available())
    return state if state.num_processes > 1 else None


class _Progress:
    """tqdm over texts with tokens/s in the postfix (tqdm itself shows texts/s)."""

    def __init__(self, total: int, desc: str, enabled: bool):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="text", disable=not enabled, dynamic_ncols=True)
        self.tokens = 0
        self.start = time.perf_counter()

    def update(self, texts: int, tokens: int) -> None:
        self.tokens += tokens
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        self.bar.set_postfix_str(f"{self.tokens / elapsed:,.0f} tok/s", refresh=False)
        self.bar.update(texts)

    def close(self) -> None:
        self.bar.close()


def score_texts(
    texts: dict[str, str],
    lm: LoadedModel,
    settings: Settings,
    execution: Execution,
    *,
    cache: ScoreCache | None = None,
    desc: str = "scoring",
    extra: Pass = Pass(),
) -> tuple[pd.DataFrame, int]:
    """Scores of ``texts`` (text hash -> text), indexed by hash, and how many were computed in this call
    (the rest came from the cache). Under ``accelerate launch`` each rank computes its share of the missing
    texts into the shared cache and every rank returns the merged table."""
    state = distributed_state()
    if state is not None and cache is None:
        raise AuditError("cache_dir: required when scoring on several processes (the ranks merge through it)")
    done = cache.load() if cache is not None else pd.DataFrame()
    if state is not None:
        state.wait_for_everyone()  # every rank sees the same cache, hence the same split of what is missing
    missing = sorted(h for h in texts if h not in done.index)
    mine = missing[state.process_index :: state.num_processes] if state is not None else missing
    fresh = _compute(mine, texts, lm, settings, execution, cache, extra,
                     desc=desc, show=execution.progress and (state is None or state.is_main_process))
    if cache is not None:
        if state is not None:
            state.wait_for_everyone()
        done = cache.load()
        if state is not None:
            state.wait_for_everyone()  # every rank has read the shards before the main one merges them
        if state is None or state.is_main_process:
            cache.compact()
    else:
        done = fresh
    return done.loc[list(texts)], len(mine)


def _compute(
    hashes: Sequence[str],
    texts: dict[str, str],
    lm: LoadedModel,
    settings: Settings,
    execution: Execution,
    cache: ScoreCache | None,
    extra: Pass,
    *,
    desc: str,
    show: bool,
) -> pd.DataFrame:
    functions = score_functions(list(ATTACKS), settings.k_grid, extra.extras)
    columns = ["n_tokens", "truncated", *functions]
    if not hashes:
        return pd.DataFrame(columns=[KEY_COLUMN, *columns]).set_index(KEY_COLUMN)
    model, tokenizer = lm.model, lm.tokenizer
    # split_special_tokens: a text that contains "<|endoftext|>" is scored as those characters, not as the
    # control token (the tokenizer's own BOS/EOS are still added)
    encoded = tokenizer([texts[h] for h in hashes], add_special_tokens=True, split_special_tokens=True,
                        verbose=False)["input_ids"]
    n_raw = [len(ids) for ids in encoded]
    if settings.max_tokens is not None:
        encoded = [ids[: settings.max_tokens] for ids in encoded]
    # Longest first (a batch that does not fit fails at once); a text's windows stay together so that a
    # text completes, and is flushed, soon after it starts.
    order = sorted(range(len(hashes)), key=lambda i: (-min(len(encoded[i]), settings.context), hashes[i]))
    room, stride = prefixed_window(settings, len(extra.prefix))
    # Each window becomes its own token sequence (the prefix, if any, then the window's tokens); `owner`
    # maps a sequence back to its text. Position ids restart in every window, so without a prefix this is
    # the plain sliding window.
    sequences: list[list[int]] = []
    owner: list[int] = []
    windows: list[Window] = []
    for i in order:
        for w in plan_windows(i, len(encoded[i]), room, stride):
            windows.append(Window(len(sequences), 0, len(extra.prefix) + w.end - w.begin,
                                  len(extra.prefix) + w.first - w.begin))
            sequences.append([*extra.prefix, *encoded[i][w.begin : w.end]])
            owner.append(i)
    remaining = [0] * len(hashes)
    for i in owner:
        remaining[i] += 1
    parts: list[list] = [[] for _ in hashes]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    head = resolve_head(model)
    rows: list[dict[str, Any]] = []
    flushed: list[dict[str, Any]] = []
    progress = _Progress(len(hashes), desc, show)

    def finish(i: int) -> None:
        stats = as_token_stats(parts[i])
        ids = np.asarray(encoded[i][1:], dtype=np.int64)  # the scored tokens: all but the first, in order
        row = {KEY_COLUMN: hashes[i], "n_tokens": len(encoded[i]),
               "truncated": settings.max_tokens is not None and n_raw[i] > settings.max_tokens}
        row.update({col: fn(stats, texts[hashes[i]], ids) for col, fn in functions.items()})
        rows.append(row)
        parts[i] = []

    for i in order:  # single-token texts have no window: nothing to score, NaN scores
        if remaining[i] == 0:
            finish(i)
    try:
        for number, group in enumerate(pack(windows, execution.max_batch_tokens), start=1):
            batch = collate(group, sequences, pad_id, execution.padding_side)
            for w, arrays in zip(group, batch_stats(model, head, batch, row_chunk=execution.row_chunk,
                                                    vocab_chunk=execution.vocab_chunk)):
                text = owner[w.text]
                parts[text].append(arrays)
                remaining[text] -= 1
                if remaining[text] == 0:
                    finish(text)
            progress.update(len(rows), int(batch.attention_mask.sum()))
            if cache is not None:
                cache.append(_frame(rows, columns))
            flushed.extend(rows)
            rows = []
            if execution.on_batch is not None:
                execution.on_batch(number)
        if rows:  # texts with no window and no batch after them
            if cache is not None:
                cache.append(_frame(rows, columns))
            progress.update(len(rows), 0)
            flushed.extend(rows)
    finally:
        progress.close()
    return _frame(flushed, columns).set_index(KEY_COLUMN)


def prefixed_window(settings: Settings, prefix_tokens: int) -> tuple[int, int]:
    """Text tokens per window and stride when ``prefix_tokens`` sit in front of every window.

    The prefix takes its room from the context; long texts are then scored by the sliding window over the
    text with the prefix kept in front (not truncated: every token gets the same conditioning). The stride
    is kept unless it no longer fits the smaller window, then half of it."""
    room = settings.context - prefix_tokens
    if prefix_tokens > settings.context // 2:
        raise AuditError(f"recall_prefix: {prefix_tokens} tokens, more than half the context ({settings.context}); "
                         "use fewer or shorter prefix texts")
    return room, settings.stride if settings.stride < room else max(1, room // 2)


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=[KEY_COLUMN, *columns])
    return df.astype({"n_tokens": "int64", "truncated": "bool"})


def score_corpus(
    corpus: pd.DataFrame,
    model: LoadedModel | str | Path | Any,
    *,
    tokenizer: Any = None,
    scores: Sequence[str] | None = None,
    k_grid: Sequence[float] = DEFAULT_K,
    max_tokens: int | None = None,
    stride: int | None = None,
    context: int | None = None,
    max_batch_tokens: int = 8192,
    padding_side: str = "right",
    cache_dir: str | os.PathLike | None = None,
    lowercase: bool = False,
    reference: LoadedModel | str | Path | None = None,
    reference_tokenizer: Any = None,
    recall_prefix: str | Sequence[str] | None = None,
    dcpdd_reference: Sequence[str] | TokenFrequencies | None = None,
    dcpdd_clip: float = DEFAULT_CLIP,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
    row_chunk: int | None = None,
    vocab_chunk: int | None = None,
) -> pd.DataFrame:
    """The scores table of ``corpus`` (columns ``id``, ``text``, optional ``member``) under ``model``.

    ``model`` is a ``LoadedModel`` (from ``load_model``), a local path / hub id, or an in-memory
    transformers model with its ``tokenizer``; ``reference`` likewise. ``scores`` picks attack families
    (default: all of ``ATTACKS`` that have their side data); ``lowercase`` and ``reference`` add the two-pass
    scores, ``recall_prefix`` (non-member texts, joined by a blank line) the ReCaLL score from a pass with
    that prefix, and ``dcpdd_reference`` (texts of a local reference corpus, or their ``count_tokens``) the
    DC-PDD score with clip ``dcpdd_clip``. Texts longer
    than the context are scored with sliding windows (``stride``, default half the context) unless
    ``max_tokens`` truncates them first. With ``cache_dir``, scores are cached per text and only missing
    texts are computed. ``df.attrs`` records the model fingerprint and the scoring parameters.
    """
    for column in ("id", "text"):
        if column not in corpus.columns:
            raise AuditError(f"corpus: no '{column}' column")
    k_grid = tuple(float(k) for k in k_grid)
    if any(not 0 < k <= 1 for k in k_grid):
        raise AuditError(f"k: every k must be in (0, 1], got {', '.join(map(str, k_grid))}")
    if max_tokens is not None and max_tokens < 2:
        raise AuditError(f"max_tokens: must be at least 2, got {max_tokens}")
    if max_batch_tokens < 1:
        raise AuditError(f"max_batch_tokens: must be positive, got {max_batch_tokens}")
    if isinstance(recall_prefix, str):
        recall_prefix = [recall_prefix]
    if recall_prefix is not None and not any(isinstance(t, str) and t.strip() for t in recall_prefix):
        raise AuditError("recall_prefix: no non-empty prefix text")
    if scores is not None and "recall" in scores:  # a two-pass score: named here, computed from recall_prefix
        if recall_prefix is None:
            raise AuditError("scores: 'recall' needs non-member prefix texts (recall_prefix / --recall-prefix)")
        scores = [s for s in scores if s != "recall"]
    unknown = [s for s in scores or () if s not in ATTACKS]
    if unknown:
        raise AuditError(f"scores: unknown '{unknown[0]}' (known: {', '.join(ATTACKS)}, plus lowercase, ref and recall)")
    if scores is not None and "dcpdd" in scores and dcpdd_reference is None:
        raise AuditError("scores: 'dcpdd' needs a reference corpus (dcpdd_reference / --dcpdd-reference)")
    target = _as_loaded(model, tokenizer)
    resolve_context(target, context)  # refuse a too-long context before any pass
    extras: dict[str, Any] = {}
    if dcpdd_reference is not None:
        extras["frequencies"] = (dcpdd_reference if isinstance(dcpdd_reference, TokenFrequencies)
                                 else count_tokens(list(dcpdd_reference), target.tokenizer, clip=dcpdd_clip))
    chosen = available(extras) if scores is None else list(scores)
    if "frequencies" in extras and "dcpdd" not in chosen:
        chosen.append("dcpdd")
    execution = Execution(max_batch_tokens, padding_side, row_chunk, vocab_chunk, progress, on_batch)

    def run_pass(lm: LoadedModel, texts: dict[str, str], desc: str,
                 extra: Pass = Pass()) -> tuple[pd.DataFrame, Settings, int]:
        ctx = resolve_context(lm, context)
        settings = Settings(k_grid, ctx, check_window_params(ctx, stride), max_tokens)
        cache = None
        if cache_dir is not None:
            cache = ScoreCache(cache_dir, {"version": CACHE_VERSION, "model": lm.fingerprint["id"],
                                           "attacks": sorted(available(extra.extras or {})), **asdict(settings),
                                           **(extra.key or {})})
        table, computed = score_texts(texts, lm, settings, execution, cache=cache, desc=desc, extra=extra)
        return table, settings, computed

    recall_pass = None
    if recall_prefix is not None:
        prefix_text = PREFIX_SEPARATOR.join(t for t in recall_prefix if isinstance(t, str) and t.strip())
        # Tokenized as the texts are (special tokens included) and put in front of the text's own tokens,
        # as the authors' code concatenates the two tokenizations.
        prefix = tuple(target.tokenizer(prefix_text, add_special_tokens=True, split_special_tokens=True)["input_ids"])
        ctx = resolve_context(target, context)
        prefixed_window(Settings(k_grid, ctx, check_window_params(ctx, stride), max_tokens), len(prefix))
        recall_pass = Pass(prefix=prefix, key={"recall_prefix_sha256": text_hash(prefix_text)})
    hashes = corpus["text"].map(text_hash)
    texts = dict(zip(hashes, corpus["text"]))
    main_pass = Pass(extras=extras, key=extras["frequencies"].key()) if extras else Pass()
    main, settings, computed = run_pass(target, texts, "scoring", main_pass)
    values = main.loc[hashes]
    out = pd.DataFrame({"id": corpus["id"].astype(str).to_numpy()})
    if "member" in corpus.columns:
        out["member"] = corpus["member"].to_numpy()
    out["n_tokens"] = values["n_tokens"].to_numpy()
    out["truncated"] = values["truncated"].to_numpy()
    for column in score_functions(chosen, k_grid, extras):
        out[column] = values[column].to_numpy(dtype=float)
    attrs: dict[str, Any] = {"model": target.fingerprint, "scoring": {**asdict(settings), "scores": chosen}}
    if lowercase:
        lowered = corpus["text"].str.lower()
        low_hashes = lowered.map(text_hash)
        low, _, n = run_pass(target, dict(zip(low_hashes, lowered)), "scoring lowercased")
        computed += n
        out["lowercase"] = [lowercase_ratio(a, b) for a, b in zip(low.loc[low_hashes, "loss"], values["loss"])]
    if reference is not None:
        ref_lm = _as_loaded(reference, reference_tokenizer)
        ref, _, n = run_pass(ref_lm, dict(zip(hashes, corpus["text"])), "scoring reference")
        computed += n
        out["ref"] = [ref_difference(a, b) for a, b in zip(values["loss"], ref.loc[hashes, "loss"])]
        attrs["reference_model"] = ref_lm.fingerprint
    if recall_pass is not None:
        cond, _, n = run_pass(target, texts, "scoring with the ReCaLL prefix", recall_pass)
        computed += n
        out["recall"] = [recall_ratio(a, b) for a, b in zip(cond.loc[hashes, "loss"], values["loss"])]
        attrs["recall_prefix"] = {**(recall_pass.key or {}), "n_texts": len(recall_prefix or ()),
                                  "n_tokens": len(recall_pass.prefix)}
    if "frequencies" in extras:
        attrs["dcpdd"] = extras["frequencies"].key()
    attrs["n_computed"] = int(computed)
    attrs["n_texts"] = int(len(out))
    out.attrs.update(attrs)
    return out
