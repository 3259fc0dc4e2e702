"""Per-text score cache: append-only Parquet shards under ``<root>/<key>/``, one key per group of attacks
that read the same passes.

The key hashes everything that determines the group's scores except the text itself (model fingerprints,
tokenizer, window / truncation parameters, k grid, the ReCaLL prefix's hash, the DC-PDD frequency table's
hash and clip); rows are keyed by the text's SHA-256. Each flush writes a
new shard atomically (temp file + rename) under a name unique to the process, so a run killed with -9 loses
only what it had not flushed, and several processes (ranks of one run, or two runs) can share a cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from llm_audit.errors import AuditError
from llm_audit.tables import atomic_write_text, write_table

KEY_COLUMN = "text_sha256"


def cache_key(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:24]


class ScoreCache:
    """The shards of one cache key. ``load`` reads them all; ``append`` adds one."""

    def __init__(self, root: str | os.PathLike, params: dict[str, Any]):
        self.params = params
        self.folder = Path(root).expanduser() / cache_key(params)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AuditError(f"{self.folder}: cannot create the cache folder ({exc.strerror})") from None
        described = self.folder / "key.json"
        if not described.exists():
            atomic_write_text(described, json.dumps(params, indent=2, sort_keys=True, default=str))
        self._stem = f"part-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._written = 0

    def load(self) -> pd.DataFrame:
        """Every cached row, one per text hash (index), in no particular order."""
        frames = []
        for shard in sorted(self.folder.glob("part-*.parquet")):
            try:
                frames.append(pd.read_parquet(shard))
            except FileNotFoundError:  # removed by a concurrent compaction: its rows live in the merged shard
                return self.load()
        if not frames:
            return pd.DataFrame(columns=[KEY_COLUMN]).set_index(KEY_COLUMN)
        df = pd.concat(frames, ignore_index=True).drop_duplicates(subset=KEY_COLUMN)
        return df.set_index(KEY_COLUMN)

    def append(self, rows: pd.DataFrame) -> None:
        if len(rows) == 0:
            return
        self._written += 1
        write_table(rows.reset_index(), self.folder / f"{self._stem}-{self._written:06d}.parquet")

    def compact(self) -> None:
        """Merge the shards into one (fewer files to open next time). The merged shard is written before any
        shard it replaces is removed, so a crash in between only leaves duplicates, which ``load`` drops."""
        shards = sorted(self.folder.glob("part-*.parquet"))
        if len(shards) <= 1:
            return
        try:
            frames = [pd.read_parquet(s) for s in shards]
        except FileNotFoundError:  # another process is compacting the same shards
            return
        merged = pd.concat(frames, ignore_index=True).drop_duplicates(subset=KEY_COLUMN)
        self._written += 1
        write_table(merged, self.folder / f"{self._stem}-{self._written:06d}.parquet")
        for shard in shards:
            shard.unlink(missing_ok=True)
