"""The report step on hand-built estimates (issue 3's schema): headline, verdict words, escaping, slices,
compare."""

from __future__ import annotations


import pytest

from llm_audit.cli import main
from llm_audit.errors import AuditError
from llm_audit.estimate.results import Estimates, Result, Value
from llm_audit.report import summarize, write_report
from llm_audit.report.compare import compare_markdown, compare_table
from report_fixtures import LOCAL_MODEL, SCRIPT, zero_run_estimates


def test_markdown_headline_has_every_score_and_figure(tmp_path):
    est = zero_run_estimates()
    write_report(est, tmp_path, formats=["md"])
    md = (tmp_path / "report.md").read_text()
    assert not (tmp_path / "report.html").exists()
    header = next(line for line in md.splitlines() if line.startswith("| score | naive AUC"))
    for column in ("IPW AUC", "DR AUC", "DR AUC vs 0.5", "TPR@0.1% naive → DR", "TPR@1% naive → DR",
                   "TPR@5% naive → DR", "advantage naive → DR", "mean memorization naive → DR"):
        assert column in header
    loss_row = next(line for line in md.splitlines() if line.startswith("| loss |"))
    # naive 0.74 [0.71, 0.77], IPW 0.60 [0.55, 0.65], DR 0.59 [0.55, 0.63] as written in the fixture
    assert "0.740 [0.710, 0.770]" in loss_row and "0.600 [0.550, 0.650]" in loss_row and "0.590 [0.550, 0.630]" in loss_row
    assert "0.010* → 0.003*" in loss_row  # the TPR@0.1% marked unreliable in the fixture carries the mark
    assert "0.060 → 0.028" in loss_row
    assert "z 2.5, adj. p 0.027 (one score: p 0.012)" in loss_row  # the fixture's DR z = 2.5, p = erfc(2.5 / sqrt 2)
    assert "fewer than 10 (effective) non-members" in md
    assert "Blind-baseline AUC" in md and "0.680" in md
    assert "Verdict: identified." in md
    # the lead: the strongest corrected score (loss, DR 0.59) against its naive figure, and the family count
    assert ("**Corrected for the covariates (DR, target: all units), the strongest score, loss, has AUC 0.59 "
            "[0.55, 0.63] against a naive 0.74; 1 of 2 scores is above chance at a family-wise 5% level (max-t over "
            "the 2 scores).**") in md


def test_not_identified_leads_with_what_can_be_said(tmp_path):
    est = zero_run_estimates(verdict="not_identified")
    s = summarize(est)
    assert s.verdict_text.startswith("Membership is predictable from the covariates alone with AUC 0.97 (the blind baseline): "
                                     "the corrected number is not identified")
    assert "on the 412 texts where both groups overlap, the corrected AUC of loss is 0.56 [0.53, 0.59]" in s.verdict_text
    assert s.lead == ("What can be said: on the 412 texts where members and non-members overlap, the DR AUC of loss is "
                      "0.56 [0.53, 0.59]; over all texts, the corrected AUC of loss lies in its identified set "
                      "[0.31, 0.82] (the worst case for the texts outside the overlap; 95% interval [0.28, 0.85]). "
                      "The corrected AUC over the whole corpus is not identified (blind AUC 0.97 >= 0.97).")
    write_report(est, tmp_path, formats=["md"])
    md = (tmp_path / "report.md").read_text()
    headline = md.split("## Headline", 1)[1].split("###", 1)[0]
    assert "not identified" not in headline.split("|", 1)[1]  # the table holds what can be said, no refusals
    header = next(line for line in headline.splitlines() if line.startswith("| score |"))
    assert header == ("| score | naive AUC | IPW, overlap population AUC | DR, overlap population AUC | "
                      "identified set, all texts |")
    assert "| loss | 0.740 [0.710, 0.770] | 0.570 [0.540, 0.600] | 0.560 [0.530, 0.590] | [0.310, 0.820] |" in headline
    every = md.split("## Every estimate", 1)[1]
    assert "| loss | DR | not identified |" in every and "| loss | DR, overlap population | 0.560 [0.530, 0.590] |" in every


def test_html_is_self_contained_and_escapes_user_strings(tmp_path):
    write_report(zero_run_estimates(refuters=True), tmp_path, title=f"run {SCRIPT}", meta={"corpus": SCRIPT})
    page = (tmp_path / "report.html").read_text()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;/script&gt;" in page
    assert page.count("data:image/png;base64,") == 4  # distributions, ROC, propensity, balance
    assert "http://" not in page and "https://" not in page  # nothing fetched when opened offline
    assert "default-src &#x27;none&#x27;" in page or "default-src 'none'" in page  # the CSP forbids scripts
    md = (tmp_path / "report.md").read_text()
    assert "<script" not in md  # Markdown viewers render raw HTML too


def test_header_names_the_model_by_id_and_fingerprint_never_by_local_path(tmp_path):
    est = zero_run_estimates(model=LOCAL_MODEL)
    write_report(est, tmp_path, meta={"model": LOCAL_MODEL["name"]})
    for name in ("report.md", "report.html"):
        text = (tmp_path / name).read_text()
        assert "/home/alice" not in text and "snapshots" not in text
        assert "org/tiny (from a local cache), float32 · model id cb8390f539325216 · weights sha256 7ab77154b29d21b8" in text
    # without a fingerprint, a caller's model name is still cut to what can be shared
    write_report(zero_run_estimates(), tmp_path / "b", formats=["md"], meta={"model": "/srv/models/my-model"})
    assert "model: `my-model (local folder)`" in (tmp_path / "b" / "report.md").read_text()


