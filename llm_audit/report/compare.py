"""Naive vs corrected figures across runs: the benchmark maintainer's view of how much of each published
number survives the correction for confounding."""

from __future__ import annotations

from typing import Any

import pandas as pd

from llm_audit.estimate.results import Estimates
from llm_audit.report.figures import Figure
from llm_audit.report.summary import VERDICT_LABELS, summarize

COMPARE_FPR = "0.01"


def compare_table(estimates_by_run: dict[str, Estimates], fpr: str = COMPARE_FPR) -> pd.DataFrame:
    """One row per (run, score): naive and corrected AUC and TPR@``fpr`` with intervals, the verdict, and
    the share of the naive AUC's distance from chance that the corrected (DR) AUC keeps."""
    rows = []
    for run, est in estimates_by_run.items():
        s = summarize(est)
        verdict = VERDICT_LABELS.get(s.verdict or "", s.verdict) if s.verdict else s.regime
        for r in s.rows:
            naive, dr, ipw = r.auc_naive, r.auc_dr, r.auc_ipw
            tn, tc = r.tpr_naive.get(fpr), r.tpr_corrected.get(fpr)
            ov = Figure.of(r.overlap["dr"]["auc"]) if r.overlap and "dr" in r.overlap else None
            survives = None
            # A share of "distance from chance" means nothing when the naive AUC is not clearly off chance.
            off_chance = naive.ci is None or not naive.ci[0] <= 0.5 <= naive.ci[1]
            if naive.value is not None and dr.value is not None and abs(naive.value - 0.5) > 1e-9 and off_chance:
                survives = (dr.value - 0.5) / (naive.value - 0.5)
            rows.append({
                "run": run, "score": r.score,
                "naive_auc": naive.value, "naive_auc_ci": _ci(naive),
                "ipw_auc": ipw.value, "ipw_auc_ci": _ci(ipw),
                "dr_auc": dr.value, "dr_auc_ci": _ci(dr),
                "overlap_dr_auc": ov.value if ov else None, "overlap_dr_auc_ci": _ci(ov) if ov else "",
                f"naive_tpr@{fpr}": tn.value if tn else None,
                f"corrected_tpr@{fpr}": tc.value if tc else None,
                f"corrected_tpr@{fpr}_ci": _ci(tc) if tc else "",
                "blind_auc": s.blind_auc,
                "verdict": verdict,
                "survives": survives,
            })
    return pd.DataFrame(rows)


def _ci(fig: Any) -> str:
    return "" if fig is None or fig.ci is None else f"[{fig.ci[0]:.3f}, {fig.ci[1]:.3f}]"


def compare_markdown(table: pd.DataFrame, fpr: str = COMPARE_FPR) -> str:
    from llm_audit.report.markdown import markdown_table

    pct = f"{float(fpr) * 100:g}%"
    header = ["run", "score", "naive AUC", "IPW AUC", "DR AUC", f"TPR@{pct} naive", f"TPR@{pct} corrected",
              "blind AUC", "verdict", "survives"]
    rows = []
    for _, r in table.iterrows():
        rows.append([
            r["run"], r["score"], _v(r["naive_auc"], r["naive_auc_ci"]), _v(r["ipw_auc"], r["ipw_auc_ci"]),
            _dr_cell(r), _v(r[f"naive_tpr@{fpr}"]),
            _v(r[f"corrected_tpr@{fpr}"], r[f"corrected_tpr@{fpr}_ci"]), _v(r["blind_auc"]), r["verdict"],
            "n/a" if r["survives"] is None or r["survives"] != r["survives"] else f"{100 * r['survives']:.0f}%",
        ])
    note = ("survives: (DR AUC - 0.5) / (naive AUC - 0.5), the share of the naive AUC's distance from chance "
            "that remains once the covariates are balanced (n/a when the naive interval covers 0.5).")
    return markdown_table(header, rows) + "\n\n" + note


def _dr_cell(r: pd.Series) -> str:
    if (r["dr_auc"] is None or r["dr_auc"] != r["dr_auc"]) and r["overlap_dr_auc"] is not None \
            and r["overlap_dr_auc"] == r["overlap_dr_auc"]:
        return "overlap pop. only: " + _v(r["overlap_dr_auc"], r["overlap_dr_auc_ci"])
    return _v(r["dr_auc"], r["dr_auc_ci"])


def _v(value: Any, ci: str = "") -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:.3f}" + (f" {ci}" if ci else "")
