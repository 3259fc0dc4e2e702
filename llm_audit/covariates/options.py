"""The options of step 2 (``covariates:`` in a config), declared, defaulted and checked here only, and what
every extractor receives: those options with what they name loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from llm_audit.schema import Checker, Section, option

# The negative-control score's extractor name and column: named like an extractor, but not a covariate (the
# estimate step takes the column out of the design; docs/refuters.md).
NEGATIVE_CONTROL = "negative_control"

DEFAULT_EXTRACTORS = ("length", "date", "domain", "lexical", "tfidf", NEGATIVE_CONTROL)

# Columns that are never covariates: the key, the text, the treatment, the document a chunk belongs to and the
# negative-control score.
NOT_COVARIATES = ("id", "text", "member", "group", NEGATIVE_CONTROL)


@dataclass
class CovariatesConfig(Section):
    extractors: list[str] = option(
        "covariate extractors: length (chars, words, tokens), date, domain, lexical, tfidf, ref_loss; and "
        "negative_control (a text classifier's out-of-fold membership probability: the negative-control refuter's score)",
        default_factory=lambda: list(DEFAULT_EXTRACTORS))
    tokenizer: str | None = option("tokenizer for the `n_tokens` covariate: a local folder, a .gguf file or a hub id "
                                   "(null: the audited model's)", path="model", default=None)
    date_column: str | None = option("metadata column with dates (null: `date`/`year`/... if present, else years in "
                                     "the text)", default=None)
    domain_column: str | None = option("metadata column with the domain/source (null: `domain`/`source` if present)",
                                       default=None)
    tfidf_k: int = option("dimensions of the TF-IDF -> SVD text projection", default=32)
    seed: int = option("seed of the TF-IDF -> SVD projection and of the negative control's folds", default=0)
    reference_scores: str | None = option("scores table of an independent reference model (for `ref_loss`)",
                                          path="file", default=None)

    def check(self, c: Checker) -> None:
        from llm_audit.covariates.extract import EXTRACTOR_NAMES

        known = ", ".join(EXTRACTOR_NAMES)
        c.require(len(self.extractors) > 0, "extractors", f"must name at least one (known: {known})")
        for i, name in enumerate(self.extractors):
            c.require(name in EXTRACTOR_NAMES, f"extractors[{i}]", f"unknown extractor {name!r} (known: {known})")
        c.require(self.tfidf_k > 0, "tfidf_k", f"must be a positive integer, got {self.tfidf_k}")
        for key in ("date_column", "domain_column"):
            column = getattr(self, key)
            c.require(column not in NOT_COVARIATES, key, f"'{column}' is the {column} column, not a covariate")


@dataclass(frozen=True)
class ExtractorInput:
    """What an extractor reads: the step's options and what they name, loaded once."""

    options: CovariatesConfig
    tokenizer: Any = None  # a loaded tokenizer, or a local path / .gguf file / hub id loaded on use
    reference_scores: pd.DataFrame | None = None
    reference_column: str = "loss"


# An extractor returns its columns (same row order as the corpus, NaN where a value is missing) and the
# notes to pass on to the report (what it skipped or capped, and why).
Extracted = tuple[pd.DataFrame, list[str]]
