"""The HTML report: one self-contained page (CSS inline, figures as base64 PNG) that opens offline.

Every string that comes from the user or the corpus (titles, score and covariate names, slice values,
notes, the config) goes through ``html.escape``; the page carries no script.
"""

from __future__ import annotations

import base64
import json
from html import escape
from typing import Any

from llm_audit.report.markdown import (
    FOOTNOTE_RULE, FOOTNOTE_UNRELIABLE, OVERLAP_WEIGHTS_HEADER, OVERLAP_WEIGHTS_TEXT, SCORE_DIAG_HEADER, TPR_BAND_TEXT,
    _diagnostic_lines, _f, any_unreliable, arrow, overlap_weights_rows, score_diagnostics, slice_rows, tpr_rows,
)
from llm_audit.report.summary import Figure, Summary, VERDICT_LABELS, fpr_label

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#1d232a}
main{max-width:1180px;margin:0 auto;padding:24px 32px 48px;background:#fff;min-height:100vh}
h1{font-size:24px;margin:4px 0 6px}h2{font-size:18px;margin:30px 0 10px;border-bottom:1px solid #e3e6ea;padding-bottom:4px}
.meta{color:#5a6570;font-size:13px}.meta code{background:#f0f2f4;padding:1px 4px;border-radius:3px}
.verdict{border-left:6px solid #888;background:#f4f5f6;padding:12px 16px;margin:16px 0;font-size:15px;line-height:1.45}
.verdict.identified{border-color:#2e9e4f;background:#eef8f1}.verdict.weak_overlap{border-color:#e0a100;background:#fdf7e6}
.verdict.not_identified{border-color:#c8312b;background:#fbeceb}.verdict ul{margin:6px 0 0;font-size:13px;color:#444}.verdict b{text-transform:uppercase;letter-spacing:.03em}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border:1px solid #dde1e5;padding:5px 8px;text-align:right;white-space:nowrap}
th{background:#f0f2f5;font-weight:600;vertical-align:bottom}.ci{color:#6a737d;font-size:11px;font-weight:400}
table.headline td{font-size:14px}table.headline td:first-child{font-weight:600}td:first-child,th:first-child{text-align:left}
tr:nth-child(even) td{background:#fafbfc}.note{color:#5a6570;font-size:12.5px;margin:4px 0}
.scroll{overflow-x:auto}img{max-width:100%;display:block;margin:8px 0}
details{margin-top:12px}pre{background:#f6f8fa;padding:10px;font-size:12px;overflow-x:auto}
"""


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return ""
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<div class="scroll"><table class="{escape(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _fig_cell(fig: Figure, digits: int = 3) -> str:
    """Value on top, interval beneath in small type: keeps the headline narrow enough to read at a glance."""
    main = escape(fig.text(digits, with_ci=False))
    if fig.ci is None or fig.value is None:
        return main
    return f'{main}<br><span class="ci">[{fig.ci[0]:.{digits}f}, {fig.ci[1]:.{digits}f}]</span>'


def _headline_table(s: Summary) -> str:
    randomized = s.regime != "zero-run" and s.corrected_label == "causal"
    c = escape(s.corrected_label)
    if randomized:
        head = ["score", "AUC"] + [f"TPR@{fpr_label(k)}" for k in s.fpr_keys] + ["advantage", "mean memorization"]
    else:
        head = (["score", "naive AUC", "IPW AUC", "DR AUC"]
                + [f"TPR@{fpr_label(k)}<br><span class=\"ci\">naive → {c}</span>" for k in s.fpr_keys]
                + [f"advantage<br><span class=\"ci\">naive → {c}</span>",
                   f"mean memorization<br><span class=\"ci\">naive → {c}</span>"])
    rows = []
    for r in s.rows:
        if randomized:
            cells = ([escape(r.score), _fig_cell(r.auc_naive)] + [_fig_cell(r.tpr_naive[k]) for k in s.fpr_keys]
                     + [_fig_cell(r.advantage_naive), _fig_cell(r.mean_naive, 4)])
        else:
            cells = ([escape(r.score), _fig_cell(r.auc_naive), _fig_cell(r.auc_ipw), _fig_cell(r.auc_dr)]
                     + [escape(arrow(r.tpr_naive[k], r.tpr_corrected[k])) for k in s.fpr_keys]
                     + [escape(arrow(r.advantage_naive, r.advantage_corrected)),
                        escape(arrow(r.mean_naive, r.mean_corrected, 4))])
        rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    # Header strings above are fixed text plus escaped labels; nothing from the corpus reaches them unescaped.
    thead = "".join(f"<th>{h}</th>" for h in head)
    return (f'<div class="scroll"><table class="headline"><thead><tr>{thead}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def render_html(s: Summary, *, title: str, est: dict[str, Any], balance: list, slices: list[dict[str, Any]],
                meta: dict[str, Any], figures: dict[str, bytes | None]) -> str:
    parts = [f"<h1>{escape(title)}</h1>"]
    if meta:
        parts.append('<p class="meta">' + " · ".join(f"{escape(str(k))}: <code>{escape(str(v))}</code>"
                                                    for k, v in meta.items()) + "</p>")
    verdict_key = s.verdict or ""
    label = VERDICT_LABELS.get(verdict_key, verdict_key) or s.regime
    reasons = "".join(f"<li>{escape(r)}</li>" for r in s.reasons)
    parts.append(f'<div class="verdict {escape(verdict_key)}"><b>{escape(label)}</b> — {escape(s.verdict_text)}'
                 + (f"<ul>{reasons}</ul>" if reasons else "") + "</div>")
    if s.blind_auc is not None:
        parts.append(f'<p>Blind-baseline AUC (membership predicted from the covariates alone, no model): '
                     f'<b>{s.blind_auc:.3f}</b>. When it is close to the naive AUC, the naive figure says little '
                     f'about memorization.</p>')
    parts.append("<h2>Headline</h2>")
    parts.append(_headline_table(s))
    parts.append(f'<p class="note">{escape(FOOTNOTE_RULE)}</p>')
    if any_unreliable(s):
        parts.append(f'<p class="note">{escape(FOOTNOTE_UNRELIABLE.replace(chr(92), ""))}</p>')
    ato_scores, ato_covariates = overlap_weights_rows(s, est)
    if ato_scores:
        parts.append(f"<h2>Overlap population (overlap weights)</h2><p>{escape(OVERLAP_WEIGHTS_TEXT)}</p>")
        parts.append(_table(["score", "AUC (IPW)", "AUC (DR)"], ato_scores))
        if ato_covariates:
            parts.append(_table(OVERLAP_WEIGHTS_HEADER, ato_covariates))
    overlap_rows = [r for r in s.rows if r.overlap]
    if overlap_rows:
        parts.append("<h2>Overlap population only</h2><p>Estimates on the texts whose propensity lies inside "
                     "[eta, 1-eta]; they describe that population, not the whole corpus.</p>")
        parts.append(_table(["score", "AUC (IPW)", "AUC (DR)"], [
            [r.score, Figure.of((r.overlap.get("ipw") or {}).get("auc")).text(),
             Figure.of((r.overlap.get("dr") or {}).get("auc")).text()] for r in overlap_rows]))
    if figures.get("roc"):
        parts.append("<h2>ROC curves, naive vs weighted</h2>" + _img(figures["roc"], "ROC curves per score"))
    if figures.get("propensity"):
        parts.append("<h2>Propensity by arm</h2><p class=\"note\">Where the two arms do not overlap, no weighting can "
                     "compare like with like; dashed lines: the clipping bounds.</p>"
                     + _img(figures["propensity"], "propensity histograms"))
    if balance:
        parts.append("<h2>Covariate balance</h2>" + _img(figures.get("balance"), "standardized mean differences"))
        parts.append("<details><summary>SMD table</summary>"
                     + _table(["covariate", "before", "after"], [[c, _f(b), _f(a)] for c, b, a in balance]) + "</details>")
    if slices:
        parts.append("<h2>Naive AUC by slice</h2><p class=\"note\">A naive AUC that falls toward 0.5 inside each slice "
                     "came from the slices, not from memorization.</p>")
        parts.append(_table(*slice_rows(slices)))
    if s.fpr_keys:
        parts.append(f"<h2>TPR at low FPR, with intervals</h2><p class=\"note\">{escape(TPR_BAND_TEXT)}</p>")
        parts.append(_table(*tpr_rows(s)))
    lines = _diagnostic_lines(est)
    if lines:
        parts.append("<h2>Diagnostics</h2><ul>" + "".join(f"<li>{escape(x)}</li>" for x in lines) + "</ul>")
    per_score = score_diagnostics(s)
    if per_score:
        parts.append("<h2>Placebo and sensitivity</h2>" + _table(SCORE_DIAG_HEADER, per_score))
    if s.assumptions:
        parts.append("<h2>Assumptions</h2><ul>" + "".join(f"<li>{escape(a)}</li>" for a in s.assumptions) + "</ul>")
    if s.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in s.notes) + "</ul>")
    config = est["config"]
    if config:
        parts.append("<details><summary>Estimator configuration</summary><pre>"
                     + escape(json.dumps(config, indent=2, sort_keys=True, default=str)) + "</pre></details>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(parts)}</main></body></html>\n")
