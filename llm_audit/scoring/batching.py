"""From token ids to padded batches: sliding windows over long texts and packing under a token budget.

Windows follow the Hugging Face perplexity guide: windows of ``context`` tokens start every ``stride``
tokens; each window scores only the tokens the previous window did not reach, so every token is scored
exactly once, with the longest left context the scheme offers (at least ``context - stride`` tokens once
past the first window). The first token of a text is never scored (nothing predicts it).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch

from llm_audit.errors import AuditError


class Window(NamedTuple):
    """Tokens ``[begin, end)`` of text ``text`` go through the model; tokens ``[first, end)`` are scored."""

    text: int
    begin: int
    end: int
    first: int


class Batch(NamedTuple):
    input_ids: torch.Tensor  # (B, L)
    attention_mask: torch.Tensor  # (B, L)
    position_ids: torch.Tensor  # (B, L)
    predict: torch.Tensor  # (B, L-1) bool: the hidden state at j scores token j+1
    windows: list[Window]


def plan_windows(text: int, n_tokens: int, context: int, stride: int) -> list[Window]:
    """The windows that score tokens 1..n_tokens-1 of one text (none when it has a single token)."""
    if n_tokens <= 1:
        return []
    windows = []
    prev_end = 0
    for begin in range(0, n_tokens, stride):
        end = min(begin + context, n_tokens)
        windows.append(Window(text, begin, end, max(prev_end, begin + 1)))
        prev_end = end
        if end == n_tokens:
            break
    return windows


def check_window_params(context: int, stride: int | None) -> int:
    """The stride to use (default: half the context), validated against the context."""
    if stride is None:
        return max(1, context // 2)
    # stride == context would leave the first token of every window after the first without any context
    if not 1 <= stride < context:
        raise AuditError(f"stride: must be at least 1 and below the context ({context}), got {stride}")
    return stride


MIN_FILL = 0.85  # a batch's rows each fill at least this share of its width (benchmarks/README.md, padding)
BLOCK_BATCHES = 64  # windows are sorted by length within blocks of this many batches' worth of tokens


def pack(windows: Sequence[Window], max_batch_tokens: int, min_fill: float = MIN_FILL) -> list[list[Window]]:
    """Greedy packing in the given order: a batch grows while (rows x widest row) fits the budget and every
    row fills at least ``min_fill`` of the batch's width; a window that would break either starts a new batch.

    Why the width bound: with the budget alone, a batch of length-sorted texts grows until the budget is
    spent, and its shortest rows carry the padding (11-22% of the tokens on mixed-length real text); a batch
    cut where the rows get shorter is smaller but pads little. A window longer than the budget still gets a
    batch of its own."""
    batches: list[list[Window]] = []
    current: list[Window] = []
    longest = shortest = 0
    for w in windows:
        length = w.end - w.begin
        if current:
            width = max(longest, length)
            if (len(current) + 1) * width > max_batch_tokens or min(shortest, length) < min_fill * width:
                batches.append(current)
                current = []
        if not current:
            longest = shortest = length
        current.append(w)
        longest, shortest = max(longest, length), min(shortest, length)
    if current:
        batches.append(current)
    return batches


def length_blocks(lengths: Sequence[int], block_tokens: int) -> list[int]:
    """An order of the windows (given by their ``lengths``, in text order): consecutive blocks of about
    ``block_tokens`` tokens, each sorted by length, longest first (stable).

    Texts come longest first, but a long text's sliding windows end with a shorter one, which would cut a
    batch of full windows short (or pad it). Sorted within a block, the full windows of the block's long texts
    share batches and each last window joins windows of its own length; a text still completes within its
    block, so only a block's texts hold their token statistics at a time."""
    order: list[int] = []
    start, tokens = 0, 0
    for k, length in enumerate(lengths):
        tokens += length
        if tokens >= block_tokens or k == len(lengths) - 1:
            order.extend(sorted(range(start, k + 1), key=lambda j: -lengths[j]))
            start, tokens = k + 1, 0
    return order


def collate(windows: list[Window], token_ids: Sequence[Sequence[int]], pad_id: int, padding_side: str = "right") -> Batch:
    """Pad the windows' tokens into one batch; position ids restart at 0 in every window."""
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    width = max(w.end - w.begin for w in windows)
    rows = len(windows)
    ids = torch.full((rows, width), pad_id, dtype=torch.long)
    mask = torch.zeros((rows, width), dtype=torch.long)
    predict = torch.zeros((rows, max(width - 1, 0)), dtype=torch.bool)
    for r, w in enumerate(windows):
        length = w.end - w.begin
        offset = 0 if padding_side == "right" else width - length
        ids[r, offset : offset + length] = torch.as_tensor(token_ids[w.text][w.begin : w.end], dtype=torch.long)
        mask[r, offset : offset + length] = 1
        # hidden state at local position j predicts local token j+1; scored targets are first..end-1
        predict[r, offset + (w.first - w.begin) - 1 : offset + length - 1] = True
    positions = (mask.cumsum(dim=1) - 1).clamp_min(0)
    return Batch(ids, mask, positions, predict, list(windows))
