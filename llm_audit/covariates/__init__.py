"""Step 2: covariates of each text that do not depend on the audited model (docs/method.md §9).

``extract_covariates(corpus_df, options=CovariatesConfig(...))`` runs the extractors registered in ``EXTRACTORS``:
``length`` (n_chars, n_words, n_tokens), ``date``, ``domain``, ``lexical``, ``tfidf`` and ``ref_loss``; with
membership labels also ``negative_control`` (not a covariate: a text classifier's out-of-fold P(member | text)).
"""

from llm_audit.covariates.extract import EXTRACTOR_NAMES, EXTRACTORS, extract_covariates
from llm_audit.covariates.options import DEFAULT_EXTRACTORS, CovariatesConfig, ExtractorInput

__all__ = ["CovariatesConfig", "DEFAULT_EXTRACTORS", "EXTRACTOR_NAMES", "EXTRACTORS", "ExtractorInput",
           "extract_covariates"]
