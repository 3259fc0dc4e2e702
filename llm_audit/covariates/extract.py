"""Step 2 of the pipeline: the covariates table, one row per text, from the registered extractors.

A new covariate is one function ``(corpus, options) -> (columns, notes)`` in its own module plus one line
in ``EXTRACTORS``. ``negative_control`` is named like an extractor but is not a covariate: it is the one step that
reads the membership labels, and its column has a reserved role in the estimate step (docs/refuters.md).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import pandas as pd

from llm_audit.covariates.date import date_covariates
from llm_audit.covariates.domain import domain_covariates
from llm_audit.covariates.length import length_covariates
from llm_audit.covariates.lexical import lexical_covariates
from llm_audit.covariates.missing import impute_and_prune
from llm_audit.covariates.negative_control import COLUMN as NEGATIVE_CONTROL, negative_control_score
from llm_audit.covariates.options import CovariateOptions, Extracted
from llm_audit.covariates.reference import reference_loss_covariates
from llm_audit.covariates.text_projection import tfidf_covariates
from llm_audit.errors import AuditError

EXTRACTORS: dict[str, Callable[[pd.DataFrame, CovariateOptions], Extracted]] = {
    "length": length_covariates,
    "date": date_covariates,
    "domain": domain_covariates,
    "lexical": lexical_covariates,
    "tfidf": tfidf_covariates,
    "ref_loss": reference_loss_covariates,
}

# Every name ``extract_covariates`` accepts: the covariate extractors and the negative-control score.
EXTRACTOR_NAMES = (*EXTRACTORS, NEGATIVE_CONTROL)
DEFAULT_EXTRACTORS = ("length", "date", "domain", "lexical", "tfidf", NEGATIVE_CONTROL)

# Columns that are never covariates: the key, the text, the treatment, the document a chunk belongs to and the
# negative-control score.
_NOT_COVARIATES = ("id", "text", "member", "group", NEGATIVE_CONTROL)

# Carried through from the corpus when present: the estimator keeps the chunks of one document in one fold.
GROUP_COLUMN = "group"


def extract_covariates(
    corpus_df: pd.DataFrame,
    extractors: Iterable[str] = DEFAULT_EXTRACTORS,
    *,
    tokenizer: Any = None,
    date_column: str | None = None,
    domain_column: str | None = None,
    tfidf_k: int = 32,
    seed: int = 0,
    reference_scores: pd.DataFrame | None = None,
    reference_column: str = "loss",
) -> pd.DataFrame:
    """The covariates table for ``corpus_df`` (a loaded corpus: ``id``, ``text``, metadata).

    Returns ``id`` followed by float covariates and string categories, with no missing value left.
    ``attrs["imputed"]`` maps each imputed column to its count of imputed rows, ``attrs["notes"]`` says what
    was read from where, capped, skipped or dropped, and ``attrs["extractors"]`` lists the extractors run.
    The covariates never see ``member``: they describe the texts, not the audited model or the labels. The
    ``negative_control`` column (when named and the corpus is labelled) is the exception that is not a covariate:
    the out-of-fold P(member | text) of a text classifier, which the estimate step keeps out of the design.
    A ``group`` column of the corpus (the document a chunk was cut from) is carried through as is.
    """
    names = _validate(corpus_df, list(extractors), date_column, domain_column, tfidf_k)
    options = CovariateOptions(
        tokenizer=tokenizer,
        date_column=date_column,
        domain_column=domain_column,
        tfidf_k=int(tfidf_k),
        seed=int(seed),
        reference_scores=reference_scores,
        reference_column=reference_column,
    )
    corpus = corpus_df.reset_index(drop=True)
    # Extractors see the texts and metadata only; the label stays out of their reach.
    visible = corpus.drop(columns=[c for c in ("member",) if c in corpus.columns])
    parts: list[pd.DataFrame] = []
    notes: list[str] = []
    for name in [n for n in names if n in EXTRACTORS]:
        columns, extractor_notes = EXTRACTORS[name](visible, options)
        parts.append(columns)
        notes.extend(extractor_notes)
    raw = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=corpus.index)
    duplicated = raw.columns[raw.columns.duplicated()]
    if len(duplicated):
        raise AuditError(f"covariates: column '{duplicated[0]}' produced by two extractors")
    table, imputed, drop_notes = impute_and_prune(raw)
    table.insert(0, "id", corpus["id"].astype(str))
    if GROUP_COLUMN in corpus.columns:
        # A chunk without a document is its own document.
        groups = corpus[GROUP_COLUMN].astype(object)
        table.insert(1, GROUP_COLUMN, groups.where(groups.notna(), corpus["id"]).astype(str))
    if NEGATIVE_CONTROL in names:
        labelled = corpus.assign(**({GROUP_COLUMN: table[GROUP_COLUMN]} if GROUP_COLUMN in table else {}))
        score, nc_notes = negative_control_score(labelled, seed=int(seed))
        notes.extend(nc_notes)
        if score is not None:
            table.insert(1 + (GROUP_COLUMN in table), NEGATIVE_CONTROL, score.to_numpy())
    table.attrs = {"imputed": imputed, "notes": notes + drop_notes, "extractors": names}
    return table


def _validate(
    corpus: pd.DataFrame, names: list[str], date_column: str | None, domain_column: str | None, tfidf_k: int
) -> list[str]:
    for needed in ("id", "text"):
        if needed not in corpus.columns:
            raise AuditError(f"covariates: the corpus has no '{needed}' column (load it with load_corpus)")
    if len(corpus) == 0:
        raise AuditError("covariates: the corpus is empty")
    if corpus["id"].astype(str).duplicated().any():
        raise AuditError(f"covariates: id '{corpus['id'][corpus['id'].astype(str).duplicated()].iloc[0]}' is repeated")
    unknown = [n for n in names if n not in EXTRACTOR_NAMES]
    if unknown:
        raise AuditError(f"covariates: unknown extractor '{unknown[0]}' (known: {', '.join(EXTRACTOR_NAMES)})")
    if not names:
        raise AuditError("covariates: no extractor named")
    for option, column in (("date_column", date_column), ("domain_column", domain_column)):
        if column in _NOT_COVARIATES:
            raise AuditError(f"covariates: {option} '{column}' is the {column} column, not a covariate")
    if isinstance(tfidf_k, bool) or not isinstance(tfidf_k, int) or tfidf_k < 1:
        raise AuditError(f"covariates: tfidf_k must be a positive integer, got {tfidf_k!r}")
    return list(dict.fromkeys(names))
