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


def pack(windows: Sequence[Window], max_batch_tokens: int) -> list[list[Window]]:
    """Greedy packing in the given order: a batch grows while (rows x longest row) fits the budget.

    A window longer than the budget still gets a batch of its own."""
    batches: list[list[Window]] = []
    current: list[Window] = []
    longest = 0
    for w in windows:
        length = w.end - w.begin
        if current and (len(current) + 1) * max(longest, length) > max_batch_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(w)
        longest = max(longest, length)
    if current:
        batches.append(current)
    return batches


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
