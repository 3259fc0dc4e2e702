"""Where an estimate came from: package versions, a SHA-256 of every input table, the audited model's
fingerprint and the hash of the options, so that any number in estimates.json can be traced and reproduced."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from typing import Any

import pandas as pd

PACKAGES = ("llm-audit", "numpy", "pandas", "scikit-learn", "scipy", "joblib")


def table_sha256(df: pd.DataFrame) -> str:
    """SHA-256 of a table's content: column names, dtypes and every value, row order included (pandas' stable
    per-row hash, so the same table read from Parquet or CSV hashes alike when the dtypes agree)."""
    h = hashlib.sha256()
    h.update(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode("utf-8"))
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def provenance(tables: dict[str, pd.DataFrame], *, model: Any = None, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``provenance`` block of estimates.json."""
    canonical = json.dumps(config or {}, sort_keys=True, separators=(",", ":"), default=str)
    return {
        "versions": versions(),
        "inputs": {name: {"sha256": table_sha256(df), "rows": int(len(df))} for name, df in tables.items()},
        "model": model if isinstance(model, dict) else None,
        "config_sha256": hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
    }
