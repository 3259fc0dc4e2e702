"""Hubble (Wei et al. 2025, "Hubble: a Model Suite to Advance the Study of LLM Memorization"): the inserted
passages of the standard / perturbed model pairs, as a corpus for the `paired` regime (docs/paired.md).

The perturbed models were trained on the standard models' corpus with perturbation texts written over
randomly chosen training sequences, each text repeated ``duplicates`` times (0, 1, 4, 16, 64 or 256); the
standard models never saw them. Texts with ``duplicates`` = 0 were drawn from the same sources but not
inserted: neither model saw them (the pair's control texts).

Files (read here as the Hubble evaluation tasks read them): on the hub, dataset ``allegrolab/<name>`` holds
``<name>_nodup.jsonl.gz``, one JSON object per unique text with ``text`` (the passage as inserted) and
``meta`` (a JSON object, or a JSON string of one, with ``duplicates``). Only the passage datasets are
loaded, whose ``text`` is the inserted text itself; the biography, chat and test-set datasets were inserted
in task-specific formats.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from llm_audit.errors import AuditError

HUBBLE_OWNER = "allegrolab"
PASSAGES = ("passages_wikipedia", "passages_gutenberg_popular", "passages_gutenberg_unpopular")
# The released 1B / 8B models at the end of training, as the Hubble README pins them: step48000 for the
# 100B-token models, step238500 for the 500B-token ones.
MODELS_100B = {"perturbed": "allegrolab/hubble-1b-100b_toks-perturbed-hf",
               "standard": "allegrolab/hubble-1b-100b_toks-standard-hf"}
FINAL_STEP_100B = "step48000"


def hubble_file(name: str) -> str:
    return f"{name}_nodup.jsonl.gz"


def _duplicates(meta: object, path: Path, lineno: int) -> int:
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError as exc:
            raise AuditError(f"{path}: line {lineno}: 'meta' is not JSON ({exc.msg})") from None
    if not isinstance(meta, dict) or "duplicates" not in meta:
        raise AuditError(f"{path}: line {lineno}: 'meta' has no 'duplicates'")
    dup = meta["duplicates"]
    if isinstance(dup, bool) or not isinstance(dup, int) or dup < 0:
        raise AuditError(f"{path}: line {lineno}: 'duplicates' must be a count >= 0, got {dup!r}")
    return dup


def read_passages(path: Path, name: str) -> pd.DataFrame:
    """One passage file as rows ``id`` (``<name>/<line>``), ``text``, ``duplicates``, ``domain`` (= name)."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AuditError(f"{path}: line {lineno}: malformed JSON ({exc.msg})") from None
            text = record.get("text") if isinstance(record, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise AuditError(f"{path}: line {lineno}: no non-empty 'text'")
            rows.append({"id": f"{name}/{lineno:06d}", "text": text,
                         "duplicates": _duplicates(record.get("meta"), path, lineno), "domain": name})
    if not rows:
        raise AuditError(f"{path}: no passage")
    return pd.DataFrame(rows)


def load_hubble(source: str | Path = HUBBLE_OWNER, datasets: Sequence[str] = PASSAGES,
                revision: str | None = None) -> pd.DataFrame:
    """The passages of ``datasets`` as a corpus table: ``id``, ``text``, ``member`` (1 = the perturbed model saw
    the text, ``duplicates`` >= 1), ``duplicates``, ``domain`` (the dataset).

    ``source``: the hub owner (online: ``<source>/<dataset>`` at ``revision``) or a local folder holding the
    ``<dataset>_nodup.jsonl.gz`` files (or uncompressed ``.jsonl``).
    """
    unknown = [d for d in datasets if d not in PASSAGES]
    if unknown:
        raise AuditError(f"Hubble: {unknown[0]!r} is not a passage dataset (known: {', '.join(PASSAGES)})")
    folder = Path(source).expanduser()
    frames = []
    for name in datasets:
        if folder.is_dir():
            path = folder / hubble_file(name)
            if not path.is_file() and (folder / hubble_file(name).removesuffix(".gz")).is_file():
                path = folder / hubble_file(name).removesuffix(".gz")
            if not path.is_file():
                raise AuditError(f"{folder}: no {hubble_file(name)} (a local copy of the Hubble passage files is expected)")
        elif folder.exists():
            raise AuditError(f"{folder}: give the folder of the passage files, not a file")
        else:
            from llm_audit.corpora.mimir import _download

            path = _download(f"{source}/{name}", hubble_file(name), revision)
        frames.append(read_passages(path, name))
    corpus = pd.concat(frames, ignore_index=True)
    corpus.insert(2, "member", (corpus["duplicates"] > 0).astype(int))
    corpus.attrs["membership"] = ("Hubble: member = inserted into the perturbed model's training (duplicates >= 1); "
                                  "the standard model saw none of these texts; duplicates = 0: neither model saw it")
    return corpus
