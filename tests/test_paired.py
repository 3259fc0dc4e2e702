"""Regime `paired` (docs/paired.md): the oracle of a model pair against brute-force loops and a closed form."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from llm_audit.errors import AuditError
from llm_audit.estimate.regimes.paired import paired, paired_auc, paired_metrics


def _tables(s1: np.ndarray, s0: np.ndarray, inserted: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"t{i}" for i in range(len(s1))]
    with_ = pd.DataFrame({"id": ids, "n_tokens": 10, "loss": s1})
    if inserted is not None:
        with_["member"] = inserted
    return with_, pd.DataFrame({"id": ids, "n_tokens": 10, "loss": s0})


def _loop_auc(s1, s0, counts=None) -> float:
    """P(S_i(1) > S_j(0)) + 1/2 ties over ordered pairs of distinct units of the (resampled) sample."""
    units = np.arange(len(s1)) if counts is None else np.repeat(np.arange(len(s1)), counts)
    num = den = 0
    for p, i in enumerate(units):
        for q, j in enumerate(units):
            if p != q:
                num += (s1[i] > s0[j]) + 0.5 * (s1[i] == s0[j])
                den += 1
    return num / den


def test_auc_matches_a_double_loop_without_the_diagonal_with_ties():
    rng = np.random.default_rng(1)
    s0 = rng.integers(0, 5, 40).astype(float)
    s1 = s0 + rng.integers(0, 3, 40)  # tau_i >= 0, many ties within and across texts
    assert paired_auc(s1, s0) == pytest.approx(_loop_auc(s1, s0), abs=1e-12)
    # The diagonal matters: with S(1) = S(0) + 1 every pair i = i is a win the U-statistic must leave out.
    full = np.mean((s1[:, None] > s0[None, :]) + 0.5 * (s1[:, None] == s0[None, :]))
    assert paired_auc(s1, s0) != pytest.approx(full, abs=1e-3)


def test_frequency_weights_are_the_statistic_of_the_resample():
    rng = np.random.default_rng(2)
    s1, s0 = rng.normal(0.5, 1, 15).round(1), rng.normal(0, 1, 15).round(1)
    counts = rng.integers(0, 4, 15)
    counts[0] = 3  # three copies of one text: pairs between the copies are pairs of distinct units
    keep = counts > 0
    got = paired_auc(s1[keep], s0[keep], counts[keep].astype(float))
    assert got == pytest.approx(_loop_auc(s1, s0, counts), abs=1e-12)


def test_tpr_advantage_and_mean_from_the_two_empirical_cdfs():
    rng = np.random.default_rng(3)
    s0 = rng.integers(0, 8, 50).astype(float)
    s1 = s0 + rng.integers(-1, 4, 50)
    got = paired_metrics(s1, s0, fpr=(0.1, 0.3))
    for a in (0.1, 0.3):
        best, above = 0.0, 0
        for c in np.r_[np.unique(np.r_[s1, s0]), np.inf]:
            f1, f0 = np.mean(s1 >= c), np.mean(s0 >= c)
            if f0 <= a and f1 >= best:
                best, above = f1, int(np.sum(s0 >= c))
        assert got["tpr_at_fpr"][format(a, "g")]["value"] == pytest.approx(best, abs=1e-12)
        assert got["tpr_at_fpr"][format(a, "g")]["n_eff_nonmember_above"] == pytest.approx(above)
    grid = np.r_[np.unique(np.r_[s1, s0]), np.inf]
    assert got["advantage"] == pytest.approx(max(np.mean(s1 >= c) - np.mean(s0 >= c) for c in grid), abs=1e-12)
    assert got["mean_diff"] == pytest.approx(np.mean(s1 - s0), abs=1e-12)


def test_oracle_recovers_a_closed_form_auc_and_its_interval_covers_it():
    # S_i(0) = u_i, S_i(1) = u_i + tau + e_i: for i != j, S_i(1) - S_j(0) ~ N(tau, 2 + s^2).
    rng = np.random.default_rng(4)
    n, tau, s = 800, 0.6, 0.5
    u = rng.normal(0, 1, n)
    s1, s0 = u + tau + rng.normal(0, s, n), u
    with_, without = _tables(s1, s0, np.ones(n, dtype=int))
    est = paired(with_, without, n_bootstrap=300, seed=0)
    truth = norm.cdf(tau / np.sqrt(2 + s**2))
    assert est.value("loss", "oracle", "auc") == pytest.approx(truth, abs=0.02)
    lo, hi = est.interval("loss", "oracle", "auc")
    assert lo < truth < hi and hi - lo < 0.06
    assert est.value("loss", "oracle", "mean_diff") == pytest.approx(tau, abs=0.05)
    assert est.tables["per_unit"]["loss"].to_numpy() == pytest.approx(s1 - s0)
    diag = est.to_dict()["diagnostics"]
    assert diag["control"] is None and diag["counts"]["inserted"] == n


def test_control_block_on_texts_neither_model_saw_and_strata():
    rng = np.random.default_rng(5)
    n = 300
    u = rng.normal(0, 1, n)
    inserted = (np.arange(n) % 2 == 0).astype(int)
    dup = np.where(inserted == 1, np.where(np.arange(n) % 4 == 0, 1, 16), 0)
    s1 = u + 0.1 * dup * inserted + rng.normal(0, 0.05, n)  # the first model differs only on inserted texts
    with_, without = _tables(s1, u, inserted)
    est = paired(with_, without, strata=pd.Series(dup, index=with_["id"]), n_bootstrap=200, seed=1)
    diag = est.to_dict()["diagnostics"]
    assert diag["counts"] == {"texts": n, "inserted": n // 2, "control": n // 2, "bootstrap_replicates": 200}
    ctrl = diag["control"]["loss"]["auc"]
    assert ctrl["ci"][0] < 0.5 < ctrl["ci"][1]
    assert set(diag["strata"]) == {"1", "16"}
    assert diag["strata"]["16"]["loss"]["auc"]["value"] > diag["strata"]["1"]["loss"]["auc"]["value"]
    rows = inserted == 1
    assert est.value("loss", "oracle", "auc") == pytest.approx(paired_auc(s1[rows], u[rows]), rel=1e-9)
    d = est.to_dict()
    assert d["regime"] == "paired" and d["scores"]["loss"]["oracle"]["method"] == "oracle"
    assert set(d["scores"]["loss"]["oracle"]["tpr_at_fpr"]["0.01"]) == {"value", "ci", "se", "n_eff", "flags", "ci_method"}
    assert "paired" in est.summary()


def test_bootstrap_interval_is_reproducible_and_depends_on_the_seed():
    rng = np.random.default_rng(6)
    s0 = rng.normal(0, 1, 100)
    with_, without = _tables(s0 + 0.3 + rng.normal(0, 0.3, 100), s0, np.ones(100, dtype=int))
    a = paired(with_, without, n_bootstrap=50, seed=3).interval("loss", "oracle", "auc")
    assert a == paired(with_, without, n_bootstrap=50, seed=3).interval("loss", "oracle", "auc")
    assert a != paired(with_, without, n_bootstrap=50, seed=4).interval("loss", "oracle", "auc")


@pytest.mark.parametrize("change, message", [
    (lambda w, wo: (w.iloc[:-1], wo), "no row for id 't4'"),
    (lambda w, wo: (w, wo.assign(n_tokens=[10, 10, 11, 10, 10])), "id 't2' has 10 tokens under one model and 11"),
    (lambda w, wo: (w.assign(member=[1, 1, 2, 0, 1]), wo), "id 't2': expected 0 or 1, got 2"),
    (lambda w, wo: (w, wo.assign(loss=[0.0, np.nan, 0.0, 0.0, 0.0])), "id 't1', column 'loss': score is missing"),
    (lambda w, wo: (w.drop(columns="member"), wo), "no 'member' column"),
    (lambda w, wo: (w.assign(member=[1, 0, 0, 0, 0]), wo), "1 text(s) seen by the first model"),
    (lambda w, wo: (pd.concat([w, w.iloc[:1]]), wo), "id 't0' appears more than once"),
])
def test_bad_inputs_name_the_table_id_and_column(change, message):
    with_, without = _tables(np.arange(5.0), np.zeros(5), np.ones(5, dtype=int))
    with pytest.raises(AuditError, match=message.replace("(", r"\(").replace(")", r"\)")):
        paired(*change(with_, without), n_bootstrap=5)


# ---- the offline pair (benchmarks/model_pair), CI size ----------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def test_pair_streams_differ_only_where_the_first_model_reads_an_inserted_text():
    sys.path.insert(0, str(REPO))
    try:
        from benchmarks.model_pair.build import pair_streams
    finally:
        sys.path.remove(str(REPO))
    from llm_audit.training import train_bpe_tokenizer

    inserted = ["alpha beta gamma delta", "epsilon zeta eta"]
    replay = ["one two three", "four five six seven", "eight nine"]
    filler = ["filler text number one and more", "filler two"]
    tok = train_bpe_tokenizer(inserted + replay + filler, vocab_size=300)
    a, b = pair_streams(tok, inserted, replay, filler, seed=0)
    assert len(a) == len(b)
    differ = (a != b).numpy()
    # The positions where they differ are exactly the inserted texts' tokens of stream A.
    ins_ids = [tok(t)["input_ids"] for t in inserted]
    assert differ.sum() <= sum(len(i) for i in ins_ids) and differ.sum() > 0
    text_a = tok.decode(a.tolist())
    assert all(t in text_a for t in inserted + replay)
    text_b = tok.decode(b.tolist())
    assert not any(t in text_b for t in inserted) and all(t in text_b for t in replay)


@pytest.mark.slow
def test_small_offline_pair_end_to_end(tmp_path):
    """Two fine-tunes, two scoring passes, the oracle and the harness at the CI size (about 30 s)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "benchmarks.model_pair", "--small", "--threads", "1", "--quiet",
                           "--cache-dir", str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "**Oracle of the pair**" in done.stdout and "| loss | auc | dr |" in done.stdout
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    results = json.loads((folder / "results.json").read_text())
    truth = results["truth"]
    counts = truth["diagnostics"]["counts"]
    assert counts["inserted"] == counts["control"] == 90
    # The first model saw the inserted texts: they gain more under it than the texts neither model saw.
    for score in ("loss", "mink_0.2"):
        inserted = truth["scores"][score]["oracle"]["mean_diff"]["value"]
        control = truth["diagnostics"]["control"][score]["mean_diff"]["value"]
        assert inserted > control + 0.02, (score, inserted, control)
    # Exactly two scoring passes: one cache key per model, each holding every candidate once.
    keys = [k for k in (folder / "score_cache").iterdir() if k.is_dir()]
    assert len(keys) == 2
    for key in keys:
        rows = pd.concat([pd.read_parquet(p) for p in key.glob("part-*.parquet")])
        assert len(rows) == 180 and rows["text_sha256"].is_unique
    harness = results["harness"]["1"]
    assert harness["draws"] == 2 and sum(harness["verdicts"].values()) == 2
