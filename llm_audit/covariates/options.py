"""What every covariate extractor receives: the user's choices, validated once in `extract_covariates`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class CovariateOptions:
    """Options shared by the extractors; each extractor reads only the fields it needs."""

    tokenizer: Any = None  # a loaded tokenizer, a local path, a .gguf file, or a hub id
    date_column: str | None = None
    domain_column: str | None = None
    tfidf_k: int = 32
    seed: int = 0
    reference_scores: pd.DataFrame | None = None
    reference_column: str = "loss"


# An extractor returns its columns (same row order as the corpus, NaN where a value is missing) and the
# notes to pass on to the report (what it skipped or capped, and why).
Extracted = tuple[pd.DataFrame, list[str]]
