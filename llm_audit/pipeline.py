"""One audit, end to end: covariates -> score -> estimate -> report, into a self-describing run folder.

The covariates come before the scores: they need no model, so a bad date or domain column fails in seconds,
not after hours of scoring.

``runs/<name>/`` holds the config as run (``config.yaml``, resolved), ``run.json`` (config hash, package
version, corpus fingerprint, model fingerprint and what each step did), ``scores.parquet``,
``covariates.parquet``, ``estimates.json``, ``report.md`` and ``report.html``. A step whose outputs exist
for the same config and corpus is not redone; ``force`` redoes every step (scoring still reads the score
cache, so no text is scored twice). A run folder holding a different config is never overwritten
silently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from llm_audit import __version__, steps
from llm_audit.config import RUN_NAME, AuditConfig
from llm_audit.corpus import load_corpus_section, text_hash
from llm_audit.errors import AuditError
from llm_audit.estimate.results import Estimates
from llm_audit.steps import make_folder
from llm_audit.tables import atomic_write_text, read_table, write_table

OUTPUTS = {
    "score": ("scores.parquet",),
    "covariates": ("covariates.parquet",),
    "estimate": ("estimates.json",),
    "report": (),  # filled from the config's report formats
}
RUN_FILE = "run.json"


def run_dir_for(config: AuditConfig, runs_dir: str | os.PathLike) -> Path:
    """``<runs_dir>/<name>``, refusing any name that would land outside ``runs_dir``."""
    name = config.name
    if not RUN_NAME.match(name) or ".." in name or "/" in name or "\\" in name:
        raise AuditError(f"name: {name!r} is not a valid run name (letters, digits, '.', '_', '-')")
    base = Path(runs_dir).expanduser().resolve()
    target = (base / name).resolve()
    if target.parent != base:
        raise AuditError(f"name: {name!r} would place the run outside {base}")
    return target


def load_audit_corpus(config: AuditConfig) -> pd.DataFrame:
    """The corpus the config names, with membership labels (required: the estimate compares the arms)."""
    c = config.corpus
    corpus = load_corpus_section(c, require_labels=True)
    counts = corpus["member"].value_counts()
    for arm, label in ((1, "members"), (0, "non-members")):
        if int(counts.get(arm, 0)) == 0:
            source = c.path or (c.members if arm == 1 else c.nonmembers)
            raise AuditError(f"{source}: no {label} in the corpus: the audit compares members with non-members")
    return corpus


def corpus_fingerprint(corpus: pd.DataFrame) -> str:
    """SHA-256 over (id, member, text hash) of every row: a changed text or label is a different corpus."""
    h = hashlib.sha256()
    for ident, member, text in zip(corpus["id"], corpus["member"], corpus["text"]):
        h.update(f"{ident}\t{int(member)}\t{text_hash(text)}\n".encode("utf-8"))
    return h.hexdigest()


class Run:
    """The run folder's record (``run.json``): which config it belongs to and which steps are done."""

    def __init__(self, path: Path, record: dict[str, Any]):
        self.path = path
        self.record = record

    def save(self) -> None:
        atomic_write_text(self.path / RUN_FILE, json.dumps(self.record, indent=1, sort_keys=True) + "\n")

    def done(self, step: str, key: str, outputs: tuple[str, ...]) -> bool:
        entry = self.record["steps"].get(step) or {}
        return entry.get("key") == key and all((self.path / f).is_file() for f in outputs)

    def finish(self, step: str, key: str, **info: Any) -> None:
        self.record["steps"][step] = {"key": key, "finished": _now(), **info}
        self.save()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def recorded_config_hash(run_dir: Path) -> str | None:
    """The config hash a run folder was made with, or None when there is no readable run record."""
    try:
        return json.loads((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8")).get("config_hash")
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None


def _open_run(run_dir: Path, config: AuditConfig, force: bool) -> Run:
    record_path = run_dir / RUN_FILE
    digest = config.hash()
    if run_dir.exists():
        if not run_dir.is_dir():
            raise AuditError(f"{run_dir}: exists and is not a folder")
        if record_path.is_file():
            try:
                record = json.loads(record_path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise AuditError(f"{record_path}: unreadable run record; remove the folder or pick another name") from None
            old = record.get("config_hash")
            if old == digest:
                return Run(run_dir, record)
            if not force:
                raise AuditError(
                    f"{run_dir}: holds a run of a different config (hash {str(old)[:12]}, this config {digest[:12]}); "
                    "pick another `name`, or pass --force to replace that run")
        elif any(run_dir.iterdir()) and not force:
            raise AuditError(f"{run_dir}: exists and is not an llm-audit run folder; pick another `name` or pass --force")
    make_folder(run_dir)
    record = {"config_hash": digest, "llm_audit_version": __version__, "created": _now(), "steps": {}}
    return Run(run_dir, record)


def run_audit(
    config: AuditConfig,
    *,
    runs_dir: str | os.PathLike = "runs",
    force: bool = False,
    log: Callable[[str], None] | None = None,
    progress: bool = True,
) -> Path:
    """Run every step of ``config`` into ``<runs_dir>/<name>``; return that folder.

    Everything that can be checked before the model is loaded is checked first (the run folder, the
    corpus and its labels), so a bad input fails in a second, not after the scoring.
    """
    audit = _Audit.open(config, runs_dir, force, log or (lambda _msg: None))
    covariates = audit.step("covariates", lambda: audit.covariates(audit.corpus))
    scores = audit.step("score", lambda: audit.score(progress))
    # With corpus.empty: skip, the scorer left out the texts of fewer than 2 tokens (llm_audit.scorable, the
    # rule of the `score` and `covariates` commands too). The covariates are made again from the texts
    # scored, so that both tables on disk hold the same ids, as those two commands write them.
    if set(covariates["id"]) != set(scores["id"]):
        audit.say(f"score: {len(audit.corpus) - len(scores)} text(s) of fewer than 2 tokens left out (corpus.empty: skip)")
        audit.corpus = audit.corpus[audit.corpus["id"].isin(scores["id"])].reset_index(drop=True)
        covariates = audit.covariates(audit.corpus)
    estimates = audit.step("estimate", lambda: audit.estimate(scores, covariates))
    audit.report(estimates)
    return audit.run.path


class _Audit:
    """One run of ``run_audit``: the config, the run folder's record, the corpus, and each step's work."""

    def __init__(self, config: AuditConfig, run: Run, corpus: pd.DataFrame, key: str, reuse: bool,
                 say: Callable[[str], None]):
        self.config, self.run, self.corpus, self.key, self.reuse, self.say = config, run, corpus, key, reuse, say
        self.loaded: dict[str, Any] = {}

    @classmethod
    def open(cls, config: AuditConfig, runs_dir: str | os.PathLike, force: bool, say: Callable[[str], None]) -> "_Audit":
        """Check what can be checked without a model, open (or make) the run folder, record the config."""
        run_dir = run_dir_for(config, runs_dir)
        corpus = load_audit_corpus(config)
        if config.estimate.regime in ("multi-run", "paired"):
            raise AuditError(f"estimate.regime: {config.estimate.regime} needs the scores of several models; score "
                             f"each with `llm-audit score` and use `llm-audit estimate --regime {config.estimate.regime}`")
        if config.estimate.inclusion:  # a bad inclusion table fails now, not after the scoring
            from llm_audit.estimate.regimes import inclusion_probabilities

            inclusion_probabilities(read_table(config.estimate.inclusion), str(config.estimate.inclusion))
        run = _open_run(run_dir, config, force)
        fingerprint = corpus_fingerprint(corpus)
        digest = config.hash()
        run.record.update({"config_hash": digest, "llm_audit_version": __version__, "corpus_fingerprint": fingerprint,
                           "n_texts": int(len(corpus)), "n_members": int(corpus["member"].sum())})
        atomic_write_text(run_dir / "config.yaml", _config_header(config, digest) + config.to_yaml())
        run.save()
        # A step is reused only for the same config and the same corpus content; --force redoes every step.
        key = hashlib.sha256(f"{digest}:{fingerprint}".encode()).hexdigest()
        return cls(config, run, corpus, key, not force, say)

    def step(self, name: str, compute: Callable[[], Any]) -> Any:
        """The step's output: read back when it is done for this config and corpus, else computed."""
        output = OUTPUTS[name][0]
        if self.reuse and self.run.done(name, self.key, OUTPUTS[name]):
            self.say(f"{name}: done before, reused ({output})")
            path = self.run.path / output
            return Estimates.load(path) if output.endswith(".json") else read_table(path)
        return compute()

    def covariates(self, corpus: pd.DataFrame) -> pd.DataFrame:
        t0 = time.perf_counter()
        options = self.config.covariates
        tokenizer = (self.loaded["model"].tokenizer if "model" in self.loaded and options.tokenizer is None
                     else steps.covariates_tokenizer(options, self.config.model))
        table = steps.covariates(corpus, options, tokenizer=tokenizer)
        write_table(table, self.run.path / "covariates.parquet")
        self.run.finish("covariates", self.key, columns=[c for c in table.columns if c != "id"],
                        notes=list(table.attrs.get("notes", [])), seconds=round(time.perf_counter() - t0, 2))
        self.say(f"covariates: {table.shape[1] - 1} columns")
        return table

    def score(self, progress: bool) -> pd.DataFrame:
        t0 = time.perf_counter()
        c = self.config
        scores = steps.score(self.corpus, c.model, c.scoring, c.corpus, skip_hint="corpus.empty: skip",
                             progress=progress, loaded=self.loaded)
        write_table(scores, self.run.path / "scores.parquet")
        n_new = int(scores.attrs.get("n_computed", len(scores)))
        self.run.record["model_fingerprint"] = scores.attrs.get("model")
        self.run.finish("score", self.key, texts=int(len(scores)), texts_scored=n_new,
                        seconds=round(time.perf_counter() - t0, 2))
        self.say(f"score: {len(scores)} texts ({n_new} scored, {len(scores) - n_new} from the cache)")
        return scores

    def estimate(self, scores: pd.DataFrame, covariates: pd.DataFrame) -> Estimates:
        t0 = time.perf_counter()
        estimates = steps.estimate(scores, covariates, self.config.estimate)
        estimates.save(self.run.path / "estimates.json")
        self.run.finish("estimate", self.key, seconds=round(time.perf_counter() - t0, 2))
        self.say("estimate: done")
        return estimates

    def report(self, estimates: Estimates) -> None:
        c, corpus = self.config, self.corpus
        report_files = tuple(f"report.{fmt}" for fmt in c.report.formats)
        if self.reuse and self.run.done("report", self.key, report_files):
            self.say("report: done before, reused")
            return
        from llm_audit.report import write_report

        meta = {"model": c.model.name, "texts": f"{len(corpus)} ({int(corpus['member'].sum())} members)",
                "config hash": self.run.record["config_hash"][:12], "llm-audit": __version__}
        write_report(estimates, self.run.path, formats=c.report.formats, title=f"llm-audit: {c.name}", meta=meta)
        self.run.finish("report", self.key, files=list(report_files))
        self.say(f"report: {len(report_files)} file(s) written")


def _config_header(config: AuditConfig, digest: str) -> str:
    return (f"# The config of run '{config.name}' as run, every default filled in.\n"
            f"# config hash (sha256 of its canonical JSON): {digest}\n# llm-audit {__version__}\n")
