"""The report step on hand-built estimates (issue 3's schema): headline, verdict words, escaping, slices,
compare."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from llm_audit.cli import main
from llm_audit.errors import AuditError
from llm_audit.estimate.results import Estimates, Result, Value
from llm_audit.report import summarize, write_report
from llm_audit.report.compare import compare_markdown, compare_table
from report_fixtures import SCRIPT, zero_run_estimates


def test_markdown_headline_has_every_score_and_figure(tmp_path):
    est = zero_run_estimates()
    write_report(est, tmp_path, formats=["md"])
    md = (tmp_path / "report.md").read_text()
    assert not (tmp_path / "report.html").exists()
    header = next(line for line in md.splitlines() if line.startswith("| score | naive AUC"))
    for column in ("IPW AUC", "DR AUC", "TPR@0.1% naive → DR", "TPR@1% naive → DR", "TPR@5% naive → DR",
                   "advantage naive → DR", "mean memorization naive → DR"):
        assert column in header
    loss_row = next(line for line in md.splitlines() if line.startswith("| loss |"))
    # naive 0.74 [0.71, 0.77], IPW 0.60 [0.55, 0.65], DR 0.59 [0.55, 0.63] as written in the fixture
    assert "0.740 [0.710, 0.770]" in loss_row and "0.600 [0.550, 0.650]" in loss_row and "0.590 [0.550, 0.630]" in loss_row
    assert "0.010* → 0.003*" in loss_row  # the TPR@0.1% marked unreliable in the fixture carries the mark
    assert "0.060 → 0.028" in loss_row
    assert "fewer than 10 (effective) non-members" in md
    assert "Blind-baseline AUC" in md and "0.680" in md
    assert "Verdict: identified." in md


def test_not_identified_refuses_the_number_and_gives_the_overlap_population(tmp_path):
    est = zero_run_estimates(verdict="not_identified")
    s = summarize(est)
    assert s.verdict_text.startswith("Membership is predictable from the covariates alone with AUC 0.97 (the blind baseline): "
                                     "the corrected number is not identified")
    assert "on the 412 texts where both groups overlap, the corrected AUC of loss is 0.56 [0.53, 0.59]" in s.verdict_text
    write_report(est, tmp_path, formats=["md"])
    md = (tmp_path / "report.md").read_text()
    loss_row = next(line for line in md.splitlines() if line.startswith("| loss |"))
    assert "not identified" in loss_row and "0.600" not in loss_row
    assert "## Overlap population only" in md


def test_html_is_self_contained_and_escapes_user_strings(tmp_path):
    write_report(zero_run_estimates(), tmp_path, title=f"run {SCRIPT}",
                 meta={"model": SCRIPT})
    page = (tmp_path / "report.html").read_text()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;/script&gt;" in page
    assert page.count("data:image/png;base64,") == 3  # ROC, propensity, balance
    assert "http://" not in page and "https://" not in page  # nothing fetched when opened offline
    md = (tmp_path / "report.md").read_text()
    assert "<script" not in md  # Markdown viewers render raw HTML too


def test_randomized_regime_report(tmp_path):
    d = zero_run_estimates().to_dict()
    est = Estimates.build(regime="one-run", results={k: {"causal": Result.from_dict({**v["naive"], "method": "causal"})}
                                                     for k, v in d["scores"].items()},
                          diagnostics={"counts": {"units": 10}}, assumptions=["A1 no interference"], config={})
    write_report(est, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "| score | AUC |" in md and "no correction is needed" in md
    assert "A1 no interference" in md


def test_compare_table_and_cli(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for d, verdict in ((a, "identified"), (b, "not_identified")):
        d.mkdir()
        zero_run_estimates(verdict=verdict).save(d / "estimates.json")
    table = compare_table({"a": Estimates.load(a / "estimates.json")})
    loss = table[table["score"] == "loss"].iloc[0]
    assert loss["survives"] == pytest.approx((0.59 - 0.5) / (0.74 - 0.5))
    assert main(["compare", str(a), str(b), "--csv", str(tmp_path / "c.csv")]) == 0
    out = capsys.readouterr().out
    assert "| a | loss | 0.740 [0.710, 0.770] |" in out
    assert "not identified" in out and "37%" in out and "overlap pop. only: 0.560 [0.530, 0.590]" in out
    assert (tmp_path / "c.csv").read_text().startswith("run,score,naive_auc")
    assert main(["compare", str(a), "--csv", str(tmp_path / "c.csv")]) == 2  # kept unless --overwrite
    assert "c.csv: already exists" in capsys.readouterr().err
    assert main(["compare", str(a), "--csv", str(tmp_path / "c.csv"), "--overwrite"]) == 0


def test_report_cli_from_estimates_file(tmp_path, capsys):
    zero_run_estimates().save(tmp_path / "est.json")
    assert main(["report", "--estimates", str(tmp_path / "est.json"), "--out-dir", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "report.md").is_file()
    assert main(["report"]) == 2
    assert "give a run folder or --estimates" in capsys.readouterr().err
    before = (tmp_path / "out" / "report.md").read_text()
    (tmp_path / "out" / "report.md").write_text("my notes")
    assert main(["report", "--estimates", str(tmp_path / "est.json"), "--out-dir", str(tmp_path / "out")]) == 2
    assert "report.md: already exists (pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "out" / "report.md").read_text() == "my notes"
    assert main(["report", "--estimates", str(tmp_path / "est.json"), "--out-dir", str(tmp_path / "out"),
                 "--overwrite"]) == 0
    assert (tmp_path / "out" / "report.md").read_text() == before


def test_bad_estimates_file(tmp_path):
    bad = tmp_path / "e.json"
    bad.write_text("{not json")
    with pytest.raises(AuditError, match="e.json: not valid JSON"):
        Estimates.load(bad)
    bad.write_text('{"x": 1}')
    with pytest.raises(AuditError, match="not an llm-audit estimates.json"):
        Estimates.load(bad)
    bad.write_text('{"schema_version": "1.0", "scores": {"loss": {}}}')
    with pytest.raises(AuditError, match="schema version '1.0', this llm-audit reads version 2"):
        Estimates.load(bad)


def test_compare_survival_share_is_na_when_the_naive_auc_is_at_chance():
    d = zero_run_estimates().to_dict()
    d["scores"]["loss"]["naive"]["auc"] = Value(0.472, [0.43, 0.51]).to_dict()  # covers 0.5
    est = Estimates(d)
    loss = compare_table({"a": est}).set_index("score").loc["loss"]
    assert loss["survives"] is None or loss["survives"] != loss["survives"]  # None, or NaN in a float column
    assert "| n/a |" in compare_markdown(compare_table({"a": est}))
