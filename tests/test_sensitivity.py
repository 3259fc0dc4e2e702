"""The range of the AUC under an unmeasured confounder of strength Gamma against brute force over every vertex
of the weight box (the AUC is linear-fractional in each arm's weights, so its extrema lie at vertices)."""

import itertools

import numpy as np
import pytest

from llm_audit.estimate import sensitivity
from llm_audit.estimate.estimands import get_estimand
from llm_audit.estimate.sensitivity import auc_bounds_under_confounding


def _brute(s, t, e, estimand, gamma):
    lo, hi = estimand.weight_bounds(e, t, gamma)
    v = np.array(list(itertools.product((0.0, 1.0), repeat=len(s))))
    w = lo[None, :] + v * (hi - lo)[None, :]
    credit = (s[t][:, None] > s[~t][None, :]) + 0.5 * (s[t][:, None] == s[~t][None, :])
    w1, w0 = w[:, t], w[:, ~t]
    auc = np.einsum("bi,ij,bj->b", w1, credit, w0) / (w1.sum(1) * w0.sum(1))
    return auc.min(), auc.max()


def _problem(seed):
    rng = np.random.default_rng(seed)
    t = np.r_[np.ones(6, bool), np.zeros(6, bool)]
    s = np.round(rng.normal(size=12) + 0.5 * t, 1 if seed % 2 else 3)  # odd seeds: ties across the arms
    return s, t, rng.uniform(0.1, 0.9, size=12)


@pytest.mark.parametrize("target", ["ate", "att"])
def test_the_range_is_the_brute_force_range_where_every_pair_of_thresholds_is_tried(target):
    estimand = get_estimand(target)
    for seed in range(30):
        s, t, e = _problem(seed)
        for gamma in (1.5, 3.0):
            assert auc_bounds_under_confounding(s, t, e, estimand, gamma) == pytest.approx(
                _brute(s, t, e, estimand, gamma), abs=1e-12)


def test_the_alternating_search_of_large_audits_stays_inside_the_range(monkeypatch):
    """Beyond EXACT_CELLS pairs the arms' best responses alternate: each value it reports is one the box
    reaches (never outside the true range), though it may stop short of the extreme."""
    monkeypatch.setattr(sensitivity, "EXACT_CELLS", 0)
    estimand = get_estimand("ate")
    short = 0.0
    for seed in range(30):
        s, t, e = _problem(seed)
        lo, hi = auc_bounds_under_confounding(s, t, e, estimand, 3.0)
        b_lo, b_hi = _brute(s, t, e, estimand, 3.0)
        assert b_lo - 1e-12 <= lo <= hi <= b_hi + 1e-12
        short = max(short, lo - b_lo, b_hi - hi)
    assert short < 0.05


@pytest.mark.parametrize("n", [40, 600])  # the exact pair search, then the alternating one
def test_gamma_search_reads_the_near_end_only_and_stops_where_the_full_range_first_reaches(n):
    """The search computes only the end of the AUC range on the reference's side; the Gamma it returns is where
    the full (lowest, highest) range first reaches the reference: reached there, not one bisection step below."""
    rng = np.random.default_rng(n)
    x = rng.normal(size=n)
    t = rng.uniform(size=n) < 1 / (1 + np.exp(-x))
    s, e = x + 0.5 * t + rng.normal(size=n), np.clip(1 / (1 + np.exp(-x)), 0.02, 0.98)
    step = np.exp(-np.log(20.0) / 2**14)  # the last bracket of 14 halvings of [0, log 20]

    def reaches(estimand, reference, g):
        lo, hi = auc_bounds_under_confounding(s, t, e, estimand, g)
        return lo - 1e-12 <= reference <= hi + 1e-12

    point = auc_bounds_under_confounding(s, t, e, get_estimand("ate"), 1.0)[0]
    for name in ("ate", "ato"):
        estimand = get_estimand(name)
        for reference in (0.5, point + 0.08):  # below the corrected AUC, above it
            g = sensitivity.sensitivity_gamma(s, t, e, estimand, reference, 20.0)
            assert g is not None and g > 1.0
            assert reaches(estimand, reference, g) and not reaches(estimand, reference, g * step)
        assert sensitivity.sensitivity_gamma(s, t, e, estimand, 0.99, 20.0) is None
        assert not reaches(estimand, 0.99, 20.0)
