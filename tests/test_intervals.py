"""Intervals of the doubly robust figures: the floor at the per-fold spread (the outcome model's own error),
checked by hand and on simulated placebo scores that are exact functions of the covariates."""

import numpy as np
import pytest

from llm_audit.estimate.intervals import build_result
from llm_audit.estimate.methods.base import Point


class _Fit:
    """A fit whose replicates barely move but whose per-fold estimates disagree."""

    def __init__(self, folds):
        self.point = Point(0.503, {0.05: 0.06}, {0.05: 50.0}, 0.02, 0.0, (np.r_[0, 1.0], np.r_[0, 1.0]), mean_se=1e-4)
        self.folds = folds


def test_narrow_dr_intervals_are_widened_to_the_fold_to_fold_spread_with_a_student_quantile():
    folds = {"auc": np.array([0.49, 0.50, 0.51, 0.505, 0.495]), "tpr_at_fpr": {0.05: np.full(5, 0.06)},
             "advantage": np.full(5, 0.02), "mean_diff": np.array([-0.1, 0.0, 0.1, 0.05, -0.05])}
    reps = {"auc": np.full(200, 0.503) + np.linspace(-1e-4, 1e-4, 200), "tpr_at_fpr": {0.05: np.full(200, 0.06)},
            "advantage": np.full(200, 0.02), "mean_diff": np.zeros(200)}
    r = build_result(_Fit(folds), reps, "dr", "ate", "all", (0.05,), "bootstrap percentile")
    se = np.std(folds["auc"], ddof=1) / np.sqrt(5)  # 0.00354
    t4 = 2.7764451051977987  # Student's 97.5% quantile, 4 degrees of freedom (the SE rests on 5 fold estimates)
    assert r.auc.ci == pytest.approx([0.503 - t4 * se, 0.503 + t4 * se], abs=1e-9)
    assert "fold-to-fold" in r.auc.ci_method
    assert r.auc.ci[0] < 0.5 < r.auc.ci[1]  # the placebo's truth is back inside
    # a metric whose folds agree keeps its bootstrap interval
    assert r.tpr_at_fpr["0.05"].ci == pytest.approx([0.06, 0.06])
    assert "fold" not in r.tpr_at_fpr["0.05"].ci_method
    # the mean's influence-function SE is floored the same way
    se_mean = np.std(folds["mean_diff"], ddof=1) / np.sqrt(5)
    assert r.mean_diff.se == pytest.approx(se_mean)
    assert r.mean_diff.ci == pytest.approx([-t4 * se_mean, t4 * se_mean])


def _placebo_dr(seed):
    from llm_audit.estimate import estimate
    from llm_audit.simulate import simulate

    s, c = simulate(1_000, 1.0, 0.5, outcome="function", seed=seed)
    est = estimate(s, c, n_bootstrap=200, seed=seed, n_jobs=1, fpr=(0.05,), methods=("naive", "dr"), estimands=[])
    return est.value("score", "dr", "auc"), est.interval("score", "dr", "auc"), est.interval("score", "naive", "auc")


@pytest.mark.slow
def test_dr_intervals_of_a_placebo_that_is_a_function_of_the_covariates_cover_chance():
    runs = [_placebo_dr(seed) for seed in range(40)]
    assert np.mean([lo <= 0.5 <= hi for _, (lo, hi), _ in runs]) >= 0.9
    assert np.mean([lo <= 0.5 <= hi for _, _, (lo, hi) in runs]) == 0.0  # the naive figure is confounded
