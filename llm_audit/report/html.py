"""The HTML report: one self-contained page (CSS inline, figures as base64 PNG) that opens offline.

Every string that comes from the user or the corpus (titles, score and covariate names, slice values,
notes, the config) goes through ``html.escape``; the page carries no script, and its Content-Security-Policy
forbids any (and any fetch): only inline styles and ``data:`` images load.
"""

from __future__ import annotations

import base64
import json
import struct
from html import escape
from typing import Any

from llm_audit.report import layout, wording
from llm_audit.report.layout import Arrow, Cell, Test, Val
from llm_audit.report.markdown import FOOTNOTE_RULE, FOOTNOTE_UNRELIABLE, any_unreliable, verdict_label
from llm_audit.report.summary import Summary

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#1d232a}
main{max-width:1180px;margin:0 auto;padding:24px 32px 48px;background:#fff;min-height:100vh;box-sizing:border-box}
h1{font-size:24px;margin:4px 0 6px;overflow-wrap:anywhere}h2{font-size:18px;margin:30px 0 10px;border-bottom:1px solid #e3e6ea;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:#5a6570;font-size:13px;line-height:1.7;overflow-wrap:anywhere}.meta code{background:#f0f2f4;padding:1px 4px;border-radius:3px}
.verdict{border-left:6px solid #888;background:#f4f5f6;padding:12px 16px;margin:16px 0;font-size:15px;line-height:1.45}
.verdict.identified{border-color:#2e9e4f;background:#eef8f1}.verdict.weak_overlap,.verdict.warn{border-color:#e0a100;background:#fdf7e6}
.verdict.not_identified{border-color:#c8312b;background:#fbeceb}.verdict ul{margin:6px 0 0;font-size:13px;color:#444}.verdict b{text-transform:uppercase;letter-spacing:.03em}
.lead{font-size:16px;font-weight:600;line-height:1.45;margin:8px 0 12px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border:1px solid #dde1e5;padding:5px 8px;text-align:right;white-space:nowrap}
th{background:#f0f2f5;font-weight:600;vertical-align:bottom;white-space:normal;min-width:4.5em}.ci{color:#6a737d;font-size:11px;font-weight:400}
table.headline td{font-size:14px}table.headline td:first-child{font-weight:600}td:first-child,th:first-child{text-align:left}
td.text{white-space:normal;text-align:left;min-width:12em}
tr:nth-child(even) td{background:#fafbfc}.note{color:#5a6570;font-size:12.5px;margin:4px 0;line-height:1.4}
.scroll{overflow-x:auto}img{max-width:100%;height:auto;display:block;margin:8px 0}
dl.defs{font-size:13px;line-height:1.45;margin:6px 0}dl.defs dt{font-weight:600;float:left;clear:left;margin-right:6px}
dl.defs dd{margin:0 0 6px 0}
details{margin-top:12px}pre{background:#f6f8fa;padding:10px;font-size:12px;overflow-x:auto}
"""
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG header, so the page lays out before the image decodes."""
    return struct.unpack(">II", png[16:24])


def _img(png: bytes | None, alt: str, ident: str) -> str:
    if not png:
        return ""
    w, h = _png_size(png)
    return (f'<img id="{ident}" alt="{escape(alt)}" width="{w}" height="{h}" '
            f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">')


def _cell(cell: Cell) -> str:
    """A value on top and its interval beneath in small type: keeps a table narrow enough to read at a glance."""
    if isinstance(cell, Val):
        fig = cell.fig
        main = escape(fig.text(cell.digits, with_ci=False))
        if fig.ci is None or fig.value is None:
            return main
        return f'{main}<br><span class="ci">[{fig.ci[0]:.{cell.digits}f}, {fig.ci[1]:.{cell.digits}f}]</span>'
    if isinstance(cell, Arrow):
        return escape(cell.text())
    if isinstance(cell, Test):
        t = cell.test
        if t is None:
            return "n/a"
        return (f"z {t.z:.1f}, adj. p {escape(t.p_text())}"
                f'<br><span class="ci">one score: p {escape(t.p_text(adjusted=False))}</span>')
    return escape(str(cell))


def _table(header: list[str], rows: list[list[Cell]], cls: str = "", ident: str = "", wrap: tuple[int, ...] = ()) -> str:
    """``wrap``: columns of running text, allowed to wrap."""
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    td = ['<td class="text">' if i in wrap else "<td>" for i in range(len(header))]
    body = "".join("<tr>" + "".join(f"{td[i]}{_cell(c)}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows)
    attrs = f' id="{ident}"' if ident else ""
    return (f'<div class="scroll"{attrs}><table class="{escape(cls)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _verdict(s: Summary) -> str:
    key = s.verdict or ""
    cls = f"{key} warn" if s.warnings else key
    bullets = s.reasons + [x for x in [wording.balance_text(s)] if x] + layout.method_verdicts(s)
    items = "".join(f"<li>{escape(r)}</li>" for r in bullets)
    out = (f'<div id="verdict" class="verdict {escape(cls)}"><b>{escape(verdict_label(s))}</b> — '
           f'{escape(s.verdict_text)}' + (f"<ul>{items}</ul>" if items else "") + "</div>")
    if s.refuters:
        out += ('<p class="note">Refuters: each asks one question the estimate must survive.</p>'
                + _table(*layout.refuters(s), ident="refuters", wrap=(3, 4, 5)))
    return out


def render_html(s: Summary, *, title: str, est: dict[str, Any], balance: list, slices: list[dict[str, Any]],
                meta: dict[str, Any], figures: dict[str, bytes | None]) -> str:
    parts = [f"<h1>{escape(title)}</h1>"]
    meta_items = []
    if s.model is not None:
        meta_items.append(f'<span id="model">model: <code>{escape(wording.model_text(s.model))}</code></span>')
    meta_items += [f"{escape(str(k))}: <code>{escape(str(v))}</code>" for k, v in meta.items()]
    if meta_items:
        parts.append('<p class="meta">' + " · ".join(meta_items) + "</p>")
    parts.append(_verdict(s))
    blind = wording.blind_lines(s)
    if blind:
        parts.append('<p id="blind">' + "<br>".join(escape(line) for line in blind)
                     + " When a blind baseline is close to the naive AUC, the naive figure says little about "
                       "memorization.</p>")
    parts.append("<h2>Headline</h2>")
    parts.append(f'<p id="lead" class="lead">{escape(s.lead)}</p>')
    parts.append(_table(*layout.headline(s), cls="headline", ident="headline"))
    family = wording.family_text(s)
    if family:
        parts.append(f'<p id="familywise" class="note">{escape(family)}</p>')
    for reason in s.fpr_hidden.values():
        parts.append(f'<p class="note fpr-hidden">{escape(reason)}</p>')
    parts.append(f'<p class="note">{escape(FOOTNOTE_RULE)}</p>')
    if any_unreliable(s):
        parts.append(f'<p class="note">{escape(FOOTNOTE_UNRELIABLE.replace(chr(92), ""))}</p>')
    parts.append('<h3>What the figures mean</h3><dl id="definitions" class="defs">'
                 + "".join(f"<dt>{escape(t)}</dt><dd>{escape(d)}</dd>" for t, d in wording.definitions(s)) + "</dl>")
    if figures.get("distributions"):
        parts.append('<h2>Score distributions</h2><p class="note">Members against non-members per score: filled, as '
                     'observed (what the naive AUC compares); lines, weighted as the corrected figures weight them. '
                     'Where the lines overlap more than the fills, the correction removed a covariate difference.</p>'
                     + _img(figures["distributions"], "score distributions per arm, naive and weighted", "distributions"))
    if figures.get("roc"):
        parts.append('<h2>ROC curves, naive vs weighted</h2><p class="note">Log-log axes: the low false positive '
                     'rates where published TPR@FPR figures live. AUC in each legend. A true positive rate below '
                     '0.1% is drawn on the bottom edge (grey band), not below it.</p>'
                     + _img(figures["roc"], "ROC curves per score", "roc"))
    if figures.get("propensity"):
        parts.append("<h2>Propensity by arm</h2><p class=\"note\">Where the two arms do not overlap, no weighting can "
                     "compare like with like; dashed lines: the clipping bounds.</p>"
                     + _img(figures["propensity"], "propensity histograms", "propensity"))
    if balance:
        parts.append("<h2>Covariate balance</h2>" + _img(figures.get("balance"), "standardized mean differences", "balance"))
        parts.append("<details><summary>SMD table</summary>" + _table(*layout.balance(balance)) + "</details>")
    if slices:
        parts.append("<h2>Naive AUC by slice</h2><p class=\"note\">A naive AUC that falls toward 0.5 inside each slice "
                     "came from the slices, not from memorization.</p>")
        parts.append(_table(*layout.slices(slices), ident="slices"))
        parts += [f'<p class="note slice-note"><b>{escape(n)}</b></p>' for n in s.slice_notes]
    parts.append("<h2>Every estimate</h2><p class=\"note\">Each result of each score, named by its method, its "
                 "estimand (when not the audit's target) and the texts it describes.</p>")
    parts.append(_table(*layout.every_estimate(s), ident="estimates"))
    header, rows = layout.overlap_weights_population(est)
    if rows and wording.has_overlap_weights(s):
        parts.append(f'<h2>The overlap population</h2><p class="note">{escape(wording.OVERLAP_WEIGHTS_TEXT)}</p>'
                     + _table(header, rows, ident="overlap-weights"))
    header, rows = layout.tpr_bands(s)
    if rows:
        parts.append(f'<h2>TPR at low FPR: pointwise and simultaneous</h2><p class="note">'
                     f'{escape(wording.TPR_BAND_TEXT)}</p>' + _table(header, rows, ident="tpr-bands"))
    lines = layout.diagnostic_lines(est)
    if lines:
        parts.append("<h2>Diagnostics</h2><ul>" + "".join(f"<li>{escape(x)}</li>" for x in lines) + "</ul>")
    header, rows = layout.score_diagnostics(s)
    if rows:
        parts.append("<h2>Placebo and sensitivity</h2>" + _table(header, rows))
    if s.assumptions:
        parts.append("<h2>Assumptions</h2><ul>" + "".join(f"<li>{escape(a)}</li>" for a in s.assumptions) + "</ul>")
    if s.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in s.notes) + "</ul>")
    prov = layout.provenance(est)
    if prov:
        parts.append("<details><summary>Provenance</summary><ul>"
                     + "".join(f"<li>{escape(k)}: <code>{escape(v)}</code></li>" for k, v in prov) + "</ul></details>")
    config = est["config"]
    if config:
        parts.append("<details><summary>Estimator configuration</summary><pre>"
                     + escape(json.dumps(config, indent=2, sort_keys=True, default=str)) + "</pre></details>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(parts)}</main></body></html>\n")
