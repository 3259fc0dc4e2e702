"""Missing and uninformative covariates, handled the same way for every extractor.

A missing numeric value gets a ``<col>_missing`` 0/1 indicator and the column median, so the propensity
model can still tell imputed rows apart; a missing category becomes the level "missing" (its one-hot column
is that indicator). A covariate that is all missing or constant cannot inform the propensity: it is dropped
and the drop is noted, never silently.
"""

from __future__ import annotations

import pandas as pd

MISSING_LEVEL = "missing"


def impute_and_prune(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    """Return the imputed table (no NaN left), the imputed count per column, and notes on what was dropped."""
    out: dict[str, pd.Series] = {}
    imputed: dict[str, int] = {}
    notes: list[str] = []
    for col in table.columns:
        values = table[col]
        missing = values.isna()
        n_missing = int(missing.sum())
        if n_missing == len(values):
            notes.append(f"{col}: dropped (missing for every text)")
            continue
        if pd.api.types.is_numeric_dtype(values):
            values = values.astype("float64")
            if n_missing:
                values = values.fillna(values.median())
                out[f"{col}_missing"] = missing.astype("float64")
                imputed[col] = n_missing
        else:
            values = values.astype("object").where(~missing, MISSING_LEVEL).astype(str)
            if n_missing:
                imputed[col] = n_missing
        if values.nunique() <= 1:
            notes.append(f"{col}: dropped (the same value for every text)")
            continue
        out[col] = values
    # Indicators sit right after their column, in the extractors' order.
    order = [c for col in table.columns for c in (col, f"{col}_missing") if c in out]
    return pd.DataFrame({c: out[c] for c in order}, index=table.index), imputed, notes
