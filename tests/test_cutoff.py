"""The cutoff design (docs/cutoff.md) and the bounds where overlap fails, against simulated truths, plain loops
and closed forms."""

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from llm_audit.corpora import load_mimir, load_wikimia
from llm_audit.errors import AuditError
from llm_audit.estimate.bounds import auc_bounds
from llm_audit.estimate.cutoff.rd import (
    MIN_TEXTS_PER_SIDE, _resample_within_sides, detrended, local_auc, rd_jump, triangular_weights,
)
from llm_audit.estimate.cutoff.analysis import analyse_cutoff
from llm_audit.estimate.cutoff.checks import covariate_jumps, density_test, placebo_jumps
from llm_audit.estimate.cutoff.design import as_years, detect_d0, detect_design
from llm_audit.estimate.metrics import weighted_auc
from llm_audit.estimate.estimands import ESTIMANDS
from llm_audit.estimate.weights import hajek
from llm_audit.simulate_cutoff import simulate_dated, true_local_auc

N_BOOT = 200


def _contains(ci, value) -> bool:
    return ci[0] <= value <= ci[1]


# --- design ---------------------------------------------------------------------------------------------

def test_as_years_reads_numbers_datetimes_and_iso_strings():
    expected = np.array([2019.0, 2020.0 + 182 / 366, np.nan])
    assert np.allclose(as_years([2019, 2020 + 182 / 366, np.nan]), expected, equal_nan=True)
    assert np.allclose(as_years(["2019-01-01", "2020-07-01", None]), expected, equal_nan=True)
    stamps = pd.Series(pd.to_datetime(["2019-01-01", "2020-07-01", None]))
    assert np.allclose(as_years(stamps), expected, equal_nan=True)
    assert np.allclose(as_years([dt.date(2019, 1, 1)]), [2019.0])
    with pytest.raises(AuditError, match="row 2"):
        as_years(["2019-01-01", "last spring"])


def test_detect_d0_puts_the_cutoff_in_the_gap_and_counts_violations():
    rng = np.random.default_rng(0)
    dates = np.r_[rng.uniform(2000, 2015.2, 300), rng.uniform(2015.6, 2022, 200)]
    member = np.r_[np.ones(300), np.zeros(200)].astype(int)
    d0 = detect_d0(dates, member)
    assert dates[member == 1].max() < d0 <= dates[member == 0].min()
    # three members dated late and two non-members dated early: the best cutoff is unchanged, and the
    # violations are those five texts (counted here by hand)
    dates[:3] = [2016.0, 2017.0, 2018.0]
    dates[300:302] = [2001.0, 2002.0]
    design = detect_design(dates, member)
    assert dates[3:300].max() < design.d0 <= dates[302:].min()
    assert (design.n_members_after, design.n_nonmembers_before) == (3, 2)
    assert design.violation_share == pytest.approx(5 / 500) and design.is_cutoff
    given = detect_design(dates, member, d0="2010-01-01")
    manual = np.sum((member == 1) & (dates >= 2010.0)) + np.sum((member == 0) & (dates < 2010.0))
    assert given.d0_source == "given" and given.violation_share == pytest.approx(manual / 500)
    assert not given.is_cutoff


def test_labels_unrelated_to_the_date_are_not_a_cutoff_design_and_get_no_estimate():
    rng = np.random.default_rng(1)
    dates = rng.uniform(2000, 2020, 400)
    member = rng.integers(0, 2, 400)
    result = analyse_cutoff({"loss": rng.normal(size=400)}, dates, member, n_bootstrap=0)
    assert not result.design.is_cutoff and result.scores == {}
    assert "not a cutoff design" in result.reason
    assert result.to_dict()["scores"] == {}


# --- the jump in the mean -------------------------------------------------------------------------------

def test_rd_recovers_a_jump_under_a_nonlinear_trend():
    df = simulate_dated(2000, jump=0.5, trend_kind="nonlinear", seed=3)
    est = rd_jump(df["score"], df["date"], 2010.0)
    assert _contains(est.ci, 0.5) and est.ci[0] > 0
    assert est.n_member_side >= MIN_TEXTS_PER_SIDE and est.h > 0


