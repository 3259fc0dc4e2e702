"""The zero-run estimator against known truth (issue 3's checks). Truth comes from the simulator's
Monte Carlo on 10^6 draws of the population, never from the estimator."""

import json

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from llm_audit.estimate import estimate
from llm_audit.simulate import simulate, true_metrics

N = 20_000


@pytest.fixture(scope="module")
def truth():
    # the ATE target does not depend on the propensity: one truth serves every confounding strength
    return true_metrics(0.0, 0.5, n_mc=10**6)


def _values(est, method):
    return (
        est.value("score", method, "auc"),
        est.value("score", method, "tpr_at_fpr", 0.01),
        est.value("score", method, "mean_diff"),
    )


def test_randomized_membership_all_estimators_agree_with_truth(truth):
    s, c = simulate(N, 0.0, 0.5, seed=11)
    est = estimate(s, c, n_bootstrap=0, seed=0)
    assert est.verdict == "identified"
    for method in ("naive", "ipw", "dr"):
        auc, tpr, mean = _values(est, method)
        assert abs(auc - truth["auc"]) < 0.015, method
        assert abs(tpr - truth["tpr_at_fpr"]) < 0.015, method
        assert abs(mean - truth["mean_diff"]) < 0.06, method


def test_strong_confounding_naive_is_off_and_ipw_dr_are_corrected(truth):
    s, c = simulate(N, 1.0, 0.5, seed=12)
    est = estimate(s, c, n_bootstrap=0, seed=0)
    assert est.value("score", "naive", "auc") - truth["auc"] >= 0.08
    for method in ("ipw", "dr"):
        auc, tpr, mean = _values(est, method)
        assert abs(auc - truth["auc"]) < 0.02, method
        assert abs(tpr - truth["tpr_at_fpr"]) < 0.02, method
        assert abs(mean - truth["mean_diff"]) < 0.08, method
    d = est.to_dict()["diagnostics"]
    assert d["tv_bound"] >= abs(est.value("score", "naive", "auc") - truth["auc"])
    assert max(abs(v["before"]) for v in d["smd"].values()) > 0.3
    assert d["smd_max_after"] < 0.1
    assert abs(est.to_dict()["diagnostics"]["per_score"]["score"]["placebo_auc"] - 0.5) < 0.02


def test_no_memorization_with_confounding_ci_contains_chance():
    s, c = simulate(5_000, 1.0, 0.0, seed=13)
    est = estimate(s, c, n_bootstrap=200, seed=0)
    assert est.value("score", "naive", "auc") > 0.6
    for method in ("ipw", "dr"):
        lo, hi = est.interval("score", method, "auc")
        assert lo <= 0.5 <= hi, method
        lo, hi = est.interval("score", method, "mean_diff")
        assert lo <= 0.0 <= hi, method
    sens = est.to_dict()["diagnostics"]["per_score"]["score"]["sensitivity"]
    assert sens["gamma_to_chance"] is not None and sens["gamma_to_chance"] < 1.5


def test_dr_survives_a_misspecified_propensity(truth):
    s, c = simulate(N, 1.0, 0.5, design="misspecified", seed=14)
    est = estimate(s, c, n_bootstrap=0, seed=0)
    auc, tpr, mean = _values(est, "dr")
    assert abs(auc - truth["auc"]) < 0.02
    assert abs(tpr - truth["tpr_at_fpr"]) < 0.02
    assert abs(mean - truth["mean_diff"]) < 0.06
    # the design does break IPW, so the check above is not vacuous
    assert abs(est.value("score", "ipw", "auc") - truth["auc"]) > 0.02


def test_separable_membership_is_not_identified_and_corrected_figures_are_null():
    s, c = simulate(4_000, 1.0, 0.5, design="separable", seed=15)
    est = estimate(s, c, n_bootstrap=20, seed=0)
    d = est.to_dict()
    assert d["diagnostics"]["verdict"] == "not_identified"
    assert d["diagnostics"]["blind_auc"] >= 0.97
    entry = d["scores"]["score"]
    for method in ("ipw", "dr"):
        assert entry[method]["auc"]["value"] is None and entry[method]["auc"]["ci"] is None
        assert entry[method]["tpr_at_fpr"]["0.01"]["value"] is None
        assert entry[method]["mean_diff"]["value"] is None
    assert entry["naive"]["auc"]["value"] > 0.8
    # the overlap population, if reported at all, is under its own key with its size stated
    pop = d["diagnostics"]["overlap_population"]
    if "ipw_overlap" in entry:
        assert pop["member"] >= 20 and pop["nonmember"] >= 20
    assert "not_identified" in est.summary()


def test_own_aipw_mean_within_econml_drlearner_interval():
    from econml.dr import LinearDRLearner

    s, c = simulate(5_000, 1.0, 0.5, seed=16)
    est = estimate(s, c, n_bootstrap=0, seed=0)
    w = pd.get_dummies(c[["x1", "x2", "x3", "domain"]], columns=["domain"], drop_first=True).to_numpy(float)
    ref = LinearDRLearner(
        model_propensity=LogisticRegression(max_iter=1000), model_regression=LinearRegression(), cv=5, random_state=0
    ).fit(s["score"].to_numpy(), s["member"].to_numpy(), X=None, W=w)
    lo, hi = ref.ate_interval(alpha=0.05)
    assert lo <= est.value("score", "dr", "mean_diff") <= hi
    own_lo, own_hi = est.interval("score", "dr", "mean_diff")
    assert own_lo <= ref.ate() <= own_hi


def test_same_seed_gives_byte_identical_json(tmp_path):
    s, c = simulate(1_500, 0.8, 0.5, seed=17)
    paths = []
    for k in range(2):
        p = tmp_path / f"e{k}.json"
        estimate(s, c, n_bootstrap=50, seed=3, fpr=(0.01, 0.05)).save(p)
        paths.append(p)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    d = json.loads(paths[0].read_text())
    assert d["schema_version"] == 2 and set(d) >= {"scores", "diagnostics", "config", "curves", "provenance"}
    m = d["scores"]["score"]["ipw"]
    assert set(m) == {"method", "estimand", "population", "auc", "tpr_at_fpr", "advantage", "mean_diff"}
    assert (m["method"], m["estimand"], m["population"]) == ("ipw", "ate", "all")
    assert set(m["tpr_at_fpr"]) == {"0.01", "0.05"}
    assert m["auc"]["ci"][0] <= m["auc"]["value"] <= m["auc"]["ci"][1]
    assert set(d["curves"]["score"]) == {"naive", "ipw", "dr", "ebal", "ipw_ato", "dr_ato"}
    assert all(len(v["fpr"]) <= 200 for v in d["curves"]["score"].values())
    hist = d["diagnostics"]["propensity_histogram"]
    assert sum(hist["member"]) + sum(hist["nonmember"]) == 1_500


def test_att_target_matches_the_members_population_truth():
    tr = true_metrics(1.0, 0.5, target="att", n_mc=10**6)
    s, c = simulate(N, 1.0, 0.5, seed=18)
    est = estimate(s, c, target="att", n_bootstrap=0, seed=0)
    for method in ("ipw", "dr"):
        assert abs(est.value("score", method, "auc") - tr["auc"]) < 0.02, method
        assert abs(est.value("score", method, "mean_diff") - tr["mean_diff"]) < 0.06, method
    assert est.to_dict()["diagnostics"]["ess"]["member"] == pytest.approx(int(s["member"].sum()))
