"""Local path or hub id: the one rule for every name that may be either (models, tokenizers, corpora).

A Hugging Face hub id is ``name`` or ``owner/name`` (``gpt2``, ``EleutherAI/pythia-160m``, ``Qwen/Qwen2.5-0.5B``,
``swj0419/WikiMIA``). A name that exists on disk is that file or folder. A name that does not exist is taken for
a hub id unless it can only be meant as a path: it starts with ``.``, ``/`` or ``~``, it nests deeper than
``owner/name``, it ends in a file suffix, or it has no owner and ends in a dot and 2-8 letters (``corpus.jsnl``, a
mistyped suffix: hub ids without an owner, ``gpt2``, ``imdb``, have no such ending); then it is a missing file,
and the error says so at once (naming the config key) instead of after a failed download.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from llm_audit.errors import AuditError

# Suffixes of the files the tool reads; a hub id never ends in one (``Qwen2.5-0.5B``'s suffix is not a file's).
FILE_SUFFIXES = (".jsonl", ".json", ".ndjson", ".gz", ".csv", ".parquet", ".pq", ".gguf", ".safetensors", ".bin",
                 ".txt", ".yaml", ".yml")


def looks_like_path(name: str) -> bool:
    """Whether ``name`` can only be meant as a local path (see the module docstring)."""
    return (name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).suffix.lower() in FILE_SUFFIXES
            or ("/" not in name and re.fullmatch(r".+\.[A-Za-z]{2,8}", name) is not None))


def local_or_hub(name: str | Path, *, base: str | Path | None = None,
                 missing: str = "{name}: no such file or folder") -> tuple[str, bool]:
    """``(source, local)``: the local file or folder ``name`` names (relative to ``base``, by default the working
    folder; ``~`` expanded) when it exists, else ``name`` itself as a hub id. A missing name that looks like a
    path raises ``AuditError(missing.format(name=name))``."""
    text = str(name)
    path = Path(text).expanduser()
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    if path.exists():
        return str(path), True
    if looks_like_path(text):
        raise AuditError(missing.format(name=text))
    return text, False


def user_cache_dir() -> Path:
    """llm-audit's cache folder (score cache, demo models): ``$LLM_AUDIT_CACHE``, else ``llm-audit`` in
    ``$XDG_CACHE_HOME``, else in ``~/.cache``."""
    if os.environ.get("LLM_AUDIT_CACHE"):
        return Path(os.environ["LLM_AUDIT_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "llm-audit"
