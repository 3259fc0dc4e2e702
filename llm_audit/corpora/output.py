"""Writing a built corpus as JSON Lines that `load_corpus` reads back unchanged."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pandas as pd

from llm_audit.errors import plain
from llm_audit.tables import atomic_open


def write_jsonl(corpus: pd.DataFrame, path: str | Path, *, overwrite: bool = True) -> Path:
    """Write one JSON object per row (gzip when the name ends in .gz), atomically."""
    path = Path(path)
    lines = []
    for record in corpus.to_dict(orient="records"):
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}
        lines.append(json.dumps(clean, ensure_ascii=False, default=_json_value))
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)  # mtime=0: the same corpus gives the same bytes
    with atomic_open(path, "wb", overwrite=overwrite) as handle:
        handle.write(data)
    return path


def _json_value(value: object) -> object:
    """What ``json`` cannot write itself: a numpy scalar as its Python value, anything else as its text."""
    held = plain(value)
    return held if held is not value else str(value)