def test_a_smooth_trend_is_not_read_as_memorization():
    df = simulate_dated(2000, jump=0.0, trend_kind="nonlinear", seed=4)
    naive = df.loc[df.member == 1, "score"].mean() - df.loc[df.member == 0, "score"].mean()
    assert naive < -0.8  # older texts score lower: the naive figure is far from 0
    est = rd_jump(df["score"], df["date"], 2010.0)
    assert _contains(est.ci, 0.0)
    assert abs(weighted_auc(df["score"], df["member"]) - 0.5) > 0.2


def test_sign_is_members_side_minus_the_other_side():
    df = simulate_dated(1500, jump=-2.0, seed=5)  # members score lower at d0
    est = rd_jump(df["score"], df["date"], 2010.0)
    assert est.value < -1.0 and est.ci[1] < 0 and est.bias_corrected < -1.0


def test_detrended_kernel_mean_difference_is_rdrobust_conventional_estimate():
    # Weighted least squares with an intercept leaves residuals of weighted mean 0, so the kernel-weighted
    # mean of S - beta (D - d0) on a side is that side's local-linear intercept: the difference of the two
    # is rdrobust's conventional estimate at the same bandwidth (an independent implementation).
    df = simulate_dated(800, jump=0.7, trend_kind="nonlinear", seed=6)
    h = 3.0
    u = df["date"].to_numpy() - 2010.0
    near = np.abs(u) < h
    k = triangular_weights(u[near], 0.0, h)
    before = u[near] < 0
    adjusted, _ = detrended(df["score"].to_numpy()[near], u[near], k, before)
    diff = np.average(adjusted[before], weights=k[before]) - np.average(adjusted[~before], weights=k[~before])
    assert diff == pytest.approx(rd_jump(df["score"], df["date"], 2010.0, h=h).value, rel=1e-8)


# --- the local AUC --------------------------------------------------------------------------------------

def _brute_force_local_auc(s, d, d0, h, b=None, degree=1):
    """Per-side polynomial trend by numpy's polyfit (kernel of bandwidth b), then a kernel-weighted
    double loop over the (before, after) pairs of texts within h."""
    b = h if b is None else b
    u = d - d0
    adjusted = s.copy()
    for side in (u < 0, u >= 0):
        fit = side & (np.abs(u) < b)
        w = 1 - np.abs(u[fit]) / b
        coef = np.polyfit(u[fit], s[fit], degree, w=np.sqrt(w))  # polyfit weights multiply residuals
        adjusted[side] = s[side] - (np.polyval(coef, u[side]) - coef[-1])
    k = np.clip(1 - np.abs(u) / h, 0, None)
    num = den = 0.0
    for i in np.flatnonzero((u < 0) & (k > 0)):
        for j in np.flatnonzero((u >= 0) & (k > 0)):
            num += k[i] * k[j] * (1.0 if adjusted[i] > adjusted[j] else 0.5 if adjusted[i] == adjusted[j] else 0.0)
            den += k[i] * k[j]
    return num / den


def test_local_auc_equals_a_kernel_weighted_double_loop():
    df = simulate_dated(200, jump=0.4, trend_kind="nonlinear", seed=7)
    s = np.round(df["score"].to_numpy(), 1)  # ties among the scores
    d = np.round(df["date"].to_numpy(), 0)  # whole years: ties in the date
    h, b = 6.0, 8.0
    got = local_auc(s, d, 2009.5, h, b=b, n_bootstrap=0)
    assert got.auc["value"] == pytest.approx(_brute_force_local_auc(s, d, 2009.5, h), abs=1e-12)
    assert got.auc["bias_corrected"] == pytest.approx(_brute_force_local_auc(s, d, 2009.5, h, b, degree=2), abs=1e-12)
    assert got.n_member_side + got.n_nonmember_side == np.sum(np.abs(d - 2009.5) < h)


def test_local_auc_covers_the_true_auc_and_ignores_the_trend():
    for jump, seed in ((0.6, 8), (0.0, 9)):
        df = simulate_dated(2000, jump=jump, trend_kind="nonlinear", seed=seed)
        mean = rd_jump(df["score"], df["date"], 2010.0)
        got = local_auc(df["score"], df["date"], 2010.0, mean.h, b=mean.b, n_bootstrap=N_BOOT, seed=seed)
        assert _contains(got.auc["ci"], true_local_auc(jump))


