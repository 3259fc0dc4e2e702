"""Cutting long documents into fixed-length word windows (the evaluation units of a chunked corpus)."""

from __future__ import annotations

import re

_WORD = re.compile(r"\S+")


def word_windows(text: str, words: int) -> list[str]:
    """Consecutive windows of exactly ``words`` whitespace-separated words; a shorter tail is dropped.

    Equal-length units keep length from confounding membership; each window is the original text between
    its first and last word, so line breaks and spacing inside it are kept.
    """
    if words < 1:
        raise ValueError("words must be positive")
    spans = [m.span() for m in _WORD.finditer(text)]
    return [text[spans[i][0] : spans[i + words - 1][1]] for i in range(0, len(spans) - words + 1, words)]
