"""Which texts can be scored: the one rule that `score`, `covariates` and `run` all apply.

A causal LM scores each token from the tokens before it, so a text needs at least 2 tokens, counted as the
scorer counts them (special tokens such as a BOS included, special-token strings in the text read as plain
text). Empty texts never get that far: ``load_corpus`` refuses or skips them. With ``--empty skip``
(``corpus.empty: skip``) every step leaves out the same texts, so the scores and covariates tables of one
corpus keep the same ids; without it, every step refuses them.

Works with a ``transformers`` tokenizer or a raw ``tokenizers.Tokenizer``; imports neither torch nor
transformers itself.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from llm_audit.errors import AuditError

MIN_TOKENS = 2


def token_counts(tokenizer: Any, texts: list[str], *, special_tokens: bool) -> list[int]:
    """Tokens of each text; ``special_tokens`` adds the ones the tokenizer puts around a text (BOS, ...).

    A special-token string inside a text ("<|endoftext|>") is counted as the characters it is made of."""
    from tokenizers import Tokenizer

    if isinstance(tokenizer, Tokenizer):
        before, tokenizer.encode_special_tokens = tokenizer.encode_special_tokens, True
        try:
            return [len(enc.ids) for enc in tokenizer.encode_batch(texts, add_special_tokens=special_tokens)]
        finally:
            tokenizer.encode_special_tokens = before
    # verbose=False: texts longer than the model's context are expected here (counted, not scored).
    ids = tokenizer(texts, add_special_tokens=special_tokens, split_special_tokens=True, verbose=False)["input_ids"]
    return [len(x) for x in ids]


def unscorable_ids(corpus: pd.DataFrame, tokenizer: Any) -> list[str]:
    """Ids of the texts with fewer than 2 tokens under ``tokenizer``, as scored: every score would be NaN."""
    counts = token_counts(tokenizer, corpus["text"].tolist(), special_tokens=True)
    return [ident for ident, n in zip(corpus["id"], counts) if n < MIN_TOKENS]


def drop_unscorable(corpus: pd.DataFrame, tokenizer: Any, *, skip: bool, remedy: str) -> pd.DataFrame:
    """``corpus`` without its texts of fewer than 2 tokens when ``skip``; else refuse them, naming the option
    (``remedy``) that leaves them out. ``attrs["unscorable"]`` holds how many were left out."""
    short = unscorable_ids(corpus, tokenizer)
    if short and not skip:
        raise AuditError(f"corpus: id {short[0]}: fewer than 2 tokens, nothing to score ({len(short)} such text(s); "
                         f"leave them out with {remedy})")
    kept = corpus[~corpus["id"].isin(short)]
    kept.attrs = {**corpus.attrs, "unscorable": len(short)}
    return kept
