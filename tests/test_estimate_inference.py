"""AUC against chance, one score and a family of scores: closed forms (normal tail, Sidak, Bonferroni)."""

import math

import numpy as np
import pytest

from llm_audit.estimate.inference import auc_inference, family_statement
from llm_audit.estimate.zero_run import ZeroRunEstimator
from llm_audit.simulate import simulate


def exact_sd(rng, theta, se, n):
    """n replicates with mean theta and sample standard deviation exactly se."""
    x = rng.normal(size=n)
    return theta + se * (x - x.mean()) / x.std(ddof=1)


def phi_inv(q):
    """Inverse normal CDF by bisection on math.erf (independent of scipy)."""
    lo, hi = -10.0, 10.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < q else (lo, mid)
    return (lo + hi) / 2


def test_z_and_p_against_the_normal_tail():
    rng = np.random.default_rng(0)
    fam = family_statement({"a": 0.58, "b": 0.47}, {"a": exact_sd(rng, 0.58, 0.04, 500),
                                                    "b": exact_sd(rng, 0.47, 0.02, 500)})
    a, b = fam["scores"]["a"], fam["scores"]["b"]
    assert a["z"] == pytest.approx(2.0) and b["z"] == pytest.approx(-1.5)
    assert a["p"] == pytest.approx(math.erfc(2.0 / math.sqrt(2))) and b["p"] == pytest.approx(math.erfc(1.5 / math.sqrt(2)))


def test_max_t_is_sidak_for_independent_scores_and_one_score_for_identical_ones():
    rng = np.random.default_rng(1)
    k, b = 4, 40_000
    theta = np.array([0.55, 0.6, 0.5, 0.52])
    se = np.array([0.02, 0.03, 0.01, 0.05])
    indep = theta[:, None] + se[:, None] * rng.normal(size=(k, b))
    names = list("abcd")
    fam = family_statement(dict(zip(names, theta)), dict(zip(names, indep)))
    sidak = phi_inv((1 + 0.95 ** (1 / k)) / 2)  # P(max |Z_k| <= c) = 0.95 for independent normals
    assert fam["adjustment"] == "max-t" and fam["critical_value"] == pytest.approx(sidak, abs=0.03)
    lo, hi = fam["scores"]["b"]["ci_simultaneous"]
    assert (lo, hi) == pytest.approx((0.6 - fam["critical_value"] * 0.03, 0.6 + fam["critical_value"] * 0.03), abs=2e-4)
    # score a: z = 2.5, one-score p = erfc(2.5 / sqrt 2); adjusted for 4 independent tests: 1 - (1 - p)^4
    p = math.erfc(2.5 / math.sqrt(2))
    assert fam["scores"]["a"]["p_adjusted"] == pytest.approx(1 - (1 - p) ** k, abs=0.006)
    same = np.repeat(indep[:1], k, axis=0) - theta[0] + theta[:, None]  # one score, four times over
    fam = family_statement(dict(zip(names, theta)), dict(zip(names, same)))
    assert fam["critical_value"] == pytest.approx(phi_inv(0.975), abs=0.03)


def test_replicates_not_resampled_alike_fall_back_to_bonferroni():
    rng = np.random.default_rng(2)
    names = list("abc")
    reps = {n: exact_sd(rng, 0.6, 0.05, 300) for n in names}
    fam = family_statement(dict.fromkeys(names, 0.6), reps, max_t=False)
    assert fam["adjustment"] == "bonferroni"
    assert fam["critical_value"] == fam["bonferroni_critical_value"] == pytest.approx(phi_inv(1 - 0.05 / 6), abs=1e-6)
    p = math.erfc(2.0 / math.sqrt(2))
    assert fam["scores"]["a"]["p_adjusted"] == pytest.approx(3 * p)


def test_the_estimator_states_every_method_across_scores():
    scores, covs = simulate(500, 1.0, 0.5, seed=4)
    scores["noise"] = np.random.default_rng(0).normal(size=len(scores))
    est = ZeroRunEstimator(bootstrap=200).fit(scores, covs).estimates_.to_dict()
    inf = est["diagnostics"]["inference"]
    assert inf["null"] == 0.5 and inf["level"] == 0.95
    for key in ("naive", "ipw", "dr"):
        fam = inf["families"][key]
        assert fam["adjustment"] == "max-t" and set(fam["scores"]) == {"score", "noise"}
        for name, row in fam["scores"].items():
            assert row["auc"] == pytest.approx(est["scores"][name][key]["auc"]["value"])
            assert row["p_adjusted"] >= row["p"] - 1e-9  # a family statement is never bolder than one test
            assert row["ci_simultaneous"][0] < row["auc"] < row["ci_simultaneous"][1]
    assert inf["families"]["dr"]["scores"]["score"]["p"] < 1e-3  # a real effect (tau 0.5)
    assert inf["families"]["dr"]["scores"]["noise"]["p_adjusted"] > 0.05  # pure noise


def test_no_replicates_no_family():
    assert auc_inference({}, {})["families"] == {}
    assert family_statement({"a": 0.5}, {"a": np.array([0.5])}) is None
