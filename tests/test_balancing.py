"""Entropy balancing (llm_audit.estimate.balancing) against closed forms and an independent solver."""

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from llm_audit.estimate.balancing import balance_design, entropy_balance, entropy_weights
from llm_audit.estimate.estimands import ESTIMANDS
from llm_audit.simulate import simulate


@pytest.mark.parametrize("target", ["ate", "att", "atc"])
def test_weighted_means_of_every_design_column_equal_the_target_mean(target):
    s, c = simulate(3_000, 1.5, 0.5, seed=3)
    cov, t = c.drop(columns="id"), s["member"].to_numpy().astype(bool)
    bw = entropy_balance(cov, t, ESTIMANDS[target])
    assert bw.status == "exact" and bw.identified
    _, x = balance_design(cov)
    target_rows = {"ate": np.ones(len(t), bool), "att": t, "atc": ~t}[target]
    m = x[target_rows].mean(axis=0)
    for arm in (t, ~t):
        w = bw.weights[arm]
        assert np.all(w > 0) and w.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(w @ x[arm], m, atol=1e-8)
    # the arm that defines the target keeps uniform weights
    if target != "ate":
        w = bw.weights[target_rows]
        np.testing.assert_allclose(w, 1.0 / target_rows.sum())


def test_one_binary_covariate_gives_the_closed_form():
    # With one 0/1 column, balancing to a share m gives each unit of the arm with x = 1 the weight m / n_1 and
    # each with x = 0 the weight (1 - m) / n_0 (the maximum-entropy distribution with that mean).
    rng = np.random.default_rng(0)
    x = (rng.uniform(size=400) < 0.3).astype(float)
    z = x[:, None]
    w, gap = entropy_weights(z, np.array([0.55]))
    n1, n0 = x.sum(), len(x) - x.sum()
    expected = np.where(x == 1, 0.55 / n1, 0.45 / n0)
    np.testing.assert_allclose(w, expected, rtol=1e-6)
    assert gap < 1e-8


def test_dual_solution_is_the_primal_kl_minimizer():
    # an independent solver on the primal: minimize sum w log w subject to sum w = 1 and sum w z = m
    rng = np.random.default_rng(1)
    z = rng.normal(size=(60, 3))
    m = np.array([0.2, -0.1, 0.15])
    w_dual, _ = entropy_weights(z, m)
    cons = [{"type": "eq", "fun": lambda w: w.sum() - 1.0}, {"type": "eq", "fun": lambda w: w @ z - m}]
    res = minimize(lambda w: np.sum(w * np.log(w)), np.full(60, 1 / 60), constraints=cons,
                   bounds=[(1e-9, 1)] * 60, method="SLSQP", options={"ftol": 1e-14, "maxiter": 500})
    np.testing.assert_allclose(w_dual, res.x, atol=1e-5)


def test_target_outside_the_convex_hull_is_not_identified_with_the_column_named():
    rng = np.random.default_rng(2)
    n = 400
    cov = pd.DataFrame({"length": rng.normal(size=n), "age": rng.normal(size=n)})
    t = (cov["length"] > 0.3).to_numpy()  # members all have length > 0.3; the pooled mean is below that
    bw = entropy_balance(cov, t, ESTIMANDS["ate"])
    assert bw.status == "not_identified" and bw.weights is None
    assert any("convex hull of the members'" in r and "'length'" in r for r in bw.reasons)


def test_approximate_balance_reports_its_residual_gap():
    # many columns, few units: the ridge-penalized dual leaves a small gap, reported, and far below the raw one
    rng = np.random.default_rng(3)
    n, k = 80, 30
    cov = pd.DataFrame(rng.normal(size=(n, k)), columns=[f"x{j}" for j in range(k)])
    t = (cov["x0"] + rng.normal(size=n) > 0).to_numpy()
    _, x = balance_design(cov)
    raw_gap = np.max(np.abs(x[t].mean(axis=0) - x.mean(axis=0)) / x.std(axis=0))
    bw = entropy_balance(cov, t, ESTIMANDS["ate"], penalty=0.5)
    assert bw.status in ("approximate", "not_identified")
    assert 0 < bw.max_gap < raw_gap
    if bw.identified:
        gap = np.max(np.abs(bw.weights[t] @ x[t] - x.mean(axis=0)) / x.std(axis=0))
        assert gap <= bw.max_gap + 1e-9


def test_overlap_estimand_has_no_entropy_balanced_form():
    s, c = simulate(200, 1.0, 0.5, seed=4)
    with pytest.raises(ValueError, match="ato"):
        entropy_balance(c.drop(columns="id"), s["member"].to_numpy(), ESTIMANDS["ato"])


def test_ebal_methods_correct_the_confounded_auc():
    from llm_audit.estimate import estimate
    from llm_audit.simulate import true_metrics

    truth = true_metrics(1.0, 0.5, n_mc=10**6)
    s, c = simulate(10_000, 1.0, 0.5, seed=5)
    est = estimate(s, c, n_bootstrap=0, seed=0, outcome="linear", methods=("naive", "ebal", "dr_ebal"))
    assert est.value("score", "naive", "auc") - truth["auc"] > 0.1
    for key in ("ebal", "dr_ebal"):
        r = est.results("score")[key]
        assert (r.method, r.estimand) == (key, "ate")
        assert abs(r.auc.value - truth["auc"]) < 0.015, key
        assert abs(r.mean_diff.value - truth["mean_diff"]) < 0.05, key
    ebal = est.to_dict()["diagnostics"]["estimands"]["ate"]["entropy_balancing"]
    assert ebal["status"] == "exact" and ebal["max_gap"] < 1e-6


def test_infeasible_balance_withholds_only_the_ebal_methods_and_says_why():
    from llm_audit.estimate import estimate

    s, c = simulate(3_000, 0.5, 0.5, seed=6)
    rng = np.random.default_rng(6)
    t = s["member"].to_numpy()
    # a flag every member carries and 5% of non-members lack: the pooled share of the flag is below 1, which
    # no weighting of the members (all flagged) can reach
    c["flag"] = np.where((t == 0) & (rng.uniform(size=len(t)) < 0.05), "no", "yes")
    est = estimate(s, c, n_bootstrap=0, seed=0, outcome="linear", methods=("naive", "ipw", "ebal", "dr_ebal"))
    d = est.to_dict()
    assert d["scores"]["score"]["ebal"]["auc"]["value"] is None
    assert d["scores"]["score"]["dr_ebal"]["auc"]["value"] is None
    assert d["scores"]["score"]["ipw"]["auc"]["value"] is not None
    reasons = d["diagnostics"]["estimands"]["ate"]["entropy_balancing"]["reasons"]
    assert any("members'" in r and "flag" in r for r in reasons)
    assert any("convex hull" in n for n in est.notes)
