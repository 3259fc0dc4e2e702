"""Domain covariate: where a text comes from (a source label, or the host of its URL), as a category.

Member and non-member sets are often drawn from different sources; the domain then predicts membership.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from llm_audit.covariates.options import Extracted, ExtractorInput
from llm_audit.errors import AuditError

# Used when the user names no domain column; the first present is taken. URL columns give their host.
DOMAIN_COLUMN_CANDIDATES = ("domain", "source", "subset", "url", "link")


def domain_covariates(corpus: pd.DataFrame, given: ExtractorInput) -> Extracted:
    column = given.options.domain_column
    notes: list[str] = []
    if column is not None and column not in corpus.columns:
        raise AuditError(f"domain column '{column}' is not in the corpus (columns: {', '.join(map(str, corpus.columns))})")
    if column is None:
        column = next((c for c in DOMAIN_COLUMN_CANDIDATES if c in corpus.columns), None)
        if column is None:
            return pd.DataFrame(index=corpus.index), ["domain: skipped (no domain, source or url column; name one)"]
        notes.append(f"domain: read from the '{column}' column")

    # Plain lists: pandas would turn the None of a missing label into NaN halfway through.
    labels = [_as_label(v) for v in corpus[column]]
    present = [v for v in labels if v is not None]
    if present and all(_looks_like_url(v) for v in present):
        labels = [v if v is None else url_host(v) for v in labels]
        notes.append(f"domain: the host of the URLs in '{column}'")
    out = pd.DataFrame(index=corpus.index)
    out["domain"] = pd.Series(labels, index=corpus.index, dtype="object")
    return out, notes


def url_host(url: str) -> str | None:
    """The lower-cased host of ``url`` without a leading ``www.``; None when it has none."""
    host = urlsplit(url.strip()).hostname
    if not host:
        return None
    return host[4:] if host.startswith("www.") else host


def _as_label(value: Any) -> str | None:
    try:
        if value is None or bool(pd.isna(value)):
            return None
    except (TypeError, ValueError):  # a list or array cell: not missing, labelled by its text
        pass
    text = str(value).strip()
    return text or None


def _looks_like_url(value: str) -> bool:
    return "://" in value
