"""Load and validate an audit corpus: texts, optional membership labels, metadata.

Sources: JSON Lines (optionally .gz), CSV, Parquet, a `datasets` folder saved with `save_to_disk`, or a
`datasets` hub name (used only when the name is not a local path). The result is always a DataFrame with
columns ``id`` (str), ``text`` (str), ``member`` (int 0/1, when labels are present) and every other source
column kept as metadata.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from llm_audit.errors import AuditError, plain
from llm_audit.paths import local_or_hub
from llm_audit.schema import Checker, Section, option

_TRUE = {"1", "true", "member", "yes"}
_FALSE = {"0", "false", "nonmember", "non-member", "no"}


def text_hash(text: str) -> str:
    """Stable content hash of a text (SHA-256 of its UTF-8 bytes, hex)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def text_id(text: str) -> str:
    """The id given to a text that has none: a short prefix of its content hash."""
    return text_hash(text)[:16]


@dataclass
class CorpusConfig(Section):
    """The corpus options (``corpus:`` in a config): declared, defaulted and checked here only."""

    path: str | None = option("one corpus file/folder/datasets name with a membership label column", path="corpus",
                              default=None)
    members: str | None = option("a corpus whose texts are all members (use with `nonmembers`, instead of `path`)",
                                 path="corpus", default=None)
    nonmembers: str | None = option("a corpus whose texts are all non-members", path="corpus", default=None)
    text_column: str = option("column holding the text (WikiMIA: `input`)", default="text")
    label_column: str = option("column holding membership 0/1 (WikiMIA: `label`)", default="member")
    id_column: str = option("column holding a unique id (absent: a hash of the text)", default="id")
    split: str | None = option("split of a `datasets` corpus", default=None)
    empty: Literal["error", "skip"] = option(
        "texts too short to score (empty, or fewer than 2 tokens under the model's tokenizer): `error` or `skip` them",
        default="error")

    def check(self, c: Checker) -> None:
        pair = (self.members is not None, self.nonmembers is not None)
        if self.path is None:
            c.require(pair != (True, False) and pair != (False, True), "",
                      "`members` and `nonmembers` must be given together")
            c.require(all(pair), "path", "required (or `members` and `nonmembers`)")
        c.require(self.path is None or not any(pair), "", "give either `path` or `members` + `nonmembers`, not both")


