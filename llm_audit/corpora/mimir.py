"""MIMIR (Duan et al. 2024, `iamgroot42/mimir`): member / non-member texts for models trained on the Pile.

Files on the hub: ``cache_100_200_1000_512/train/<subset>_<split>.jsonl`` (members: the Pile's training
set) and ``.../test/<subset>_<split>.jsonl`` (non-members: the Pile's test set, or for `temporal_arxiv`
arXiv papers of a month after the Pile was built), one JSON string per line. `load_dataset` of that repo
needs its loading script, which recent `datasets` releases no longer run, so the files are read directly.

Membership: Pile subsets: train vs test split of the same source (close to random, the n-gram filter
aside); `temporal_arxiv` / `temporal_wiki`: by date, so the date is expected to separate the arms.

Dates: `date` is the latest year mentioned in the text, for both arms alike (the running variable of the
cutoff design). The non-members' month is known (`month`: the split's, e.g. 2021-06) but the members' is
not (the Pile's arXiv carries no dates): dating one arm by month and the other from its text would measure
the two sides of the cutoff differently, and the missing month alone would reveal membership.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from llm_audit.covariates.date import latest_year_in_text
from llm_audit.errors import AuditError

MIMIR_HUB = "iamgroot42/mimir"
PILE_SUBSETS = ("arxiv", "dm_mathematics", "github", "hackernews", "pile_cc", "pubmed_central", "wikipedia_(en)")
NGRAM_SPLITS = ("ngram_7_0.2", "ngram_13_0.2", "ngram_13_0.8")
TEMPORAL_ARXIV_MONTHS = ("2020_08", "2021_01", "2021_06", "2022_01", "2022_06", "2023_01", "2023_06")
SPLITS = {
    **{s: NGRAM_SPLITS for s in PILE_SUBSETS},
    "full_pile": ("none",),
    "c4": ("none",),
    "temporal_arxiv": TEMPORAL_ARXIV_MONTHS,
    "temporal_wiki": ("none",),
}


def mimir_files(subset: str, split: str) -> tuple[str, str]:
    """The member and non-member file paths of ``subset``/``split`` inside the MIMIR repository."""
    if subset not in SPLITS:
        raise AuditError(f"MIMIR: unknown subset {subset!r} (known: {', '.join(SPLITS)})")
    if split not in SPLITS[subset]:
        raise AuditError(f"MIMIR: subset {subset} has no split {split!r} (known: {', '.join(SPLITS[subset])})")
    parent = "cache_100_200_10000_512" if subset == "full_pile" else "cache_100_200_1000_512"
    name = subset if split == "none" else f"{subset}_{split}"
    return f"{parent}/train/{name}.jsonl", f"{parent}/test/{name}.jsonl"


def load_mimir(source: str | Path = MIMIR_HUB, subset: str = "pile_cc", split: str = "ngram_13_0.8",
               revision: str | None = None) -> pd.DataFrame:
    """A MIMIR subset/split as a corpus table: id, text, member, domain (the subset), date (the latest year
    in the text), month (the non-members' month, temporal_arxiv only).

    ``source``: the hub id (online; the dataset is gated: accept its terms and log in first), or a local
    copy of the repository (a folder holding ``cache_100_200_1000_512/...``).
    """
    member_file, nonmember_file = mimir_files(subset, split)
    path = Path(source).expanduser()
    if path.is_dir():
        files = [path / member_file, path / nonmember_file]
        for f in files:
            if not f.is_file():
                raise AuditError(f"{path}: no {f.relative_to(path)} (a local copy of {MIMIR_HUB} is expected)")
    elif path.exists():
        raise AuditError(f"{path}: give the folder of a local MIMIR copy, not a file")
    else:
        files = [_download(str(source), f, revision) for f in (member_file, nonmember_file)]
    month = split.replace("_", "-") if subset == "temporal_arxiv" else None
    parts = []
    for label, f in zip((1, 0), files):
        texts = _read_strings(f)
        arm = "m" if label else "n"
        parts.append(pd.DataFrame({
            "id": [f"{subset}/{split}/{arm}{i:05d}" for i in range(len(texts))],
            "text": texts,
            "member": label,
            "domain": subset,
            "date": [latest_year_in_text(t) for t in texts],
            # Only the non-members' month is known (members: the Pile's arXiv, before 2020-08).
            "month": None if label else month,
        }))
    corpus = pd.concat(parts, ignore_index=True)
    corpus.attrs["membership"] = f"MIMIR {subset}/{split}: member = the Pile's train split, non-member = its test split" + (
        f" (arXiv papers of {month})" if month else "")
    return corpus


def _read_strings(path: Path) -> list[str]:
    texts = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AuditError(f"{path}: line {lineno}: malformed JSON ({exc.msg})") from None
            if not isinstance(value, str):
                raise AuditError(f"{path}: line {lineno}: expected a JSON string (one text per line), got {type(value).__name__}")
            if not value.strip():
                raise AuditError(f"{path}: line {lineno}: empty text")
            texts.append(value)
    if not texts:
        raise AuditError(f"{path}: no text")
    return texts


def _download(repo: str, filename: str, revision: str | None) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo, filename, repo_type="dataset", revision=revision))
    except Exception as exc:  # offline, gated, unknown file: one line, never a traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AuditError(f"{repo}: cannot download {filename} ({first})") from None
