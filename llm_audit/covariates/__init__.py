"""Step 2: covariates of each text that do not depend on the audited model (SPEC §1).

``extract_covariates(corpus_df, extractors=...)`` runs the extractors registered in ``EXTRACTORS``:
``length`` (n_chars, n_words, n_tokens), ``date``, ``domain``, ``lexical``, ``tfidf`` and ``ref_loss``; with
membership labels also ``negative_control`` (not a covariate: a text classifier's out-of-fold P(member | text)).
"""

from llm_audit.covariates.extract import DEFAULT_EXTRACTORS, EXTRACTOR_NAMES, EXTRACTORS, extract_covariates
from llm_audit.covariates.options import CovariateOptions

__all__ = ["CovariateOptions", "DEFAULT_EXTRACTORS", "EXTRACTOR_NAMES", "EXTRACTORS", "extract_covariates"]