def load_corpus(
    source: str | Path,
    options: CorpusConfig | None = None,
    *,
    member: int | None = None,
    require_labels: bool = False,
    **overrides: Any,
) -> pd.DataFrame:
    """Read ``source`` and return a validated corpus table.

    ``options`` is the corpus section (columns, split, empty texts); keyword ``overrides`` (``text_column``,
    ``label_column``, ``id_column``, ``split``, ``empty``) change single options. ``member`` assigns one label to
    every row (for separate member / non-member files); otherwise labels come from ``label_column`` when it
    exists. ``empty="skip"`` drops empty or whitespace-only texts (the count is kept in
    ``df.attrs["skipped_empty"]``) instead of refusing them.
    """
    o = (options or CorpusConfig()).with_(**overrides)
    text_column, label_column, id_column, split, empty = o.text_column, o.label_column, o.id_column, o.split, o.empty
    raw = _read_source(source, split)
    name = str(source)
    if len(raw) == 0:  # first: an empty JSONL file has no columns either, and "no 'text' column" misleads
        raise AuditError(f"{name}: the corpus is empty")
    if text_column not in raw.columns:
        raise AuditError(f"{name}: no '{text_column}' column (columns: {', '.join(map(str, raw.columns))})")
    # A column named on purpose (not the default) must exist: a typo would otherwise fall back silently to
    # a default-named column, or to hash ids / no labels.
    named = [("id_column", id_column, "id")] + ([("label_column", label_column, "member")] if member is None else [])
    for key, column, default in named:
        if column != default and column not in raw.columns:
            raise AuditError(f"{name}: no '{column}' column ({key}; columns: {', '.join(map(str, raw.columns))})")
    if text_column != "text" and "text" in raw.columns:  # the named column is the text: a 'text' beside it is not
        raw = raw.drop(columns=["text"])
    df = raw.rename(columns={text_column: "text"})
    if label_column != "member" and label_column in df.columns:
        if "member" in df.columns:
            df = df.drop(columns=["member"])
        df = df.rename(columns={label_column: "member"})
    if id_column != "id" and id_column in df.columns:
        if "id" in df.columns:
            df = df.drop(columns=["id"])
        df = df.rename(columns={id_column: "id"})

    df["text"] = _validate_texts(df["text"], name)
    blank = df["text"].str.strip() == ""
    skipped = int(blank.sum())
    if skipped:
        if empty == "skip":
            df = df[~blank]
            if len(df) == 0:
                raise AuditError(f"{name}: every text is empty")
        else:
            row = int(np.flatnonzero(blank.to_numpy())[0])
            raise AuditError(f"{name}: row {row + 1}: empty text ({skipped} empty in all; skip them with --empty skip / corpus.empty: skip)")

    if "id" in df.columns:
        ids = df["id"]
        missing = ids.isna() | (ids.astype(str).str.strip() == "")
        if pd.api.types.is_float_dtype(ids) and (ids[~missing] % 1 == 0).all():
            ids = ids.astype("Int64")  # integer ids read as floats (a column with gaps): 7, not "7.0"
        df["id"] = ids.astype(str)
        df.loc[missing, "id"] = df.loc[missing, "text"].map(text_id)
    else:
        df.insert(0, "id", df["text"].map(text_id))

    if member is not None:
        df["member"] = int(member)
    elif "member" in df.columns:
        df["member"] = _parse_labels(df["member"], name, label_column)
    elif require_labels:
        raise AuditError(f"{name}: no '{label_column}' column with membership labels")

    df = _dedupe(df, name)
    cols = ["id", "text"] + (["member"] if "member" in df.columns else [])
    df = df[cols + [c for c in df.columns if c not in cols]].reset_index(drop=True)
    df.attrs["skipped_empty"] = skipped if empty == "skip" else 0
    df.attrs["source"] = name
    return df


def load_corpus_section(options: CorpusConfig, *, require_labels: bool = False) -> pd.DataFrame:
    """The corpus a corpus section names: its ``path``, or its ``members`` and ``nonmembers`` files joined."""
    if options.path is not None:
        return load_corpus(options.path, options, require_labels=require_labels)
    return concat_corpora([load_corpus(options.members, options, member=1),
                           load_corpus(options.nonmembers, options, member=0)])


