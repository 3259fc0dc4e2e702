"""The audited model as a shared report may name it: its hub id and fingerprint, never a local path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass
class ModelLine:
    """The audited model as a shared report may name it: its id, never a local path."""

    name: str  # the hub id, or what ``shareable_name`` keeps of a local path
    local: bool
    fingerprint: str | None  # the model id: a hash of weights, dtype and tokenizer
    weights_sha256: str | None
    revision: str | None = None
    dtype: str | None = None


def model_line(fp: Any) -> ModelLine | None:
    """The model as ``provenance.model`` records it, with a local path cut to its last folder name."""
    if not isinstance(fp, dict) or not fp.get("name"):
        return None
    name = str(fp["name"])
    return ModelLine(name=shareable_name(name), local=_is_local_path(name), fingerprint=fp.get("id"), weights_sha256=fp.get("weights_sha256"),
                     revision=fp.get("revision"), dtype=fp.get("dtype"))


def shareable_name(name: str) -> str:
    """A model name fit for a shared report: a hub id as it is; a path into the Hugging Face cache as the id it
    caches (``.../models--org--name/snapshots/...`` -> ``org/name``); any other local path cut to its last
    folder name."""
    if not _is_local_path(name):
        return name
    cached = re.search(r"models--([^/\\]+?)--([^/\\]+)", name)
    if cached:
        return f"{cached.group(1)}/{cached.group(2)} (from a local cache)"
    return (name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or "model") + " (local folder)"


def _is_local_path(name: str) -> bool:
    """A hub id is ``owner/name`` (or ``name``); anything else (absolute, relative, home, Windows) is a path."""
    if name.startswith(("/", "~", ".", "\\")) or "\\" in name or ":" in name:
        return True
    return name.count("/") > 1
