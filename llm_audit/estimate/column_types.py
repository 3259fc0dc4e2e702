"""How a text column of a user's table is read: as numbers, as dates, or as text (categories), and when a few
values that do not fit are refused instead of turning the whole column into text (docs/method.md, §5).

A CSV column of numbers with one stray word ('err', '1,868.9') is read by pandas as text; a date column with one
'unknown' is too. As text, such a column would be one-hot encoded or dropped as a near-identifier, and a
confounder it carries missed (a review found the audit then printed `identified`). So a column that is numbers or
dates but for at most ``STRAY_SHARE`` of its values (one value at least) is refused, naming the first value
that does not fit; missing markers ('', 'NA', 'n/a', ...) are missing values, not strays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from llm_audit.covariates.date import MISSING_STRINGS, parse_date
from llm_audit.errors import AuditError, plain

STRAY_SHARE = 0.01
YEAR = r"(?<!\d)(?:1\d{3}|2[01]\d{2})(?!\d)"  # a standalone year, 1000-2199
YEARS = (1000.0, 2200.0)


def is_text(col: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)


def _present(col: pd.Series) -> pd.Series:
    """The values that are neither missing nor a missing marker, as stripped strings (index kept)."""
    text = col.dropna().astype(str).str.strip()
    return text[~text.str.lower().isin(MISSING_STRINGS)]


def _few(bad: int, present: int) -> bool:
    return 0 < bad <= max(1, STRAY_SHARE * present)


def _stray(col: pd.Series, index: object, table: str, column: str, what: str, hint: str,
           ids: pd.Series | None) -> AuditError:
    """The error naming the first stray: by id when ``ids`` (aligned with ``col``) are given (a covariates table
    is read in the scores table's order, so its row number would mislead), else by row."""
    row = int(col.index.get_loc(index))
    where = f"id '{ids.iloc[row]}'" if ids is not None else f"row {row + 1}"
    return AuditError(f"{table} table: column '{column}' {where}: {plain(col.loc[index])!r} is not {what} (the "
                      f"other values of the column are); {hint}")


def numbers(col: pd.Series, table: str, column: str, hint: str, ids: pd.Series | None = None) -> pd.Series | None:
    """A text column of numbers (missing markers as NaN) as floats; None for a column of text; AuditError for
    numbers with a few strays (named by ``ids`` when given)."""
    if not is_text(col):
        return None
    present = _present(col)
    parsed = pd.to_numeric(present, errors="coerce")
    bad = parsed.isna()
    if present.empty or bad.all():
        return None
    if _few(int(bad.sum()), len(present)):
        raise _stray(col, bad[bad].index[0], table, column, "a number", hint, ids)
    if bad.any():
        return None
    return pd.to_numeric(col.where(col.index.isin(present.index)), errors="coerce").astype("float64")


def dates_as_years(col: pd.Series, column: str, ids: pd.Series | None = None) -> pd.Series | None:
    """A text column of dates ('2014-05-12', '2014-05', '12 May 2014', '2012') as fractional years
    (``covariates.date.parse_date``); None for any other column (a column of numbers alone is numbers); AuditError
    for dates with a few strays. Every date names a year: pd.Timestamp alone reads '8', '1st' or '10:30' as
    some date."""
    if not is_text(col) or not col.dropna().map(lambda v: isinstance(v, str)).all():
        return None
    present = _present(col)
    if present.empty or pd.to_numeric(present, errors="coerce").notna().all():
        return None
    years = pd.Series(np.nan, index=present.index)
    for i, value in present[present.str.contains(YEAR)].items():
        try:
            years[i] = parse_date(value)
        except ValueError:
            pass
    bad = ~years.between(*YEARS)
    if bad.all() or not _few(int(bad.sum()), len(present)) and bad.any():
        return None
    if bad.any():
        raise _stray(col, bad[bad].index[0], "covariates", column, "a date",
                     "write it as YYYY-MM-DD, or leave it empty (a missing date is imputed)", ids)
    return years.reindex(col.index).astype("float64")


def text_score_notes(scores_df: pd.DataFrame, reserved: tuple[str, ...]) -> list[str]:
    """Text columns of a scores table that look like scores: AuditError for numbers with a few strays; a note for
    a column left out because more of its values are not numbers (it would otherwise vanish without a word)."""
    notes = []
    hint = "fix the value, or name the score columns (--scores-cols, estimate.scores) to leave this column out"
    for c in scores_df.columns:
        col = scores_df[c]
        if c in reserved or not is_text(col):
            continue
        present = _present(col)
        if numbers(col, "scores", str(c), hint) is None and len(present):
            parsed = pd.to_numeric(present, errors="coerce")
            if parsed.notna().mean() >= 0.5:
                first = present[parsed.isna()].iloc[0]
                notes.append(f"scores table: column '{c}' left out: {int(parsed.isna().sum())} of {len(present)} values "
                             f"are not numbers (e.g. {first!r})")
    return notes
