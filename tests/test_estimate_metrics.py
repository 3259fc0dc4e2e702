"""Weighted ROC metrics and weights against plain loops and closed forms."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from llm_audit.estimate.metrics import (
    advantage,
    curve_auc,
    downsample_curve,
    roc_curve_weighted,
    roc_metrics,
    weighted_auc,
    weighted_mean_diff,
)
from llm_audit.estimate.estimands import ESTIMANDS
from llm_audit.estimate.weights import hajek, kish_ess


def _double_loop_auc(s, t, w):
    num = den = 0.0
    for i in np.flatnonzero(t == 1):
        for j in np.flatnonzero(t == 0):
            k = 1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0
            num += w[i] * w[j] * k
            den += w[i] * w[j]
    return num / den


def test_weighted_auc_equals_sklearn_and_double_loop():
    rng = np.random.default_rng(1)
    n = 300
    s = np.round(rng.normal(size=n), 1)  # rounding creates ties
    t = rng.integers(0, 2, n)
    e = rng.uniform(0.1, 0.9, n)
    w = hajek(ESTIMANDS["ate"].residual_weights(e, t), t)
    loop = _double_loop_auc(s, t, w)
    assert abs(weighted_auc(s, t, w) - loop) < 1e-10
    assert abs(roc_auc_score(t, s, sample_weight=w) - loop) < 1e-10
    c = roc_curve_weighted(s, t, w)
    assert abs(curve_auc(c.fpr, c.tpr) - loop) < 1e-10


def test_tpr_at_fpr_rule_largest_tpr_with_fpr_at_most_target():
    # non-members 0..99, members 50..149: at FPR <= 0.1 the threshold is >= 90 -> TPR = 60/100
    s = np.r_[np.arange(100), np.arange(50, 150)].astype(float)
    t = np.r_[np.zeros(100), np.ones(100)]
    m = roc_metrics(s, t, None, (0.001, 0.1))
    assert m.tpr_at_fpr[0.1] == pytest.approx(0.60)
    assert m.n_eff_above[0.1] == pytest.approx(10.0)
    assert m.tpr_at_fpr[0.001] == pytest.approx(0.50)  # members 100..149 lie above every non-member
    assert m.n_eff_above[0.001] == 0.0
    # loop check of advantage: max over thresholds of TPR - FPR
    best = max(np.mean(s[t == 1] >= c) - np.mean(s[t == 0] >= c) for c in np.unique(s))
    assert m.advantage == pytest.approx(best)


def test_mean_diff_and_weights():
    s = np.array([1.0, 2.0, 3.0, 10.0])
    t = np.array([1, 1, 0, 0])
    w = np.array([1.0, 3.0, 1.0, 1.0])
    assert weighted_mean_diff(s, t, w) == pytest.approx((1 + 6) / 4 - 6.5)
    e = np.array([0.5, 0.25, 0.5, 0.8])
    assert ESTIMANDS["ate"].residual_weights(e, t).tolist() == pytest.approx([2, 4, 2, 5])
    assert ESTIMANDS["att"].residual_weights(e, t).tolist() == pytest.approx([1, 1, 1, 4])
    assert ESTIMANDS["atc"].residual_weights(e, t).tolist() == pytest.approx([1, 3, 1, 1])
    h = hajek(ESTIMANDS["ate"].residual_weights(e, t), t)
    assert h[t == 1].sum() == pytest.approx(1) and h[t == 0].sum() == pytest.approx(1)
    assert kish_ess(np.ones(7)) == pytest.approx(7)
    assert kish_ess(np.array([1.0, 0, 0])) == pytest.approx(1)


def test_constant_scores_give_chance_and_downsample_keeps_ends():
    t = np.r_[np.zeros(50), np.ones(50)]
    m = roc_metrics(np.ones(100), t)
    assert m.auc == 0.5 and m.advantage == 0.0 and m.tpr_at_fpr[0.01] == 0.0
    rng = np.random.default_rng(0)
    c = roc_curve_weighted(rng.normal(size=5000), rng.integers(0, 2, 5000))
    f, r = downsample_curve(c.fpr, c.tpr, 200)
    assert len(f) <= 200 and f[0] == 0.0 and f[-1] == 1.0 and r[-1] == 1.0
    assert advantage(np.array(f), np.array(r)) <= advantage(c.fpr, c.tpr) + 1e-12
