"""Simultaneous (sup-t) bands: coverage of a whole curve on simulations with known truth, and the
influence-function intervals against the bootstrap."""

import numpy as np
import pytest

from llm_audit.estimate import estimate
from llm_audit.estimate.bands import sup_t_band
from llm_audit.estimate.bootstrap import bootstrap_replicates
from llm_audit.estimate.estimands import ESTIMANDS
from llm_audit.estimate.grid_curves import fpr_grid
from llm_audit.estimate.intervals import curve_bands
from llm_audit.estimate.methods import METHODS, Problem
from llm_audit.estimate.outcome import threshold_grid
from llm_audit.simulate import _f, _population, _tau, simulate


def test_sup_t_band_covers_a_gaussian_curve_simultaneously():
    # A curve observed with correlated Gaussian noise; replicates drawn from the same law around the estimate
    # (what a bootstrap imitates). The sup-t band should cover the whole true curve ~95% of the time; the
    # pointwise +-1.96 band much less often.
    rng = np.random.default_rng(0)
    g = np.linspace(0, 1, 40)
    truth = np.sin(3 * g)
    cov = 0.01 * np.exp(-np.abs(g[:, None] - g[None, :]) / 0.1)
    root = np.linalg.cholesky(cov + 1e-12 * np.eye(40))
    cover_sup, cover_point = [], []
    for _ in range(400):
        point = truth + root @ rng.standard_normal(40)
        reps = point + rng.standard_normal((300, 40)) @ root.T
        band = sup_t_band(g, point, reps, bounds=(-10, 10))
        cover_sup.append(np.all((band.lower <= truth) & (truth <= band.upper)))
        sd = reps.std(axis=0, ddof=1)
        cover_point.append(np.all(np.abs(point - truth) <= 1.96 * sd))
        assert band.critical_value > 1.96
    assert 0.92 <= np.mean(cover_sup) <= 0.98
    assert np.mean(cover_point) < 0.8


@pytest.fixture(scope="module")
def true_curves():
    rng = np.random.default_rng(1)
    p = _population(400_000, rng)
    s0 = np.sort(_f(p) + rng.normal(size=len(p["x1"])))
    s1 = np.sort(_f(p) + rng.normal(size=len(p["x1"])) + _tau(p, 0.5))
    return s0, s1


def _survival(sorted_draws, c):
    return 1.0 - np.searchsorted(sorted_draws, c, side="left") / len(sorted_draws)


def test_bootstrap_bands_of_f0_f1_and_roc_cover_the_truth(true_curves):
    s0_mc, s1_mc = true_curves
    fpr = (0.05, 0.2)
    u = fpr_grid(fpr)
    hits = {"f0": [], "f1": [], "roc": []}
    widths = []
    for k in range(100):
        s, _ = simulate(800, 0.0, 0.5, seed=1000 + k)  # randomized: the naive curves estimate F_0 and F_1
        score, t = s["score"].to_numpy(), s["member"].to_numpy()
        grid = threshold_grid(score, 30)
        fit = METHODS["naive"].fit(Problem(score, t, fpr, ESTIMANDS["ate"], grid=grid, fpr_grid=u))
        reps = bootstrap_replicates({"naive": fit}, t, n_boot=300, seed=k)["naive"]
        bands = curve_bands(fit, reps, grid, u)
        for arm, mc in (("f0", s0_mc), ("f1", s1_mc)):
            truth = _survival(mc, grid)
            hits[arm].append(np.all((bands[arm].lower <= truth + 1e-12) & (truth <= bands[arm].upper + 1e-12)))
        # true ROC at FPR u: F_1 at the threshold where F_0 = u
        roc_truth = _survival(s1_mc, np.quantile(s0_mc, 1 - u))
        inner = (u >= 0.01) & (u <= 0.99)  # the ends pin at 0 and 1 with a few units
        hits["roc"].append(np.all((bands["roc"].lower[inner] <= roc_truth[inner] + 0.01)
                                  & (roc_truth[inner] <= bands["roc"].upper[inner] + 0.01)))
        lo, hi = np.quantile(reps["tpr_at_fpr"][0.05], [0.025, 0.975])
        widths.append((np.subtract(*bands["roc"].at(0.05)[::-1]), hi - lo))
    for name, h in hits.items():
        assert np.mean(h) >= 0.90, (name, np.mean(h))  # 95% nominal; 100 datasets
    band_w, point_w = np.mean(widths, axis=0)
    assert band_w > point_w  # a simultaneous statement costs width


def test_influence_function_intervals_agree_with_the_bootstrap():
    s, c = simulate(5_000, 1.0, 0.5, seed=31)
    kw = dict(n_bootstrap=400, seed=0, outcome="linear", fpr=(0.05,), n_jobs=1)
    boot = estimate(s, c, intervals="bootstrap", **kw)
    infl = estimate(s, c, intervals="influence", **kw)
    for key in ("naive", "ipw", "dr", "dr_ato"):
        for metric, fpr in (("auc", None), ("tpr_at_fpr", 0.05)):
            (a, b), (p, q) = boot.interval("score", key, metric, fpr), infl.interval("score", key, metric, fpr)
            assert boot.value("score", key, metric, fpr) == infl.value("score", key, metric, fpr)
            assert (q - p) == pytest.approx(b - a, rel=0.25), (key, metric)
            assert abs((p + q) / 2 - (a + b) / 2) < 0.25 * (b - a), (key, metric)
    assert "influence" in infl.to_dict()["scores"]["score"]["ipw"]["auc"]["ci_method"]
