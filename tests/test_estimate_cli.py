"""`llm-audit estimate` end to end: files in, estimates.json and a summary out; errors as one line."""

import json
import subprocess
import sys

import pytest

from llm_audit.cli import main
from llm_audit.simulate import simulate
from llm_audit.tables import write_table


@pytest.fixture()
def files(tmp_path):
    s, c = simulate(800, 0.8, 0.5, seed=21)
    s = s.assign(zlib=s["score"] * 0.5, n_tokens=100)
    write_table(s, tmp_path / "scores.parquet")
    write_table(c, tmp_path / "cov.csv")
    return tmp_path


def test_cli_writes_estimates_and_prints_summary(files, capsys):
    out = files / "est.json"
    argv = ["estimate", "--scores", str(files / "scores.parquet"), "--covariates", str(files / "cov.csv"),
            "--out", str(out), "--bootstrap", "30", "--fpr", "0.01,0.05", "--dp-epsilon", "1"]
    assert main(argv) == 0
    d = json.loads(out.read_text())
    assert set(d["scores"]) == {"score", "zlib"}  # n_tokens is reserved, not a score
    assert d["config"]["fpr"] == [0.01, 0.05] and d["diagnostics"]["dp"]["auc_bound"] > 0.73
    text = capsys.readouterr().out
    assert "ipw" in text and "verdict" in text
    assert main(argv) == 2  # refuses to overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(argv + ["--overwrite", "--scores-cols", "zlib", "--target", "att"]) == 0
    assert list(json.loads(out.read_text())["scores"]) == ["zlib"]


def test_cli_error_is_one_line(files, capsys):
    assert main(["estimate", "--scores", str(files / "nope.csv"), "--covariates", str(files / "cov.csv"),
                 "--out", str(files / "e.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("llm-audit: error:") and "nope.csv" in err and "\n" not in err
    assert not (files / "e.json").exists()


def test_estimate_never_imports_torch():
    code = "import sys, llm_audit.estimate, llm_audit.cli.estimate; sys.exit('torch' in sys.modules or 'transformers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("name", ["est.parquet", "est.csv", "est"])
def test_out_that_is_not_json_is_refused_before_any_work(files, capsys, name):
    assert main(["estimate", "--scores", str(files / "nope.csv"), "--covariates", str(files / "cov.csv"),
                 "--out", str(files / name)]) == 2  # the missing scores file is never reached
    err = capsys.readouterr().err.strip()
    assert err == f"llm-audit: error: --out: {files / name}: must end in .json (the estimates are written as JSON)", err
    assert not (files / name).exists()


def test_help_shows_plain_percent_signs(capsys):
    with pytest.raises(SystemExit):
        main(["estimate", "--help"])
    text = capsys.readouterr().out
    assert "95% intervals" in text.replace("\n", " ").replace("  ", " ") and "%%" not in text


def test_tables_with_different_ids_are_counted_and_estimated_on_the_common_ids_on_request(files, capsys):
    import pandas as pd

    scores = pd.read_parquet(files / "scores.parquet")
    covariates = pd.read_csv(files / "cov.csv")
    write_table(scores.iloc[3:], files / "s.csv")  # 3 ids only in the covariates table
    write_table(covariates.drop(index=[10, 11]), files / "c.csv")  # 2 ids only in the scores table
    out = files / "est.json"
    argv = ["estimate", "--scores", str(files / "s.csv"), "--covariates", str(files / "c.csv"), "--out", str(out),
            "--bootstrap", "0", "--folds", "2"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (f"ids: 2 id(s) only in {files / 's.csv'}, 3 only in {files / 'c.csv'}, 795 in both; pass --common-ids "
            "to estimate on those") in err and not out.exists()
    assert main(argv + ["--common-ids"]) == 0
    d = json.loads(out.read_text())
    assert d["diagnostics"]["n"]["total"] == 795
    note = f"--common-ids: estimated on the 795 ids in both tables; left out 2 id(s) only in {files / 's.csv'}"
    assert any(n.startswith(note) for n in d["notes"]), d["notes"]
    assert note in capsys.readouterr().err


def test_provenance_keeps_the_model_fingerprint_of_a_csv_scores_table(files):
    """The fingerprint rides in the scores table's attrs; a CSV table carries them in its sidecar."""
    from llm_audit.tables import read_table

    scores = read_table(files / "scores.parquet")
    scores.attrs = {"model": {"id": "0123abcd", "name": "tiny-gpt2"}}
    write_table(scores, files / "scores.csv")
    out = files / "est.json"
    assert main(["estimate", "--scores", str(files / "scores.csv"), "--covariates", str(files / "cov.csv"),
                 "--out", str(out), "--bootstrap", "0"]) == 0
    assert json.loads(out.read_text())["provenance"]["model"] == {"id": "0123abcd", "name": "tiny-gpt2"}
