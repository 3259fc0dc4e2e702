"""Score distributions per arm (naive and weighted) against a plain loop over the units."""

import numpy as np
import pytest

from llm_audit.estimate.distributions import arm_densities
from llm_audit.estimate.zero_run import ZeroRunEstimator
from llm_audit.simulate import simulate


def loop_densities(score, member, edges, weight):
    """Each unit's weight added to its bin found by walking the edges; outer bins take what lies beyond."""
    k = len(edges) - 1
    mass = {1: [0.0] * k, 0: [0.0] * k}
    for s, t, w in zip(score, member, weight):
        b = 0
        while b < k - 1 and s >= edges[b + 1]:
            b += 1
        mass[int(t)][b] += w
    out = {}
    for arm, name in ((1, "member"), (0, "nonmember")):
        total = sum(mass[arm])
        out[name] = [m / total / (edges[i + 1] - edges[i]) for i, m in enumerate(mass[arm])]
    return out


def test_arm_densities_match_a_loop_and_integrate_to_one():
    rng = np.random.default_rng(0)
    s = rng.normal(size=500)
    t = rng.integers(0, 2, 500)
    w = rng.uniform(0.2, 3.0, 500)
    edges = np.linspace(-1.5, 1.5, 13)  # many units lie beyond: they count in the outer bins
    got = arm_densities(s, t, edges, w)
    want = loop_densities(s, t, edges, w)
    for arm in ("member", "nonmember"):
        assert got[arm] == pytest.approx(want[arm], rel=1e-12)
        assert float(np.sum(np.array(got[arm]) * np.diff(edges))) == pytest.approx(1.0)


def test_the_estimator_records_naive_and_inverse_propensity_weighted_densities():
    scores, covs = simulate(600, 1.0, 0.5, seed=3)
    est = ZeroRunEstimator(bootstrap=0).fit(scores, covs)
    dist = est.estimates_.to_dict()["diagnostics"]["distributions"]["score"]
    s, t = est.data_.scores["score"], est.data_.member  # the units in id order, as the estimator holds them
    e = est.nuisance_.overlap.e  # the clipped propensity the corrected methods use
    edges = np.array(dist["edges"])
    assert edges[0] == pytest.approx(np.quantile(s, 0.005)) and edges[-1] == pytest.approx(np.quantile(s, 0.995))
    # estimates.json keeps 10 significant digits: rel=1e-8
    assert dist["naive"]["member"] == pytest.approx(loop_densities(s, t, edges, np.ones(len(s)))["member"], rel=1e-8)
    # ATE weights written out: 1/e for members, 1/(1-e) for non-members (each arm normalized by the loop)
    w = [1 / ei if ti else 1 / (1 - ei) for ei, ti in zip(e, t)]
    want = loop_densities(s, t, edges, w)
    assert dist["weighted"]["population"] == "all" and dist["weighted"]["estimand"] == "ate"
    assert dist["weighted"]["member"] == pytest.approx(want["member"], rel=1e-8)
    assert dist["weighted"]["nonmember"] == pytest.approx(want["nonmember"], rel=1e-8)
    assert dist["outside"]["below"] + dist["outside"]["above"] == int((s < edges[0]).sum() + (s > edges[-1]).sum())
