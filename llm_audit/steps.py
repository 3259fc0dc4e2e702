"""The four steps as functions of their config sections: what `llm-audit run` and the step commands
(`score`, `covariates`, `estimate`) both call, so that an audit gives the same tables and estimates whichever
way it is run. Heavy imports (torch, the estimators) happen inside each step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd

from llm_audit.corpus import CorpusConfig, load_corpus
from llm_audit.covariates.options import CovariatesConfig
from llm_audit.errors import AuditError
from llm_audit.estimate.options import EstimateConfig
from llm_audit.scoring.options import ModelConfig, ScoringConfig
from llm_audit.tables import read_table

if TYPE_CHECKING:
    from llm_audit.estimate.results import Estimates
    from llm_audit.scoring.model import LoadedModel

Log = Callable[[str], None]


def load_models(model: ModelConfig, scoring: ScoringConfig) -> tuple[LoadedModel, LoadedModel | None]:
    """The audited model and, when the scoring section names one, the reference model (same dtype, device and
    loading rules)."""
    from llm_audit.scoring import load_model

    common = dict(dtype=model.dtype, device=model.device, trust_remote_code=model.trust_remote_code,
                  allow_pickle=model.allow_pickle, device_map=model.device_map, offload_folder=model.offload_folder)
    target = load_model(model.name, gguf_file=model.gguf_file, revision=model.revision, **common)
    reference = load_model(scoring.reference_model, **common) if scoring.reference_model else None
    return target, reference


def side_texts(scoring: ScoringConfig, corpus: CorpusConfig) -> dict[str, list[str] | None]:
    """The side corpora the scoring section names (ReCaLL's prefix texts, DC-PDD's reference texts), read like
    the scored corpus (its text column); their labels and ids are not used."""
    def texts(path: str | None) -> list[str] | None:
        return list(load_corpus(path, text_column=corpus.text_column)["text"]) if path else None

    return {"recall_prefix": texts(scoring.recall_prefix), "dcpdd_reference": texts(scoring.dcpdd_reference)}


def score(corpus_df: pd.DataFrame, model: ModelConfig, scoring: ScoringConfig, corpus: CorpusConfig, *,
          skip_hint: str, progress: bool = True, log: Log | None = None,
          loaded: dict[str, Any] | None = None) -> pd.DataFrame:
    """Step 1: the scores table of ``corpus_df``. Texts too short to score are refused or, with
    ``corpus.empty: skip``, left out (``skip_hint`` names that option as the user gives it). ``loaded`` receives
    the loaded model (the covariates' tokenizer may come from it)."""
    from llm_audit.scorable import drop_unscorable
    from llm_audit.scoring import score_corpus

    side = side_texts(scoring, corpus)  # first: a bad side file fails before the model loads
    target, reference = load_models(model, scoring)
    if loaded is not None:
        loaded["model"] = target
    corpus_df = drop_unscorable(corpus_df, target.tokenizer, skip=corpus.empty == "skip", remedy=skip_hint)
    if corpus_df.attrs["unscorable"] and log is not None:
        log(f"{corpus_df.attrs['unscorable']} text(s) of fewer than 2 tokens left out ({skip_hint})")
    columns = [c for c in ("id", "text", "member") if c in corpus_df.columns]
    return score_corpus(corpus_df[columns], target, scoring, reference=reference, progress=progress, **side)


def covariates_tokenizer(covariates: CovariatesConfig, model: ModelConfig) -> str | None:
    """The tokenizer of the ``n_tokens`` covariate: the section's, else the audited model's (``n_tokens`` under
    the model's tokenizer is a property of the text, not of the model's weights)."""
    if covariates.tokenizer is not None or "length" not in covariates.extractors or not model.name:
        return covariates.tokenizer
    return str(Path(model.name) / model.gguf_file) if model.gguf_file else model.name


def covariates(corpus_df: pd.DataFrame, options: CovariatesConfig, *, tokenizer: Any = None) -> pd.DataFrame:
    """Step 2: the covariates table of ``corpus_df`` (``tokenizer``: a loaded one, or the section's)."""
    from llm_audit.covariates import extract_covariates

    return extract_covariates(corpus_df, options=options, tokenizer=tokenizer)


def estimate(scores: pd.DataFrame, covariates_df: pd.DataFrame | None, options: EstimateConfig, *,
             score_columns: list[str] | None = None, scores_without: pd.DataFrame | None = None) -> Estimates:
    """Step 3: the estimates of the regime the section names (the covariates are read by zero-run only;
    ``scores_without``, the same texts under the model that did not see them, by paired only)."""
    if options.regime == "paired":
        from llm_audit.estimate.regimes.paired import paired

        if scores_without is None:
            raise AuditError("scores without: required for the paired regime (the same ids scored by the model "
                             "that did not see them)")
        return paired(scores, scores_without, scores=score_columns, fpr=options.fpr,
                      n_bootstrap=options.bootstrap, seed=options.seed)
    if options.regime == "zero-run":
        from llm_audit.estimate import ZeroRunEstimator

        if covariates_df is None:
            raise AuditError("covariates: required for the zero-run regime")
        return ZeroRunEstimator(options).fit(scores, covariates_df, scores=score_columns).estimates_
    inclusion = read_table(options.inclusion) if options.inclusion else None
    common = dict(scores=score_columns, fpr=options.fpr, n_bootstrap=options.bootstrap, seed=options.seed)
    if options.regime == "one-run":
        from llm_audit.estimate import inclusion_probabilities, one_run

        if inclusion is not None:
            return one_run(scores, p=inclusion_probabilities(inclusion, str(options.inclusion)), **common)
        return one_run(scores, **common, **({"p": options.inclusion_p} if options.inclusion_p is not None else {}))
    from llm_audit.estimate import multi_run

    return multi_run(scores, inclusion, **common)


def make_folder(path: str | os.PathLike) -> None:
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # under a regular file, in /proc, no permission
        raise AuditError(f"{path}: cannot create the folder ({exc.strerror})") from None
