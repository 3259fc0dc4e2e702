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

from llm_audit import __version__
from llm_audit.config import RUN_NAME, AuditConfig
from llm_audit.corpus import concat_corpora, load_corpus, text_hash
from llm_audit.errors import AuditError
from llm_audit.estimate.results import Estimates
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
    common = dict(text_column=c.text_column, label_column=c.label_column, id_column=c.id_column,
                  split=c.split, empty=c.empty)
    if c.path is not None:
        corpus = load_corpus(c.path, require_labels=True, **common)
    else:
        corpus = concat_corpora([load_corpus(c.members, member=1, **common),
                                 load_corpus(c.nonmembers, member=0, **common)])
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


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # under a regular file, in /proc, no permission
        raise AuditError(f"{path}: cannot create the folder ({exc.strerror})") from None


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
    _make_folder(run_dir)
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
    say = log or (lambda _msg: None)
    run_dir = run_dir_for(config, runs_dir)
    corpus = load_audit_corpus(config)
    if config.estimate.regime == "multi-run":
        raise AuditError("estimate.regime: multi-run needs the scores of several models; score each with "
                         "`llm-audit score` and use `llm-audit estimate --regime multi-run`")
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
    reuse = not force

    loaded: dict[str, Any] = {}

    def covariates_step(texts: pd.DataFrame) -> pd.DataFrame:
        t0 = time.perf_counter()
        table = _covariates(config, texts, loaded)
        write_table(table, run_dir / "covariates.parquet")
        run.finish("covariates", key, columns=[c for c in table.columns if c != "id"],
                   notes=list(table.attrs.get("notes", [])), seconds=round(time.perf_counter() - t0, 2))
        say(f"covariates: {table.shape[1] - 1} columns")
        return table

    # 1. covariates (no model needed: checked first)
    if reuse and run.done("covariates", key, OUTPUTS["covariates"]):
        say("covariates: done before, reused (covariates.parquet)")
        covariates = read_table(run_dir / "covariates.parquet")
    else:
        covariates = covariates_step(corpus)

    # 2. score
    if reuse and run.done("score", key, OUTPUTS["score"]):
        say("score: done before, reused (scores.parquet)")
        scores = read_table(run_dir / "scores.parquet")
    else:
        t0 = time.perf_counter()
        scores = _score(config, corpus, runs_dir, loaded, progress)
        write_table(scores, run_dir / "scores.parquet")
        n_new = int(scores.attrs.get("n_computed", len(scores)))
        run.record["model_fingerprint"] = scores.attrs.get("model")
        run.finish("score", key, texts=int(len(scores)), texts_scored=n_new, seconds=round(time.perf_counter() - t0, 2))
        say(f"score: {len(scores)} texts ({n_new} scored, {len(scores) - n_new} from the cache)")

    # With corpus.empty: skip, the scorer left out the texts of fewer than 2 tokens (llm_audit.scorable, the
    # rule of the `score` and `covariates` commands too). The covariates are made again from the texts
    # scored, so that both tables on disk hold the same ids, as those two commands write them.
    if set(covariates["id"]) != set(scores["id"]):
        say(f"score: {len(corpus) - len(scores)} text(s) of fewer than 2 tokens left out (corpus.empty: skip)")
        corpus = corpus[corpus["id"].isin(scores["id"])].reset_index(drop=True)
        covariates = covariates_step(corpus)

    # 3. estimate
    if reuse and run.done("estimate", key, OUTPUTS["estimate"]):
        say("estimate: done before, reused (estimates.json)")
        estimates = Estimates.load(run_dir / "estimates.json")
    else:
        t0 = time.perf_counter()
        estimates = _estimate(config, scores, covariates)
        estimates.save(run_dir / "estimates.json")
        run.finish("estimate", key, seconds=round(time.perf_counter() - t0, 2))
        say("estimate: done")

    # 4. report
    report_files = tuple(f"report.{fmt}" for fmt in config.report.formats)
    if reuse and run.done("report", key, report_files):
        say("report: done before, reused")
    else:
        from llm_audit.report import write_report

        meta = {"model": config.model.name, "texts": f"{len(corpus)} ({int(corpus['member'].sum())} members)",
                "config hash": digest[:12], "llm-audit": __version__}
        write_report(estimates, run_dir, formats=config.report.formats,
                     title=f"llm-audit: {config.name}", meta=meta)
        run.finish("report", key, files=list(report_files))
        say(f"report: {len(report_files)} file(s) written")
    return run_dir


