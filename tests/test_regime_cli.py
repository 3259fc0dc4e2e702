"""`llm-audit estimate --regime one-run|multi-run`: randomized designs through the CLI, checked against
plain computations on simulated tables with a known effect."""

import json
from math import erf

import numpy as np
import pandas as pd
import pytest

from llm_audit.cli import main
from llm_audit.tables import read_table, write_table

TAU = 1.0  # members' scores are shifted by TAU, over unit-variance noise


def _long_table(n_units: int, runs: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=n_units)  # a unit's own difficulty, shared across runs
    rows = []
    for r in range(runs):
        member = rng.random(n_units) < 0.5
        loss = base + TAU * member + rng.normal(size=n_units)
        rows += [{"run": f"r{r}", "id": f"u{i}", "member": int(member[i]), "loss": float(loss[i])} for i in range(n_units)]
    return pd.DataFrame(rows)


def _plain_auc(s: np.ndarray, t: np.ndarray) -> float:
    s1, s0 = s[t == 1], s[t == 0]
    return float(np.mean((s1[:, None] > s0[None, :]) + 0.5 * (s1[:, None] == s0[None, :])))


def test_multi_run_writes_estimates_and_per_unit_tau(tmp_path, capsys):
    table = _long_table(150, 6, seed=3)
    write_table(table, tmp_path / "long.parquet")
    out = tmp_path / "est.json"
    argv = ["estimate", "--regime", "multi-run", "--scores", str(tmp_path / "long.parquet"), "--out", str(out),
            "--bootstrap", "40", "--fpr", "0.05"]
    assert main(argv) == 0
    d = json.loads(out.read_text())
    assert d["regime"] == "multi-run" and d["diagnostics"]["counts"]["runs"] == 6 and d["diagnostics"]["counts"]["units"] == 150
    auc = d["scores"]["loss"]["causal"]["auc"]
    # pooled pairs: base adds variance 1 to both arms, so AUC = Phi(TAU / sqrt(2 * 2))
    truth = 0.5 * (1 + erf(TAU / 2 / np.sqrt(2)))
    assert auc["value"] == pytest.approx(_plain_auc(table["loss"].to_numpy(), table["member"].to_numpy()), abs=1e-9)
    assert abs(auc["value"] - truth) < 0.04
    per_unit = read_table(tmp_path / "est_per_unit.parquet").set_index("id")
    for uid, g in table.groupby("id"):
        both = g["member"].nunique() == 2
        expected = g.loc[g.member == 1, "loss"].mean() - g.loc[g.member == 0, "loss"].mean() if both else np.nan
        assert per_unit.loc[uid, "loss"] == pytest.approx(expected, nan_ok=True)
    assert "per_unit" in capsys.readouterr().out
    assert main(argv) == 2  # both outputs exist: refused without --overwrite
    assert "already exists" in capsys.readouterr().err


def test_one_run_with_common_inclusion_p_is_the_plain_comparison(tmp_path):
    table = _long_table(300, 1, seed=5).drop(columns="run")
    write_table(table, tmp_path / "scores.csv")
    out = tmp_path / "est.json"
    assert main(["estimate", "--regime", "one-run", "--inclusion-p", "0.5", "--scores", str(tmp_path / "scores.csv"),
                 "--out", str(out), "--bootstrap", "20", "--fpr", "0.05"]) == 0
    d = json.loads(out.read_text())
    assert d["regime"] == "one-run" and d["config"]["p"] == 0.5
    auc = d["scores"]["loss"]["causal"]["auc"]["value"]
    assert auc == pytest.approx(_plain_auc(table["loss"].to_numpy(), table["member"].to_numpy()), abs=1e-9)
    assert not (tmp_path / "est_per_unit.parquet").exists()


def test_one_run_with_an_inclusion_table(tmp_path):
    table = _long_table(200, 1, seed=8).drop(columns="run")
    write_table(table, tmp_path / "scores.parquet")
    write_table(pd.DataFrame({"id": table["id"], "p": 0.3}), tmp_path / "p.csv")
    out = tmp_path / "est.json"
    assert main(["estimate", "--regime", "one-run", "--inclusion", str(tmp_path / "p.csv"),
                 "--scores", str(tmp_path / "scores.parquet"), "--out", str(out), "--bootstrap", "0"]) == 0
    d = json.loads(out.read_text())
    # a constant p_i, normalized within arm, leaves the plain comparison
    assert d["config"]["p"] == "per-unit"
    assert d["scores"]["loss"]["causal"]["auc"]["value"] == pytest.approx(
        _plain_auc(table["loss"].to_numpy(), table["member"].to_numpy()), abs=1e-9)


def test_regime_errors_name_the_file_and_the_plain_value(tmp_path, capsys):
    table = _long_table(20, 2, seed=1)
    table.loc[3, "member"] = 3
    write_table(table, tmp_path / "long.parquet")
    assert main(["estimate", "--regime", "multi-run", "--scores", str(tmp_path / "long.parquet"),
                 "--out", str(tmp_path / "est.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"llm-audit: error: {tmp_path / 'long.parquet'}: row 4, column 'member': expected 0 or 1, got 3", err


@pytest.mark.parametrize("extra, fragment", [
    ([], "--covariates: required for the zero-run regime"),
    (["--regime", "multi-run", "--inclusion-p", "0.5"], "--inclusion-p: only for --regime one-run"),
])
def test_regime_flags_refused_with_one_line(tmp_path, capsys, extra, fragment):
    write_table(_long_table(20, 2, seed=1), tmp_path / "long.parquet")
    out = tmp_path / "est.json"
    assert main(["estimate", "--scores", str(tmp_path / "long.parquet"), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("llm-audit: error: ") and "\n" not in err and fragment in err, err
    assert not out.exists() and not (tmp_path / "est_per_unit.parquet").exists()


def test_covariates_with_a_randomized_regime_are_noted_not_silently_ignored(tmp_path, capsys):
    table = _long_table(100, 1, seed=2).drop(columns="run")
    write_table(table, tmp_path / "scores.csv")
    write_table(pd.DataFrame({"id": table["id"], "x": np.arange(100.0)}), tmp_path / "cov.csv")
    out = tmp_path / "est.json"
    assert main(["estimate", "--regime", "one-run", "--scores", str(tmp_path / "scores.csv"), "--covariates",
                 str(tmp_path / "cov.csv"), "--out", str(out), "--bootstrap", "0"]) == 0
    note = "--covariates ignored: membership was randomized (one-run), so no covariate correction is made"
    assert json.loads(out.read_text())["notes"] == [note]
    assert f"note: {note}" in capsys.readouterr().out


def test_a_multi_run_table_given_to_the_zero_run_regime_points_to_multi_run(tmp_path, capsys):
    table = _long_table(30, 3, seed=1)
    write_table(table, tmp_path / "long.csv")
    write_table(pd.DataFrame({"id": [f"u{i}" for i in range(30)], "x": np.arange(30.0)}), tmp_path / "cov.csv")
    assert main(["estimate", "--scores", str(tmp_path / "long.csv"), "--covariates", str(tmp_path / "cov.csv"),
                 "--out", str(tmp_path / "est.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"llm-audit: error: {tmp_path / 'long.csv'}: 60 duplicated id(s), e.g. 'u0' "
                   "(a `run` column: use --regime multi-run)"), err
