"""A low-dimensional summary of what a text is about: TF-IDF, then a truncated SVD (LSA).

Fitted on the audit pool itself (members and non-members together, labels unseen), so the projection
captures the topics that vary in this pool.
"""

from __future__ import annotations

import pandas as pd
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from llm_audit.covariates.options import Extracted, ExtractorInput

# A cap on the vocabulary keeps memory bounded on large pools; the rare terms cut carry little topic signal.
MAX_FEATURES = 50_000


def tfidf_covariates(corpus: pd.DataFrame, given: ExtractorInput) -> Extracted:
    texts = corpus["text"].tolist()
    empty = pd.DataFrame(index=corpus.index)
    try:
        matrix = TfidfVectorizer(sublinear_tf=True, max_features=MAX_FEATURES).fit_transform(texts)
    except ValueError:  # sklearn: "empty vocabulary" when no text has a word
        return empty, ["tfidf: skipped (no words in the corpus)"]
    # The rank of the matrix is at most min(n, vocabulary); components beyond it would be noise or zero.
    k = min(given.options.tfidf_k, matrix.shape[0] - 1, matrix.shape[1] - 1)
    if k < 1:
        return empty, [f"tfidf: skipped ({matrix.shape[0]} texts, {matrix.shape[1]} terms: too few for a projection)"]
    notes = []
    if k < given.options.tfidf_k:
        notes.append(f"tfidf: k capped at {k} (asked {given.options.tfidf_k}; {matrix.shape[0]} texts, {matrix.shape[1]} terms)")
    svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=7, random_state=given.options.seed)
    projection = svd.fit_transform(matrix)
    columns = [f"tfidf_{j}" for j in range(k)]
    return pd.DataFrame(projection, index=corpus.index, columns=columns, dtype="float64"), notes
