"""The Markdown report: the verdict, the lead sentence and headline table, the definitions, every estimate, the
diagnostics; also the CLI's terminal table (``headline_markdown``)."""

from __future__ import annotations

import html

from typing import Any

from llm_audit.report import layout, wording
from llm_audit.report.layout import Arrow, Cell, Test, Val
from llm_audit.report.summary import Summary, VERDICT_LABELS

FOOTNOTE_UNRELIABLE = ("\\* fewer than 10 (effective) non-members lie above the threshold: the TPR at that FPR "
                       "rests on too few texts to be trusted.")
FOOTNOTE_RULE = ("Every score is oriented so that higher = more likely member; intervals are 95% (bootstrap "
                 "percentile).")


def md_cell(text: Any) -> str:
    """A table cell or inline text: pipes and newlines would break the table, and angle brackets would let
    a corpus string become live HTML in a Markdown viewer."""
    return str(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def for_terminal(markdown: str) -> str:
    """Markdown printed to a terminal: the entities that keep a corpus string inert in a Markdown viewer are read
    back (a terminal renders no HTML), so 'p <= 0.005' is not shown as 'p &lt;= 0.005'."""
    return html.unescape(markdown)


def cell_text(cell: Cell) -> str:
    if isinstance(cell, Val):
        return cell.fig.text(cell.digits)
    if isinstance(cell, (Arrow, Test)):
        return cell.text()
    return str(cell)


def markdown_table(header: list[str], rows: list[list[Cell]]) -> str:
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(cell_text(c)) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def headline_markdown(s: Summary) -> str:
    return markdown_table(*layout.headline(s))


def any_unreliable(s: Summary) -> bool:
    return any(not f.reliable for r in s.rows for e in r.estimates for f in e.tpr.values() if f.value is not None)


def verdict_label(s: Summary) -> str:
    label = VERDICT_LABELS.get(s.verdict or "", s.verdict) if s.verdict else s.regime
    return f"{label}, with warnings" if s.warnings else str(label)


def render_markdown(s: Summary, *, title: str, est: dict[str, Any], balance: list, slices: list[dict[str, Any]],
                    meta: dict[str, Any]) -> str:
    out = [f"# {md_cell(title)}", ""]
    if s.model is not None:
        out += [f"model: {md_cell(wording.model_text(s.model))}", ""]
    if meta:
        out += [" · ".join(f"{md_cell(k)}: `{md_cell(v)}`" for k, v in meta.items()), ""]
    out += [f"**Verdict: {md_cell(verdict_label(s))}.** {md_cell(s.verdict_text)}", ""]
    bullets = s.reasons + [x for x in [wording.balance_text(s)] if x] + layout.method_verdicts(s)
    if bullets:
        out += [f"- {md_cell(r)}" for r in bullets] + [""]
    if s.refuters:
        out += ["Refuters (each asks one question the estimate must survive):", "",
                markdown_table(*layout.refuters(s)), ""]
    blind = wording.blind_lines(s)
    if blind:
        out += [md_cell(line) + "  " for line in blind[:-1]] + [md_cell(blind[-1]), ""]
    out += ["## Headline", "", f"**{md_cell(s.lead)}**", "", headline_markdown(s), ""]
    family = wording.family_text(s)
    if family:
        out += [md_cell(family), ""]
    out += [md_cell(reason) for reason in s.fpr_hidden.values()]
    out += [FOOTNOTE_RULE] + ([FOOTNOTE_UNRELIABLE] if any_unreliable(s) else [])
    out += ["", "### What the figures mean", ""]
    out += [f"- **{md_cell(term)}**: {md_cell(text)}" for term, text in wording.definitions(s)]
    out += ["", "## Every estimate", "",
            "Each result of each score, named by its method, its estimand (when not the audit's target) and the "
            "texts it describes.", "", markdown_table(*layout.every_estimate(s))]
    header, rows = layout.overlap_weights_population(est)
    if rows and wording.has_overlap_weights(s):
        out += ["", "## The overlap population", "", wording.OVERLAP_WEIGHTS_TEXT, "", markdown_table(header, rows)]
    header, rows = layout.tpr_bands(s)
    if rows:
        out += ["", "## TPR at low FPR: pointwise and simultaneous", "", wording.TPR_BAND_TEXT, "",
                markdown_table(header, rows)]
    if balance:
        out += ["", "## Covariate balance (standardized mean difference)", "", markdown_table(*layout.balance(balance))]
    if slices:
        out += ["", "## Naive AUC by slice", "", markdown_table(*layout.slices(slices))]
        out += [""] + [md_cell(n) for n in s.slice_notes] if s.slice_notes else []
    lines = layout.diagnostic_lines(est)
    if lines:
        out += ["", "## Diagnostics", ""] + [f"- {md_cell(line)}" for line in lines]
    header, rows = layout.score_diagnostics(s)
    if rows:
        out += ["", "## Placebo and sensitivity", "", markdown_table(header, rows)]
    if s.assumptions:
        out += ["", "## Assumptions", ""] + [f"- {md_cell(a)}" for a in s.assumptions]
    if s.notes:
        out += ["", "## Notes", ""] + [f"- {md_cell(n)}" for n in s.notes]
    prov = layout.provenance(est)
    if prov:
        out += ["", "## Provenance", ""] + [f"- {md_cell(k)}: `{md_cell(v)}`" for k, v in prov]
    return "\n".join(out) + "\n"
