"""The negative-control score: how well a model-free text classifier tells members from non-members, out of fold
(docs/refuters.md, "Negative-control score").

It is computed in the covariates step, from the texts and the membership labels only: no audited model. It is
not a covariate: it travels in the covariates table under the reserved column ``negative_control``, which the
estimate step takes out of the design. There its naive AUC is the *blind text baseline*, and its AUC after the
correction's weights must come back to 0.5: a text classifier cannot carry memorization, so whatever separation
survives the weighting is a difference between the arms that the covariates do not capture.

Features: word uni- and bigrams (one-letter words such as "I" and "a" kept) and character 3-5-grams (TF-IDF with
sublinear term frequency, each block L2-normalized per text); a dense style block, the relative frequencies of
the corpus's 300 most frequent words (the function words stylometry reads authorship and register from:
Mosteller and Wallace 1964, Burrows 2002) and of character classes (digits, capitals, punctuation, symbols,
white space, line breaks) with the mean word length, square-rooted and standardized; and what blind attacks read
off a text (Das, Zhang and Tramer 2024, "Blind baselines beat membership inference attacks for foundation
models"): the latest and earliest year mentioned, the latest year in a citation, how many years are mentioned,
and the log length. Why the dense block: a confounder that is the *rate* of a few common words (first-person
pronouns, say) is spread thinly over many TF-IDF columns, each too small to earn a large coefficient under the
penalty; as a few standardized columns it is one the classifier can pick up (on the semi-synthetic benchmark's
pronoun-rate selection the control's corrected AUC rose from 0.49-0.54 to 0.51-0.66, and at about 1,000 texts
the style block carries nearly all of the signal; benchmarks/README.md). Classifier: L2-regularized logistic
regression (C = 0.1), fit on K - 1 folds and applied to the held-out fold, so no text is scored by a model that
saw its label. Folds are stratified by membership and grouped by document when the corpus has a ``group``
column: chunks of one document share words no other document has, and a classifier that saw a sibling chunk's
label would fake a shift.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from llm_audit.covariates.date import latest_year_in_text
from llm_audit.covariates.options import NEGATIVE_CONTROL as COLUMN

FOLDS = 5
C = 0.1
STYLE_WORDS = 300  # the most frequent words whose rates form the style block
MAX_FEATURES = 50_000  # per vectorizer: bounds memory on large pools; the rare n-grams cut carry little signal

_WORDS = r"(?u)\b\w+\b"  # every word, one-letter ones included (scikit-learn's default drops "I" and "a")
# Character classes, counted per character: digits, capitals, punctuation, code and markup symbols, white space,
# line breaks (regular expressions, which count in C: a Python loop over characters is slow on large pools).
_CLASSES = [re.compile(p) for p in (r"\d", r"[A-Z]", r"[.,;:!?]", r"[()\[\]{}<>=/\\_*#$%&@|~^`'\"+-]", r"\s", r"\n")]
_YEAR = re.compile(r"(?<!\d)(19\d\d|20\d\d|2100)(?!\d)")
# A year inside parentheses or brackets that close right after it ("(Smith et al., 2019)", "[2020]"), after
# "et al." ("Smith et al. 2019"), or the yymm prefix of an arXiv identifier ("arXiv:1905.01234" -> 2019).
_CITATION = re.compile(r"[(\[][^()\[\]]{0,80}?(?<!\d)((?:19|20)\d\d)[a-z]?[)\]]|et al\.?,?\s*\(?((?:19|20)\d\d)(?!\d)")
_ARXIV = re.compile(r"arXiv:\s?(\d\d)(\d\d)\.\d{4,5}", re.IGNORECASE)


def citation_years(text: str) -> list[int]:
    """Years cited in ``text``: in a parenthetical or bracketed reference, after "et al.", or in an arXiv id."""
    years = [int(a or b) for a, b in _CITATION.findall(text)]
    years += [2000 + int(yy) for yy, mm in _ARXIV.findall(text) if 1 <= int(mm) <= 12]
    return years


def year_features(texts: list[str]) -> np.ndarray:
    """(n, 7): latest year, earliest year, latest cited year (each with a 0/1 "absent" flag; absent values get
    the median of the present ones), and log(1 + number of years mentioned), standardized over the corpus."""
    latest = np.array([latest_year_in_text(t) for t in texts])
    found = [[int(y) for y in _YEAR.findall(t)] for t in texts]
    earliest = np.array([min(f) if f else math.nan for f in found])
    cited = np.array([max(c) if (c := citation_years(t)) else math.nan for t in texts])
    cols = []
    for values in (latest, earliest, cited):
        absent = np.isnan(values)
        fill = np.nanmedian(values) if (~absent).any() else 0.0
        cols += [np.where(absent, fill, values), absent.astype(float)]
    cols.append(np.log1p([len(f) for f in found]))
    return _standardize(np.column_stack(cols))


def _standardize(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def style_features(texts: list[str]) -> np.ndarray:
    """(n, k + 7) dense: the square-rooted relative frequency (per word of the text) of each of the pool's
    k <= 300 most frequent words, then of the character classes per character and the mean word length; each
    column standardized over the pool (k = 0 when no text has a word)."""
    try:
        counts = CountVectorizer(token_pattern=_WORDS, max_features=STYLE_WORDS).fit_transform(texts)
    except ValueError:  # "empty vocabulary"
        counts = sp.csr_matrix((len(texts), 0))
    n_words = np.maximum([len(re.findall(_WORDS, t)) for t in texts], 1)
    rates = counts.toarray() / n_words[:, None]
    classes = np.array([_character_classes(t) for t in texts]).reshape(len(texts), len(_CLASSES) + 1)
    return _standardize(np.sqrt(np.hstack([rates, classes])))


def _character_classes(text: str) -> list[float]:
    n = max(len(text), 1)
    words = text.split()
    return [len(c.findall(text)) / n for c in _CLASSES] + [sum(map(len, words)) / len(words) if words else 0.0]


def text_features(texts: list[str]) -> sp.csr_matrix:
    """The classifier's design, (n, p) sparse: word and character TF-IDF blocks, the style block, the year
    features and the log length. Fit on every text of the pool, labels unseen (an IDF carries no label)."""
    blocks = []
    for kwargs in ({"analyzer": "word", "ngram_range": (1, 2), "token_pattern": _WORDS},
                   {"analyzer": "char_wb", "ngram_range": (3, 5)}):
        vec = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=MAX_FEATURES, **kwargs)
        try:
            blocks.append(vec.fit_transform(texts))
        except ValueError:  # "empty vocabulary": no n-gram occurs in two texts
            continue
    length = _standardize(np.log1p([len(t) for t in texts])[:, None])
    blocks.append(sp.csr_matrix(np.hstack([style_features(texts), year_features(texts), length])))
    return sp.hstack(blocks, format="csr")


def fold_splits(member: np.ndarray, groups: np.ndarray | None, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    placeholder = np.zeros(len(member))
    if groups is not None:
        return list(StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(placeholder, member, groups))
    return list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(placeholder, member))


def out_of_fold_probability(features: sp.spmatrix, member: np.ndarray, groups: np.ndarray | None = None, *,
                            folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """P(member | text) for every text from a classifier that never saw its label (nor, with ``groups``, the
    label of any chunk of its document), shape (n,)."""
    t = np.asarray(member).astype(int)
    p = np.empty(len(t))
    for train, test in fold_splits(t, groups, folds, seed):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)  # a grouped fold's class balance, not an error
            clf = LogisticRegression(C=C, max_iter=2000).fit(features[train], t[train])
        p[test] = clf.predict_proba(features[test])[:, 1]
    return p


def negative_control_score(corpus: pd.DataFrame, seed: int = 0) -> tuple[pd.Series | None, list[str]]:
    """The negative-control column for a labelled corpus (``id``, ``text``, ``member``, optional ``group``), or
    None with a note saying why it was skipped (the estimate step then reports the refuter as not run)."""
    skipped = "negative_control: skipped ({}); the estimate step will say the negative-control refuter did not run"
    if "member" not in corpus.columns or corpus["member"].isna().any():
        return None, [skipped.format("the corpus has no membership labels for every text")]
    t = corpus["member"].to_numpy(dtype=int)
    groups = corpus["group"].astype(str).to_numpy() if "group" in corpus.columns else None
    units = pd.Series(groups if groups is not None else np.arange(len(t))).groupby(t).nunique()
    if len(units) < 2 or units.min() < FOLDS:
        what = "documents" if groups is not None else "texts"
        return None, [skipped.format(f"fewer than {FOLDS} member and {FOLDS} non-member {what} for {FOLDS} folds")]
    p = out_of_fold_probability(text_features(corpus["text"].tolist()), t, groups, seed=seed)
    note = ("negative_control: out-of-fold P(member | text) of a word, character n-gram and style classifier, "
            f"{FOLDS} folds" + (" grouped by document" if groups is not None else ""))
    return pd.Series(p, index=corpus.index, name=COLUMN), [note]
