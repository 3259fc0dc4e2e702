"""The loss of each text under an independent reference model, from a precomputed scores table.

Measures how predictable a text is in general; never the audited model's own scores (docs/method.md §1: those are
post-treatment). Computing it needs the scoring engine, so here it is read, not computed.
"""

from __future__ import annotations

import pandas as pd

from llm_audit.covariates.options import Extracted, ExtractorInput
from llm_audit.errors import AuditError


def reference_loss_covariates(corpus: pd.DataFrame, given: ExtractorInput) -> Extracted:
    ref = given.reference_scores
    column = given.reference_column
    if ref is None:
        raise AuditError("ref_loss: needs the reference model's scores table (covariates.reference_scores / "
                         "--reference-scores / reference_scores=)")
    for needed in ("id", column):
        if needed not in ref.columns:
            raise AuditError(f"reference scores: no '{needed}' column (columns: {', '.join(map(str, ref.columns))})")
    ids = ref["id"].astype(str)
    if ids.duplicated().any():
        raise AuditError(f"reference scores: id '{ids[ids.duplicated()].iloc[0]}' appears more than once")
    values = pd.to_numeric(ref[column], errors="coerce")
    bad = values.isna() & ref[column].notna()
    if bad.any():
        raise AuditError(f"reference scores: row {int(bad.to_numpy().nonzero()[0][0]) + 1}: '{column}' is not a number")
    lookup = pd.Series(values.to_numpy(dtype="float64"), index=ids)
    out = pd.DataFrame(index=corpus.index)
    # Scores-table convention (higher = more likely member): `loss` is minus the mean NLL; kept as is.
    out["ref_loss"] = corpus["id"].astype(str).map(lookup).astype("float64").to_numpy()
    notes = []
    n_missing = int(out["ref_loss"].isna().sum())
    if n_missing:
        notes.append(f"ref_loss: {n_missing} texts have no reference score")
    return out, notes
