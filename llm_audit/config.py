"""The audit config: one YAML file naming the corpus, the model and every option of the four steps.

The dataclasses below are the single place where each key, its type and its default are defined; the
README's config reference is generated from them (``config_reference()``). A config is validated in full
before any work starts: an unknown key, a wrong type or a missing corpus file is one ``AuditError`` naming
the file and the key path (``config.yaml: scoring.batch_tokens: must be a positive integer, got -4``).

Relative paths in a config file are resolved against the file's folder, so a config means the same thing
from any working directory; ``config_hash`` is taken over the resolved config.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from llm_audit.covariates import DEFAULT_EXTRACTORS, EXTRACTORS
from llm_audit.errors import AuditError
from llm_audit.estimate.options import EstimateConfig
from llm_audit.scoring.attacks import ATTACKS, DEFAULT_SCORES, SIDE_DATA, requirements, unknown_message

REGIMES = ("zero-run", "one-run", "multi-run")
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _doc(text: str, **kwargs: Any) -> Any:
    """A dataclass field carrying its one-line documentation (read by ``config_reference``)."""
    return field(metadata={"doc": text}, **kwargs)


@dataclass
class CorpusConfig:
    path: str | None = _doc("one corpus file/folder/datasets name with a membership label column", default=None)
    members: str | None = _doc("a corpus whose texts are all members (use with `nonmembers`, instead of `path`)", default=None)
    nonmembers: str | None = _doc("a corpus whose texts are all non-members", default=None)
    text_column: str = _doc("column holding the text (WikiMIA: `input`)", default="text")
    label_column: str = _doc("column holding membership 0/1 (WikiMIA: `label`)", default="member")
    id_column: str = _doc("column holding a unique id (absent: a hash of the text)", default="id")
    split: str | None = _doc("split of a `datasets` corpus", default=None)
    empty: Literal["error", "skip"] = _doc(
        "texts too short to score (empty, or fewer than 2 tokens under the model's tokenizer): `error` or `skip` them",
        default="error")


@dataclass
class ModelConfig:
    name: str | None = _doc("audited model: a local folder or a hub id (required)", default=None)
    gguf_file: str | None = _doc("a .gguf file inside `name` to load instead of safetensors", default=None)
    revision: str | None = _doc("hub revision (branch, tag or commit), e.g. Pythia's `step143000`", default=None)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _doc("`auto`: fp32 on CPU, bf16 on GPU", default="auto")
    device: str = _doc("`auto` (cuda, then mps, then cpu), `cpu`, `cuda`, `cuda:1`, `mps`", default="auto")
    device_map: Literal["auto", "balanced", "balanced_low_0", "sequential"] | None = _doc(
        "spread a model too large for one GPU over all GPUs, then CPU, then `offload_folder` (null: whole model on "
        "`device`; one process only)", default=None)
    offload_folder: str | None = _doc("folder for the weights `device_map` offloads to disk", default=None)
    trust_remote_code: bool = _doc("run the model repository's own code (only for repositories you trust)", default=False)
    allow_pickle: bool = _doc("allow loading .bin/pickle weights (can execute code); default: safetensors only", default=False)


@dataclass
class ScoringConfig:
    scores: list[str] = _doc(
        "score families: loss, zlib, mink, minkpp, lowercase (second pass), ref (needs `reference_model`), "
        "recall (needs `recall_prefix`), dcpdd (needs `dcpdd_reference`)",
        default_factory=lambda: list(DEFAULT_SCORES),
    )
    k: list[float] = _doc("k grid of Min-K% and Min-K%++ (columns `mink_0.2`, ...)", default_factory=lambda: [0.1, 0.2, 0.5])
    max_tokens: int | None = _doc("truncate texts to this many tokens (null: score all with a sliding window)", default=None)
    stride: int | None = _doc("sliding-window stride for texts longer than the context (null: half the context)", default=None)
    context: int | None = _doc("window length in tokens (null: the model's context)", default=None)
    batch_tokens: int | None = _doc("token budget of one batch (padded length x texts; null: 2048 on a CPU, 8192 "
                                    "on a GPU)", default=None)
    lowercase: bool = _doc("also compute the `lowercase` score (a second forward pass)", default=False)
    reference_model: str | None = _doc("a second model (local folder or hub id) for the `ref` score", default=None)
    recall_prefix: str | None = _doc("corpus file of known non-member texts, concatenated into the ReCaLL prefix (adds `recall`, a second pass)", default=None)
    dcpdd_reference: str | None = _doc("local reference corpus file for DC-PDD's token frequencies (adds `dcpdd`)", default=None)
    dcpdd_clip: float = _doc("DC-PDD's clip `a` of each token's p * log(1/f)", default=0.01)
    cache_dir: str | None = _doc("score cache folder (null: `<runs_dir>/.score_cache`)", default=None)


@dataclass
class CovariatesConfig:
    extractors: list[str] = _doc(
        "covariate extractors: length (chars, words, tokens), date, domain, lexical, tfidf, ref_loss",
        default_factory=lambda: list(DEFAULT_EXTRACTORS),
    )
    tokenizer: str | None = _doc("tokenizer for the `n_tokens` covariate (null: the audited model's)", default=None)
    date_column: str | None = _doc("metadata column with dates (null: `date`/`year`/... if present, else years in the text)", default=None)
    domain_column: str | None = _doc("metadata column with the domain/source (null: `domain`/`source` if present)", default=None)
    tfidf_k: int = _doc("dimensions of the TF-IDF -> SVD text projection", default=32)
    reference_scores: str | None = _doc("scores table of an independent reference model (for `ref_loss`)", default=None)


@dataclass
class ReportConfig:
    formats: list[str] = _doc("report files to write: md, html", default_factory=lambda: ["md", "html"])


@dataclass
class AuditConfig:
    name: str = _doc("run name: the run folder is `<runs_dir>/<name>` (letters, digits, `.`, `_`, `-`)", default="")
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


def load_config(path: str | Path) -> AuditConfig:
    """Read, validate and resolve a YAML config file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise AuditError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise AuditError(f"{path}: {where}not valid YAML ({problem})") from None
    except UnicodeDecodeError:
        raise AuditError(f"{path}: not valid UTF-8") from None
    return config_from_dict(data if data is not None else {}, source=path.name, base_dir=path.parent)


