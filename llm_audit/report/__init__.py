"""Step 4: the report (Markdown and one self-contained HTML page) from an estimates JSON.

``write_report(estimates, out_dir, scores=..., covariates=...)`` writes ``report.md`` and ``report.html``;
the scores and covariates tables are optional and add the slice table (naive AUC per domain and date).
Nothing here imports torch or transformers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from llm_audit.errors import AuditError
from llm_audit.report import plots
from llm_audit.report.html import render_html
from llm_audit.report.markdown import headline_markdown, render_markdown
from llm_audit.report.summary import RESERVED_COLUMNS, Summary, slice_table, summarize
from llm_audit.tables import atomic_write_text

__all__ = ["load_estimates", "summarize", "headline_markdown", "write_report", "Summary"]


def load_estimates(path: str | os.PathLike) -> dict[str, Any]:
    """Read an estimates JSON, with one-line errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise AuditError(f"{path}: no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AuditError(f"{path}: not valid JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(data, dict) or not isinstance(data.get("scores"), dict):
        raise AuditError(f"{path}: no 'scores' object: not an llm-audit estimates.json")
    return data


def write_report(
    estimates: dict[str, Any],
    out_dir: str | os.PathLike,
    *,
    scores: pd.DataFrame | None = None,
    covariates: pd.DataFrame | None = None,
    formats: Iterable[str] = ("md", "html"),
    title: str | None = None,
    meta: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``report.md`` / ``report.html`` into ``out_dir`` (created if missing, like the CLI does); return
    the paths written."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # under a regular file, in /proc, no permission
        raise AuditError(f"{out_dir}: cannot create the folder ({exc.strerror})") from None
    summary = summarize(estimates)
    diag = estimates.get("diagnostics") or {}
    balance = plots.smd_table(diag)
    slices = None
    if scores is not None and covariates is not None:
        names = [r.score for r in summary.rows if r.score in scores.columns and r.score not in RESERVED_COLUMNS]
        slices = slice_table(scores, covariates, names[:6])
    title = title or "llm-audit report"
    meta = dict(meta or {})
    meta.setdefault("regime", summary.regime)
    written = []
    formats = list(formats)
    if "md" in formats:
        md = render_markdown(summary, title=title, est=estimates, balance=balance, slices=slices, meta=meta)
        atomic_write_text(out_dir / "report.md", md)
        written.append(out_dir / "report.md")
    if "html" in formats:
        eta = (estimates.get("config") or {}).get("eta")
        figures = {
            "roc": plots.plot_roc(plots.roc_curves(estimates)),
            "propensity": plots.plot_propensity(plots.propensity_histogram(diag), eta if isinstance(eta, (int, float)) else None),
            "balance": plots.plot_balance(balance),
        }
        page = render_html(summary, title=title, est=estimates, balance=balance, slices=slices, meta=meta, figures=figures)
        atomic_write_text(out_dir / "report.html", page)
        written.append(out_dir / "report.html")
    return written
