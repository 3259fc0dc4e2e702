"""The audit config: one YAML file naming the corpus, the model and every option of the four steps.

Each section is declared beside its step, with its types, defaults and checks (``corpus.CorpusConfig``,
``scoring.options.ModelConfig`` and ``ScoringConfig``, ``covariates.options.CovariatesConfig``,
``estimate.options.EstimateConfig``, ``report.options.ReportConfig``); this module composes them into the
``AuditConfig`` of one run, reads it from YAML, resolves its paths, hashes it and generates the README's
config reference (``config_reference()``). A config is validated in full before any work starts: an unknown
key, a wrong type or a missing corpus file is one ``AuditError`` naming the file and the key path
(``config.yaml: scoring.batch_tokens: must be a positive integer, got -4``).

Relative paths in a config file are resolved against the file's folder, so a config means the same thing
from any working directory; ``config_hash`` is taken over the resolved config.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_audit.corpus import CorpusConfig
from llm_audit.covariates.options import CovariatesConfig
from llm_audit.errors import AuditError
from llm_audit.estimate.options import EstimateConfig
from llm_audit.report.options import ReportConfig
from llm_audit.schema import build, option, resolve_paths
from llm_audit.scoring.options import ModelConfig, ScoringConfig

RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

# Keys of earlier versions, and what replaced them (an unknown key says so instead of only "unknown").
REPLACED = {"scoring.lowercase": "name the attack in `scoring.scores` instead: [..., lowercase]"}


@dataclass
class AuditConfig:
    name: str = option("run name: the run folder is `<runs_dir>/<name>` (letters, digits, `.`, `_`, `-`)", default="")
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    covariates: CovariatesConfig = field(default_factory=CovariatesConfig)
    estimate: EstimateConfig = field(default_factory=EstimateConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    def hash(self) -> str:
        return config_hash(self)


def config_hash(config: AuditConfig) -> str:
    """SHA-256 of the canonical JSON of the resolved config: equal configs, equal hashes, in any key order."""
    canonical = json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# The sections of a config, by key: each a ``schema.Section`` that checks itself.
SECTIONS: dict[str, type] = {k: v for k, v in typing.get_type_hints(AuditConfig).items() if k != "name"}


def load_config(path: str | Path, *, check: bool = True) -> AuditConfig:
    """Read, resolve and (unless ``check`` is false: a step command checks the sections it uses itself)
    validate a YAML config file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise AuditError(f"{path}: no such config file")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_unique_key_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise AuditError(f"{path}: {where}not valid YAML ({problem})") from None
    except UnicodeDecodeError:
        raise AuditError(f"{path}: not valid UTF-8") from None
    return config_from_dict(data if data is not None else {}, source=path.name, base_dir=path.parent, check=check)


def _unique_key_loader() -> type:
    """PyYAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last silently, so a
    second `estimate:` section would replace the first without a word)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: list = []
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` merges; its keys may be overridden
                continue
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:  # a list, not a set: a complex key is unhashable
                raise yaml.constructor.ConstructorError(None, None, f"key '{key}' given twice", key_node.start_mark)
            seen.append(key)
        return loader.construct_mapping(node, deep)

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return UniqueKeyLoader


def config_from_dict(data: Any, *, source: str = "config", base_dir: str | Path | None = None,
                     check: bool = True) -> AuditConfig:
    """Build a validated config from plain data (parsed YAML, or a dict built in code).

    Relative corpus/model/cache paths are resolved against ``base_dir`` (the config file's folder) when
    the file exists there; a model name that is not a local path is kept as a hub id.
    """
    if isinstance(data, dict):
        for section, value in data.items():
            for key in value if isinstance(value, dict) else ():
                if f"{section}.{key}" in REPLACED:
                    raise AuditError(f"{source}: {section}.{key}: no longer a key: {REPLACED[f'{section}.{key}']}")
    config = build(AuditConfig, data, f"{source}: ")
    if check:
        validate(config, source)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    for name in SECTIONS:
        resolve_paths(getattr(config, name), base, f"{source}: {name}.")
    return config


def validate(config: AuditConfig, source: str, labels: dict[str, dict[str, str]] | None = None) -> None:
    """Every check of a whole config: the run name, then each section's own (``labels``: per section, how the
    user gave a key other than in the file, e.g. ``--set scoring.k``)."""
    if not config.name:
        raise AuditError(f"{source}: name: required (the run folder's name)")
    if not RUN_NAME.match(config.name) or ".." in config.name:
        raise AuditError(f"{source}: name: must be letters, digits, '.', '_' or '-' (no '/' or '..'), got {config.name!r}")
    for name in SECTIONS:
        getattr(config, name).validate(f"{source}: {name}.", (labels or {}).get(name))


# --- the reference of every key (README) and a config listing every key (configs/example.yaml) -----------


def _keys() -> list[tuple[str, str, dataclasses.Field]]:
    """(section or "", key, field) of every config key, in declaration order."""
    out = [("", "name", next(f for f in dataclasses.fields(AuditConfig) if f.name == "name"))]
    for section, cls in SECTIONS.items():
        out += [(section, f.name, f) for f in dataclasses.fields(cls)]
    return out


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default  # type: ignore[misc]


def config_reference() -> str:
    """A Markdown table of every config key, its default and its meaning."""
    lines = ["| key | default | meaning |", "| --- | --- | --- |"]
    for section, key, f in _keys():
        path = f"{section}.{key}" if section else key
        default = _default(f)
        shown = json.dumps(default) if default not in ("", None) else (
            "(required)" if path in ("name", "model.name") else "null")
        lines.append(f"| `{path}` | `{shown}` | {f.metadata.get('doc', '')} |")
    return "\n".join(lines)


def config_example(data: dict[str, Any], header: str) -> str:
    """A config file listing every key: the values ``data`` gives (plain data, as YAML reads them), the
    default elsewhere, each key with its documentation, and the default where the value differs from it."""
    lines = [header.rstrip("\n"), ""]
    for section, key, f in _keys():
        if section and key == dataclasses.fields(SECTIONS[section])[0].name:
            lines.append(f"{section}:")
        given = (data.get(section) or {}) if section else data
        default = _default(f)
        value = given.get(key, default)
        note = f" (default: {json.dumps(default)})" if value != default and default != "" else ""
        lines.append(f"{'  ' if section else ''}{key}: {json.dumps(value)}    # {f.metadata.get('doc', '')}{note}")
    return "\n".join(lines) + "\n"
