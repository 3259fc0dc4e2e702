"""Score one corpus under the two models of a pair (docs/paired.md): two passes of ``score_corpus``, nothing more.

Both passes share the score cache and the batching of a plain ``score`` run; a text already scored under a
model (by an earlier run, or by an audit of that model) is not scored again. The two models must tokenize
alike, since a potential score is a function of the text's tokens.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from llm_audit.errors import AuditError
from llm_audit.scoring.model import LoadedModel, load_model, wrap_model
from llm_audit.scoring.runner import score_corpus


def _loaded(model: Any, tokenizer: Any, revision: str | None, role: str) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, (str, Path)):
        return load_model(model, revision=revision)
    if tokenizer is None:
        raise AuditError(f"{role}: an in-memory model needs its tokenizer")
    return wrap_model(model, tokenizer, name=role)


def score_pair(
    corpus: pd.DataFrame,
    model_with: LoadedModel | str | Path | Any,
    model_without: LoadedModel | str | Path | Any,
    *,
    tokenizer: Any = None,
    revision_with: str | None = None,
    revision_without: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    **options: Any,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores under the model that saw the inserted texts, scores under the one that did not).

    ``model_with`` / ``model_without``: a ``LoadedModel``, a local folder or hub id (with its revision), or
    an in-memory model (``tokenizer`` then serves both). ``options`` go to ``score_corpus`` unchanged (scores,
    k grid, context, batch budget, ...), so both tables have the same columns. The ``member`` column of
    ``corpus`` (which texts the first model saw) is carried into both tables.
    """
    first = _loaded(model_with, tokenizer, revision_with, "model with the texts")
    second = _loaded(model_without, tokenizer, revision_without, "model without them")
    if first.fingerprint["tokenizer_sha256"] != second.fingerprint["tokenizer_sha256"]:
        raise AuditError("model pair: the two models tokenize differently (tokenizer hashes "
                         f"{first.fingerprint['tokenizer_sha256'][:12]} and {second.fingerprint['tokenizer_sha256'][:12]}); "
                         "a pair needs one tokenizer")
    with_ = score_corpus(corpus, first, cache_dir=cache_dir, **options)
    without = score_corpus(corpus, second, cache_dir=cache_dir, **options)
    return with_, without
