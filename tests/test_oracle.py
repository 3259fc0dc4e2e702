"""The oracle harness: confounded draws from a pair, graded against the pair's exact truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llm_audit.errors import AuditError
from llm_audit.estimate.oracle import Propensity, grade, observed_scores, oracle_audit
from llm_audit.estimate.regimes.paired import paired


def _pair(n: int = 300, seed: int = 0, control: int = 0):
    """A pair whose S(0) depends on the covariates (so a confounded draw biases the naive AUC) and whose first
    model adds 0.5 on the inserted texts; ``control`` more texts neither model saw."""
    rng = np.random.default_rng(seed)
    m = n + control
    x1 = rng.normal(0, 1, m)
    dom = np.where(rng.random(m) < 0.4, "a", "b")
    s0 = x1 + 0.8 * (dom == "a") + rng.normal(0, 0.5, m)
    inserted = (np.arange(m) < n).astype(int)
    s1 = s0 + inserted * (0.5 + rng.normal(0, 0.3, m))
    ids = [f"t{i}" for i in range(m)]
    with_ = pd.DataFrame({"id": ids, "member": inserted, "n_tokens": 20, "loss": s1})
    without = pd.DataFrame({"id": ids, "n_tokens": 20, "loss": s0})
    cov = pd.DataFrame({"id": ids, "x1": x1, "domain": dom})
    return with_, without, cov


def test_propensity_has_the_stated_log_odds_and_mean():
    _, _, cov = _pair()
    prop = Propensity({"x1": 0.7, "domain=a": -1.2}, strength=2.0, share=0.3)
    e = prop.probabilities(cov)
    assert e.mean() == pytest.approx(0.3, abs=1e-9)
    z = (cov["x1"] - cov["x1"].mean()) / cov["x1"].std(ddof=0)
    logit = np.log(e / (1 - e))
    # Differences of log-odds between texts are the stated linear predictor's: the intercept cancels.
    expected = 2.0 * (0.7 * z + -1.2 * (cov["domain"] == "a"))
    assert np.allclose(logit - logit[0], expected - expected[0], atol=1e-9)
    assert "domain=a" in prop.formula() and "mean e = 0.3" in prop.formula()


@pytest.mark.parametrize("terms, message", [
    ({"length": 1.0}, "no covariate 'length'"),
    ({"domain": 1.0}, "'domain' is categorical; name a level"),
    ({"domain=c": 1.0}, "no text has domain = 'c'"),
    ({}, "no term"),
])
def test_bad_propensity_terms_are_named(terms, message):
    _, _, cov = _pair(50)
    with pytest.raises(AuditError, match=message):
        Propensity(terms).probabilities(cov)


def test_each_text_gets_the_score_of_the_model_matching_its_draw():
    with_, without, _ = _pair(40, control=10)
    truth = paired(with_, without, n_bootstrap=10)
    member = np.arange(40) % 3 == 0
    obs = observed_scores(truth, member.astype(int), ["loss"])
    assert len(obs) == 40  # the pool is the inserted texts only; the control texts never enter a draw
    assert np.array_equal(obs["loss"], np.where(member, with_["loss"][:40], without["loss"][:40]))


def test_harness_grades_against_the_whole_pool_truth_and_corrects_the_naive_bias():
    with_, without, cov = _pair(300, control=60)
    res = oracle_audit(with_, without, cov, Propensity({"x1": 1.0, "domain=a": 1.0}), draws=3,
                       estimate_options={"n_bootstrap": 60, "n_jobs": 1}, truth_bootstrap=20, seed=1)
    # Truth: the i != j Mann-Whitney on the 300 inserted texts, by a plain pair loop.
    s1, s0 = with_["loss"].to_numpy()[:300], without["loss"].to_numpy()[:300]
    k = (s1[:, None] > s0[None, :]) + 0.5 * (s1[:, None] == s0[None, :])
    truth = (k.sum() - np.trace(k)) / (300 * 299)
    auc = res.grades[res.grades["metric"] == "auc"]
    assert np.allclose(auc["truth"], truth)
    assert len(res.draws) == 3 and res.draws["members"].between(100, 200).all()
    by = auc.groupby("method")["value"].mean() - truth
    assert by["naive"] > 0.1  # members are the texts any model finds easy
    assert abs(by["dr"]) < 0.03 and abs(by["ipw"]) < 0.05
    cov_table = res.coverage()
    assert set(cov_table["verdict"]) <= {"identified", "weak_overlap", "not_identified"}
    assert cov_table["draws"].sum() == len(res.grades)
    assert "| loss | auc | dr |" in res.table()
    assert sum(res.verdicts().values()) == 3
    # ~150 non-members: a TPR at FPR 0.001 rests on 0.15 effective non-members above its threshold, which the
    # estimate prints flagged unreliable (< 10); the harness keeps that flag apart, an AUC never has it.
    assert (res.grades.loc[res.grades["metric"] == "tpr@0.001", "flag"] == "unreliable").all()
    assert (auc["flag"] == "").all()
    assert "flagged unreliable" in res.table(("tpr@0.001",))


class _Printed:
    """An estimate as the harness reads one: ``value`` / ``interval`` by score, method, metric and FPR."""

    def __init__(self, blocks):
        self.blocks = blocks

    def _entry(self, score, method, metric, fpr):
        block = self.blocks[score].get(method)
        if block is None:
            return None
        return block[metric][format(fpr, "g")] if metric == "tpr_at_fpr" else block[metric]

    def value(self, score, method, metric, fpr=None):
        entry = self._entry(score, method, metric, fpr)
        return None if entry is None else entry["value"]

    def interval(self, score, method, metric, fpr=None):
        entry = self._entry(score, method, metric, fpr)
        return None if entry is None else entry["ci"]

    def flagged(self, score, method, metric, fpr=None):
        entry = self._entry(score, method, metric, fpr)
        return entry is not None and "unreliable" in entry.get("flags", [])


def test_covered_is_the_truth_inside_the_printed_interval():
    with_, without, _ = _pair(60)
    truth = paired(with_, without, n_bootstrap=10, fpr=(0.1, 0.2))
    t = truth.value("loss", "oracle", "auc")
    blk = {"auc": {"value": t + 0.01, "ci": [t - 0.02, t + 0.02]}, "advantage": {"value": 0.3, "ci": [0.9, 1.0]},
           "mean_diff": {"value": 0.5, "ci": None},
           "tpr_at_fpr": {"0.1": {"value": 0.2, "ci": [-1.0, 2.0], "flags": ["unreliable"]},
                          "0.2": {"value": None, "ci": None}}}
    g = grade(_Printed({"loss": {"naive": blk, "ipw": None}}), truth, ["loss"], (0.1, 0.2))
    assert list(g["metric"]) == ["auc", "tpr@0.1", "advantage", "mean_diff"]  # a null value is not graded
    assert list(g["covered"]) == [True, True, False, False]
    assert list(g["flag"]) == ["", "unreliable", "", ""]


def test_hidden_covariates_and_options_are_checked():
    with_, without, cov = _pair(60)
    prop = Propensity({"x1": 1.0})
    with pytest.raises(AuditError, match="hidden: no covariate 'x2'"):
        oracle_audit(with_, without, cov, prop, draws=1, hidden=["x2"], truth_bootstrap=5)
    with pytest.raises(AuditError, match="the oracle truth is the whole pool's"):
        oracle_audit(with_, without, cov, prop, draws=1, estimate_options={"target": "att"}, truth_bootstrap=5)
    with pytest.raises(AuditError, match="no row for pool text id 't3'"):
        oracle_audit(with_, without, cov.drop(index=3), prop, draws=1, truth_bootstrap=5)
