"""The benchmark's table (Markdown): truth, one-run and zero-run naive / IPW / DR per score and strength."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from llm_audit.tables import atomic_write_text

METRICS = (("auc", "AUC"), ("tpr_at_fpr/0.01", "TPR@1%FPR"), ("mean_diff", "mean memorization"))
SECTION = "## Ground truth"


def _entry(m: dict | None, metric: str) -> dict | None:
    if m is None:
        return None
    if "/" in metric:
        key, fpr = metric.split("/")
        return m[key][fpr]
    return m[metric]


def _cell(entry: dict | None) -> str:
    if entry is None or entry.get("value") is None:
        return "n/a"
    ci = entry.get("ci")
    return f"{entry['value']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{entry['value']:.3f}"


def metric_table(results: dict[str, Any], metric: str, label: str) -> str:
    runs = results["truth"]["diagnostics"]["counts"]["runs"]
    design = results.get("design_matched_truth")
    head = (f"| score | truth (multi-run, R={runs}) | one-run | a | design-matched truth | zero-run naive | IPW | DR "
            "| blind AUC | verdict |\n|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for score in results["size"]["table_scores"]:
        truth = _entry(results["truth"]["scores"][score]["causal"], metric)
        one = _entry(results["one_run"]["scores"][score]["causal"], metric)
        for k, (a, est) in enumerate(results["zero_run"].items()):
            per = est["scores"][score]
            cells = [_cell(_entry(per.get(m), metric)) for m in ("naive", "ipw", "dr")]
            diag = est["diagnostics"]
            first = k == 0
            matched = ""
            if design is not None and format(design["a"], "g") == a:
                matched = _cell(_entry(design["scores"][score]["causal"], metric))
            rows.append(f"| {score if first else ''} | {_cell(truth) if first else ''} | {_cell(one) if first else ''} "
                        f"| {a} | {matched} | {' | '.join(cells)} | {diag['blind_auc']:.3f} | {diag['verdict']} |")
    return f"**{label}** (95% intervals)\n\n{head}\n" + "\n".join(rows)


def gaps(results: dict[str, Any]) -> list[str]:
    """At the strongest confounding: how far naive, IPW and DR AUCs land from the truth, per score (and from
    the design-matched truth when it was run)."""
    a = max(results["zero_run"], key=float)
    est = results["zero_run"][a]
    design = results.get("design_matched_truth")
    lines = []
    for score in results["size"]["table_scores"]:
        refs = [("truth", results["truth"]["scores"][score]["causal"]["auc"]["value"])]
        if design is not None:
            refs.append(("design-matched truth", design["scores"][score]["causal"]["auc"]["value"]))
        for label, truth in refs:
            parts = []
            for method in ("naive", "ipw", "dr"):
                m = est["scores"][score].get(method)
                if m is None or m["auc"]["value"] is None:
                    parts.append(f"{method} n/a")
                    continue
                value, ci = m["auc"]["value"], m["auc"]["ci"]
                inside = ci is not None and ci[0] <= truth <= ci[1]
                parts.append(f"{method} {value - truth:+.3f}" + (" (in CI)" if inside else ""))
            lines.append(f"- a = {a}, {score}: AUC minus {label}: " + ", ".join(parts))
    return lines


def render(results: dict[str, Any]) -> str:
    blocks = [metric_table(results, metric, label) for metric, label in METRICS]
    return "\n\n".join(blocks) + "\n\n" + "\n".join(gaps(results))


def write_readme_section(readme: Path, body: str, heading: str = SECTION) -> None:
    """Put ``body`` under ``heading`` (default: "Ground truth") of ``readme``: replace that section (up to the
    next second-level heading) when it exists, append it otherwise; other sections are left as they are."""
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    section = f"{heading}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    atomic_write_text(readme, text)
