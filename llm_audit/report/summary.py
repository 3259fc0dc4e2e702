"""What a report says, as plain data: the headline rows, the verdict in words, the slice table.

Both renderers (Markdown, HTML) read these, so the two files can never disagree. Works on the estimates
JSON of every regime: zero-run (``naive`` / ``ipw`` / ``dr`` per score) and the randomized regimes
(``causal`` only, where the naive figure is the causal one by design).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from llm_audit.estimate.results import Estimates


VERDICT_LABELS = {
    "identified": "identified",
    "weak_overlap": "weak overlap",
    "not_identified": "not identified",
}


@dataclass
class Figure:
    """One metric value with its 95% interval (either may be missing) and whether it can be trusted."""

    value: float | None
    ci: tuple[float, float] | None = None
    reliable: bool = True
    missing: str = "n/a"  # what to print when there is no value (e.g. "not identified")
    band: tuple[float, float] | None = None  # the figure read off a simultaneous band, where there is one

    @classmethod
    def of(cls, entry: Any) -> "Figure":
        if entry is None:
            return cls(None)
        if isinstance(entry, (int, float)):
            return cls(_finite(entry))
        ci, band = entry.get("ci"), entry.get("band")
        ci_pair = (float(ci[0]), float(ci[1])) if ci and None not in ci[:2] else None
        band_pair = (float(band[0]), float(band[1])) if band and None not in band[:2] else None
        return cls(_finite(entry.get("value")), ci_pair, "unreliable" not in entry.get("flags", []), band=band_pair)

    def band_text(self, digits: int = 3) -> str:
        """The simultaneous band as ``[lo, hi]``, or an empty string without one."""
        return "" if self.band is None or self.value is None else f"[{self.band[0]:.{digits}f}, {self.band[1]:.{digits}f}]"

    def text(self, digits: int = 3, *, with_ci: bool = True) -> str:
        if self.value is None:
            return self.missing
        out = f"{self.value:.{digits}f}"
        if with_ci and self.ci is not None:
            out += f" [{self.ci[0]:.{digits}f}, {self.ci[1]:.{digits}f}]"
        if not self.reliable:
            out += "*"
        return out


@dataclass
class HeadlineRow:
    """One score's naive and corrected figures, as the headline table shows them."""

    score: str
    auc_naive: Figure
    auc_ipw: Figure
    auc_dr: Figure
    tpr_naive: dict[str, Figure]
    tpr_corrected: dict[str, Figure]
    advantage_naive: Figure
    advantage_corrected: Figure
    mean_naive: Figure
    mean_corrected: Figure
    overlap: dict[str, Any] | None = None
    ato: dict[str, Any] | None = None  # the overlap-weights (ATO) results, by method
    placebo_auc: float | None = None
    gamma_to_naive: float | None = None
    gamma_to_chance: float | None = None


@dataclass
class Summary:
    """Everything a renderer needs, extracted once from the estimates JSON."""

    regime: str
    rows: list[HeadlineRow]
    fpr_keys: list[str]
    verdict: str | None
    verdict_text: str
    blind_auc: float | None
    corrected_label: str
    notes: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def fpr_label(key: str) -> str:
    """'0.001' -> '0.1%'."""
    return f"{float(key) * 100:g}%"


def summarize(estimates: Estimates) -> Summary:
    """What the renderers show, from the estimates of any regime."""
    est = estimates.to_dict()
    regime = est["regime"]
    diag = est["diagnostics"]
    fpr_keys = _fpr_keys(est)
    randomized = regime != "zero-run"
    verdict = diag.get("verdict") if not randomized else None
    per_score = diag.get("per_score") or {}
    rows = [_row(name, blocks, per_score.get(name, {}), fpr_keys, randomized, verdict == "not_identified")
            for name, blocks in est["scores"].items()]
    blind = _finite(diag.get("blind_auc"))
    return Summary(
        regime=regime,
        rows=rows,
        fpr_keys=fpr_keys,
        verdict=verdict,
        verdict_text=_verdict_text(est, rows, randomized),
        blind_auc=blind,
        corrected_label="causal" if randomized else "DR",
        notes=[str(n) for n in est["notes"]],
        assumptions=[str(a) for a in est["assumptions"]],
        counts=diag.get("counts") or {},
        reasons=[str(r) for r in diag.get("verdict_reasons") or []],
    )


def _fpr_keys(est: dict[str, Any]) -> list[str]:
    keys: dict[str, None] = {}
    for blocks in est["scores"].values():
        for m in blocks.values():
            if isinstance(m, dict) and isinstance(m.get("tpr_at_fpr"), dict):
                keys.update(dict.fromkeys(m["tpr_at_fpr"]))
    return sorted(keys, key=float)


def _metric(m: dict[str, Any] | None, key: str, missing: str = "n/a") -> Figure:
    fig = Figure.of(None if not isinstance(m, dict) else m.get(key))
    fig.missing = missing
    return fig


def _tprs(m: dict[str, Any] | None, fpr_keys: list[str], missing: str = "n/a") -> dict[str, Figure]:
    table = (m or {}).get("tpr_at_fpr") or {}
    out = {k: Figure.of(table.get(k)) for k in fpr_keys}
    for fig in out.values():
        fig.missing = missing
    return out


