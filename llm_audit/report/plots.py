"""The report's figures, drawn with matplotlib's Agg backend and returned as PNG bytes.

PNG (not inline SVG) so that no user-supplied string (a score or covariate name) ever reaches the HTML as
markup; the page embeds them as base64 ``data:`` URIs and stays one file that opens offline. Each figure has a
``draw_*`` function returning the matplotlib Figure (the tests measure its text boxes) and a ``plot_*`` one
returning the PNG. Panels are at most two abreast, so that at 800 px of page width the tick labels stay
about 12 px high.
"""

from __future__ import annotations

import io
import math
import textwrap
from typing import Any

import matplotlib

matplotlib.use("Agg")  # never a display: reports are written on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

DPI = 100
TICK_PT = 10  # tick labels; at DPI 100 that is 14 px before the page scales the image
LABEL_PT = 10
ROC_FLOOR = 1e-3  # the log axes' lower edge: TPR or FPR below it are drawn on the edge
PANEL_COLUMNS = 2
COLORS = {"naive": "#7f7f7f", "ipw": "#1f77b4", "dr": "#d62728", "causal": "#2ca02c", "cutoff": "#9467bd",
          "ipw_overlap": "#17becf", "dr_overlap": "#ff7f0e", "oracle": "#2ca02c"}
