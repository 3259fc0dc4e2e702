"""From the scores and covariates tables to the arrays the estimators use.

Validation lives here, at the boundary, so the estimators never see a NaN, a missing id or a single
class they did not expect. The covariate design (standardize numeric, one-hot categorical, impute) is an
sklearn ColumnTransformer placed inside every nuisance pipeline, so it is fit on the training folds only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from llm_audit.corpus import label_value
from llm_audit.errors import AuditError, plain
from llm_audit.estimate.column_types import dates_as_years, numbers, text_score_notes

RESERVED = ("id", "member", "n_tokens", "truncated", "n_chars", "run", "model")
GROUP_COLUMN = "group"
# The negative-control score (docs/refuters.md): a text classifier's out-of-fold P(member | text). A column of the
# covariates table with a role of its own, like ``group``: never a covariate, the negative-control refuter's score.
NEGATIVE_CONTROL_COLUMN = "negative_control"
MIN_PER_ARM = 20  # fewer units in an arm: naive figures only, the corrected ones are not identified
MIN_NAIVE_PER_ARM = 2  # fewer: not even a naive AUC worth reporting
MAX_LEVELS = 200  # a categorical with more levels is not a covariate the one-hot design can use


@dataclass
class AuditData:
    """Joined, validated inputs: one row per unit, sorted by id (as text). The folds and the bootstrap draws are
    seeded by position, so a canonical order makes every figure independent of the order of the input rows."""

    ids: np.ndarray
    member: np.ndarray  # int 0/1
    scores: dict[str, np.ndarray]
    covariates: pd.DataFrame  # usable covariate columns only
    groups: np.ndarray | None
    notes: list[str] = field(default_factory=list)
    constant_scores: list[str] = field(default_factory=list)
    negative_control: np.ndarray | None = None  # (n,) the negative-control score, when the covariates carry it


def _is_categorical(col: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))


def _numeric_unreserved(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns
            if c not in RESERVED and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]


def score_columns(scores_df: pd.DataFrame, requested: list[str] | None, notes: list[str] | None = None) -> list[str]:
    """Every numeric non-reserved column is a score (the step-1 contract), unless names are given; a text column
    that looks like a score is refused or noted (``column_types.text_score_notes``; the notes go to ``notes``)."""
    if requested:
        missing = [c for c in requested if c not in scores_df.columns]
        if missing:
            raise AuditError(f"scores table: no column '{missing[0]}' (columns: {', '.join(map(str, scores_df.columns))})")
        reserved = [c for c in requested if c in RESERVED]
        if reserved:
            raise AuditError(f"scores table: column '{reserved[0]}' is reserved ({', '.join(RESERVED)}), never a score")
        bad = [c for c in requested if not pd.api.types.is_numeric_dtype(scores_df[c])]
        if bad:
            raise AuditError(f"scores table: column '{bad[0]}' is not numeric")
        return list(requested)
    found = text_score_notes(scores_df, RESERVED)
    if notes is not None:
        notes += found
    cols = _numeric_unreserved(scores_df)
    if not cols:
        raise AuditError("scores table: no score column (a numeric column not named " + ", ".join(RESERVED) + ")")
    return cols


def _check_ids(df: pd.DataFrame, name: str) -> pd.Series:
    if "id" not in df.columns:
        raise AuditError(f"{name} table: no 'id' column")
    missing = np.flatnonzero(df["id"].isna().to_numpy())
    if missing.size:
        raise AuditError(f"{name} table: {missing.size} row(s) without an id, e.g. row {int(missing[0]) + 1}")
    ids = df["id"].astype(str)
    dup = ids[ids.duplicated()]
    if len(dup):
        hint = " (a `run` column: use --regime multi-run)" if "run" in df.columns else ""
        raise AuditError(f"{name} table: {len(dup)} duplicated id(s), e.g. '{dup.iloc[0]}'{hint}")
    return ids


def _member_column(scores_df: pd.DataFrame) -> np.ndarray:
    if "member" not in scores_df.columns:
        raise AuditError("scores table: no 'member' column (the zero-run estimator needs membership labels)")
    m = scores_df["member"].map(label_value)  # as the corpus reads labels: 0/1, true/false, yes/no, member/...
    bad = m.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        value = plain(scores_df["member"].iloc[row])
        raise AuditError(f"scores table: column 'member' row {row + 1}: value {value!r} is not 0/1 (nor true/false, "
                         "yes/no, member/non-member)")
    t = m.to_numpy().astype(int)
    n1, n0 = int(t.sum()), int(len(t) - t.sum())
    if n1 == 0 or n0 == 0:
        raise AuditError(f"scores table: column 'member' has one class only ({n1} members, {n0} non-members)")
    if min(n1, n0) < MIN_NAIVE_PER_ARM:
        raise AuditError(
            f"scores table: too few units per arm ({n1} members, {n0} non-members; at least {MIN_NAIVE_PER_ARM} each)"
        )
    return t


def _check_finite_covariates(covariates_df: pd.DataFrame, ids: pd.Series) -> None:
    """+-inf in a numeric covariate is refused here, by id: NaN is imputed, but an infinity would reach the
    scaler inside a fold and fail there with a traceback."""
    for c in covariates_df.columns:
        col = covariates_df[c]
        if c == "id" or not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        bad = np.isinf(col.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AuditError(f"covariates table: column '{c}' has {int(bad.sum())} infinite value(s), e.g. id '{ids.iloc[i]}' (row {i + 1})")


def _drop_label(cov: pd.DataFrame, member: np.ndarray, ids: pd.Series) -> str:
    """A ``member`` column left in the covariates would predict itself (blind AUC 1): it is never a covariate.
    A copy that agrees with the scores table is dropped with a note; one that disagrees means the two
    tables do not describe the same split, and is refused."""
    values = cov.pop("member")
    copy = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    differ = np.flatnonzero(copy != member)
    if differ.size:
        i = int(differ[0])
        shown = plain(values.iloc[i])
        raise AuditError(
            f"covariates table: column 'member' disagrees with the scores table on {differ.size} id(s), e.g. id '{ids.iloc[i]}' "
            f"({shown!r} here, {member[i]} there); the label is never a covariate: drop the column"
        )
    return "covariate 'member' dropped: it is the membership label (it agrees with the scores table), never a covariate"


def prepare(scores_df: pd.DataFrame, covariates_df: pd.DataFrame, scores: list[str] | None = None) -> AuditData:
    """Join on ``id``, validate, and keep the usable covariates (notes say what was dropped and why)."""
    sid = _check_ids(scores_df, "scores")
    cid = _check_ids(covariates_df, "covariates")
    _same_ids(sid, cid)
    member = _member_column(scores_df)
    notes: list[str] = []
    names = score_columns(scores_df, scores, notes)
    score_arrays, constant = {}, []
    for c in names:
        v = scores_df[c].to_numpy(dtype=float)
        bad = ~np.isfinite(v)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise AuditError(f"scores table: column '{c}' has {int(bad.sum())} NaN/infinite value(s), e.g. id '{sid.iloc[i]}' (row {i + 1})")
        if np.all(v == v[0]):
            constant.append(c)
        score_arrays[c] = v

    _check_finite_covariates(covariates_df, cid)
    cov = covariates_df.assign(id=cid).set_index("id").loc[sid.to_numpy()].reset_index(drop=True)
    groups = None
    if GROUP_COLUMN in cov.columns:
        groups = _groups(cov.pop(GROUP_COLUMN), sid)
    negative_control = _negative_control(cov.pop(NEGATIVE_CONTROL_COLUMN), sid) if NEGATIVE_CONTROL_COLUMN in cov else None
    if "member" in cov.columns:
        notes.append(_drop_label(cov, member, sid))
    # The audited model's scores are outcomes (post-treatment, docs/method.md §1), never covariates: a covariate named
    # like one is refused, whether or not that score is estimated in this call.
    outcomes = set(score_arrays) | set(_numeric_unreserved(scores_df))
    outcome = [c for c in cov.columns if c in outcomes]
    if outcome:
        raise AuditError(f"covariates table: column '{outcome[0]}' is also a score column of the scores table (a covariate "
                         "must not be an outcome): rename or drop it")
    if groups is not None:
        per_arm = [len(np.unique(groups[member == arm])) for arm in (1, 0)]
        if min(per_arm) < MIN_GROUPS:
            notes.append(f"the intervals resample whole groups ('{GROUP_COLUMN}'), and an arm has few of them "
                         f"({per_arm[0]} among members, {per_arm[1]} among non-members; under {MIN_GROUPS}): "
                         "the intervals rest on that many independent draws and are rough")
    keep = _usable_covariates(cov, notes, sid)
    if not keep:
        notes.append("no usable covariate: the propensity is constant and the corrected metrics equal the naive ones")
    for c in constant:
        notes.append(f"score '{c}' is constant: every AUC is 0.5 by construction")
    order = np.argsort(sid.astype(str).to_numpy(), kind="stable")  # ids are unique: one order for any row order
    return AuditData(
        ids=sid.to_numpy()[order], member=member[order], scores={c: v[order] for c, v in score_arrays.items()},
        covariates=cov[keep].iloc[order].reset_index(drop=True), groups=None if groups is None else groups[order],
        notes=notes, constant_scores=constant,
        negative_control=None if negative_control is None else negative_control[order],
    )


def _same_ids(sid: pd.Series, cid: pd.Series) -> None:
    """AuditError, with the count and an example, when the two tables do not hold the same ids."""
    only_s = sid[~sid.isin(set(cid))]
    only_c = cid[~cid.isin(set(sid))]
    if len(only_s):
        raise AuditError(f"ids: {len(only_s)} id(s) in the scores table are missing from the covariates table, e.g. '{only_s.iloc[0]}'")
    if len(only_c):
        raise AuditError(f"ids: {len(only_c)} id(s) in the covariates table are missing from the scores table, e.g. '{only_c.iloc[0]}'")


def _usable_covariates(cov: pd.DataFrame, notes: list[str], ids: pd.Series) -> list[str]:
    """The columns the design can use (dates converted in place to fractional years); a note for each column
    dropped (all missing, constant, too many categories) or imputed. ``ids`` (aligned with ``cov``) name a
    stray value."""
    keep = []
    for c in cov.columns:
        years = dates_as_years(cov[c], str(c), ids)
        if years is not None:
            cov[c] = years
            notes.append(f"covariate '{c}': text read as dates (fractional years)")
        number = numbers(cov[c], "covariates", str(c), "fix it, or leave it empty (a missing value is imputed)", ids)
        if number is not None:
            cov[c] = number
        if pd.api.types.is_datetime64_any_dtype(cov[c]):
            # dates enter as (fractional) years: a number the design can standardize
            days = (cov[c] - pd.Timestamp("1970-01-01", tz=getattr(cov[c].dt, "tz", None))).dt.total_seconds() / 86400.0
            cov[c] = 1970.0 + days / 365.2425
        col = cov[c]
        if col.isna().all():
            notes.append(f"covariate '{c}' dropped: all values missing")
        elif col.nunique(dropna=False) <= 1:
            notes.append(f"covariate '{c}' dropped: constant")
        elif _is_categorical(col) and col.nunique() > MAX_LEVELS:
            notes.append(f"covariate '{c}' dropped: {col.nunique()} distinct categories (> {MAX_LEVELS}; free text or an identifier?)")
        else:
            if col.isna().any():
                notes.append(f"covariate '{c}': {int(col.isna().sum())} missing value(s) imputed (median or most frequent) with an indicator")
            keep.append(c)
    return keep


MIN_GROUPS = 20  # groups per arm under which the cluster bootstrap's intervals get a note


def _groups(column: pd.Series, ids: pd.Series) -> np.ndarray:
    """The ``group`` column as text; AuditError, by id, for a missing value (its units would form a group of
    their own by accident, or break the folds). By id only: the covariates are in the scores table's order here,
    so a row number would point to the wrong row of the file."""
    missing = np.flatnonzero(column.isna().to_numpy())
    if missing.size:
        i = int(missing[0])
        raise AuditError(f"covariates table: column '{GROUP_COLUMN}' has {missing.size} missing value(s), e.g. id "
                         f"'{ids.iloc[i]}': every text needs its group (its own id for a text alone)")
    return column.astype(str).to_numpy()


def _negative_control(column: pd.Series, ids: pd.Series) -> np.ndarray:
    """The negative-control score as floats; refused, by id, when a value is missing or not a finite number."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise AuditError(f"covariates table: column '{NEGATIVE_CONTROL_COLUMN}' has {int(bad.sum())} missing or non-numeric "
                         f"value(s), e.g. id '{ids.iloc[i]}': it must be a probability for every text")
    return values


