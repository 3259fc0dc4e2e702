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
from llm_audit.report import plots
from llm_audit.report.html import render_html
from llm_audit.report.markdown import headline_markdown, render_markdown
from llm_audit.report.options import FORMATS, ReportConfig
from llm_audit.report.model_name import shareable_name
from llm_audit.report.summary import Summary, result_label, summarize
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
    if summary.model is not None:
        meta.pop("model", None)  # the fingerprint names the model (the header prints it)
    elif "model" in meta:
        meta["model"] = shareable_name(str(meta["model"]))  # never a local path in a report meant to be shared
    meta.setdefault("regime", summary.regime)
    written = []
    formats = ReportConfig(formats=list(formats)).validate("report.").formats
    if "md" in formats:
        md = render_markdown(summary, title=title, est=estimates, balance=balance, slices=slices, meta=meta)
        atomic_write_text(out_dir / "report.md", md)
        written.append(out_dir / "report.md")
    if "html" in formats:
        page = render_html(summary, title=title, est=estimates, balance=balance, slices=slices, meta=meta,
                           figures=_figures(summary, estimates, balance))
        atomic_write_text(out_dir / "report.html", page)
        written.append(out_dir / "report.html")
    return written


def _figures(s: Summary, est: dict[str, Any], balance: list) -> dict[str, bytes | None]:
    """The PNG figures of the HTML page, their legends labelled from the estimates."""
    diag = est["diagnostics"]
    eta = est["config"].get("eta")
    target = est["config"].get("target")
    legend = {score: {key: f"{result_label(entry, target)}: AUC {entry['auc']['value']:.3f}"
                      for key, entry in blocks.items()
                      if isinstance(entry, dict) and (entry.get("auc") or {}).get("value") is not None}
              for score, blocks in est["scores"].items()}
    dist = diag.get("distributions") or {}
    weighted = next((e["weighted"] for e in dist.values() if e and e.get("weighted")), None)
    weighted_label = "weighted"
    if weighted and weighted.get("population") not in (None, "all"):
        weighted_label = f"weighted, {weighted['population']} population"
    order = {r.score: [e.key for e in r.estimates] for r in s.rows}  # naive, IPW, DR, then the others
    curves = {score: dict(sorted(kinds.items(), key=lambda kv: _position(order.get(score, []), kv[0])))
              for score, kinds in plots.roc_curves(est).items()}
    return {
        "distributions": plots.plot_distributions(dist, {r.score: r.units for r in s.rows}, weighted_label),
        "roc": plots.plot_roc(curves, legend),
        "propensity": plots.plot_propensity(plots.propensity_histogram(diag), eta if isinstance(eta, (int, float)) else None),
        "balance": plots.plot_balance(balance),
    }


def _position(keys: list[str], key: str) -> int:
    return keys.index(key) if key in keys else len(keys)
