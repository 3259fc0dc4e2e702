"""The model-pair commands end to end on small tables: `llm-audit estimate --regime paired` (the oracle of a
pair) and `llm-audit oracle` (the harness grading the zero-run estimator against it), with the truth from a
plain double loop, and their bad-input errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from llm_audit.cli import main

N_INSERTED, N_CONTROL = 80, 20


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Scores of the same ids under the model that saw the inserted texts (`with.csv`, member = inserted) and
    the one that did not (`without.csv`); covariates n_tokens (drives the score) and domain."""
    rng = np.random.default_rng(3)
    n = N_INSERTED + N_CONTROL
    ids = [f"t{i}" for i in range(n)]
    n_tokens = rng.integers(20, 400, n)
    domain = rng.choice(["web", "code"], n)
    s0 = -0.004 * n_tokens + (domain == "code") + rng.normal(0, 1, n)
    inserted = np.r_[np.ones(N_INSERTED, int), np.zeros(N_CONTROL, int)]
    s1 = s0 + inserted * rng.normal(0.8, 0.5, n)
    folder = tmp_path_factory.mktemp("pair")
    pd.DataFrame({"id": ids, "member": inserted, "loss": s1}).to_csv(folder / "with.csv", index=False)
    pd.DataFrame({"id": ids, "member": inserted, "loss": s0}).to_csv(folder / "without.csv", index=False)
    pd.DataFrame({"id": ids, "n_tokens": n_tokens, "domain": domain}).to_csv(folder / "cov.csv", index=False)
    return folder, s1[:N_INSERTED], s0[:N_INSERTED]


def _double_loop_auc(s1: np.ndarray, s0: np.ndarray) -> float:
    """P(S_i(1) > S_j(0)) over pairs i != j, ties 1/2: the oracle's causal AUC, written as a plain loop."""
    total, pairs = 0.0, 0
    for i in range(len(s1)):
        for j in range(len(s0)):
            if i != j:
                total += 1.0 if s1[i] > s0[j] else 0.5 if s1[i] == s0[j] else 0.0
                pairs += 1
    return total / pairs


def test_estimate_regime_paired_writes_the_oracle_and_the_per_text_effects(pair, tmp_path):
    folder, s1, s0 = pair
    out = tmp_path / "oracle.json"
    assert main(["estimate", "--regime", "paired", "--scores", str(folder / "with.csv"), "--scores-without",
                 str(folder / "without.csv"), "--bootstrap", "200", "--out", str(out)]) == 0
    est = json.loads(out.read_text())
    oracle = est["scores"]["loss"]["oracle"]
    assert oracle["auc"]["value"] == pytest.approx(_double_loop_auc(s1, s0), abs=1e-9)
    lo, hi = oracle["auc"]["ci"]
    assert lo < oracle["auc"]["value"] < hi
    assert est["diagnostics"]["counts"] == {"texts": N_INSERTED + N_CONTROL, "inserted": N_INSERTED,
                                            "control": N_CONTROL, "bootstrap_replicates": 200}
    per_unit = pd.read_parquet(tmp_path / "oracle_per_unit.parquet")
    np.testing.assert_allclose(per_unit["loss"].to_numpy()[:N_INSERTED], s1 - s0)


def test_oracle_grades_every_draw_against_the_double_loop_truth(pair, tmp_path, capsys):
    folder, s1, s0 = pair
    out = tmp_path / "harness"
    assert main(["oracle", "--scores-with", str(folder / "with.csv"), "--scores-without", str(folder / "without.csv"),
                 "--covariates", str(folder / "cov.csv"), "--selection", "n_tokens:-1,domain=code:1",
                 "--strength", "0.5", "--draws", "3", "--bootstrap", "50", "--truth-bootstrap", "50",
                 "--folds", "3", "--jobs", "1", "--out-dir", str(out)]) == 0
    assert "oracle harness: 3 draws on 80 pool texts" in capsys.readouterr().out
    grades = pd.read_parquet(out / "grades.parquet")
    auc = grades[grades["metric"] == "auc"]
    assert sorted(auc.loc[auc["method"] == "naive", "draw"]) == [0, 1, 2]
    np.testing.assert_allclose(auc["truth"], _double_loop_auc(s1, s0), atol=1e-9)  # every method, every draw
    assert (auc["covered"] == ((auc["lo"] <= auc["truth"]) & (auc["truth"] <= auc["hi"]))).all()
    draws = pd.read_parquet(out / "draws.parquet")
    assert list(draws["draw"]) == [0, 1, 2] and (draws["members"] + draws["nonmembers"] == N_INSERTED).all()
    assert (out / "oracle.json").is_file() and "| coverage |" in (out / "coverage.md").read_text()
    # the same files again are refused without --overwrite
    assert main(["oracle", "--scores-with", str(folder / "with.csv"), "--scores-without", str(folder / "without.csv"),
                 "--covariates", str(folder / "cov.csv"), "--selection", "n_tokens:-1", "--draws", "1",
                 "--out-dir", str(out)]) == 2


@pytest.mark.parametrize("extra, message", [
    (["--selection", "age:1"], "--selection: term 'age': no covariate 'age'"),
    (["--selection", "domain:1"], "'domain' is categorical; name a level"),
    (["--selection", "n_tokens:1", "--target", "att"], "--target: the oracle truth is the whole pool's (ate)"),
    (["--selection", "n_tokens:1", "--share", "1.5"], "--share: must be in (0, 1)"),
])
def test_oracle_bad_inputs_get_one_line_naming_the_option(pair, tmp_path, capsys, extra, message):
    folder, _, _ = pair
    code = main(["oracle", "--scores-with", str(folder / "with.csv"), "--scores-without", str(folder / "without.csv"),
                 "--covariates", str(folder / "cov.csv"), "--draws", "1", "--out-dir", str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_paired_regime_needs_the_second_scores_table_and_names_a_missing_id(pair, tmp_path, capsys):
    folder, _, _ = pair
    assert main(["estimate", "--regime", "paired", "--scores", str(folder / "with.csv"),
                 "--out", str(tmp_path / "e.json")]) == 2
    assert "--scores-without: required for, and only for, --regime paired" in capsys.readouterr().err
    short = pd.read_csv(folder / "without.csv").iloc[1:]
    short.to_csv(tmp_path / "short.csv", index=False)
    assert main(["estimate", "--regime", "paired", "--scores", str(folder / "with.csv"), "--scores-without",
                 str(tmp_path / "short.csv"), "--out", str(tmp_path / "e.json")]) == 2
    err = capsys.readouterr().err
    assert "t0" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "e.json").exists()
