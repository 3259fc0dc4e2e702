"""Date covariate: when a text was written, as a fractional year (2019-07-02 -> 2019.50).

Benchmarks built from a cutoff date (members before, non-members after) are the textbook confounded
design: date then predicts membership without any help from the model.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import numpy as np
import pandas as pd

from llm_audit.covariates.options import Extracted, ExtractorInput
from llm_audit.errors import AuditError

# Used when the user names no date column; the first present is taken.
DATE_COLUMN_CANDIDATES = ("date", "year", "timestamp", "created_at", "published")

# Plausible years mentioned in a text; the digits must stand alone (not part of 12019 or a phone number).
_YEAR_IN_TEXT = re.compile(r"(?<!\d)(19\d\d|20\d\d|2100)(?!\d)")
MISSING_STRINGS = {"", "na", "n/a", "nan", "nat", "null", "none"}


def date_covariates(corpus: pd.DataFrame, given: ExtractorInput) -> Extracted:
    column = given.options.date_column
    notes: list[str] = []
    if column is not None and column not in corpus.columns:
        raise AuditError(f"date column '{column}' is not in the corpus (columns: {', '.join(map(str, corpus.columns))})")
    if column is None:
        column = next((c for c in DATE_COLUMN_CANDIDATES if c in corpus.columns), None)
        if column is not None:
            notes.append(f"date: read from the '{column}' column")

    out = pd.DataFrame(index=corpus.index)
    if column is None:
        years = corpus["text"].map(latest_year_in_text)
        notes.append("date: no date column; the latest year (1900-2100) mentioned in each text")
        out["date"] = years.astype("float64")
        return out, notes

    dayfirst = _day_first(corpus[column], column, notes)
    years = pd.Series(
        [_parse_cell(v, column, i, ident, dayfirst) for i, (v, ident) in enumerate(zip(corpus[column], corpus["id"]))],
        index=corpus.index,
        dtype="float64",
    )
    no_value = years.isna()
    if no_value.any():
        years[no_value] = corpus.loc[no_value, "text"].map(latest_year_in_text).astype("float64")
        from_text = no_value & years.notna()
        notes.append(
            f"date: {int(no_value.sum())} of {len(years)} rows have no '{column}' value; "
            f"{int(from_text.sum())} of them dated from a year in their text"
        )
    out["date"] = years
    if no_value.any():
        # Rows dated from their text carry a noisier date: the flag lets the propensity model treat them apart.
        out["date_from_text"] = from_text.astype("float64")
    return out, notes


def latest_year_in_text(text: str) -> float:
    """The latest year between 1900 and 2100 written in ``text``, or NaN when none is."""
    found = [int(y) for y in _YEAR_IN_TEXT.findall(text)]
    return float(max(found)) if found else math.nan


def parse_date(value: Any) -> float | None:
    """A fractional year from a year, an ISO date, a datetime or a unix timestamp; None when missing.

    Numbers with at most 4 digits are years; whole numbers of 6 or 8 digits that spell a calendar
    YYYYMM / YYYYMMDD (years 1000-2999) are that month / day (as seconds they would all fall in 1970-73);
    other larger numbers are unix timestamps in seconds, or in milliseconds from 1e11 on (1e11 s is the
    year 5138, so no real date in seconds gets there).
    Raises ValueError when the value is present but is not a date.
    """
    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        raise ValueError("a boolean is not a date")
    if isinstance(value, np.datetime64):
        return _fractional_year(pd.Timestamp(value).to_pydatetime())
    if isinstance(value, dt.datetime):
        return _fractional_year(value)
    if isinstance(value, dt.date):
        return _fractional_year(dt.datetime(value.year, value.month, value.day))
    if isinstance(value, (int, float, np.integer, np.floating)):
        return _number_to_year(float(value))
    if not isinstance(value, str):
        raise ValueError(f"a {type(value).__name__} is not a date")
    text = value.strip()
    if text.lower() in MISSING_STRINGS:
        return None
    try:
        return _number_to_year(float(text))
    except ValueError:
        pass
    try:
        # fromisoformat first: it reaches years before 1677, where pandas' nanosecond Timestamp stops.
        return _fractional_year(dt.datetime.fromisoformat(text))
    except ValueError:
        pass
    try:
        return _fractional_year(pd.Timestamp(text).to_pydatetime())
    except (ValueError, OverflowError) as exc:
        raise ValueError(str(exc)) from None


def _number_to_year(x: float) -> float:
    if not math.isfinite(x):
        raise ValueError("not a finite number")
    if abs(x) < 10_000:
        return x
    compact = _compact_date(x)
    if compact is not None:
        return _fractional_year(compact)
    seconds = x / 1000.0 if abs(x) >= 1e11 else x
    try:
        return _fractional_year(dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc))
    except (OverflowError, OSError) as exc:
        raise ValueError(f"timestamp out of range ({exc})") from None


def _compact_date(x: float) -> dt.datetime | None:
    """``x`` read as YYYYMMDD or YYYYMM when it spells a valid date with a year in 1000-2999, else None."""
    if x != int(x):
        return None
    digits = str(int(x))
    if len(digits) not in (6, 8) or not "1" <= digits[0] <= "2":
        return None
    try:
        return dt.datetime(int(digits[:4]), int(digits[4:6]), int(digits[6:8]) if len(digits) == 8 else 1)
    except ValueError:
        return None


def _fractional_year(when: dt.datetime) -> float:
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    start = dt.datetime(when.year, 1, 1)
    end = dt.datetime(when.year + 1, 1, 1) if when.year < dt.MAXYEAR else dt.datetime.max
    return when.year + (when - start) / (end - start)


_SLASHED = re.compile(r"^\s*(\d{1,2})[/.](\d{1,2})[/.](\d{2,4})\b")


def _day_first(values: pd.Series, column: str, notes: list[str]) -> bool:
    """Whether the column's dd/mm/yyyy-style dates put the day first. A first field above 12 says so, a second
    field above 12 says the month is first; both in one column is refused (each cell alone would be read its own
    way: 05/07/2019 as May 7 and 18/10/2013 as October 18); neither (every field <= 12) is read month-first,
    with a note."""
    slashed = [(v, int(m.group(1)), int(m.group(2))) for v in values if isinstance(v, str) and (m := _SLASHED.match(v))]
    day = next((v for v, a, _ in slashed if a > 12), None)
    month = next((v for v, _, b in slashed if b > 12), None)
    if day is not None and month is not None:
        raise AuditError(f"date column '{column}': day-first and month-first dates in one column ({day!r}, "
                         f"{month!r}): write them as YYYY-MM-DD")
    if day is None and month is None and any(a != b for _, a, b in slashed):
        notes.append(f"date: '{column}' has dates like 05/07/2019 that read either way; read month first (write "
                     "YYYY-MM-DD to remove the doubt)")
    return day is not None


def _parse_cell(value: Any, column: str, row: int, ident: str, dayfirst: bool = False) -> float:
    if dayfirst and isinstance(value, str) and (m := _SLASHED.match(value)):
        value = f"{m.group(2)}/{m.group(1)}/{m.group(3)}{value[m.end():]}"  # month first, as parse_date reads it
    try:
        year = parse_date(value)
    except ValueError:
        raise AuditError(f"date column '{column}': row {row + 1} (id {ident}): cannot read {value!r} as a date") from None
    return math.nan if year is None else year
