"""How an option is declared: a dataclass field with its one-line documentation.

The step sections (``estimate.options.EstimateConfig``, ...) are the single declaration of every option, its
type, default and check; the config file, the command line and the Python API all read them.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from llm_audit.errors import AuditError


def option(doc: str, *, flag: str | None = None, **kwargs: Any) -> Any:
    """A dataclass field carrying its documentation (``config_reference``, ``--help``) and, where the command
    line spells it differently from the field, its ``flag``."""
    metadata = {"doc": doc}
    if flag is not None:
        metadata["flag"] = flag
    return field(metadata=metadata, **kwargs)


class Checker:
    """Raises one ``AuditError`` naming the key: ``where`` is prepended (``config.yaml: estimate.`` in a config
    file, empty for a library call)."""

    def __init__(self, where: str = ""):
        self.where = where

    def fail(self, key: str, message: str) -> None:
        raise AuditError(f"{self.where}{key}: {message}")

    def require(self, condition: bool, key: str, message: str) -> None:
        if not condition:
            self.fail(key, message)