def test_tpr_at_fpr_only_with_enough_nonmembers_near_the_cutoff():
    df = simulate_dated(3000, jump=1.0, seed=10)
    got = local_auc(df["score"], df["date"], 2010.0, 8.0, fpr=(0.001, 0.05), n_bootstrap=50)
    assert got.tpr_at_fpr["0.001"]["value"] is None and "10 / FPR" in got.tpr_at_fpr["0.001"]["reason"]
    tpr = got.tpr_at_fpr["0.05"]
    assert 0 < tpr["value"] < 1 and _contains(tpr["ci"], tpr["value"]) and tpr["n_eff_nonmember_above"] > 10


def test_cluster_bootstrap_redraws_whole_clusters_within_sides():
    before = np.array([True] * 6 + [False] * 4)
    groups = np.array([0, 0, 0, 1, 1, 2, 3, 3, 4, 4])
    counts = _resample_within_sides(before, groups, np.random.default_rng(0))
    for g in np.unique(groups):
        assert len(set(counts[groups == g])) == 1
    assert counts[before].sum() == pytest.approx(6, abs=3) and counts[~before].sum() == 4


def test_cluster_bootstrap_with_too_few_clusters_gives_no_interval():
    # three speeches a side, every chunk of a speech on its date: most replicates redraw fewer than three
    # distinct speeches on a side and cannot fit its quadratic; eight speeches a side leave enough
    rng = np.random.default_rng(22)
    for n_speeches, usable in ((3, False), (8, True)):
        dates = 2009.7 + np.repeat(np.r_[-np.arange(1, n_speeches + 1), np.arange(n_speeches)] + 0.5, 25)
        speech = np.repeat(np.arange(2 * n_speeches), 25)
        score = rng.normal(size=len(dates)) + 0.1 * speech
        got = local_auc(score, dates, 2009.7, n_speeches + 1.0, cluster=speech, n_bootstrap=200, seed=1)
        assert got.auc["value"] is not None
        if usable:
            assert got.bootstrap_dropped <= 20 and got.auc["ci"][0] < got.auc["value"] < got.auc["ci"][1]
        else:
            assert got.bootstrap_dropped > 20 and got.auc["ci"] is None and "too few clusters" in got.reason


# --- refusals -------------------------------------------------------------------------------------------

def test_too_few_texts_near_the_cutoff_give_no_number():
    rng = np.random.default_rng(11)
    dates = np.r_[rng.uniform(2000, 2010, 300), rng.uniform(2010, 2012, 12)]
    score = rng.normal(size=len(dates))
    est = rd_jump(score, dates, 2010.0)
    assert est.value is None and est.ci is None and "too few texts near the cutoff" in est.reason
    assert local_auc(score, dates, 2010.0, 2.0, n_bootstrap=10).auc == {"value": None, "ci": None}


def test_a_single_date_after_the_cutoff_gives_no_number():
    # the State of the Union at SmolLM2's cutoff: 83 chunks, all from one speech
    rng = np.random.default_rng(12)
    dates = np.r_[np.repeat(np.arange(2000.1, 2024.1), 10), np.full(83, 2026.15)]
    member = (dates < 2024.8).astype(int)
    result = analyse_cutoff({"loss": rng.normal(size=len(dates))}, dates, member, d0=2024.8, n_bootstrap=10)
    score = result.scores["loss"]
    assert score.mean.value is None and "1 date after" in score.mean.reason
    assert score.local_auc.auc["value"] is None and result.to_dict()["scores"]["loss"]["mean"]["value"] is None


# --- checks ---------------------------------------------------------------------------------------------

def test_covariate_check_flags_the_covariate_that_jumps():
    df = simulate_dated(2000, jump=0.0, covariate_jump=0.8, seed=13)
    rng = np.random.default_rng(13)
    covariates = pd.DataFrame({"length": df["length"], "smooth": rng.normal(size=2000) + 0.1 * (df["date"] - 2010),
                               "domain": "web"})
    checks = covariate_jumps(covariates, df["date"], 2010.0)
    assert checks.jumping == ["length"] and checks.skipped == {"domain": "not numeric"}
    assert _contains(checks.estimates["length"].ci, 0.8)


def test_density_test_sees_unequal_sampling_around_the_cutoff():
    rng = np.random.default_rng(14)
    even = rng.uniform(2000, 2020, 2000)
    assert density_test(even, 2010.0).p_value > 0.05
    uneven = np.r_[rng.uniform(2000, 2010, 2000), rng.uniform(2010, 2020, 700)]
    assert density_test(uneven, 2010.0).p_value < 0.01