def _config_header(config: AuditConfig, digest: str) -> str:
    return (f"# The config of run '{config.name}' as run, every default filled in.\n"
            f"# config hash (sha256 of its canonical JSON): {digest}\n# llm-audit {__version__}\n")


def _score(config: AuditConfig, corpus: pd.DataFrame, runs_dir: str | os.PathLike, loaded: dict[str, Any],
           progress: bool) -> pd.DataFrame:
    from llm_audit.scorable import drop_unscorable
    from llm_audit.scoring import load_model, score_corpus

    m, s = config.model, config.scoring
    # the side corpora first: a bad file fails before the model loads
    recall_prefix = load_corpus(s.recall_prefix)["text"].tolist() if s.recall_prefix else None
    dcpdd_reference = load_corpus(s.dcpdd_reference)["text"].tolist() if s.dcpdd_reference else None
    lm = load_model(m.name, gguf_file=m.gguf_file, revision=m.revision, dtype=m.dtype, device=m.device,
                    trust_remote_code=m.trust_remote_code, allow_pickle=m.allow_pickle, device_map=m.device_map,
                    offload_folder=m.offload_folder)
    loaded["model"] = lm
    reference = None
    if s.reference_model:
        reference = load_model(s.reference_model, dtype=m.dtype, device=m.device,
                               trust_remote_code=m.trust_remote_code, allow_pickle=m.allow_pickle,
                               device_map=m.device_map, offload_folder=m.offload_folder)
    corpus = drop_unscorable(corpus, lm.tokenizer, skip=config.corpus.empty == "skip", remedy="corpus.empty: skip")
    cache_dir = Path(s.cache_dir) if s.cache_dir else Path(runs_dir).expanduser() / ".score_cache"
    _make_folder(cache_dir)
    scores = [*s.scores, "lowercase"] if s.lowercase else s.scores
    return score_corpus(corpus[["id", "text", "member"]], lm, scores=scores, k_grid=s.k, max_tokens=s.max_tokens,
                        stride=s.stride, context=s.context, max_batch_tokens=s.batch_tokens, cache_dir=cache_dir,
                        reference=reference,
                        recall_prefix=recall_prefix, dcpdd_reference=dcpdd_reference, dcpdd_clip=s.dcpdd_clip,
                        progress=progress)


def _covariates(config: AuditConfig, corpus: pd.DataFrame, loaded: dict[str, Any]) -> pd.DataFrame:
    from llm_audit.covariates import extract_covariates

    v = config.covariates
    tokenizer: Any = v.tokenizer
    if tokenizer is None and "length" in v.extractors:
        # n_tokens under the audited model's tokenizer: a property of the text, not of the model's weights.
        if "model" in loaded:
            tokenizer = loaded["model"].tokenizer
        else:
            name = config.model.name
            tokenizer = str(Path(name) / config.model.gguf_file) if config.model.gguf_file else name
    reference = read_table(v.reference_scores) if v.reference_scores else None
    return extract_covariates(corpus, v.extractors, tokenizer=tokenizer, date_column=v.date_column,
                              domain_column=v.domain_column, tfidf_k=v.tfidf_k, seed=config.estimate.seed,
                              reference_scores=reference)


def _estimate(config: AuditConfig, scores: pd.DataFrame, covariates: pd.DataFrame) -> Estimates:
    e = config.estimate
    if e.regime == "one-run":
        from llm_audit.estimate.regimes import inclusion_probabilities, one_run

        p = inclusion_probabilities(read_table(e.inclusion), str(e.inclusion)) if e.inclusion else e.inclusion_p
        return one_run(scores, p=p, fpr=e.fpr, n_bootstrap=e.bootstrap, seed=e.seed)
    from llm_audit.estimate import ZeroRunEstimator

    return ZeroRunEstimator(e).fit(scores, covariates).estimates_
