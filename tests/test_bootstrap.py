"""The cluster bootstrap (a `group` column): whole groups are resampled, and its standard error matches the
spread of the estimate over independently simulated corpora, where resampling the chunks of a document as if
they were independent texts understates it."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from llm_audit.errors import AuditError
from llm_audit.estimate import estimate
from llm_audit.estimate.bootstrap import Clusters, ResamplingCounts, replicate
from llm_audit.estimate.estimands import ESTIMANDS
from llm_audit.estimate.methods import METHODS, Problem

DOCS, CHUNKS = 100, 8


def _corpus(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """100 documents of 8 chunks; membership and a document effect shared by a document's chunks."""
    rng = np.random.default_rng(seed)
    t_doc = rng.integers(0, 2, DOCS)
    u_doc = rng.standard_normal(DOCS)
    doc = np.repeat(np.arange(DOCS), CHUNKS)
    score = 0.5 * t_doc[doc] + u_doc[doc] + 0.5 * rng.standard_normal(DOCS * CHUNKS)
    return score, t_doc[doc], doc


def test_clusters_resample_whole_groups_within_the_arms_they_hold():
    member = np.array([0, 0, 0, 1, 1, 1, 0, 1, 0, 0])
    groups = np.array(["a", "a", "b", "c", "c", "d", "e", "e", "f", "f"])  # e holds both arms
    counts = Clusters(member, groups).counts(500, np.random.default_rng(0))
    code = pd.factorize(groups)[0]
    for g in range(code.max() + 1):  # a unit counts as often as its group is drawn
        block = counts[:, code == g]
        assert np.all(block == block[:, :1])
    per_group = np.stack([counts[:, code == g][:, 0] for g in range(code.max() + 1)], axis=1)
    # strata: {a, b, f} non-members only, {c, d} members only, {e} both: each keeps its number of groups
    assert np.all(per_group[:, [0, 1, 5]].sum(axis=1) == 3)
    assert np.all(per_group[:, [2, 3]].sum(axis=1) == 2)
    assert np.all(per_group[:, 4] == 1)


def test_the_cluster_bootstrap_se_matches_the_spread_over_simulated_corpora():
    aucs = [roc_auc_score(t, s) for s, t, _ in map(_corpus, range(300))]
    truth_sd = np.std(aucs, ddof=1)  # about 0.046
    unit_se, cluster_se = [], []
    for seed in range(5):
        s, t, doc = _corpus(1000 + seed)
        fit = {"naive": METHODS["naive"].fit(Problem(s, t, (0.05,), ESTIMANDS["ate"]))}
        for groups, out in ((None, unit_se), (doc, cluster_se)):
            reps = replicate(fit, ResamplingCounts(t, 400, seed, groups=groups))["naive"]["auc"]
            out.append(np.std(reps, ddof=1))
    assert np.mean(cluster_se) == pytest.approx(truth_sd, rel=0.2)
    assert np.mean(unit_se) < 0.6 * truth_sd  # chunks resampled as independent texts: far too narrow


def _frames(seed: int, n_docs: int = 60):
    rng = np.random.default_rng(seed)
    doc = np.repeat(np.arange(n_docs), 4)
    x = rng.standard_normal(n_docs)[doc]
    t = (rng.random(n_docs) < 0.5).astype(int)[doc]
    ids = [f"t{i}" for i in range(len(doc))]
    scores = pd.DataFrame({"id": ids, "member": t, "loss": -(x + 0.3 * t + rng.standard_normal(len(doc)))})
    cov = pd.DataFrame({"id": ids, "x": x, "group": [f"d{g}" for g in doc]})
    return scores, cov


def test_an_audit_with_groups_says_it_resampled_groups_and_refuses_influence_draws():
    scores, cov = _frames(0)
    est = estimate(scores, cov, n_bootstrap=50, seed=0, n_jobs=1, methods=("naive", "ipw"), estimands=[])
    assert "over groups" in est.to_dict()["diagnostics"]["uncertainty"]["naive_ipw"]
    with pytest.raises(AuditError, match="intervals: 'influence'.*group"):
        estimate(scores, cov, n_bootstrap=50, seed=0, n_jobs=1, intervals="influence")