def test_placebo_cutoffs_sit_inside_the_members_dates_and_find_no_jump():
    df = simulate_dated(3000, jump=1.0, trend_kind="nonlinear", seed=15)
    placebos = placebo_jumps(df["score"], df["date"], 2010.0)
    assert len(placebos) == 3 and all(c < 2010.0 for c in placebos)
    assert all(_contains(e.ci, 0.0) for e in placebos.values())


def test_full_analysis_to_dict_has_the_value_with_interval_shape():
    df = simulate_dated(1500, jump=0.5, seed=16)
    result = analyse_cutoff(df[["score"]], df["date"], df["member"], covariates=df[["length"]], n_bootstrap=50)
    out = result.to_dict()
    score = out["scores"]["score"]
    for entry in (score["mean"], score["local_auc"]["auc"], score["bandwidths"]["2h"]["mean"]):
        assert set(entry) >= {"value", "ci"} and len(entry["ci"]) == 2
    assert score["bandwidths"]["h/2"]["mean"]["h"] == pytest.approx(score["mean"]["h"] / 2)
    assert out["design"]["d0_source"] == "detected" and "near d0" in out["statement"]
    assert out["density"]["p_value"] is not None and out["covariates"]["n_tested"] == 1
    json.dumps(out, allow_nan=False)  # plain JSON, ready for estimates.json


# --- bounds ---------------------------------------------------------------------------------------------

def _brute_force_bounds(s, t, e, eta):
    """Each unit's S(1) / S(0) weight written out region by region, then a double loop over pairs."""
    n = len(s)
    o = (e >= eta) & (e <= 1 - eta)
    n1, n0 = e > 1 - eta, e < eta
    w1, w0 = np.zeros(n), np.zeros(n)
    for i in range(n):
        if t[i] and o[i]:
            w1[i] = (1 / e[i]) / sum(1 / e[k] for k in range(n) if t[k] and o[k]) * o.mean()
        elif t[i] and n1[i]:
            w1[i] = n1.mean() / sum(1 for k in range(n) if t[k] and n1[k])
        if not t[i] and o[i]:
            w0[i] = (1 / (1 - e[i])) / sum(1 / (1 - e[k]) for k in range(n) if not t[k] and o[k]) * o.mean()
        elif not t[i] and n0[i]:
            w0[i] = n0.mean() / sum(1 for k in range(n) if not t[k] and n0[k])
    theta = sum(w1[i] * w0[j] * (1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0)
                for i in range(n) for j in range(n))
    unidentified = 1 - (o.mean() + n1.mean()) * (o.mean() + n0.mean())
    return theta, theta + unidentified


def test_bounds_equal_a_double_loop():
    rng = np.random.default_rng(17)
    n = 60
    x = rng.normal(size=n)
    e = 1 / (1 + np.exp(-3 * x))
    t = rng.random(n) < e
    t[np.argmin(e)] = True  # a member where only non-members are expected: not used
    s = np.round(x + 0.5 * t + rng.normal(size=n), 1)  # ties
    got = auc_bounds(s, t, e, eta=0.1, n_bootstrap=0)
    assert (got.lower, got.upper) == pytest.approx(_brute_force_bounds(s, t, e, 0.1), abs=1e-12)
    assert got.upper - got.lower == pytest.approx(got.unidentified_share)
    assert sum(got.shares.values()) == pytest.approx(1.0)
    out = got.to_dict()
    assert out["value"] is None and out["identified_set"] == [got.lower, got.upper]
    json.dumps(out, allow_nan=False)


def test_full_overlap_collapses_the_bounds_to_the_ipw_auc():
    rng = np.random.default_rng(18)
    x = rng.normal(size=500)
    e = 1 / (1 + np.exp(-0.5 * x))
    t = rng.random(500) < e
    s = x + t + rng.normal(size=500)
    got = auc_bounds(s, t, e, eta=0.02, n_bootstrap=0)
    ipw = weighted_auc(s, t, hajek(ESTIMANDS["ate"].residual_weights(e, t), t))
    assert got.lower == pytest.approx(ipw, abs=1e-12) and got.upper == pytest.approx(ipw, abs=1e-12)