EXTRA_COLORS = ("#8c564b", "#e377c2", "#bcbd22", "#17becf", "#9467bd")
ARM_COLORS = {"member": "#d62728", "nonmember": "#1f77b4"}


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _grid(n: int, width: float, height: float) -> tuple[plt.Figure, np.ndarray]:
    cols = min(PANEL_COLUMNS, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, axes


def roc_curves(est: dict[str, Any]) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """``{score: {kind: (fpr, tpr)}}`` from the estimates JSON's ``curves`` (kinds: the result keys)."""
    out: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for score, kinds in est["curves"].items():
        for kind, curve in kinds.items():
            out.setdefault(score, {})[kind] = (list(curve["fpr"]), list(curve["tpr"]))
    return out


def draw_roc(curves: dict[str, dict[str, tuple[list[float], list[float]]]],
             legend: dict[str, dict[str, str]] | None = None) -> plt.Figure | None:
    """One panel per score: the naive ROC beside the weighted ones, on log-log axes (the low-FPR region is
    where published TPR@FPR figures live) with the chance diagonal. ``legend[score][kind]``: the curve's
    legend text (its AUC). Values below ``ROC_FLOOR`` are clipped to it and drawn on the grey floor band."""
    if not curves:
        return None
    fig, axes = _grid(len(curves), 4.6, 4.1)
    for ax, (score, kinds) in zip(axes.flat, curves.items()):
        ax.axhspan(ROC_FLOOR, ROC_FLOOR * 1.3, color="#e6e6e6", zorder=0, lw=0)
        extra = iter(EXTRA_COLORS)
        for kind, (fpr, tpr) in kinds.items():
            f = np.clip(np.asarray(fpr, dtype=float), ROC_FLOOR, 1.0)
            t = np.clip(np.asarray(tpr, dtype=float), ROC_FLOOR, 1.0)
            label = (legend or {}).get(score, {}).get(kind, kind)
            ax.plot(f, t, color=COLORS.get(kind) or next(extra, "black"), label=label, lw=1.6)
        ax.plot([ROC_FLOOR, 1], [ROC_FLOOR, 1], ls=":", color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(ROC_FLOOR, 1)
        ax.set_ylim(ROC_FLOOR, 1.05)
        ax.set_title(score, fontsize=11)
        ax.set_xlabel("false positive rate", fontsize=LABEL_PT)
        ax.set_ylabel("true positive rate", fontsize=LABEL_PT)
        ax.tick_params(labelsize=TICK_PT)
        ax.grid(alpha=0.3, which="major")
        ax.legend(loc="lower right", fontsize=9, framealpha=0.9)
    fig.tight_layout()
    return fig


def plot_roc(curves: dict[str, dict[str, tuple[list[float], list[float]]]],
             legend: dict[str, dict[str, str]] | None = None) -> bytes | None:
    fig = draw_roc(curves, legend)
    return _png(fig) if fig is not None else None


def draw_distributions(dist: dict[str, dict[str, Any] | None], units: dict[str, str | None] | None = None,
                       weighted_label: str = "weighted") -> plt.Figure | None:
    """Per score, the density of members and of non-members: filled as observed, lines as weighted."""
    items = [(score, e) for score, e in (dist or {}).items() if e]
    if not items:
        return None
    fig, axes = _grid(len(items), 4.6, 3.4)
    for ax, (score, e) in zip(axes.flat, items):
        edges = np.asarray(e["edges"], dtype=float)
        for arm, color in ARM_COLORS.items():
            ax.stairs(e["naive"][arm], edges, fill=True, color=color, alpha=0.25, lw=0)
            if e.get("weighted"):
                ax.stairs(e["weighted"][arm], edges, color=color, lw=1.6)
        ax.set_title(score, fontsize=11)
        unit = ((units or {}).get(score) or "the score's own units").split(" (")[0]
        ax.set_xlabel(textwrap.fill(f"score, {unit}", 48), fontsize=9)
        ax.set_ylabel("density", fontsize=LABEL_PT)
        ax.tick_params(labelsize=TICK_PT)
    handles = [Patch(color=ARM_COLORS["member"], alpha=0.35, label="members, as observed"),
               Line2D([], [], color=ARM_COLORS["member"], lw=1.6, label=f"members, {weighted_label}"),
               Patch(color=ARM_COLORS["nonmember"], alpha=0.35, label="non-members, as observed"),
               Line2D([], [], color=ARM_COLORS["nonmember"], lw=1.6, label=f"non-members, {weighted_label}")]
    if not any(e.get("weighted") for _, e in items):
        handles = handles[0::2]
    fig.tight_layout()
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=9, frameon=False)
    return fig


def plot_distributions(dist: dict[str, dict[str, Any] | None], units: dict[str, str | None] | None = None,
                       weighted_label: str = "weighted") -> bytes | None:
    fig = draw_distributions(dist, units, weighted_label)
    return _png(fig) if fig is not None else None


def propensity_histogram(diag: dict[str, Any]) -> tuple[list[float], list[float], list[float]] | None:
    """``(edges, member_counts, nonmember_counts)`` from the diagnostics, or None."""
    h = diag.get("propensity_histogram")
    if not h:
        return None
    return list(map(float, h["bins"])), list(map(float, h["member"])), list(map(float, h["nonmember"]))


def draw_propensity(hist: tuple[list[float], list[float], list[float]] | None, eta: float | None) -> plt.Figure | None:
    """Both arms' propensity histograms (members up, non-members down), with the clipping bounds."""
    if hist is None:
        return None
    edges, m, nm = hist
    widths = [b - a for a, b in zip(edges[:-1], edges[1:])]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.bar(edges[:-1], m, width=widths, align="edge", color=ARM_COLORS["member"], alpha=0.75, label="members")
    ax.bar(edges[:-1], [-c for c in nm], width=widths, align="edge", color=ARM_COLORS["nonmember"], alpha=0.75,
           label="non-members")
    ax.axhline(0, color="black", lw=0.6)
    if eta:
        for x in (eta, 1 - eta):
            ax.axvline(x, ls="--", color="black", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("estimated propensity e(x) = P(member | covariates)", fontsize=LABEL_PT)
    ax.set_ylabel("texts (non-members below 0)", fontsize=LABEL_PT)
    ax.tick_params(labelsize=TICK_PT)
    ax.legend(fontsize=9, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2)
    fig.tight_layout()
    return fig


def plot_propensity(hist: tuple[list[float], list[float], list[float]] | None, eta: float | None) -> bytes | None:
    fig = draw_propensity(hist, eta)
    return _png(fig) if fig is not None else None


def smd_table(diag: dict[str, Any]) -> list[tuple[str, float | None, float | None]]:
    """``[(covariate, smd_before, smd_after)]`` from the diagnostics."""
    return [(str(cov), _num(e["before"]), _num(e["after"])) for cov, e in (diag.get("smd") or {}).items()]


def draw_balance(rows: list[tuple[str, float | None, float | None]], max_rows: int = 25,
                 target: float = 0.1) -> plt.Figure | None:
    """|SMD| of each covariate before and after weighting (the largest first), with the target. The legend
    sits above the axes, clear of the axis label whatever the number of rows."""
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: abs(r[1] or 0.0), reverse=True)[:max_rows][::-1]
    fig, ax = plt.subplots(figsize=(6.4, max(2.6, 1.0 + 0.26 * len(rows))))
    y = range(len(rows))
    ax.scatter([abs(r[1]) for r in rows], y, color=COLORS["naive"], label="before weighting", zorder=3)
    after = [(i, abs(r[2])) for i, r in enumerate(rows) if r[2] is not None]
    if after:
        ax.scatter([a for _, a in after], [i for i, _ in after], color=COLORS["dr"], label="after weighting", zorder=3)
    ax.axvline(target, ls="--", color="black", lw=0.8, label=f"target {target:g}")
    ax.set_yticks(list(y))
    ax.set_yticklabels([r[0][:40] for r in rows], fontsize=9)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("|standardized mean difference|", fontsize=LABEL_PT)
    ax.tick_params(axis="x", labelsize=TICK_PT)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=9, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3)
    fig.tight_layout()
    return fig


def plot_balance(rows: list[tuple[str, float | None, float | None]], max_rows: int = 25) -> bytes | None:
    fig = draw_balance(rows, max_rows)
    return _png(fig) if fig is not None else None


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
