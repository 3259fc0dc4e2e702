"""Step 2: covariates of each text that do not depend on the audited model (docs/method.md §9).

``extract_covariates(corpus_df, options=CovariatesConfig(...))`` runs the extractors registered in ``EXTRACTORS``:
``length`` (n_chars, n_words, n_tokens), ``date``, ``domain``, ``lexical``, ``tfidf`` and ``ref_loss``.
"""

from llm_audit.covariates.extract import EXTRACTORS, extract_covariates
from llm_audit.covariates.options import DEFAULT_EXTRACTORS, CovariatesConfig, ExtractorInput

__all__ = ["CovariatesConfig", "DEFAULT_EXTRACTORS", "EXTRACTORS", "ExtractorInput", "extract_covariates"]
