"""WikiMIA (Shi et al. 2023, `swj0419/WikiMIA`): Wikipedia event snippets, fields `input` and `label`.

Membership is defined by date: members (label 1) describe events before 2017, so their pages predate the
models' training data; non-members (label 0) describe events from 2023 on. The dataset has no date field:
the loader's `date` column is the latest year mentioned in the snippet (the event's year, or later; null
when no year is written), the same value the `date` covariate extractor computes, so both arms are dated
alike. It is the running variable of the cutoff design; the benchmark is known to be largely separable
from such surface features (blind baselines).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from llm_audit.corpus import load_corpus
from llm_audit.covariates.date import latest_year_in_text
from llm_audit.errors import AuditError

WIKIMIA_HUB = "swj0419/WikiMIA"
LENGTHS = (32, 64, 128, 256)


def split_name(length: int) -> str:
    if length not in LENGTHS:
        raise AuditError(f"WikiMIA: length must be one of {', '.join(map(str, LENGTHS))}, got {length!r}")
    return f"WikiMIA_length{length}"


def load_wikimia(source: str | Path = WIKIMIA_HUB, length: int = 64) -> pd.DataFrame:
    """A WikiMIA split as a corpus table (id, text, member, date: the latest year in the text).

    ``source``: the hub id (online), a `save_to_disk` folder, a file of one split, or a local copy of the
    hub repository (a folder holding ``WikiMIA_length64*.parquet`` or ``WikiMIA_length64.jsonl``).
    """
    split = split_name(length)
    path = Path(source).expanduser()
    columns = {"text_column": "input", "label_column": "label", "require_labels": True}
    if path.is_dir() and not (path / "dataset_dict.json").exists() and not (path / "state.json").exists():
        found = sorted(p for p in path.rglob(f"{split}*") if p.suffix in (".parquet", ".jsonl") and p.is_file())
        exact = [p for p in found if p.stem == split or p.name.startswith(f"{split}-")]
        if not exact:
            raise AuditError(f"{path}: no file of split {split} (WikiMIA_length{length}.jsonl or {split}-*.parquet)")
        from llm_audit.corpus import concat_corpora

        corpus = concat_corpora([load_corpus(p, **columns) for p in exact])
    elif path.exists():
        corpus = load_corpus(path, split=split if path.is_dir() else None, **columns)
    else:
        corpus = load_corpus(str(source), split=split, **columns)
    corpus["date"] = corpus["text"].map(latest_year_in_text).astype("float64")
    corpus.attrs["membership"] = "WikiMIA label: 1 = event before 2017 (member), 0 = event from 2023 on"
    return corpus