def test_bounds_contain_the_truth_and_are_sharp_on_a_perfect_cutoff():
    # No overlap at all: the members' scores and the non-members' scores are the whole identified part, so
    # the population truth (a double loop over all pairs of potential scores) must lie in [lower, upper]
    # exactly, and reach either end when the unseen potential scores are as extreme as can be.
    rng = np.random.default_rng(19)
    n = 80
    t = np.arange(n) < 50
    e = t.astype(float)
    s1, s0 = rng.normal(0.5, 1, n), rng.normal(0, 1, n)
    s = np.where(t, s1, s0)
    got = auc_bounds(s, t, e, n_bootstrap=0)

    def truth(s1_, s0_):
        return np.mean((s1_[:, None] > s0_[None, :]) + 0.5 * (s1_[:, None] == s0_[None, :]))

    assert got.lower <= truth(s1, s0) <= got.upper
    high = truth(np.where(t, s1, 99.0), np.where(t, -99.0, s0))
    low = truth(np.where(t, s1, -99.0), np.where(t, 99.0, s0))
    assert (low, high) == pytest.approx((got.lower, got.upper), abs=1e-12)
    assert got.unidentified_share == pytest.approx(1 - 0.625 * 0.375)


def test_bounds_interval_covers_a_simulated_truth():
    rng = np.random.default_rng(20)
    tau, b = 0.5, 1.0
    truth = norm.cdf(tau / np.sqrt(2 * b**2 + 2))  # S(0) = b X + N(0, 1), X ~ N(0, 1), S(1) = S(0) + tau
    for seed in range(3):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=3000)
        e = 1 / (1 + np.exp(-4 * x))
        t = rng.random(3000) < e
        s = b * x + tau * t + rng.normal(size=3000)
        got = auc_bounds(s, t, e, eta=0.05, n_bootstrap=N_BOOT, seed=seed)
        assert got.ci[0] <= got.lower <= truth <= got.upper <= got.ci[1]
        assert 0.3 < got.unidentified_share < 0.7


@pytest.mark.parametrize("kwargs, message", [
    ({"propensity": [0.5, 1.2, 0.5]}, "in \\[0, 1\\]"),
    ({"member": [1, 1, 1]}, "members and non-members"),
    ({"score": [0.1, 0.2]}, "lengths differ"),
])
def test_bounds_refuse_bad_input(kwargs, message):
    args = {"score": [0.1, 0.2, 0.3], "member": [1, 0, 1], "propensity": [0.5, 0.5, 0.5], **kwargs}
    with pytest.raises(AuditError, match=message):
        auc_bounds(args["score"], args["member"], args["propensity"], n_bootstrap=0)


# --- loaders: the running variable of the benchmark corpora -----------------------------------------------

DATA = Path(__file__).parent / "data"


def test_wikimia_loader_dates_both_arms_by_the_year_in_the_text(tmp_path):
    corpus = load_wikimia(DATA / "wikimia", length=32)
    assert corpus["date"].tolist() == [2008.0, 2010.0, 2011.0, 2014.0, 2023.0, 2023.0, 2023.0, 2023.0]
    design = detect_design(corpus["date"], corpus["member"])
    assert design.is_cutoff and 2014.0 < design.d0 <= 2023.0 and design.gap == (2014.0, 2023.0)
    # A larger file in the same format: members' events 1990-2016, non-members' 2023-2024 (as in WikiMIA).
    # Two dates after any cutoff in the gap: the design refuses a number rather than extrapolate.
    rng = np.random.default_rng(21)
    years = np.r_[rng.integers(1990, 2017, 150), rng.integers(2023, 2025, 150)]
    rows = [{"input": f"Event {i} of {y} was reported on {rng.integers(1, 28)} May {y}.", "label": int(y < 2017)}
            for i, y in enumerate(years)]
    (tmp_path / "WikiMIA_length64.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    big = load_wikimia(tmp_path, length=64)
    assert big["date"].tolist() == years.astype(float).tolist()
    result = analyse_cutoff({"loss": rng.normal(size=300)}, big["date"], big["member"], d0="2020-03-01",
                            n_bootstrap=10)
    assert result.design.is_cutoff and "2 dates after" in result.scores["loss"].mean.reason


def test_mimir_loader_dates_both_arms_by_the_year_in_the_text():
    corpus = load_mimir(DATA / "mimir", "temporal_arxiv", "2021_06")
    # the latest year written in each of the six texts, read by hand
    assert corpus["date"].tolist() == [2008.0, 2018.0, 2017.0, 2021.0, 2021.0, 2021.0]
    assert corpus["month"].tolist() == [None] * 3 + ["2021-06"] * 3
    design = detect_design(corpus["date"], corpus["member"], d0="2020-08-01")
    assert design.is_cutoff and design.violation_share == 0.0
