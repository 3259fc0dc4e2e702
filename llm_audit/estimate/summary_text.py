"""``Estimates.summary()``: the console table of any regime, one row per score and method."""

from __future__ import annotations

from typing import Any

from llm_audit.estimate.metrics import MIN_NONMEMBERS_ABOVE


def _fmt(entry: dict[str, Any], short: bool = False) -> str:
    v, ci = entry.get("value"), entry.get("ci")
    if v is None:
        return "null"
    if short or ci is None:
        return f"{v:.3f}"
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _table(d: dict[str, Any]) -> list[str]:
    fprs = sorted({k for per in d["scores"].values() for r in per.values() for k in r["tpr_at_fpr"]}, key=float)
    head = ["score", "method", "AUC [95% CI]"] + [f"TPR@{a}" for a in fprs] + ["advantage", "mean diff"]
    rows = []
    for name, per in d["scores"].items():
        for key, r in per.items():
            cells = [name, key, _fmt(r["auc"])]
            for a in fprs:
                tp = r["tpr_at_fpr"][a]
                cells.append(_fmt(tp, short=True) + ("*" if "unreliable" in tp.get("flags", []) else ""))
            cells += [_fmt(r["advantage"], short=True), _fmt(r["mean_diff"], short=True)]
            rows.append(cells)
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head] + rows]


def _zero_run_lines(d: dict[str, Any]) -> list[str]:
    diag = d["diagnostics"]
    lines = [f"n = {diag['n']['member']} members, {diag['n']['nonmember']} non-members; target {d['config']['target']}"]
    if diag["blind_auc"] is not None:  # null when an arm was too small to fit a propensity
        text = diag.get("blind_text_auc")
        lines.append(f"blind-baseline AUC {diag['blind_auc']:.3f}" + (f", blind text baseline {text:.3f}" if text is not None else "")
                     + f"; TV bound on |naive - causal AUC| {diag['tv_bound']:.3f}")
    ess = diag["ess"]
    lines.append((f"ESS members {ess['member']:.1f}, non-members {ess['nonmember']:.1f}; " if ess else "")
                 + f"verdict: {diag['verdict']}")
    lines += [f"  - {r}" for r in diag["verdict_reasons"]]
    for score, per in (diag.get("per_score") or {}).items():
        brier = ((per or {}).get("outcome_model") or {}).get("brier")
        if brier:
            cand = ", ".join(f"{k} {v:.4f}" for k, v in brier.items())
            lines.append(f"DR outcome model of {score}: {per['outcome_model']['chosen']} (held-out Brier: {cand})")
    return lines + _refuter_lines(diag.get("refuters") or [])


def _refuter_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The refuter table: check, result, score, statistic, rule."""
    if not rows:
        return []
    table = [["check", "result", "score", "statistic", "rule"]]
    for r in rows:
        result = {True: "pass", False: "FAIL"}.get(r.get("passed"), "reported" if r.get("value") is not None else "not run")
        table.append([str(r["refuter"]), result, str(r.get("score") or "all"), str(r.get("statistic") or ""),
                      str(r.get("rule") or "")])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["refuters:"] + ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]


def _randomized_lines(d: dict[str, Any]) -> list[str]:
    counts = d["diagnostics"].get("counts") or {}
    line = f"{d['regime']}: " + ", ".join(f"{k} {v}" for k, v in counts.items() if not isinstance(v, dict))
    return [line] + [f"assumes: {a}" for a in d["assumptions"]]


def summary_text(d: dict[str, Any]) -> str:
    lines = _table(d) + [""]
    lines += _zero_run_lines(d) if d["regime"] == "zero-run" else _randomized_lines(d)
    if any("unreliable" in tp.get("flags", []) and tp.get("value") is not None
           for per in d["scores"].values() for r in per.values() for tp in r["tpr_at_fpr"].values()):
        lines.append(f"* fewer than {MIN_NONMEMBERS_ABOVE:g} effective non-members above the threshold: unreliable")
    lines += [f"note: {n}" for n in d["notes"]]
    return "\n".join(lines)
