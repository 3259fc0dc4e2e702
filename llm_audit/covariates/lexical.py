"""Lexical statistics of the text itself: vocabulary richness, character mix, compressibility.

Repetitive, boilerplate or numeric text is easy for any LM; these covariates let the propensity model see
that without looking at the audited model.
"""

from __future__ import annotations

import math
import re
import unicodedata
import zlib

import pandas as pd

from llm_audit.covariates.options import Extracted, ExtractorInput

# Words for the lexical statistics are runs of Unicode letters/digits/underscore (punctuation excluded, so
# that "end." and "end" are one type).
_WORD = re.compile(r"\w+")


def lexical_covariates(corpus: pd.DataFrame, given: ExtractorInput) -> Extracted:
    rows = [lexical_stats(t) for t in corpus["text"]]
    return pd.DataFrame(rows, index=corpus.index, dtype="float64"), []


def lexical_stats(text: str) -> dict[str, float]:
    """Per-text statistics; NaN where undefined (no words, no letters, empty text)."""
    words = [w.lower() for w in _WORD.findall(text)]
    n_chars = len(text)
    letters = [c for c in text if c.isalpha()]
    raw = text.encode("utf-8")
    return {
        "type_token_ratio": len(set(words)) / len(words) if words else math.nan,
        "digit_share": sum(c.isdigit() for c in text) / n_chars if n_chars else math.nan,
        "punct_share": sum(unicodedata.category(c).startswith("P") for c in text) / n_chars if n_chars else math.nan,
        "upper_share": sum(c.isupper() for c in letters) / len(letters) if letters else math.nan,
        "mean_word_len": sum(map(len, words)) / len(words) if words else math.nan,
        # compressed / raw bytes: low for repetitive text (the lexical cousin of the zlib MIA score).
        "zlib_ratio": len(zlib.compress(raw, 9)) / len(raw) if raw else math.nan,
    }
