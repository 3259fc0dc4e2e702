"""Step 4: the report (Markdown and one self-contained HTML page) from an ``Estimates``.

``write_report(estimates, out_dir)`` writes ``report.md`` and ``report.html``. The report reads nothing but
the estimates (every statistic it shows was computed in step 3). Nothing here imports torch or transformers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from llm_audit.errors import AuditError
from llm_audit.estimate.results import Estimates
from llm_audit.report.html import render_html
from llm_audit.report.markdown import headline_markdown, render_markdown
from llm_audit.report.options import FORMATS, ReportConfig
from llm_audit.report.summary import Summary, summarize
from llm_audit.tables import atomic_write_text

__all__ = ["summarize", "headline_markdown", "write_report", "Summary"]


def write_report(
    estimates: Estimates,
    out_dir: str | os.PathLike,
    *,
    formats: Iterable[str] = FORMATS,
    title: str | None = None,
    meta: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``report.md`` / ``report.html`` into ``out_dir`` (created if missing, like the CLI does); return
    the paths written."""
    from llm_audit.report import plots  # matplotlib: loaded when a report is written, not with the options

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # under a regular file, in /proc, no permission
        raise AuditError(f"{out_dir}: cannot create the folder ({exc.strerror})") from None
    summary = summarize(estimates)
    estimates = estimates.to_dict()
    diag = estimates["diagnostics"]
    balance = plots.smd_table(diag)
    slices = diag.get("slices") or []
    title = title or "llm-audit report"
    meta = dict(meta or {})
    meta.setdefault("regime", summary.regime)
    written = []
    formats = ReportConfig(formats=list(formats)).validate("report.").formats
    if "md" in formats:
        md = render_markdown(summary, title=title, est=estimates, balance=balance, slices=slices, meta=meta)
        atomic_write_text(out_dir / "report.md", md)
        written.append(out_dir / "report.md")
    if "html" in formats:
        eta = estimates["config"].get("eta")
        figures = {
            "roc": plots.plot_roc(plots.roc_curves(estimates)),
            "propensity": plots.plot_propensity(plots.propensity_histogram(diag), eta if isinstance(eta, (int, float)) else None),
            "balance": plots.plot_balance(balance),
        }
        page = render_html(summary, title=title, est=estimates, balance=balance, slices=slices, meta=meta, figures=figures)
        atomic_write_text(out_dir / "report.html", page)
        written.append(out_dir / "report.html")
    return written
