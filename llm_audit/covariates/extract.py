"""Step 2 of the pipeline: the covariates table, one row per text, from the registered extractors.

A new covariate is one function ``(corpus, given: ExtractorInput) -> (columns, notes)`` in its own module plus
one line in ``EXTRACTORS``; ``given.options`` holds the step's options, ``given.tokenizer`` the tokenizer.
``negative_control`` is named like an extractor but is not a covariate: it is the one step that reads the
membership labels, and its column has a reserved role in the estimate step (docs/refuters.md).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import pandas as pd

from llm_audit.covariates.date import date_covariates
from llm_audit.covariates.domain import domain_covariates
from llm_audit.covariates.length import length_covariates
from llm_audit.covariates.lexical import lexical_covariates
from llm_audit.covariates.missing import impute_and_prune
from llm_audit.covariates.negative_control import negative_control_score
from llm_audit.covariates.options import NEGATIVE_CONTROL, CovariatesConfig, Extracted, ExtractorInput
from llm_audit.covariates.reference import reference_loss_covariates
from llm_audit.covariates.text_projection import tfidf_covariates
from llm_audit.errors import AuditError

EXTRACTORS: dict[str, Callable[[pd.DataFrame, ExtractorInput], Extracted]] = {
    "length": length_covariates,
    "date": date_covariates,
    "domain": domain_covariates,
    "lexical": lexical_covariates,
    "tfidf": tfidf_covariates,
    "ref_loss": reference_loss_covariates,
}

# Every name ``extract_covariates`` accepts: the covariate extractors and the negative-control score.
EXTRACTOR_NAMES = (*EXTRACTORS, NEGATIVE_CONTROL)

# Carried through from the corpus when present: the estimator keeps the chunks of one document in one fold.
GROUP_COLUMN = "group"


def extract_covariates(
    corpus_df: pd.DataFrame,
    extractors: Iterable[str] | None = None,
    *,
    options: CovariatesConfig | None = None,
    tokenizer: Any = None,
    reference_scores: pd.DataFrame | None = None,
    reference_column: str = "loss",
    **overrides: Any,
) -> pd.DataFrame:
    """The covariates table for ``corpus_df`` (a loaded corpus: ``id``, ``text``, metadata).

    ``options`` is the step's config section (``CovariatesConfig``); ``extractors`` and keyword ``overrides``
    (``date_column``, ``domain_column``, ``tfidf_k``, ``seed``) change single options. ``tokenizer`` (a loaded
    tokenizer, or a local path / hub id) and ``reference_scores`` (a loaded scores table) replace what the
    section names. Returns ``id`` followed by float covariates and string categories, with no missing value
    left. ``attrs["imputed"]`` maps each imputed column to its count of imputed rows, ``attrs["notes"]`` says
    what was read from where, capped, skipped or dropped, and ``attrs["extractors"]`` lists the extractors run.
    The covariates never see ``member``: they describe the texts, not the audited model or the labels. The
    ``negative_control`` column (when named and the corpus is labelled) is the exception that is not a covariate:
    the out-of-fold P(member | text) of a text classifier, which the estimate step keeps out of the design.
    A ``group`` column of the corpus (the document a chunk was cut from) is carried through as is.
    """
    options = options or CovariatesConfig()
    if extractors is not None:
        overrides["extractors"] = list(extractors)
    options = options.with_(**overrides).validate("covariates.")
    _check_corpus(corpus_df)
    if reference_scores is None and options.reference_scores is not None and "ref_loss" in options.extractors:
        from llm_audit.tables import read_table

        reference_scores = read_table(options.reference_scores)
    given = ExtractorInput(options, tokenizer if tokenizer is not None else options.tokenizer, reference_scores,
                           reference_column)
    names = list(dict.fromkeys(options.extractors))
    corpus = corpus_df.reset_index(drop=True)
    # Extractors see the texts and metadata only; the label stays out of their reach.
    visible = corpus.drop(columns=[c for c in ("member",) if c in corpus.columns])
    parts: list[pd.DataFrame] = []
    notes: list[str] = []
    for name in [n for n in names if n in EXTRACTORS]:
        columns, extractor_notes = EXTRACTORS[name](visible, given)
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
        score, nc_notes = negative_control_score(labelled, seed=options.seed)
        notes.extend(nc_notes)
        if score is not None:
            table.insert(1 + (GROUP_COLUMN in table), NEGATIVE_CONTROL, score.to_numpy())
    table.attrs = {"imputed": imputed, "notes": notes + drop_notes, "extractors": names}
    return table


def _check_corpus(corpus: pd.DataFrame) -> None:
    for needed in ("id", "text"):
        if needed not in corpus.columns:
            raise AuditError(f"covariates: the corpus has no '{needed}' column (load it with load_corpus)")
    if len(corpus) == 0:
        raise AuditError("covariates: the corpus is empty")
    if corpus["id"].astype(str).duplicated().any():
        raise AuditError(f"covariates: id '{corpus['id'][corpus['id'].astype(str).duplicated()].iloc[0]}' is repeated")
