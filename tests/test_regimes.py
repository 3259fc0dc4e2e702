"""Multi-run and one-run estimators against simulated truth (closed forms) and plain-loop computations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from llm_audit.errors import AuditError
from llm_audit.estimate.regimes import inclusion_probabilities, multi_run, one_run, randomized_metrics

# Simulated world: unit effect u_i ~ N(0, SU^2), run noise e_ir ~ N(0, SE^2), S_i^r(t) = u_i + t*TAU + e_ir.
# Then S(1) ~ N(TAU, SU^2 + SE^2) and S(0) ~ N(0, SU^2 + SE^2), independent across units i != j, so
# the causal AUC is Phi(TAU / sqrt(2 (SU^2 + SE^2))) and TPR@FPR=a is 1 - Phi(z_{1-a} - TAU / sigma).
SU, SE, TAU = 1.0, 0.5, 0.5
SIGMA = np.sqrt(SU**2 + SE**2)
TRUE_AUC = norm.cdf(TAU / np.sqrt(2) / SIGMA)
TRUE_TPR_01 = 1 - norm.cdf(norm.ppf(0.99) - TAU / SIGMA)


def simulate_runs(n: int, runs: int, seed: int, p: float = 0.5, tau: np.ndarray | float = TAU) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unit = rng.normal(0, SU, n)
    frames = []
    for r in range(runs):
        member = (rng.random(n) < p).astype(int)
        frames.append(pd.DataFrame({
            "run": f"r{r}", "id": [f"u{i}" for i in range(n)], "member": member,
            "loss": unit + tau * member + rng.normal(0, SE, n),
        }))
    return pd.concat(frames, ignore_index=True)


def test_metrics_match_plain_pair_loop_with_ties_and_weights():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 6, 60).astype(float)  # many ties
    t = rng.integers(0, 2, 60)
    w = rng.uniform(0.5, 3, 60)
    num = den = 0.0
    for i in np.flatnonzero(t == 1):
        for j in np.flatnonzero(t == 0):
            num += w[i] * w[j] * ((s[i] > s[j]) + 0.5 * (s[i] == s[j]))
            den += w[i] * w[j]
    got = randomized_metrics(s, t, w, fpr=(0.2,))
    assert got["auc"] == pytest.approx(num / den, abs=1e-12)
    # TPR@FPR rule by a plain loop over thresholds: the largest weighted TPR with weighted FPR <= 0.2.
    best = adv = 0.0
    for c in np.concatenate([np.unique(s), [np.inf]]):
        tpr = w[(t == 1) & (s >= c)].sum() / w[t == 1].sum()
        fp = w[(t == 0) & (s >= c)].sum() / w[t == 0].sum()
        adv = max(adv, tpr - fp)
        if fp <= 0.2:
            best = max(best, tpr)
    assert got["tpr_at_fpr"]["0.2"]["value"] == pytest.approx(best, abs=1e-12)
    assert got["advantage"] == pytest.approx(adv, abs=1e-12)
    mean_diff = np.average(s[t == 1], weights=w[t == 1]) - np.average(s[t == 0], weights=w[t == 0])
    assert got["mean_diff"] == pytest.approx(mean_diff, abs=1e-12)


def test_multi_run_recovers_closed_form_truth():
    est = multi_run(simulate_runs(n=3000, runs=16, seed=1), n_bootstrap=50).to_dict()
    m = est["scores"]["loss"]["causal"]
    assert m["auc"]["value"] == pytest.approx(TRUE_AUC, abs=0.01)
    assert m["mean_diff"]["value"] == pytest.approx(TAU, abs=0.02)
    assert m["tpr_at_fpr"]["0.01"]["value"] == pytest.approx(TRUE_TPR_01, abs=0.01)
    assert "unreliable" not in m["tpr_at_fpr"]["0.01"]["flags"]
    assert est["diagnostics"]["counts"] == {"runs": 16, "units": 3000, "pairs": 48000, "member_pairs": est["diagnostics"]["counts"]["member_pairs"],
                             "units_without_both_arms": est["diagnostics"]["counts"]["units_without_both_arms"],
                             "bootstrap_replicates": 50}


def test_multi_run_intervals_cover_the_truth():
    # 40 independent worlds (new units, new runs); two-way bootstrap intervals should cover >= ~90%.
    cover_auc = cover_mean = 0
    worlds = 40
    for k in range(worlds):
        m = multi_run(simulate_runs(n=150, runs=6, seed=100 + k), n_bootstrap=150, seed=k).to_dict()["scores"]["loss"]["causal"]
        cover_auc += m["auc"]["ci"][0] <= TRUE_AUC <= m["auc"]["ci"][1]
        cover_mean += m["mean_diff"]["ci"][0] <= TAU <= m["mean_diff"]["ci"][1]
    # With true coverage 0.95, P(<= 33 of 40) < 1%.
    assert cover_auc >= 34 and cover_mean >= 34


def test_per_unit_memorization_matches_plain_loop_and_tracks_true_tau():
    rng = np.random.default_rng(7)
    tau_true = rng.uniform(0, 2, 200)
    df = simulate_runs(n=200, runs=24, seed=3, tau=tau_true)
    per_unit = multi_run(df, n_bootstrap=10).tables["per_unit"].set_index("id")
    for i in (0, 17, 199):
        rows = df[df["id"] == f"u{i}"]
        expect = rows.loc[rows.member == 1, "loss"].mean() - rows.loc[rows.member == 0, "loss"].mean()
        assert per_unit.loc[f"u{i}", "loss"] == pytest.approx(expect, abs=1e-12)
        assert per_unit.loc[f"u{i}", "n_in"] == rows.member.sum()
    assert np.corrcoef(per_unit["loss"].to_numpy(), tau_true)[0, 1] > 0.8


def test_multi_run_separate_inclusion_table_equals_member_column():
    df = simulate_runs(n=100, runs=4, seed=5)
    inclusion = df[["run", "id", "member"]].sample(frac=1, random_state=0)
    a = multi_run(df, n_bootstrap=20).to_dict()
    b = multi_run(df.drop(columns="member"), inclusion, n_bootstrap=20).to_dict()
    assert a.pop("provenance")["inputs"] != b.pop("provenance")["inputs"]  # different tables, same numbers
    assert a == b


def test_multi_run_bad_input_is_one_clear_error():
    df = simulate_runs(n=30, runs=3, seed=0)
    with pytest.raises(AuditError, match="no inclusion row"):
        multi_run(df.drop(columns="member"), df[["run", "id", "member"]].iloc[1:], n_bootstrap=5)
    with pytest.raises(AuditError, match="more than once"):
        multi_run(pd.concat([df, df.iloc[:1]]), n_bootstrap=5)
    with pytest.raises(AuditError, match="expected 0 or 1"):
        multi_run(df.assign(member=df.member * 2), n_bootstrap=5)
    with pytest.raises(AuditError, match="need members and non-members"):
        multi_run(df.assign(member=1), n_bootstrap=5)
    with pytest.raises(AuditError, match="not finite"):
        multi_run(df.assign(loss=np.where(df.index == 4, np.nan, df.loss)), n_bootstrap=5)
    with pytest.raises(AuditError, match="'run'"):
        multi_run(df.drop(columns="run"), n_bootstrap=5)
    # a bad label in a separate inclusion table is named by its row there (from 1), whatever the scores' order
    inclusion = df[["run", "id", "member"]].iloc[::-1].reset_index(drop=True)
    inclusion.loc[17, "member"] = 7
    with pytest.raises(AuditError, match=r"^inclusion: row 18, column 'member': expected 0 or 1, got 7$"):
        multi_run(df.drop(columns="member"), inclusion, n_bootstrap=5)


def _one_run_world(n: int, seed: int, strength: float):
    """One run where p_i = sigmoid(strength * x_i) and S(0) = x_i + noise: members have higher x, so the
    unweighted comparison is confounded by design; the design's known p_i undoes it."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    p = 1 / (1 + np.exp(-strength * x))
    member = (rng.random(n) < p).astype(int)
    ids = [f"u{i}" for i in range(n)]
    df = pd.DataFrame({"id": ids, "member": member, "loss": x + rng.normal(0, 1, n) + TAU * member})
    return df, pd.Series(p, index=ids)


