"""Run the passes over the texts in batches; reduce each text with the attacks once its last window is done.

Each pass is its own stream of windows (every window one token sequence: the pass's prefix, if any, then the
window's tokens; position ids restart in every window, so without a prefix this is the plain sliding window),
packed under the token budget in one text order, longest text first (a batch that does not fit fails at
once). The streams' batches are interleaved by text, so a text completes, is reduced and is flushed to the
cache soon after it starts, whichever passes run, and only a few texts' token statistics are held at a time.
A pass's batches do not depend on which other passes run: its numbers are the same bit for bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from llm_audit.scoring.attacks import ATTACKS, PASSES, AttackInput
from llm_audit.scoring.batching import BLOCK_BATCHES, Window, collate, length_blocks, pack, plan_windows
from llm_audit.scoring.cache import KEY_COLUMN, ScoreCache
from llm_audit.scoring.forward import as_token_stats, batch_stats, resolve_head
from llm_audit.scoring.passes import PassRun, encode


@dataclass(frozen=True)
class Execution:
    """How the passes run; no effect on the numbers beyond float rounding."""

    max_batch_tokens: int  # scoring.batch_tokens
    padding_side: str = "right"
    row_chunk: int | None = None
    vocab_chunk: int | None = None
    progress: bool = True
    on_batch: Callable[[int], None] | None = None


@dataclass(frozen=True)
class Group:
    """Attacks that read the same passes, computed and cached together. The main group (the main pass
    alone) also holds each text's ``n_tokens`` and ``truncated``."""

    passes: tuple[str, ...]
    columns: dict[str, tuple[str, float | None]]  # column -> (attack, k)
    key: dict[str, Any]  # the cache key: everything besides the text its numbers depend on

    @property
    def is_main(self) -> bool:
        return self.passes == ("main",)

    @property
    def table_columns(self) -> list[str]:
        return [*(["n_tokens", "truncated"] if self.is_main else []), *self.columns]

    def frame(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        df = pd.DataFrame(rows, columns=[KEY_COLUMN, *self.table_columns])
        return df.astype({"n_tokens": "int64", "truncated": "bool"}) if self.is_main else df


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


class Job:
    """Scores ``texts`` (hash -> text) for the groups each is missing from (``todo``: hash -> group indices),
    flushing each finished batch's rows to ``caches`` (one per group, or None)."""

    def __init__(self, todo: Mapping[str, Sequence[int]], texts: Mapping[str, str], groups: Sequence[Group],
                 passes: Mapping[str, PassRun], side: Mapping[str, Any], max_tokens: int | None,
                 execution: Execution, caches: Sequence[ScoreCache] | None):
        self.hashes = list(todo)
        self.todo = [list(todo[h]) for h in self.hashes]
        self.texts = [texts[h] for h in self.hashes]
        self.groups, self.passes, self.side, self.max_tokens = groups, passes, side, max_tokens
        self.execution, self.caches = execution, caches
        self.needs = [{p for g in gs for p in groups[g].passes} for gs in self.todo]
        self.encoded, self.lengths = self._encode()
        main = self.encoded["main"]
        self.order = sorted(range(len(self.hashes)), key=lambda i: (-min(len(main[i]), passes["main"].room),
                                                                    self.hashes[i]))
        self.position = {i: rank for rank, i in enumerate(self.order)}
        self.sequences: dict[str, list[list[int]]] = {}  # per pass: its token sequences (see _stream)
        self.owners: dict[str, list[int]] = {}  # per pass: the text of each sequence
        self.parts: list[dict[str, list]] = [{p: [] for p in sorted(need)} for need in self.needs]
        self.remaining = [0] * len(self.hashes)
        self.rows: list[list[dict[str, Any]]] = [[] for _ in groups]
        self.flushed: list[list[dict[str, Any]]] = [[] for _ in groups]
        self.finished = 0

    def _encode(self) -> tuple[dict[str, list[list[int]]], dict[str, list[int]]]:
        """Token ids per pass (passes that read the same tokens share them) and the uncut lengths."""
        encoded: dict[str, list[list[int]]] = {}
        lengths: dict[str, list[int]] = {}
        shared: dict[tuple[int, bool], tuple[list[list[int]], list[int]]] = {}
        for name, run in self.passes.items():
            reads = (id(run.lm.tokenizer), run.lowercase)
            if reads not in shared:
                shared[reads] = encode(run, self.texts, self.max_tokens)
            encoded[name], lengths[name] = shared[reads]
        return encoded, lengths

    def _stream(self, name: str) -> list[tuple[int, int, str, list[Window]]]:
        """The batches of pass ``name``, each as (text position of its first window, pass rank, name, windows);
        its token sequences and their texts go to ``self.sequences`` / ``self.owners``."""
        run, encoded = self.passes[name], self.encoded[name]
        n = len(run.prefix)
        sequences: list[list[int]] = []
        owners: list[int] = []
        windows: list[Window] = []
        for i in self.order:
            if name not in self.needs[i]:
                continue
            for w in plan_windows(i, len(encoded[i]), run.room, run.stride):
                windows.append(Window(len(sequences), 0, n + w.end - w.begin, n + w.first - w.begin))
                sequences.append([*run.prefix, *encoded[i][w.begin : w.end]])
                owners.append(i)
                self.remaining[i] += 1
        budget = self.execution.max_batch_tokens
        windows = [windows[k] for k in length_blocks([w.end - w.begin for w in windows], BLOCK_BATCHES * budget)]
        self.sequences[name], self.owners[name] = sequences, owners
        rank = list(PASSES).index(name)
        return [(min(self.position[owners[w.text]] for w in b), rank, name, b) for b in pack(windows, budget)]

    def run(self, desc: str, show: bool) -> list[pd.DataFrame]:
        """Each group's rows for the texts computed here, indexed by text hash."""
        if not self.hashes:
            return [g.frame([]).set_index(KEY_COLUMN) for g in self.groups]
        batches = sorted((b for name in self.passes for b in self._stream(name)), key=lambda b: b[:2])
        progress = _Progress(len(self.hashes), desc, show)
        ex = self.execution
        try:
            for i in self.order:  # single-token texts have no window: nothing to score, NaN scores
                if self.remaining[i] == 0:
                    self._finish(i)
            for number, (_, _, name, windows) in enumerate(batches, start=1):
                lm = self.passes[name].lm
                pad_id = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
                batch = collate(windows, self.sequences[name], pad_id, ex.padding_side)
                stats = batch_stats(lm.model, resolve_head(lm.model), batch, row_chunk=ex.row_chunk,
                                    vocab_chunk=ex.vocab_chunk)
                for w, arrays in zip(windows, stats):
                    text = self.owners[name][w.text]
                    self.parts[text][name].append((w.text, arrays))  # batches may finish a text's windows out of order
                    self.remaining[text] -= 1
                    if self.remaining[text] == 0:
                        self._finish(text)
                self._flush(progress, int(batch.attention_mask.sum()))
                if ex.on_batch is not None:
                    ex.on_batch(number)
            self._flush(progress, 0)  # texts with no window and no batch after them
        finally:
            progress.close()
        return [g.frame(rows).set_index(KEY_COLUMN) for g, rows in zip(self.groups, self.flushed)]

    def _finish(self, i: int) -> None:
        """Reduce text ``i`` with the attacks of every group it is missing from."""
        view = AttackInput({p: as_token_stats([a for _, a in sorted(parts, key=lambda x: x[0])])
                            for p, parts in self.parts[i].items()}, self.texts[i],
                           np.asarray(self.encoded["main"][i][1:], dtype=np.int64), self.side)
        for g in self.todo[i]:
            group = self.groups[g]
            row: dict[str, Any] = {KEY_COLUMN: self.hashes[i]}
            if group.is_main:
                row["n_tokens"] = len(self.encoded["main"][i])
                row["truncated"] = self.max_tokens is not None and self.lengths["main"][i] > self.max_tokens
            row.update({column: ATTACKS[a].fn(view, k) for column, (a, k) in group.columns.items()})
            self.rows[g].append(row)
        self.parts[i] = {}
        self.finished += 1

    def _flush(self, progress: _Progress, tokens: int) -> None:
        finished = self.finished
        for g, rows in enumerate(self.rows):
            if self.caches is not None:
                self.caches[g].append(self.groups[g].frame(rows))
            self.flushed[g].extend(rows)
            self.rows[g] = []
        self.finished = 0
        if finished or tokens:
            progress.update(finished, tokens)