def _row(name: str, blocks: dict[str, Any], diag: dict[str, Any], fpr_keys: list[str], randomized: bool,
         unidentified: bool = False) -> HeadlineRow:
    if randomized:
        causal = blocks.get("causal")
        auc = _metric(causal, "auc")
        return HeadlineRow(
            score=name, auc_naive=auc, auc_ipw=auc, auc_dr=auc,
            tpr_naive=_tprs(causal, fpr_keys), tpr_corrected=_tprs(causal, fpr_keys),
            advantage_naive=_metric(causal, "advantage"), advantage_corrected=_metric(causal, "advantage"),
            mean_naive=_metric(causal, "mean_diff"), mean_corrected=_metric(causal, "mean_diff"),
        )
    naive, ipw, dr = blocks.get("naive"), blocks.get("ipw"), blocks.get("dr")
    # The headline's "corrected" TPR/advantage/mean is the doubly robust one (consistent when either the
    # propensity or the outcome model is right); IPW's stands beside it in the AUC columns.
    corrected = dr if isinstance(dr, dict) else ipw
    # The overlap-population estimates (issued when the full population is not identified) travel under
    # their own names, never in place of the full-population ones.
    overlap: dict[str, Any] = {}
    for method in ("ipw", "dr"):
        if isinstance(blocks.get(f"{method}_overlap"), dict):
            overlap[method] = blocks[f"{method}_overlap"]
    overlap = overlap or None
    ato = {m: blocks[f"{m}_ato"] for m in ("dr", "ipw") if isinstance(blocks.get(f"{m}_ato"), dict)} or None
    na = "not identified" if unidentified else "n/a"
    sens = diag.get("sensitivity") or {}
    return HeadlineRow(
        score=name,
        auc_naive=_metric(naive, "auc"), auc_ipw=_metric(ipw, "auc", na), auc_dr=_metric(dr, "auc", na),
        tpr_naive=_tprs(naive, fpr_keys), tpr_corrected=_tprs(corrected, fpr_keys, na),
        advantage_naive=_metric(naive, "advantage"), advantage_corrected=_metric(corrected, "advantage", na),
        mean_naive=_metric(naive, "mean_diff"), mean_corrected=_metric(corrected, "mean_diff", na),
        overlap=overlap,
        ato=ato,
        placebo_auc=_finite(diag.get("placebo_auc")),
        gamma_to_naive=_finite(sens.get("gamma_to_naive")),
        gamma_to_chance=_finite(sens.get("gamma_to_chance")),
    )


def _verdict_text(est: dict[str, Any], rows: list[HeadlineRow], randomized: bool) -> str:
    """The overlap verdict in plain words, with the numbers that drive it."""
    if randomized:
        regime = est.get("regime", "randomized")
        return (f"Regime {regime}: membership was assigned at random, so the member / non-member comparison is "
                "itself causal; no correction is needed. The figures rest on the assumptions listed below.")
    diag = est.get("diagnostics") or {}
    verdict = diag.get("verdict")
    blind = _finite(diag.get("blind_auc"))
    ess = diag.get("ess") or {}
    ess_m, ess_n = _finite(ess.get("member")), _finite(ess.get("nonmember"))
    parts = []
    if blind is not None:
        parts.append(f"Membership is predictable from the covariates alone with AUC {blind:.2f} (the blind baseline)")
    # A verdict can come from a small arm or from weights resting on few units rather than from separable
    # covariates: then give that reason, not "barely overlap".
    reasons = [r for r in diag.get("verdict_reasons") or [] if not r.startswith("blind-baseline")]
    small = [r for r in reasons if r.startswith(("too few", "fewer than"))]
    if verdict == "not_identified":
        overlap_n = _overlap_n(diag, rows)
        why = reasons[0] if reasons else "members and non-members barely overlap in their covariates"
        text = (parts[0] + ": " if parts else "") + f"the corrected number is not identified ({why}), "
        text += "so no corrected figure is given for the whole corpus"
        ato_row = next((r for r in rows if r.ato and _overlap_auc(r.ato) is not None), None)
        if ato_row is not None:  # SPEC §8: the overlap-weights figure is the one to show first
            return text + (f"; the AUC on the overlap population (texts weighted by e(1-e), where membership is "
                           f"least predictable) of {ato_row.score} is {_overlap_auc(ato_row.ato).text(2)} "
                           "(that population only; the overlap-population table says how it differs from the corpus).")
        first = next((r for r in rows if r.overlap), None)
        if first is not None:
            auc = _overlap_auc(first.overlap)
            where = f"on the {overlap_n} texts where both groups overlap" if overlap_n else "on the texts where both groups overlap"
            if auc is not None:
                text += f"; {where}, the corrected AUC of {first.score} is {auc.text(2)} (that population only)"
            else:
                text += f"; see the estimate {where}"
        elif overlap_n:
            text += f"; {overlap_n} texts lie where both groups overlap"
        return text + "."
    if verdict == "weak_overlap":
        head = (parts[0] + ": " if parts else "") + (small[0] if small else "overlap is weak")
        tail = f" (effective sample sizes {ess_m:.0f} members, {ess_n:.0f} non-members)" if ess_m is not None and ess_n is not None else ""
        return head + tail + "; the corrected figures are identified but their intervals are wide. Read them with care."
    if verdict == "identified":
        head = (parts[0] + "; " if parts else "") + "members and non-members overlap well enough"
        tail = f" (effective sample sizes {ess_m:.0f} members, {ess_n:.0f} non-members)" if ess_m is not None and ess_n is not None else ""
        return (head + tail + ": the corrected figures are identified, under the assumption that the covariates "
                "capture every difference between the groups that also moves the score.")
    return "No overlap verdict in the estimates." if verdict is None else f"Overlap verdict: {verdict}."


def _overlap_n(diag: dict[str, Any], rows: list[HeadlineRow]) -> int | None:
    pop = diag.get("overlap_population")
    return int(pop["n"]) if pop else None


def _overlap_auc(overlap: dict[str, Any]) -> Figure | None:
    for key in ("dr", "ipw"):
        if key in overlap:
            fig = Figure.of(overlap[key]["auc"])
            if fig.value is not None:
                return fig
    return None


def _finite(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None