def test_one_run_horvitz_thompson_recovers_truth_where_naive_does_not():
    df, p = _one_run_world(n=20000, seed=11, strength=1.5)
    truth_auc = norm.cdf(TAU / np.sqrt(2 * 2.0))  # S(t) ~ N(t*TAU, 2)
    truth_tpr = 1 - norm.cdf(norm.ppf(0.99) - TAU / np.sqrt(2.0))
    ht = one_run(df, p=p, n_bootstrap=50).to_dict()["scores"]["loss"]["causal"]
    naive = one_run(df, p=0.5, n_bootstrap=50).to_dict()["scores"]["loss"]["causal"]
    assert abs(naive["auc"]["value"] - truth_auc) > 0.15
    assert ht["auc"]["value"] == pytest.approx(truth_auc, abs=0.015)
    assert ht["auc"]["ci"][0] <= truth_auc <= ht["auc"]["ci"][1]
    assert ht["mean_diff"]["value"] == pytest.approx(TAU, abs=0.06)
    assert ht["tpr_at_fpr"]["0.01"]["value"] == pytest.approx(truth_tpr, abs=0.02)


def test_one_run_constant_p_is_the_naive_comparison_and_states_no_interference():
    from sklearn.metrics import roc_auc_score

    df, _ = _one_run_world(n=500, seed=2, strength=0.0)
    est = one_run(df, p=0.3, n_bootstrap=20).to_dict()
    assert est["scores"]["loss"]["causal"]["auc"]["value"] == pytest.approx(roc_auc_score(df.member, df.loss), rel=1e-9)
    assert est["regime"] == "one-run"
    assert any("no interference" in a for a in est["assumptions"])
    assert est["diagnostics"]["counts"]["ess"]["member"] == pytest.approx(df.member.sum())


