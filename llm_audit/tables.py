"""Reading and writing the tables between pipeline steps (Parquet or CSV), atomically.

Every write goes to a temporary file in the destination folder, is flushed and fsync'd, then renamed
over the target: a crash or a full disk leaves either the old file or the new one, never half of one.

A table's ``df.attrs`` (the scores table's model fingerprint and scoring parameters, the covariates table's
notes) travel with it: inside a Parquet file (pandas keeps them in its metadata), beside a CSV file in
``<file>.meta.json``, which records the SHA-256 of the CSV it describes and is read back only with that CSV.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

import pandas as pd

from llm_audit.errors import AuditError, plain

def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it, then put it back: done once, at
    os.umask(mask)      # import, so that no other thread creates a file in between
    return mask


_UMASK = _read_umask()


def check_target(path: str | os.PathLike, *, overwrite: bool) -> Path:
    """Refuse an output that exists (unless ``overwrite``) or whose folder cannot be made.

    A missing folder is fine: ``atomic_open`` creates it when the file is written, so that a refusal later
    on leaves nothing behind. The commands call this before any work, so a refusal costs nothing;
    ``atomic_open`` calls it again at write time."""
    path = Path(path)
    if not overwrite and path.exists():
        raise AuditError(f"{path}: already exists (pass --overwrite to replace it)")
    if not overwrite and path.suffix.lower() == ".csv" and meta_path(path).exists():
        raise AuditError(f"{meta_path(path)}: already exists (it would hold {path.name}'s metadata; pass --overwrite "
                         "to replace it)")
    parent = path.parent  # Path('.') for a bare file name
    ancestor = parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise AuditError(f"{path}: {ancestor} is not a folder")
    if ancestor != parent and not os.access(ancestor, os.W_OK | os.X_OK):
        raise AuditError(f"{path}: cannot create folder {parent} (no write permission in {ancestor})")
    return path


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, overwrite: bool = True) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it onto ``path`` only on success. A missing
    folder of ``path`` is created first."""
    path = check_target(path, overwrite=overwrite)
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise AuditError(f"{path}: cannot write here ({exc.strerror})") from None
    try:
        # mkstemp creates the file private (0600); a finished output gets the permissions of any new file
        # (0666 less the umask), so that a score cache or a run folder can be shared
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise AuditError(f"{path}: write failed ({exc.strerror or exc})") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, overwrite: bool = True) -> None:
    with atomic_open(path, "w", overwrite=overwrite) as handle:
        handle.write(text)


def table_format(path: str | os.PathLike) -> str:
    """'parquet' or 'csv', from the file suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".csv":
        return "csv"
    raise AuditError(f"{path}: unknown table format '{suffix}' (use .parquet or .csv)")


def write_table(df: pd.DataFrame, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write ``df`` to ``path`` (format from the suffix), atomically, with its ``attrs``."""
    path = Path(path)
    fmt = table_format(path)
    if fmt == "parquet":
        with atomic_open(path, "wb", overwrite=overwrite) as handle:
            df.to_parquet(handle, index=False)
        return path
    data = df.to_csv(index=False).encode("utf-8")
    check_target(path, overwrite=overwrite)  # the CSV and its sidecar: a user's file at either is not replaced
    sidecar = meta_path(path)
    if df.attrs:  # first: a crash between the two writes leaves a sidecar whose hash matches no CSV
        meta = {"sha256": hashlib.sha256(data).hexdigest(), "attrs": df.attrs}
        atomic_write_text(sidecar, json.dumps(meta, indent=1, default=_json_value) + "\n")
    else:
        _unlink_quietly(str(sidecar))
    with atomic_open(path, "wb", overwrite=True) as handle:  # checked above; the sidecar beside it is now ours
        handle.write(data)
    return path


def meta_path(path: str | os.PathLike) -> Path:
    """The sidecar holding a CSV table's ``attrs``: ``<file>.meta.json``."""
    path = Path(path)
    return path.with_name(path.name + ".meta.json")


def _json_value(value: object) -> object:
    held = plain(value)  # a numpy scalar as its Python value
    if held is value:
        raise TypeError(f"table attrs: {type(value).__name__} is not JSON")
    return held


def _csv_attrs(path: Path) -> dict:
    """The attrs the sidecar of CSV ``path`` records, if the sidecar describes this very file (else none)."""
    sidecar = meta_path(path)
    if not sidecar.is_file():
        return {}
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not isinstance(meta, dict) or meta.get("sha256") != digest or not isinstance(meta.get("attrs"), dict):
        return {}  # made for another version of the table
    return meta["attrs"]


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a Parquet or CSV table with its ``attrs``, with one-line errors naming the file."""
    path = Path(path)
    if not path.exists():
        raise AuditError(f"{path}: no such file")
    fmt = table_format(path)
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        df = pd.read_csv(path, keep_default_na=True, dtype={"id": str})  # ids are labels: '00012' is not 12
        df.attrs = _csv_attrs(path)
        return df
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AuditError(f"{path}: not a readable {fmt} table ({first})") from None
    except Exception as exc:  # pyarrow raises its own types for a file that is not Parquet
        if type(exc).__module__.startswith("pyarrow"):
            first = str(exc).strip().splitlines()[0]
            raise AuditError(f"{path}: not a readable {fmt} table ({first})") from None
        raise
