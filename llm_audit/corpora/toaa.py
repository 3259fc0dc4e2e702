"""TOAA canaries (Bordt and Pawelczyk 2025, "Train Once, Answer All"): member / non-member sequences of the
OLMo-2-179M experiment model and its reference model, as a corpus for the `paired` regime (docs/paired.md).

The dataset card of ``sbordt/TOAA-Membership-Inference`` describes: members were inserted into the training
data of ``sbordt/OLMo-2-179M-Exp`` (1, 4 or 16 times, column ``duplication``) and never into that of the
reference ``sbordt/OLMo-2-179M``; non-members were inserted into neither (the pair's control texts). Each row
is a base conversation (``allenai/soda``) with a short appended suffix (the canary), given exactly as OLMo-2
tokens in ``input_ids`` (starting with the EOS id 100257 used as a document separator); ``condition`` names
the suffix type, length and duplication. Files: ``data/train-*.parquet``.

The scorer takes text, so the tokens after the leading separator are decoded with the OLMo-2 tokenizer; the
count of tokens the scorer should see is kept in ``n_input_ids`` so a run can check that re-tokenizing the
decoded text gives the same sequence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from llm_audit.errors import AuditError

TOAA_HUB = "sbordt/TOAA-Membership-Inference"
MODELS = {"target": "sbordt/OLMo-2-179M-Exp", "reference": "sbordt/OLMo-2-179M"}
TOKENIZER = "allenai/OLMo-2-0425-1B"
REQUIRED = ("condition", "membership", "duplication", "input_ids")


def _parquet_files(source: str | Path, revision: str | None) -> list[Path]:
    path = Path(source).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted((path / "data").glob("train-*.parquet")) or sorted(path.glob("train-*.parquet"))
        if not files:
            raise AuditError(f"{path}: no data/train-*.parquet (a local copy of {TOAA_HUB} is expected)")
        return files
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(str(source), repo_type="dataset", revision=revision,
                                   allow_patterns=["data/train-*.parquet"])
    except Exception as exc:  # offline or unknown repository: one line, never a traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AuditError(f"{source}: cannot download the parquet files ({first})") from None
    return _parquet_files(folder, None)


def load_toaa(source: str | Path = TOAA_HUB, tokenizer: Any = TOKENIZER, *,
              conditions: Sequence[str] | None = None, revision: str | None = None) -> pd.DataFrame:
    """The canary sequences as a corpus table: ``id``, ``text``, ``member`` (1 = inserted into the experiment
    model's training), ``condition``, ``duplication``, ``n_input_ids``.

    ``source``: the hub dataset (online), a local copy of it, or one parquet file. ``tokenizer``: the OLMo-2
    tokenizer (a loaded one, a local folder or a hub id) that decodes ``input_ids`` into text.
    ``conditions``: keep only these (e.g. ``["rare_8tok_16x"]``).
    """
    files = _parquet_files(source, revision)
    # each row's file and its row there (from 1), for errors: the files are joined and may be filtered below
    parts = [pd.read_parquet(f) for f in files]
    table = pd.concat([p.assign(_file=str(f), _row=range(1, len(p) + 1)) for f, p in zip(files, parts)],
                      ignore_index=True)
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        given = [str(c) for c in table.columns if c not in ("_file", "_row")]
        raise AuditError(f"{files[0]}: no '{missing[0]}' column (columns: {', '.join(given)})")
    if conditions is not None:
        unknown = sorted(set(conditions) - set(table["condition"]))
        if unknown:
            raise AuditError(f"TOAA: no condition {unknown[0]!r} (known: {', '.join(sorted(set(table['condition'])))})")
        table = table[table["condition"].isin(conditions)].reset_index(drop=True)
    bad = ~table["membership"].isin([0, 1])
    if bad.any():
        where = table.iloc[int(bad.to_numpy().argmax())]
        raise AuditError(f"{where['_file']}: row {where['_row']}: 'membership' must be 0 or 1")
    if isinstance(tokenizer, (str, Path)):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer))
    separator = tokenizer.eos_token_id
    texts = []
    for row, ids in enumerate(table["input_ids"]):
        ids = [int(t) for t in ids]
        if not ids:
            raise AuditError(f"{table['_file'].iloc[row]}: row {table['_row'].iloc[row]}: empty 'input_ids'")
        body = ids[1:] if ids[0] == separator else ids
        texts.append(tokenizer.decode(body))
    corpus = pd.DataFrame({
        "id": [f"{c}/{'m' if m else 'n'}{i:06d}" for i, (c, m) in enumerate(zip(table["condition"], table["membership"]))],
        "text": texts,
        "member": table["membership"].astype(int).to_numpy(),
        "condition": table["condition"].astype(str).to_numpy(),
        "duplication": table["duplication"].astype(int).to_numpy(),
        "n_input_ids": table["input_ids"].map(len).to_numpy(),
    })
    corpus.attrs["membership"] = (f"TOAA: member = inserted into {MODELS['target']}'s training; the reference "
                                  f"{MODELS['reference']} saw none of these sequences; non-members: neither model")
    return corpus