def config_from_dict(data: Any, *, source: str = "config", base_dir: str | Path | None = None) -> AuditConfig:
    """Build a validated config from plain data (parsed YAML, or a dict built in code).

    Relative corpus/model/cache paths are resolved against ``base_dir`` (the config file's folder) when
    the file exists there; a model name that is not a local path is kept as a hub id.
    """
    config = _build(AuditConfig, data, source, "")
    _check(config, source)
    _resolve_paths(config, Path(base_dir) if base_dir is not None else Path.cwd(), source)
    return config


# --- building from plain data: types checked against the dataclass annotations ---------------------


def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        where = prefix.rstrip(".") or "top level"
        raise AuditError(f"{source}: {where}: must be a mapping of keys, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            hint = f" (known: {', '.join(sorted(names))})"
            raise AuditError(f"{source}: {prefix}{key}: unknown key{hint}")
    values = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            values[key] = _build(hint, value if value is not None else {}, source, f"{prefix}{key}.")
        else:
            values[key] = _coerce(value, hint, source, f"{prefix}{key}")
    return cls(**values)


def _coerce(value: Any, hint: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], source, key)
    if origin is Literal:
        if value not in args:
            raise AuditError(f"{source}: {key}: must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin is list:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]  # a single item where a list is expected: `scores: loss`
        if not isinstance(value, list):
            raise AuditError(f"{source}: {key}: must be a list, got {_kind(value)}")
        return [_coerce(v, args[0], source, f"{key}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise AuditError(f"{source}: {key}: must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise AuditError(f"{source}: {key}: must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise AuditError(f"{source}: {key}: must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if isinstance(value, datetime.date):  # YAML reads an unquoted 2024-11-01 as a date
            return value.isoformat()
        if isinstance(value, (int, float)) and not isinstance(value, bool):  # a year: `cutoff: 2020`
            return str(value)
        if not isinstance(value, str):
            raise AuditError(f"{source}: {key}: must be a string, got {value!r}")
        return value
    raise TypeError(f"config type {hint!r} has no validator")  # a programming error, not a user one


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


# --- checks of values: ranges, choices, combinations -----------------------------------------------


def _check(c: AuditConfig, source: str) -> None:
    def fail(key: str, msg: str) -> None:
        raise AuditError(f"{source}: {key}: {msg}")

    if not c.name:
        fail("name", "required (the run folder's name)")
    if not RUN_NAME.match(c.name) or ".." in c.name:
        fail("name", f"must be letters, digits, '.', '_' or '-' (no '/' or '..'), got {c.name!r}")

    k = c.corpus
    if k.path is None and (k.members is None or k.nonmembers is None):
        if k.members is not None or k.nonmembers is not None:
            fail("corpus", "`members` and `nonmembers` must be given together")
        fail("corpus.path", "required (or `members` and `nonmembers`)")
    if k.path is not None and (k.members is not None or k.nonmembers is not None):
        fail("corpus", "give either `path` or `members` + `nonmembers`, not both")

    if not c.model.name:
        fail("model.name", "required (a local model folder or a hub id)")
    if c.model.device_map is not None and c.model.device != "auto":
        fail("model.device", f"leave at auto with device_map (the map places the model), got {c.model.device!r}")
    if c.model.offload_folder is not None and c.model.device_map is None:
        fail("model.offload_folder", "only with device_map")

    s = c.scoring
    if not s.scores:
        fail("scoring.scores", f"must name at least one score (known: {', '.join(ATTACKS)})")
    for i, name in enumerate(s.scores):
        if name not in ATTACKS:
            fail(f"scoring.scores[{i}]", unknown_message(name))
        for need in requirements(name):
            if not getattr(s, SIDE_DATA[need].config_key):
                fail(f"scoring.{SIDE_DATA[need].config_key}", f"required by the `{name}` score")
    if not s.dcpdd_clip > 0:
        fail("scoring.dcpdd_clip", f"must be positive, got {s.dcpdd_clip}")
    for i, kk in enumerate(s.k):
        if not 0 < kk <= 1:
            fail(f"scoring.k[{i}]", f"must be in (0, 1], got {kk}")
    for key, val in (("stride", s.stride), ("context", s.context), ("batch_tokens", s.batch_tokens)):
        if val is not None and val <= 0:
            fail(f"scoring.{key}", f"must be a positive integer, got {val}")
    if s.max_tokens is not None and s.max_tokens < 2:
        fail("scoring.max_tokens", f"must be at least 2 (one token to condition on, one to score), got {s.max_tokens}")

    v = c.covariates
    for i, name in enumerate(v.extractors):
        if name not in EXTRACTORS:
            fail(f"covariates.extractors[{i}]", f"unknown extractor {name!r} (known: {', '.join(EXTRACTORS)})")
    if "ref_loss" in v.extractors and not v.reference_scores:
        fail("covariates.reference_scores", "required by the `ref_loss` extractor")
    if v.tfidf_k <= 0:
        fail("covariates.tfidf_k", f"must be a positive integer, got {v.tfidf_k}")

    c.estimate.validate(f"{source}: estimate.")

    for i, fmt in enumerate(c.report.formats):
        if fmt not in ("md", "html"):
            fail(f"report.formats[{i}]", f"unknown format {fmt!r} (known: md, html)")


def _resolve_paths(c: AuditConfig, base: Path, source: str) -> None:
    for key in ("path", "members", "nonmembers"):
        value = getattr(c.corpus, key)
        if value is None:
            continue
        resolved = _local(value, base)
        if resolved is not None:
            setattr(c.corpus, key, str(resolved))
        elif _looks_like_path(value):
            raise AuditError(f"{source}: corpus.{key}: no such file: {value}")
    for section, key in ((c.model, "name"), (c.scoring, "reference_model"), (c.covariates, "tokenizer")):
        value = getattr(section, key)
        if value is None:
            continue
        resolved = _local(value, base)
        if resolved is not None:
            setattr(section, key, str(resolved))
        elif _looks_like_path(value):
            label = {"name": "model.name", "reference_model": "scoring.reference_model", "tokenizer": "covariates.tokenizer"}[key]
            raise AuditError(f"{source}: {label}: no such file or folder: {value}")
    if c.model.offload_folder is not None:  # created by the loader when it offloads
        c.model.offload_folder = str((base / Path(c.model.offload_folder).expanduser()).resolve())
    for key in ("recall_prefix", "dcpdd_reference"):
        value = getattr(c.scoring, key)
        if value is not None:
            resolved = _local(value, base)
            if resolved is None:
                raise AuditError(f"{source}: scoring.{key}: no such file: {value}")
            setattr(c.scoring, key, str(resolved))
    if c.estimate.inclusion is not None:
        resolved = _local(c.estimate.inclusion, base)
        if resolved is None:
            raise AuditError(f"{source}: estimate.inclusion: no such file: {c.estimate.inclusion}")
        c.estimate.inclusion = str(resolved)
    if c.covariates.reference_scores is not None:
        resolved = _local(c.covariates.reference_scores, base)
        if resolved is None:
            raise AuditError(f"{source}: covariates.reference_scores: no such file: {c.covariates.reference_scores}")
        c.covariates.reference_scores = str(resolved)
    if c.scoring.cache_dir is not None:
        c.scoring.cache_dir = str((base / Path(c.scoring.cache_dir).expanduser()).resolve())


def _local(value: str, base: Path) -> Path | None:
    path = Path(value).expanduser()
    candidate = path if path.is_absolute() else base / path
    return candidate.resolve() if candidate.exists() else None


def _looks_like_path(value: str) -> bool:
    """A hub id is `org/name`; anything with a file suffix, a leading `.`/`/`/`~` or deeper nesting is a path."""
    return value.startswith((".", "/", "~")) or value.count("/") > 1 or bool(re.search(r"\.(jsonl|gz|csv|parquet|pq|json|gguf)$", value))


# --- the reference of every key, for the README --------------------------------------------------


def config_reference() -> str:
    """A Markdown table of every config key, its default and its meaning."""
    lines = ["| key | default | meaning |", "| --- | --- | --- |"]
    for f in dataclasses.fields(AuditConfig):
        hint = typing.get_type_hints(AuditConfig)[f.name]
        if dataclasses.is_dataclass(hint):
            for sub in dataclasses.fields(hint):
                lines.append(_reference_row(f"{f.name}.{sub.name}", sub))
        else:
            lines.append(_reference_row(f.name, f))
    return "\n".join(lines)


def _reference_row(key: str, f: dataclasses.Field) -> str:
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default  # type: ignore[misc]
    shown = json.dumps(default) if default not in ("", None) else ("(required)" if key in ("name", "model.name") else "null")
    return f"| `{key}` | `{shown}` | {f.metadata.get('doc', '')} |"
