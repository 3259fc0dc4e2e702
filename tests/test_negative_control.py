"""The negative-control score of the covariates step (issue 13): against an independent computation on a tiny
corpus, the years blind attacks read, the note when labels are missing, and why its folds are grouped by document.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from llm_audit.covariates import extract_covariates
from llm_audit.covariates.negative_control import citation_years, out_of_fold_probability, text_features
from llm_audit.estimate.design import prepare
from llm_audit.estimate.metrics import weighted_auc_se

PILE = "llm_audit/data/pile_subset.jsonl.gz"

TINY = [  # (text, latest year, earliest year, latest cited year, years mentioned)
    ("As Smith et al. (2019) and [Lee 2021] showed, the method works on the data.", 2021, 2019, 2021, 2),
    ("The data of the survey were collected in 1998 and in 2004.", 2004, 1998, None, 2),
    ("No year at all in this one, only the data and the method.", None, None, None, 0),
    ("The method of arXiv:1905.01234 improves on the survey.", 1905, 1905, 2019, 1),
    ("In 1850 the railway reached the town; by 1870 the data were public.", None, None, None, 0),  # < 1900
    ("Brown et al. 2020 trained a larger model on the survey data.", 2020, 2020, 2020, 1),
]


def tiny_corpus(repeats: int = 4) -> pd.DataFrame:
    """24 texts: each of TINY four times with a distinct final word; members are the even rows."""
    texts = [f"{text} Item {chr(97 + k)}{i}." for k in range(repeats) for i, (text, *_) in enumerate(TINY)]
    return pd.DataFrame({"id": [f"t{i}" for i in range(len(texts))], "text": texts,
                         "member": [i % 2 for i in range(len(texts))]})


def _standardize(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def _style_by_hand(texts: list[str]) -> np.ndarray:
    """The style block by plain loops: the tiny corpus has fewer than 300 distinct words, so every word's rate
    (alphabetical order, as the vectorizer sorts its vocabulary), then the character classes and the mean word
    length; square roots, standardized."""
    words = [re.findall(r"\w+", t.lower()) for t in texts]
    vocabulary = sorted({w for ws in words for w in ws})
    assert len(vocabulary) < 300
    rates = [[ws.count(v) / len(ws) for v in vocabulary] for ws in words]
    symbols = set("()[]{}<>=/\\_*#$%&@|~^`'\"+-")
    classes = [[sum(c.isdigit() for c in t) / len(t), sum("A" <= c <= "Z" for c in t) / len(t),
                sum(c in ".,;:!?" for c in t) / len(t), sum(c in symbols for c in t) / len(t),
                sum(c.isspace() for c in t) / len(t), t.count("\n") / len(t),
                np.mean([len(w) for w in t.split()])] for t in texts]
    return _standardize(np.sqrt(np.hstack([np.array(rates), np.array(classes)])))


def test_citation_years_by_hand():
    assert citation_years("as in (Smith et al., 2019) and [2020b]") == [2019, 2020]
    assert citation_years("Brown et al. 2018 and Doe et al., (2017)") == [2018, 2017]
    assert citation_years("see arXiv:2103.00020 and arXiv:2113.00020") == [2021]  # month 13 is no identifier
    assert citation_years("in 2019 the budget grew (by 12%)") == []


def test_negative_control_equals_an_independent_computation_on_a_tiny_corpus():
    corpus = tiny_corpus()
    column = extract_covariates(corpus, ["negative_control"], seed=3)["negative_control"].to_numpy()
    # the design by hand: both TF-IDF blocks as documented, the year columns from the table above, log length
    texts = corpus["text"].tolist()
    blocks = [TfidfVectorizer(sublinear_tf=True, min_df=2, analyzer="word", ngram_range=(1, 2),
                              token_pattern=r"(?u)\b\w+\b").fit_transform(texts),
              TfidfVectorizer(sublinear_tf=True, min_df=2, analyzer="char_wb", ngram_range=(3, 5)).fit_transform(texts)]
    rows = [TINY[i % len(TINY)] for i in range(len(texts))]
    dense = []
    for j in (1, 2, 3):
        values = np.array([np.nan if r[j] is None else float(r[j]) for r in rows])
        dense += [np.where(np.isnan(values), np.nanmedian(values), values), np.isnan(values).astype(float)]
    dense.append(np.log1p([r[4] for r in rows]))
    dense = np.column_stack([_style_by_hand(texts), _standardize(np.column_stack(dense)),
                             _standardize(np.log1p([len(t) for t in texts])[:, None])])
    x = sp.hstack(blocks + [sp.csr_matrix(dense)], format="csr")
    t = corpus["member"].to_numpy()
    expected = np.empty(len(t))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=3).split(np.zeros(len(t)), t):
        expected[test] = LogisticRegression(C=0.1, max_iter=2000).fit(x[train], t[train]).predict_proba(x[test])[:, 1]
    np.testing.assert_allclose(column, expected, rtol=1e-6, atol=1e-9)


def test_without_labels_the_score_is_skipped_with_a_note_and_never_becomes_a_covariate():
    unlabelled = tiny_corpus().drop(columns=["member"])
    table = extract_covariates(unlabelled, ["lexical", "negative_control"])
    assert "negative_control" not in table.columns
    assert any(n.startswith("negative_control: skipped (the corpus has no membership labels") for n in table.attrs["notes"])
    labelled = extract_covariates(tiny_corpus(), ["lexical", "negative_control"])
    assert list(labelled.columns[:2]) == ["id", "negative_control"]
    scores = tiny_corpus()[["id", "member"]].assign(loss=np.arange(24.0))
    data = prepare(scores, labelled)
    assert "negative_control" not in data.covariates.columns
    np.testing.assert_array_equal(data.negative_control, labelled.set_index("id").loc[data.ids, "negative_control"].to_numpy())


@pytest.fixture(scope="module")
def chunked_pile():
    """Chunks of the shipped Pile documents (3 per document, the document as ``group``); membership drawn per
    document at random, so no text property predicts it."""
    docs = pd.read_json(PILE, lines=True, dtype={"id": str}).iloc[::3].reset_index(drop=True)
    rng = np.random.default_rng(1)
    member = dict(zip(docs["id"], rng.integers(0, 2, len(docs))))
    rows = []
    for doc, text in zip(docs["id"], docs["text"]):
        third = len(text) // 3
        rows += [{"id": f"{doc}#{k}", "group": doc, "text": text[k * third:(k + 1) * third], "member": member[doc]}
                 for k in range(3)]
    return pd.DataFrame(rows)


def test_folds_grouped_by_document_keep_a_random_split_at_chance(chunked_pile):
    """Ungrouped, a chunk is scored by a classifier that saw its sibling chunks' labels (and their words): the
    control separates a random split. Grouped, it does not."""
    x = text_features(chunked_pile["text"].tolist())
    t, groups = chunked_pile["member"].to_numpy(), chunked_pile["group"].to_numpy()
    grouped = out_of_fold_probability(x, t, groups, seed=0)
    leaky = out_of_fold_probability(x, t, None, seed=0)
    se = weighted_auc_se(grouped, t, None, groups)  # chunks of a document share its label: clustered SE
    assert 0.02 < se < 0.05
    assert abs(roc_auc_score(t, grouped) - 0.5) < 3 * se  # the negative-control refuter's rule
    assert roc_auc_score(t, leaky) > 0.5 + 3 * se  # ungrouped, the rule would cry wolf
    grouped_tiny = tiny_corpus().assign(group=[f"d{i // 2}" for i in range(24)])  # the note, on a small corpus
    column = extract_covariates(grouped_tiny, ["negative_control"], seed=0)
    assert column.attrs["notes"][-1].endswith("grouped by document")
