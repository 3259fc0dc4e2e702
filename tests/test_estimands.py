"""Estimands side by side: overlap weights (ATO) against their closed-form property and simulated truth, the
result keys, and the overlap population reported first when the ATE is not identified."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from llm_audit.errors import AuditError
from llm_audit.estimate import estimate
from llm_audit.estimate.estimands import ESTIMANDS
from llm_audit.simulate import DOMAINS, _population, propensity, simulate, true_metrics


def test_overlap_weights_balance_means_exactly_under_an_unpenalized_logistic_fit():
    # Li, Morgan, Zaslavsky (2018): with e from a logistic regression fit by maximum likelihood, the weights
    # 1-e (members) and e (non-members) give equal weighted means of every regressor in both arms.
    s, c = simulate(3_000, 1.5, 0.5, seed=21)
    x = np.column_stack([c[["x1", "x2", "x3"]].to_numpy(), (c["domain"] == "code"), (c["domain"] == "books")]).astype(float)
    t = s["member"].to_numpy()
    e = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(x, t).predict_proba(x)[:, 1]
    w = ESTIMANDS["ato"].residual_weights(e, t)
    m1 = np.average(x[t == 1], axis=0, weights=w[t == 1])
    m0 = np.average(x[t == 0], axis=0, weights=w[t == 0])
    np.testing.assert_allclose(m1, m0, atol=1e-5)
    np.testing.assert_allclose(ESTIMANDS["ato"].density(e, t), e * (1 - e))


def test_ato_estimates_match_the_overlap_population_truth():
    truth = true_metrics(1.5, 0.5, target="ato", n_mc=10**6)
    s, c = simulate(20_000, 1.5, 0.5, seed=22)
    est = estimate(s, c, n_bootstrap=0, seed=0, outcome="linear")
    for key in ("ipw_ato", "dr_ato"):
        r = est.results("score")[key]
        assert (r.method, r.estimand, r.population) == (key.split("_")[0], "ato", "all")
        assert abs(est.value("score", key, "auc") - truth["auc"]) < 0.015, key
        assert abs(est.value("score", key, "mean_diff") - truth["mean_diff"]) < 0.05, key
    # the ATO truth differs from the ATE one here, so the check above is not the ATE's
    assert abs(truth["auc"] - true_metrics(0.0, 0.5, n_mc=10**6)["auc"]) > 0.005


def test_ato_is_the_first_number_when_the_ate_is_not_identified():
    s, c = simulate(4_000, 5.0, 0.5, seed=5)  # blind AUC about 0.97: the ATE is refused
    est = estimate(s, c, n_bootstrap=50, seed=0, outcome="linear")
    d = est.to_dict()
    assert d["diagnostics"]["verdict"] == "not_identified"
    assert d["scores"]["score"]["dr"]["auc"]["value"] is None
    ato = d["diagnostics"]["estimands"]["ato"]
    assert ato["verdict"] != "not_identified" and ato["ess"]["member"] > 100
    lo, hi = est.interval("score", "dr_ato", "auc")
    truth = true_metrics(5.0, 0.5, target="ato", n_mc=10**6)["auc"]
    assert lo - 0.01 <= truth <= hi + 0.01
    table = {row["column"]: row for row in d["diagnostics"]["overlap_weights_population"]}
    # the overlap population sits where membership is uncertain (e near 1/2): its domain shares, by Monte Carlo
    # with the true propensity, differ from the corpus's
    rng = np.random.default_rng(0)
    pop = _population(10**6, rng)
    e = propensity(pop, 5.0, "linear")
    h = e * (1 - e)
    for k, name in enumerate(DOMAINS):
        row = table[f"domain={name}"]
        assert row["corpus_mean"] == pytest.approx((c["domain"] == name).mean())
        assert row["overlap_mean"] == pytest.approx(np.sum(h * (pop["dom"] == k)) / h.sum(), abs=0.04)
    assert table["domain=web"]["overlap_mean"] - table["domain=web"]["corpus_mean"] > 0.02
    from llm_audit.report.summary import summarize

    text = summarize(est).verdict_text
    assert "overlap population" in text and f"{est.value('score', 'dr_ato', 'auc'):.2f}" in text


def test_ato_needs_no_clipping_and_its_weights_are_bounded():
    e = np.array([1e-9, 0.3, 0.9999])
    t = np.array([1, 0, 1])
    est = ESTIMANDS["ato"]
    assert not est.needs_clipping and not est.balanceable
    r = est.residual_weights(e, t)
    assert np.all((r >= 0) & (r <= 1))
    np.testing.assert_allclose(r, [1 - 1e-9, 0.3, 1 - 0.9999])


def test_unknown_estimand_is_refused_with_its_key():
    s, c = simulate(300, 0.5, 0.5, seed=23)
    with pytest.raises(AuditError, match=r"estimands\[0\]"):
        estimate(s, c, estimands=["overlap"], n_bootstrap=0)