def design_transformer(covariates: pd.DataFrame) -> ColumnTransformer:
    """Standardized numeric columns (median-imputed, with a missing indicator where needed) and one-hot
    categories; unseen categories in a test fold map to all zeros."""
    cat = [c for c in covariates.columns if _is_categorical(covariates[c])]
    num = [c for c in covariates.columns if c not in cat]
    parts = []
    if num:
        parts.append(("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), num))
    if cat:
        parts.append((
            "cat",
            make_pipeline(
                SimpleImputer(strategy="constant", fill_value="<missing>"),
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
            ),
            cat,
        ))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0)


def propensity_parameters(covariates: pd.DataFrame) -> int:
    """The coefficients a logistic propensity on ``design_transformer``'s design carries, intercept aside: one per
    numeric column and one more for its missing indicator; k - 1 for a category of k levels (a missing value is a
    level), the one-hot block's columns summing to one. Recoding a 0/1 flag as yes/no leaves the count alone."""
    count = 0
    for c in covariates.columns:
        col = covariates[c]
        if _is_categorical(col):
            count += max(col.astype(str).where(col.notna(), "<missing>").nunique() - 1, 0)
        else:
            count += 1 + int(col.isna().any())
    return count


def categorical_as_str(covariates: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as plain object strings (NaN kept), so the imputer and encoder accept any dtype."""
    out = covariates.copy()
    for c in out.columns:
        if _is_categorical(out[c]):
            out[c] = out[c].astype(object).where(out[c].notna(), np.nan)
            out[c] = out[c].map(lambda v: v if isinstance(v, float) and np.isnan(v) else str(v))
    return out


def balance_columns(covariates: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Covariates as the columns balance is checked on: numeric as is, one 0/1 column per category
    level (``domain=github``); missing numeric values left NaN and ignored per column."""
    names, cols = [], []
    for c in covariates.columns:
        col = covariates[c]
        if _is_categorical(col):
            levels = sorted(col.dropna().astype(str).unique())
            for lv in levels:
                names.append(f"{c}={lv}")
                cols.append((col.astype(str) == lv).to_numpy(dtype=float))
        else:
            names.append(str(c))
            cols.append(col.to_numpy(dtype=float))
    return names, (np.column_stack(cols) if cols else np.empty((len(covariates), 0)))
