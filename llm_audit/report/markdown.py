"""The Markdown report: the headline table, the verdict, the details; also the CLI's terminal table."""

from __future__ import annotations

from typing import Any

from llm_audit.report.summary import Figure, HeadlineRow, Summary, VERDICT_LABELS, fpr_label


def md_cell(text: Any) -> str:
    """A table cell or inline text: pipes and newlines would break the table, and angle brackets would let
    a corpus string become live HTML in a Markdown viewer."""
    return str(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def arrow(naive: Figure, corrected: Figure, digits: int = 3) -> str:
    return f"{naive.text(digits, with_ci=False)} → {corrected.text(digits, with_ci=False)}"


def headline_header(s: Summary) -> list[str]:
    c = s.corrected_label
    if s.regime != "zero-run" and c == "causal":
        return (["score", "AUC"] + [f"TPR@{fpr_label(k)}" for k in s.fpr_keys] + ["advantage", "mean memorization"])
    return (["score", "naive AUC", "IPW AUC", "DR AUC"]
            + [f"TPR@{fpr_label(k)} naive → {c}" for k in s.fpr_keys]
            + [f"advantage naive → {c}", f"mean memorization naive → {c}"])


def headline_cells(s: Summary, row: HeadlineRow) -> list[str]:
    if s.regime != "zero-run" and s.corrected_label == "causal":
        return ([row.score, row.auc_naive.text()] + [row.tpr_naive[k].text(with_ci=False) for k in s.fpr_keys]
                + [row.advantage_naive.text(with_ci=False), row.mean_naive.text(with_ci=False)])
    return ([row.score, row.auc_naive.text(), row.auc_ipw.text(), row.auc_dr.text()]
            + [arrow(row.tpr_naive[k], row.tpr_corrected[k]) for k in s.fpr_keys]
            + [arrow(row.advantage_naive, row.advantage_corrected), arrow(row.mean_naive, row.mean_corrected, 4)])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def headline_markdown(s: Summary) -> str:
    return markdown_table(headline_header(s), [headline_cells(s, r) for r in s.rows])


def any_unreliable(s: Summary) -> bool:
    return any(not f.reliable for r in s.rows for f in list(r.tpr_naive.values()) + list(r.tpr_corrected.values()))


FOOTNOTE_UNRELIABLE = ("\\* fewer than 10 (effective) non-members lie above the threshold: the TPR at that FPR "
                       "rests on too few texts to be trusted.")
FOOTNOTE_RULE = ("TPR@FPR = the largest TPR among ROC points with FPR <= the target (the rule of LiRA / MIMIR); "
                 "every score is oriented so that higher = more likely member; intervals are 95%.")


def render_markdown(s: Summary, *, title: str, est: dict[str, Any], balance: list, slices: list[dict[str, Any]],
                    meta: dict[str, Any]) -> str:
    out = [f"# {md_cell(title)}", ""]
    if meta:
        out += [" · ".join(f"{k}: `{md_cell(v)}`" for k, v in meta.items()), ""]
    verdict = VERDICT_LABELS.get(s.verdict or "", s.verdict) if s.verdict else s.regime
    out += [f"**Verdict: {md_cell(verdict)}.** {md_cell(s.verdict_text)}", ""]
    if s.reasons:
        out += [f"- {md_cell(r)}" for r in s.reasons] + [""]
    if s.blind_auc is not None:
        out += [f"Blind-baseline AUC (membership predicted from the covariates alone, no model): **{s.blind_auc:.3f}**.", ""]
    out += ["## Headline", "", headline_markdown(s), "", FOOTNOTE_RULE]
    if any_unreliable(s):
        out += ["", FOOTNOTE_UNRELIABLE]
    ato_scores, ato_covariates = overlap_weights_rows(s, est)
    if ato_scores:
        out += ["", "## Overlap population (overlap weights)", "", OVERLAP_WEIGHTS_TEXT, ""]
        out.append(markdown_table(["score", "AUC (IPW)", "AUC (DR)"], ato_scores))
        if ato_covariates:
            out += ["", markdown_table(OVERLAP_WEIGHTS_HEADER, ato_covariates)]
    overlap_rows = [r for r in s.rows if r.overlap]
    if overlap_rows:
        out += ["", "## Overlap population only", "",
                "Estimates on the texts whose propensity lies inside [eta, 1-eta]; they describe that population, "
                "not the whole corpus.", ""]
        out.append(markdown_table(["score", "AUC (IPW)", "AUC (DR)"], [
            [r.score, Figure.of((r.overlap.get("ipw") or {}).get("auc")).text(),
             Figure.of((r.overlap.get("dr") or {}).get("auc")).text()] for r in overlap_rows]))
    if s.fpr_keys:
        out += ["", "## TPR at low FPR, with intervals", "", TPR_BAND_TEXT, ""]
        out.append(markdown_table(*tpr_rows(s)))
    if balance:
        out += ["", "## Covariate balance (standardized mean difference)", ""]
        out.append(markdown_table(["covariate", "before", "after"],
                                  [[c, _f(b), _f(a)] for c, b, a in balance]))
    if slices:
        out += ["", "## Naive AUC by slice", ""]
        header, rows = slice_rows(slices)
        out.append(markdown_table(header, rows))
    diag_lines = _diagnostic_lines(est)
    if diag_lines:
        out += ["", "## Diagnostics", ""] + [f"- {md_cell(line)}" for line in diag_lines]
    per_score = score_diagnostics(s)
    if per_score:
        out += ["", "## Placebo and sensitivity", "", markdown_table(SCORE_DIAG_HEADER, per_score)]
    if s.assumptions:
        out += ["", "## Assumptions", ""] + [f"- {md_cell(a)}" for a in s.assumptions]
    if s.notes:
        out += ["", "## Notes", ""] + [f"- {md_cell(n)}" for n in s.notes]
    return "\n".join(out) + "\n"


TPR_BAND_TEXT = ("Pointwise 95% intervals; the last column reads the TPR off a simultaneous 95% band of the whole "
                 "ROC curve, which stays valid although the threshold was chosen from the same data.")


def tpr_rows(s: Summary) -> tuple[list[str], list[list[str]]]:
    """The TPR-at-low-FPR table: naive and corrected with pointwise intervals, and the corrected band."""
    header = ["score", "FPR", "naive", s.corrected_label, f"{s.corrected_label}, simultaneous band"]
    return header, [[r.score, fpr_label(k), r.tpr_naive[k].text(), r.tpr_corrected[k].text(),
                     r.tpr_corrected[k].band_text() or "n/a"] for r in s.rows for k in s.fpr_keys]


OVERLAP_WEIGHTS_TEXT = ("Figures weighted to the overlap population (density proportional to e(1-e)): the texts whose "
                        "membership the covariates predict least well. It is not the corpus; the second table gives "
                        "each covariate's mean (a category's share) in both.")
OVERLAP_WEIGHTS_HEADER = ["covariate", "corpus mean", "overlap-population mean", "difference (corpus SD)"]


def overlap_weights_rows(s: Summary, est: dict[str, Any]) -> tuple[list[list[str]], list[list[str]]]:
    """The overlap-weights (ATO) AUC of each score, and how that population differs from the corpus."""
    scores = [[r.score, Figure.of((r.ato.get("ipw") or {}).get("auc")).text(),
               Figure.of((r.ato.get("dr") or {}).get("auc")).text()] for r in s.rows if r.ato]
    table = (est.get("diagnostics") or {}).get("overlap_weights_population") or []
    covariates = [[str(row["column"]), _f(row["corpus_mean"]), _f(row["overlap_mean"]), _f(row["difference_sd"], 2)]
                  for row in table] if scores else []
    return scores, covariates


def slice_rows(slices: list[dict[str, Any]], max_scores: int = 6) -> tuple[list[str], list[list[str]]]:
    """The slice table (naive AUC per domain and date bucket, with intervals) as header and rows."""
    names = list(slices[0]["auc"])[:max_scores]
    rows = [[r["slice"], r["value"], str(r["members"]), str(r["nonmembers"])] + [Figure.of(r["auc"][n]).text() for n in names]
            for r in slices]
    return ["slice", "value", "members", "non-members"] + names, rows


def _f(x: Any, digits: int = 3) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if v != v else f"{v:.{digits}f}"


def outcome_model_line(score: str, om: dict[str, Any]) -> str:
    """The DR outcome model chosen for a score and each candidate's held-out Brier score."""
    brier = om.get("brier") or {}
    scores = ", ".join(f"{k} {_f(v, 4)}" for k, v in brier.items())
    folds = om.get("per_fold") or []
    per_fold = f" (folds: {', '.join(folds)})" if len(set(folds)) > 1 else ""
    return (f"DR outcome model of {score}: {om.get('chosen')}{per_fold}"
            + (f"; held-out Brier score averaged over the grid: {scores}" if scores else ""))


def _diagnostic_lines(est: dict[str, Any]) -> list[str]:
    """The scalar diagnostics in words, one line each (counts, ESS, clipping, TV bound, DP bound)."""
    diag = est.get("diagnostics") or {}
    lines = []
    n = diag.get("n")
    if isinstance(n, dict):
        lines.append(f"texts: {n.get('member')} members, {n.get('nonmember')} non-members")
    ess = diag.get("ess")
    if isinstance(ess, dict):
        lines.append("effective sample size after weighting (Kish): "
                     + ", ".join(f"{k} {_f(v, 1)}" for k, v in ess.items()))
    for key, label in (("clipped", "propensities clipped to [eta, 1-eta]"), ("trimmed", "texts trimmed")):
        value = diag.get(key)
        if isinstance(value, dict) and any(value.values()):
            lines.append(f"{label}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
    pop = diag.get("overlap_population")
    if isinstance(pop, dict) and pop.get("n") is not None:
        lines.append(f"overlap population (propensity inside [eta, 1-eta]): {pop.get('n')} texts "
                     f"({pop.get('member')} members, {pop.get('nonmember')} non-members)")
    if isinstance(diag.get("tv_bound"), (int, float)):
        lines.append(f"|naive AUC - causal AUC| <= {diag['tv_bound']:.3f} (total variation between the arms' covariates)")
    dp = diag.get("dp")
    if isinstance(dp, dict) and dp.get("auc_bound") is not None:
        lines.append(f"DP bound on the causal AUC (epsilon {dp.get('epsilon')}, delta {dp.get('delta')}): {_f(dp['auc_bound'])}")
    for score, per in (diag.get("per_score") or {}).items():
        om = (per or {}).get("outcome_model")
        if isinstance(om, dict):
            lines.append(outcome_model_line(score, om))
    unc = diag.get("uncertainty")
    if isinstance(unc, dict):
        lines += [f"intervals, {k.replace('_', '/')}: {v}" for k, v in unc.items() if isinstance(v, str)]
    return lines


def score_diagnostics(s: Summary) -> list[list[str]]:
    """Per score: the placebo AUC (near 0.5 when the weights remove the covariate shift) and how strong an
    unmeasured confounder would have to be to explain the corrected figure away."""
    rows = []
    for r in s.rows:
        if r.placebo_auc is None and r.gamma_to_naive is None and r.gamma_to_chance is None:
            continue
        rows.append([r.score, _f(r.placebo_auc), _f(r.gamma_to_naive, 2), _f(r.gamma_to_chance, 2)])
    return rows


SCORE_DIAG_HEADER = ["score", "placebo AUC (want ~0.5)", "Gamma to reach the naive AUC", "Gamma to reach 0.5"]