def test_one_run_intervals_cover_the_truth():
    truth_auc = norm.cdf(TAU / np.sqrt(2 * 2.0))
    covered = 0
    for k in range(40):
        df, _ = _one_run_world(n=400, seed=200 + k, strength=0.0)
        lo, hi = one_run(df, p=0.5, n_bootstrap=150, seed=k).interval("loss", "causal", "auc")
        covered += lo <= truth_auc <= hi
    assert covered >= 34


def test_one_run_bad_probabilities_are_refused():
    df, p = _one_run_world(n=50, seed=0, strength=1.0)
    with pytest.raises(AuditError, match="need 0 < p < 1"):
        one_run(df, p=1.0, n_bootstrap=5)
    with pytest.raises(AuditError, match="have none"):
        one_run(df, p=p.iloc[1:], n_bootstrap=5)
    with pytest.raises(AuditError, match="more than once"):
        one_run(pd.concat([df, df.iloc[:1]]), n_bootstrap=5)


def test_inclusion_probability_table_save_and_summary(tmp_path):
    df, p = _one_run_world(n=300, seed=4, strength=1.0)
    table = pd.DataFrame({"id": p.index, "p": p.to_numpy()})
    est = one_run(df, p=inclusion_probabilities(table), n_bootstrap=20)
    assert est.to_dict() == one_run(df, p=p, n_bootstrap=20).to_dict()
    est.save(tmp_path / "estimates.json")
    assert json.loads((tmp_path / "estimates.json").read_text()) == est.to_dict()
    text = est.summary()
    assert text.splitlines()[0].startswith("score") and "no interference" in text
    with pytest.raises(AuditError, match="row 3, column 'p'"):
        inclusion_probabilities(table.assign(p=[0.5, 0.5, 1.5] + [0.5] * 297))
    with pytest.raises(AuditError, match="no 'p' column"):
        inclusion_probabilities(table.drop(columns="p"))


def test_multi_run_with_per_unit_probabilities_recovers_truth_where_unweighted_does_not():
    # Each run includes unit i with p_i = sigmoid(1.5 x_i), S(0) = x_i + u_i + run noise: the units
    # included most often are those with high scores anyway. S(t) ~ N(t*TAU, 1 + SU^2 + SE^2).
    rng = np.random.default_rng(21)
    n, runs = 2000, 8
    x = rng.normal(0, 1, n)
    unit = x + rng.normal(0, SU, n)
    p = 1 / (1 + np.exp(-1.5 * x))
    ids = [f"u{i}" for i in range(n)]
    frames = []
    for r in range(runs):
        member = (rng.random(n) < p).astype(int)
        frames.append(pd.DataFrame({"run": r, "id": ids, "member": member,
                                    "loss": unit + TAU * member + rng.normal(0, SE, n)}))
    df = pd.concat(frames, ignore_index=True)
    truth = norm.cdf(TAU / np.sqrt(2 * (1 + SU**2 + SE**2)))
    weighted = multi_run(df, p=pd.Series(p, index=ids), n_bootstrap=30).to_dict()["scores"]["loss"]["causal"]["auc"]
    unweighted = multi_run(df, n_bootstrap=0).to_dict()["scores"]["loss"]["causal"]["auc"]
    assert abs(unweighted["value"] - truth) > 0.15
    assert weighted["value"] == pytest.approx(truth, abs=0.015)
    assert weighted["ci"][0] <= truth <= weighted["ci"][1]


def test_one_run_notes_a_member_share_far_from_the_stated_p():
    df, p = _one_run_world(n=600, seed=3, strength=0.0)  # about half are members
    est = one_run(df, p=0.05, n_bootstrap=0)
    k = int(df.member.sum())
    assert est.notes == [f"{k} members of 600 (share {k / 600:.3f}) is outside the 99.9% range of the stated inclusion "
                         "probability (mean p 0.05: 14 to 49 members): check p, and that inclusion was randomized"]
    assert est.to_dict()["notes"] == est.notes and f"note: {est.notes[0]}" in est.summary()
    assert one_run(df, p=0.5, n_bootstrap=0).notes == []  # within range: no note
    assert len(one_run(df, p=pd.Series(0.05, index=p.index), n_bootstrap=0).notes) == 1  # per-unit p too


def test_multi_run_refuses_a_single_run_and_notes_units_with_one_arm():
    df = simulate_runs(n=40, runs=3, seed=2)
    with pytest.raises(AuditError, match=r"^scores: no unit is a member in one run and a non-member in another \(1 run\(s\)\); "
                       r"multi-run needs at least 2 runs .*\(one model: --regime one-run\)$"):
        multi_run(df[df.run == "r0"], n_bootstrap=5)
    est = multi_run(df, n_bootstrap=5)
    lacking = est.to_dict()["diagnostics"]["counts"]["units_without_both_arms"]
    assert lacking > 0
    assert est.notes == [f"{lacking} of 40 units were a member in every run or in none: their per-unit memorization "
                         "is undefined (NaN)"]


def test_one_run_duplicate_ids_of_a_multi_run_table_point_to_multi_run():
    df = simulate_runs(n=30, runs=2, seed=0)
    with pytest.raises(AuditError, match=r"appears more than once \(a `run` column: use --regime multi-run\)$"):
        one_run(df, n_bootstrap=5)
