"""The report's figures, drawn with matplotlib's Agg backend and returned as PNG bytes.

PNG (not inline SVG) so that no user-supplied string (a score or covariate name) ever reaches the HTML as
markup; the page embeds them as base64 ``data:`` URIs and stays one file that opens offline.
"""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")  # never a display: reports are written on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"naive": "#7f7f7f", "ipw": "#1f77b4", "dr": "#d62728", "causal": "#2ca02c",
          "ipw_overlap": "#17becf", "dr_overlap": "#ff7f0e"}
LABELS = {"naive": "naive", "ipw": "IPW (weighted)", "dr": "doubly robust", "causal": "causal (randomized)",
          "ipw_overlap": "IPW, overlap population", "dr_overlap": "DR, overlap population"}


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def roc_curves(est: dict[str, Any]) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """``{score: {kind: (fpr, tpr)}}`` from the estimates JSON's ``curves`` (kinds: naive, ipw, dr, causal)."""
    out: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for score, kinds in est["curves"].items():
        for kind, curve in kinds.items():
            out.setdefault(score, {})[kind] = (list(curve["fpr"]), list(curve["tpr"]))
    return out


def plot_roc(curves: dict[str, dict[str, tuple[list[float], list[float]]]]) -> bytes | None:
    """One panel per score: the naive ROC beside the weighted ones, on log-log axes (the low-FPR region
    is where published TPR@FPR figures live) with the chance diagonal."""
    if not curves:
        return None
    n = len(curves)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, (score, kinds) in zip(axes.flat, curves.items()):
        for kind, (fpr, tpr) in kinds.items():
            pts = [(f, t) for f, t in zip(fpr, tpr) if f > 0 and t > 0]
            if pts:
                ax.plot(*zip(*pts), color=COLORS.get(kind, "black"), label=LABELS.get(kind, kind), lw=1.6)
        ax.plot([1e-3, 1], [1e-3, 1], ls=":", color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(1e-3, 1)
        ax.set_ylim(1e-3, 1)
        ax.set_title(score, fontsize=10)
        ax.set_xlabel("false positive rate", fontsize=8)
        ax.set_ylabel("true positive rate", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, which="major")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.02 if rows > 1 else -0.06))
    fig.tight_layout()
    return _png(fig)


def propensity_histogram(diag: dict[str, Any]) -> tuple[list[float], list[float], list[float]] | None:
    """``(edges, member_counts, nonmember_counts)`` from the diagnostics, or None."""
    h = diag.get("propensity_histogram")
    if not h:
        return None
    return list(map(float, h["bins"])), list(map(float, h["member"])), list(map(float, h["nonmember"]))


def plot_propensity(hist: tuple[list[float], list[float], list[float]] | None, eta: float | None) -> bytes | None:
    """Both arms' propensity histograms (members up, non-members down), with the clipping bounds."""
    if hist is None:
        return None
    edges, m, nm = hist
    widths = [b - a for a, b in zip(edges[:-1], edges[1:])]
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    ax.bar(edges[:-1], m, width=widths, align="edge", color=COLORS["dr"], alpha=0.75, label="members")
    ax.bar(edges[:-1], [-c for c in nm], width=widths, align="edge", color=COLORS["ipw"], alpha=0.75, label="non-members")
    ax.axhline(0, color="black", lw=0.6)
    if eta:
        for x in (eta, 1 - eta):
            ax.axvline(x, ls="--", color="black", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("estimated propensity e(x) = P(member | covariates)", fontsize=9)
    ax.set_ylabel("texts (non-members below 0)", fontsize=9)
    ax.legend(fontsize=8, frameon=False)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    return _png(fig)


def smd_table(diag: dict[str, Any]) -> list[tuple[str, float | None, float | None]]:
    """``[(covariate, smd_before, smd_after)]`` from the diagnostics."""
    return [(str(cov), _num(e["before"]), _num(e["after"])) for cov, e in (diag.get("smd") or {}).items()]


def plot_balance(rows: list[tuple[str, float | None, float | None]], max_rows: int = 25) -> bytes | None:
    """|SMD| of each covariate before and after weighting (the largest first), with the 0.1 target."""
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: abs(r[1] or 0.0), reverse=True)[:max_rows][::-1]
    fig, ax = plt.subplots(figsize=(6.4, max(2.4, 0.8 + 0.24 * len(rows))))
    y = range(len(rows))
    ax.scatter([abs(r[1]) for r in rows], y, color=COLORS["naive"], label="before weighting", zorder=3)
    after = [(i, abs(r[2])) for i, r in enumerate(rows) if r[2] is not None]
    if after:
        ax.scatter([a for _, a in after], [i for i, _ in after], color=COLORS["dr"], label="after weighting", zorder=3)
    ax.axvline(0.1, ls="--", color="black", lw=0.8)
    ax.set_yticks(list(y))
    ax.set_yticklabels([r[0][:40] for r in rows], fontsize=7)
    ax.set_xlabel("|standardized mean difference|  (target < 0.1 after)", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.22 if len(rows) < 8 else -0.08), ncol=2)
    fig.tight_layout()
    return _png(fig)


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