def test_tpr_columns_resting_on_less_than_one_non_member_are_hidden(tmp_path):
    write_report(zero_run_estimates(nonmembers=328), tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "TPR@0.1%" not in md.split("TPR@0.1% is not shown")[0]  # no column before the note saying why
    assert ("TPR@0.1% is not shown: with 328 non-members, a false positive rate of 0.1% is 0.33 texts, less than "
            "one.") in md
    assert "TPR@1% naive → DR" in md
    assert "TPR@0.1% is not shown" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("weak, says", [
    (["n_chars"], "; the verdict's balance rule flags n_chars (its reasons above)."),
    ([], "; the verdict's balance rule flags none of them (within chance at this size, and no shift that was beyond "
         "chance before weighting left above 0.25), but the weights are too few to show them balanced either."),
])
def test_balance_line_says_which_gaps_the_verdict_counts(tmp_path, weak, says):
    """Gaps above 0.1 after weighting are listed either way; the line says which the verdict's balance rule
    flags (a small corpus leaves large gaps within chance: the weights are then too few to show balance, which is
    not the same as showing imbalance)."""
    data = zero_run_estimates(smd={"n_chars": {"before": 0.62, "after": 0.2},
                                   "date": {"before": -0.1, "after": 0.84}}).to_dict()
    data["diagnostics"]["balance"] = {"weak": weak, "severe": [], "smd_weak": 0.1, "smd_severe": 0.25}
    write_report(Estimates(data), tmp_path, formats=["md"])
    md = (tmp_path / "report.md").read_text()
    assert "- 2 covariates stay above the 0.1 balance target after weighting (worst: date, \\|SMD\\| 0.84)" + says in md


def test_refuters_balance_and_method_verdicts_make_an_identified_banner_amber(tmp_path):
    unbalanced = {"n_chars": {"before": 0.62, "after": 0.2}, "date": {"before": -0.41, "after": -0.12},
                  "domain=wiki": {"before": 0.3, "after": 0.05}}
    write_report(zero_run_estimates(refuters=True, smd=unbalanced), tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "**Verdict: identified, with warnings.**" in md
    assert ("- 2 covariates stay above the 0.1 balance target after weighting (worst: n_chars, \\|SMD\\| 0.20)"
            in md)
    assert "- IPW: weak overlap (max \\|SMD\\| after 0.20 &gt; 0.1)" in md and "- DR: identified" in md
    refuters = md.split("Refuters", 1)[1].split("\n\n", 2)[1]
    assert refuters.splitlines()[0] == "| check | result | score | what it asks | statistic | rule |"
    assert [line.split("|")[2].strip() for line in refuters.splitlines()[2:]] == ["pass", "FAIL", "not run"]
    page = (tmp_path / "report.html").read_text()
    assert 'class="verdict identified warn"' in page and 'id="refuters"' in page
    assert "is every covariate balanced after weighting? &lt;script&gt;" in page


def test_definitions_give_units_per_score_and_the_family_statement(tmp_path):
    write_report(zero_run_estimates(score_names=("loss", "mink_0.2", "my_score")), tmp_path, formats=["md"])
    md = (tmp_path / "report.md").read_text()
    defs = md.split("### What the figures mean", 1)[1].split("## Every estimate", 1)[0]
    assert "- **advantage**: the largest TPR - FPR over all thresholds" in defs and "no units" in defs
    assert ("in each score's own units, so it compares audits of one score, never two scores: loss: nats per token "
            "(mean log-probability); mink_0.2: nats per token (mean log-probability of the k least likely tokens); "
            "my_score: its own units (not an attack llm-audit knows).") in defs
    assert "- **z, p**: z = (AUC - 0.5) / SE" in defs
    family = next(line for line in md.splitlines() if line.startswith("3 scores are tested at once"))
    assert "max-t bootstrap" in family and "would take 2.50 standard errors" in family
    assert "2.36 standard errors wide on each side (one score alone: 1.96)" in family
    assert "loss [0.503, 0.597]" in family  # the fixture's simultaneous interval: 0.55 +- 0.047


def test_slices_of_one_arm_each_say_membership_is_the_date(tmp_path):
    one_arm = [{"slice": "date", "value": v, "members": m, "nonmembers": n, "auc": {"loss": Value(None).to_dict()}}
               for v, m, n in (("before 2005", 40, 0), ("2005 to 2009", 35, 0), ("2010 or later", 0, 60))]
    write_report(zero_run_estimates(score_names=("loss",), slices=one_arm), tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "Every date slice holds texts of one arm only: membership is the date." in md
    assert "| date | before 2005 | 40 | 0 | one arm only |" in md
    assert "membership is the date" in (tmp_path / "report.html").read_text()
    write_report(zero_run_estimates(), tmp_path / "mixed", formats=["md"])
    assert "membership is the" not in (tmp_path / "mixed" / "report.md").read_text()


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
