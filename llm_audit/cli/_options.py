"""The step commands' options, generated from the config sections (the one declaration of every option).

Each field of a section a command reads is a flag: ``--field-name``, or the field's ``flag`` where the command
line spells it otherwise (``--model`` for ``model.name``, ``--ref-model`` for ``scoring.reference_model``). A
list is comma-separated (``--scores loss,zlib``), a choice lists its values, a switch is ``--x`` / ``--no-x``;
the help is the field's documentation. Every step command also takes ``--config FILE`` (the sections it reads,
from an audit config, its paths relative to the file) and ``--set section.key=value`` (repeatable). A value
comes from, last one winning: the default, the config file, ``--set``, the flag. Then each section checks
itself, and an error names the option as it was given: ``--batch-tokens: ...``, ``--set
scoring.batch_tokens: ...``, ``run.yaml: scoring.batch_tokens: ...``.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Literal, Sequence

from llm_audit.errors import AuditError
from llm_audit.schema import coerce, flag_of


def _sections() -> dict[str, type]:
    from llm_audit.config import SECTIONS

    return SECTIONS


def _hints(section: str) -> dict[str, Any]:
    return typing.get_type_hints(_sections()[section])


def add_options(parser: argparse.ArgumentParser, sections: Sequence[str], *,
                positional: dict[str, str] | None = None) -> None:
    """Add ``--config``, ``--set`` and a flag per field of each of ``sections``. ``positional`` maps a
    ``section.key`` to the name of an optional positional argument that sets it instead of a flag."""
    positional = positional or {}
    parser.set_defaults(sections=tuple(sections))
    parser.add_argument("--config", metavar="FILE", help="read the options of this step from an audit config (YAML); "
                        "flags and --set override its values")
    parser.add_argument("--set", dest="set_options", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help=f"set one option of the {', '.join(sections)} section(s) by its config key (repeatable)")
    for section in sections:
        group = parser.add_argument_group(f"{section} options (`{section}:` in a config)")
        hints = _hints(section)
        for f in dataclasses.fields(_sections()[section]):
            key = f"{section}.{f.name}"
            help_text = _help(f, key)
            if key in positional:
                group.add_argument(positional[key], nargs="?", default=argparse.SUPPRESS, help=help_text)
            elif hints[f.name] is bool:
                group.add_argument(flag_of(f), dest=key, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                   help=help_text)
            else:
                group.add_argument(flag_of(f), dest=key, default=argparse.SUPPRESS, help=help_text,
                                   metavar=_metavar(hints[f.name], flag_of(f)), choices=_choices(hints[f.name]))


def gather(args: argparse.Namespace, sections: Sequence[str], *, positional: dict[str, str] | None = None) -> dict[str, Any]:
    """The validated section objects of ``sections`` (by name) from the defaults, ``--config``, ``--set`` and the
    flags; ``"config"`` holds the whole config read from ``--config`` (None without one), for the sections a
    command reads but does not check (the covariates step's fallback to the model's tokenizer)."""
    from llm_audit.config import load_config

    positional = positional or {}
    config = load_config(args.config, check=False) if args.config else None
    given: dict[str, dict[str, Any]] = {s: {} for s in sections}
    labels: dict[str, dict[str, str]] = {s: {} for s in sections}
    for item in args.set_options:
        section, key, value = _parse_set(item, sections)
        given[section][key] = value
        labels[section][key] = f"--set {section}.{key}"
    for dest, text in vars(args).items():
        key = next((k for k, name in positional.items() if name == dest), dest)
        if "." not in key or key.split(".", 1)[0] not in given:
            continue
        section, name = key.split(".", 1)
        f = _field(section, name)
        label = dest if key in positional else flag_of(f)
        given[section][name] = text if isinstance(text, bool) else parse_text(text, _hints(section)[name], label)
        labels[section][name] = label
    out: dict[str, Any] = {"config": config}
    for section in sections:
        base = getattr(config, section) if config is not None else _sections()[section]()
        for f in dataclasses.fields(base):
            shown = positional.get(f"{section}.{f.name}") or flag_of(f)
            labels[section].setdefault(f.name, f"{args.config}: {section}.{f.name}" if config is not None else shown)
        out[section] = base.with_(**given[section]).validate(f"{section}.", labels[section])
    return out


def parse_text(text: str, hint: Any, label: str) -> Any:
    """A command-line value as type ``hint``: a list is comma-separated; ``null`` is None where None is allowed;
    ``AuditError`` naming ``label`` otherwise (the same checks as a config file's values)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.strip().lower() in ("null", "none", "~"):
            return None
        hint = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        items = [item.strip() for item in text.split(",") if item.strip()]
        return [coerce(_scalar(item, args[0]), args[0], f"{label}[{i}]") for i, item in enumerate(items)]
    return coerce(_scalar(text, hint), hint, label)


def _scalar(text: str, hint: Any) -> Any:
    """``text`` as the scalar ``hint`` wants, or the text itself when it is not one (``coerce`` then says so)."""
    try:
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
    except ValueError:
        return text
    if hint is bool:
        return {"true": True, "yes": True, "on": True, "1": True,
                "false": False, "no": False, "off": False, "0": False}.get(text.strip().lower(), text)
    return text


def _parse_set(item: str, sections: Sequence[str]) -> tuple[str, str, Any]:
    key, sep, value = item.partition("=")
    key = key.strip()
    section, _, name = key.partition(".")
    if not sep or not name:
        raise AuditError(f"--set {item}: expected SECTION.KEY=VALUE, e.g. scoring.batch_tokens=4096")
    if section not in sections:
        raise AuditError(f"--set {key}: this command reads the {', '.join(sections)} section(s), not `{section}`")
    known = [f.name for f in dataclasses.fields(_sections()[section])]
    if name not in known:
        raise AuditError(f"--set {key}: unknown key (known in {section}: {', '.join(known)})")
    return section, name, parse_text(value, _hints(section)[name], f"--set {key}")


def _field(section: str, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(_sections()[section]) if f.name == name)


def _help(f: dataclasses.Field, key: str) -> str:
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default  # type: ignore[misc]
    if isinstance(default, list):
        shown = ",".join(map(str, default))
    elif isinstance(default, bool):
        shown = "on" if default else "off"
    else:
        shown = "none" if default is None else str(default)
    return f"{f.metadata.get('doc', '')} [{key}; default: {shown}]".replace("%", "%%")


def _choices(hint: Any) -> list[Any] | None:
    inner = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_origin(hint) in (
        typing.Union, types.UnionType) else [hint]
    return list(typing.get_args(inner[0])) if typing.get_origin(inner[0]) is Literal else None


def _metavar(hint: Any, flag: str) -> str | None:
    if _choices(hint) is not None:
        return None  # argparse shows the choices
    name = flag.lstrip("-").replace("-", "_").upper()
    return f"{name},..." if typing.get_origin(hint) is list else name


def apply_sets(config: Any, items: Sequence[str], source: str) -> Any:
    """The whole ``config`` (read with ``check=False``) with the ``--set`` values applied, then validated; a path
    given with ``--set`` is read from the working folder."""
    from pathlib import Path

    from llm_audit.config import validate
    from llm_audit.schema import resolve_paths

    labels: dict[str, dict[str, str]] = {}
    for item in items:
        section, key, value = _parse_set(item, list(_sections()))
        setattr(getattr(config, section), key, value)
        labels.setdefault(section, {})[key] = f"--set {section}.{key}"
    validate(config, source, labels)
    for section in labels:
        resolve_paths(getattr(config, section), Path.cwd(), f"--set {section}.")
    return config
