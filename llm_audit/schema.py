"""How an option is declared, typed, checked and found on disk: the machinery every config section shares.

A section (``estimate.options.EstimateConfig``, ``scoring.options.ScoringConfig``, ...) is a dataclass whose
fields are declared with ``option``: its type, default, one-line documentation, the command-line flag where it
is not ``--field-name``, and, for a path, what kind of path. The section checks its values in ``check`` and
nowhere else. The config file (``llm_audit.config``), the command line (``llm_audit.cli._options``) and the
Python API all read these declarations; ``coerce`` is the one type check of a value read from YAML or ``--set``.
"""

from __future__ import annotations

import dataclasses
import datetime
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any, Literal, Mapping

from llm_audit.errors import AuditError
from llm_audit.paths import local_or_hub

# What a path option names (``option(..., path=KIND)``), and the error for one that is missing. A path read
# from a config file is resolved against the file's folder.
PATH_KINDS = {
    "file": "no such file",  # a local file that must exist
    "corpus": "no such file",  # a local corpus file or folder, or a datasets hub name
    "model": "no such file or folder",  # a local model folder or file, or a hub id
    "folder": None,  # a folder, made when needed
}


def option(doc: str, *, flag: str | None = None, path: str | None = None, **kwargs: Any) -> Any:
    """A dataclass field carrying its documentation (``config_reference``, ``--help``), the command-line
    ``flag`` where it differs from ``--field-name``, and the ``path`` kind of a path option."""
    metadata = {"doc": doc}
    if flag is not None:
        metadata["flag"] = flag
    if path is not None:
        if path not in PATH_KINDS:
            raise ValueError(f"path kind {path!r} is not one of {', '.join(PATH_KINDS)}")
        metadata["path"] = path
    return field(metadata=metadata, **kwargs)


def flag_of(f: dataclasses.Field) -> str:
    """The command-line flag of option ``f``: its ``flag``, else ``--field-name``."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


class Checker:
    """Raises one ``AuditError`` naming the key. ``labels`` maps a field to how the user gave it
    (``--batch-tokens``, ``--set scoring.batch_tokens``, ``run.yaml: scoring.batch_tokens``); any other key is
    named ``where`` + key (``config.yaml: scoring.`` in a config file, nothing in a library call)."""

    def __init__(self, where: str = "", labels: Mapping[str, str] | None = None):
        self.where = where
        self.labels = dict(labels or {})

    def name(self, key: str) -> str:
        """How a message names ``key`` (a field, an item of one: ``k[1]``, or ``""``: the section itself)."""
        if not key:
            return self.where.rstrip(". ")
        base = key.split("[", 1)[0]
        if base in self.labels:
            return self.labels[base] + key[len(base):]
        return self.where + key

    def ref(self, key: str) -> str:
        """``key`` as a message refers to another option: its name without the file (``--regime``,
        ``estimate.regime``)."""
        return self.name(key).rsplit(": ", 1)[-1]

    def fail(self, key: str, message: str) -> None:
        raise AuditError(f"{self.name(key)}: {message}")

    def require(self, condition: bool, key: str, message: str) -> None:
        if not condition:
            self.fail(key, message)


class Section:
    """Base of the config sections: each subclass is a dataclass of ``option`` fields with its own ``check``."""

    def check(self, c: Checker) -> None:
        """Every check of the section's values (ranges, choices, combinations); ``c`` names the key at fault."""

    def validate(self, where: str = "", labels: Mapping[str, str] | None = None) -> Any:
        """Check every value; ``where`` prefixes the key in the message (``labels``: see ``Checker``). Returns
        self."""
        self.check(Checker(where, labels))
        return self

    def with_(self, **changes: Any) -> Any:
        """A copy with some options changed (not validated: call ``validate``)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]


# --- typed values from plain data (YAML, --set) -------------------------------------------------------------


def build(cls: type, data: Any, label: str) -> Any:
    """An instance of dataclass ``cls`` from a mapping, every value type-checked against the annotations
    (nested dataclasses recursively). ``label`` names the mapping in errors (``config.yaml: scoring.``)."""
    if not isinstance(data, dict):
        raise AuditError(f"{label.rstrip('.: ') or 'top level'}: must be a mapping of keys, got {kind(data)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            raise AuditError(f"{label}{key}: unknown key (known: {', '.join(sorted(names))})")
    values = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            values[key] = build(hint, value if value is not None else {}, f"{label}{key}.")
        else:
            values[key] = coerce(value, hint, f"{label}{key}")
    return cls(**values)


def coerce(value: Any, hint: Any, label: str) -> Any:
    """``value`` as type ``hint`` (int, float, bool, str, Literal, list, optional), or ``AuditError`` naming
    ``label``. A single item where a list is expected is a list of one; a date or a number where a string is
    expected is its text (YAML reads ``cutoff: 2024-11-01`` as a date)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return coerce(value, [a for a in args if a is not type(None)][0], label)
    if origin is Literal:
        if value not in args:
            raise AuditError(f"{label}: must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin is list:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list):
            raise AuditError(f"{label}: must be a list, got {kind(value)}")
        return [coerce(v, args[0], f"{label}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise AuditError(f"{label}: must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise AuditError(f"{label}: must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AuditError(f"{label}: must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if isinstance(value, datetime.date):
            return value.isoformat()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise AuditError(f"{label}: must be a string, got {value!r}")
        return value
    raise TypeError(f"option type {hint!r} has no validator")  # a programming error, not a user one


def kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


# --- paths ----------------------------------------------------------------------------------------------------


def resolve_paths(section: Any, base: str | Path, label: str) -> None:
    """Make every path option of ``section`` absolute against ``base`` (a config file's folder), in place:
    a local file or folder that exists, resolved; a hub id kept; a missing one that must exist refused
    (``{label}{key}: no such file: {value}``)."""
    for f in dataclasses.fields(section):
        kind_ = f.metadata.get("path")
        value = getattr(section, f.name)
        if kind_ is None or value is None:
            continue
        if kind_ == "folder":
            setattr(section, f.name, str((Path(base) / Path(value).expanduser()).resolve()))
            continue
        missing = f"{label}{f.name}: {PATH_KINDS[kind_]}: {{name}}"
        found, local = local_or_hub(value, base=base, missing=missing)
        if local:
            setattr(section, f.name, str(Path(found).resolve()))
        elif kind_ == "file":
            raise AuditError(missing.format(name=value))