def concat_corpora(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Join several loaded corpora (e.g. a member file and a non-member file) and re-check ids."""
    df = pd.concat(parts, ignore_index=True)
    return _dedupe(df, " + ".join(str(p.attrs.get("source", "?")) for p in parts))


def _read_source(source: str | Path, split: str | None) -> pd.DataFrame:
    found, local = local_or_hub(source, missing="{name}: no such file")
    if not local:
        return _read_hub_dataset(found, split)
    path = Path(found)
    if path.is_dir():
        return _read_dataset_dir(path, split)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-2:] == [".jsonl", ".gz"] or suffixes[-1:] in ([".jsonl"], [".json"], [".ndjson"]):
        return _read_jsonl(path)
    if suffixes[-1:] == [".csv"]:
        return _read_csv(path)
    if suffixes[-1:] in ([".parquet"], [".pq"]):
        return _read_parquet(path)
    raise AuditError(f"{path}: unknown corpus format (use .jsonl, .jsonl.gz, .csv, .parquet or a datasets folder)")


def _read_jsonl(path: Path) -> pd.DataFrame:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    rows: list[dict[str, Any]] = []
    try:
        with opener(path, "rb") as handle:
            for lineno, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise AuditError(f"{path}: line {lineno}: not valid UTF-8") from None
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise AuditError(f"{path}: line {lineno}: malformed JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise AuditError(f"{path}: line {lineno}: expected a JSON object, got {type(record).__name__}")
                rows.append(record)
    except (OSError, EOFError) as exc:
        raise AuditError(f"{path}: cannot read ({exc})") from None
    return pd.DataFrame(rows)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise AuditError(f"{path}: line {line}: not valid UTF-8") from None
    try:
        # keep_default_na=False: a text that reads "NA" or "null" is a text, not a missing value.
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise AuditError(f"{path}: malformed CSV ({str(exc).strip().splitlines()[0]})") from None
    except pd.errors.EmptyDataError:
        raise AuditError(f"{path}: the corpus is empty") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow's ArrowInvalid and friends
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AuditError(f"{path}: not a readable Parquet file ({first})") from None


def _read_dataset_dir(path: Path, split: str | None) -> pd.DataFrame:
    import datasets  # imported here: loading `datasets` costs a second and most corpora are files

    try:
        ds = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise AuditError(f"{path}: not a datasets folder saved with save_to_disk ({exc})") from None
    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            if len(ds) != 1:
                raise AuditError(f"{path}: several splits ({', '.join(ds)}); name one with split=")
            split = next(iter(ds))
        if split not in ds:
            raise AuditError(f"{path}: no split '{split}' (splits: {', '.join(ds)})")
        ds = ds[split]
    return ds.to_pandas()


def _read_hub_dataset(name: str, split: str | None) -> pd.DataFrame:
    import datasets

    try:
        ds = datasets.load_dataset(name, split=split or "train")
    except Exception as exc:  # offline, unknown name, gated...: one line, never a traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AuditError(f"{name}: not a local file and could not be loaded as a datasets name ({first})") from None
    return ds.to_pandas()


def _validate_texts(texts: pd.Series, name: str) -> pd.Series:
    bad = texts.isna() | ~texts.map(lambda t: isinstance(t, str))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise AuditError(f"{name}: row {row + 1}: text is missing or not a string ({plain(texts.iloc[row])!r})")
    return texts


def label_value(value: Any) -> int | None:
    """A membership label as 0/1: 0/1, true/false, yes/no or member/non-member (any case); None otherwise. The
    corpus and the scores table read labels alike."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return int(value)
    if isinstance(value, (float, np.floating)) and value in (0.0, 1.0):
        return int(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return 1
        if low in _FALSE:
            return 0
    return None


def _parse_labels(labels: pd.Series, name: str, column: str) -> pd.Series:
    parsed = labels.map(label_value)
    bad = parsed.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise AuditError(f"{name}: row {row + 1}: '{column}' must be 0/1, true/false, yes/no or member/non-member, got {plain(labels.iloc[row])!r}")
    return parsed.astype("int64")


def _dedupe(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Drop exact repeats (same id, text, label); refuse an id shared by different texts or labels, and a
    text labelled both member and non-member (one of the two labels is wrong)."""
    key = ["id", "text"] + (["member"] if "member" in df.columns else [])
    df = df.drop_duplicates(subset=key)
    dup = df["id"].duplicated(keep=False)
    if dup.any():
        first = df.loc[dup, "id"].iloc[0]
        rows = " and ".join(str(i + 1) for i in df.index[df["id"] == first][:2])
        n = int(df.loc[dup, "id"].nunique())
        raise AuditError(f"{name}: rows {rows}: id '{first}' is used by different texts or labels ({n} such ids)")
    if "member" in df.columns:
        both = df.groupby("text", sort=False)["member"].transform("nunique") > 1
        if both.any():
            text = df.loc[both, "text"].iloc[0]
            clash = df[both & (df["text"] == text)]
            rows = " and ".join(f"{i + 1} (id {ident})" for i, ident in zip(clash.index[:2], clash["id"][:2]))
            raise AuditError(f"{name}: rows {rows}: the same text is labelled member and non-member "
                             f"({int(df.loc[both, 'text'].nunique())} such texts); fix the labels or drop one")
    return df
