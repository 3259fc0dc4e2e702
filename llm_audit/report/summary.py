"""What a report says, as plain data: the headline rows, every estimate, the verdict and its reasons, the
definitions, the model, the family statement. Both renderers (Markdown, HTML) read these, so the two files
can never disagree; the sentences themselves are in ``wording.py``.

Works on the estimates JSON of every regime: zero-run (``naive`` / ``ipw`` / ``dr`` per score, and any other
result key, shown by its ``method`` / ``estimand`` / ``population``) and the randomized regimes (one result
per score, where the naive figure is the causal one by design). Nothing here computes a statistic: every
number comes from the estimates; the report only selects, labels and counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llm_audit.estimate.estimands import ESTIMANDS
from llm_audit.estimate.results import Estimates
from llm_audit.report.figures import ChanceTest, Family, Figure, finite
from llm_audit.report.model_name import ModelLine, model_line
from llm_audit.scoring.attacks import score_units

VERDICT_LABELS = {
    "identified": "identified",
    "weak_overlap": "weak overlap",
    "not_identified": "not identified",
}
METHOD_LABELS = {"naive": "naive", "ipw": "IPW", "dr": "DR", "ebal": "entropy balancing",
                 "dr_ebal": "DR (entropy-balancing weights)", "causal": "causal", "cutoff": "cutoff design",
                 "oracle": "paired oracle"}
METHOD_ORDER = {m: i for i, m in enumerate(("naive", "causal", "oracle", "ipw", "dr", "ebal", "dr_ebal"))}
POPULATION_LABELS = {"all": "", "trimmed": "trimmed population", "overlap": "overlap population",
                     "near d0": "texts dated near the cutoff"}
BALANCE_TARGET = 0.1  # |SMD| after weighting under which a covariate counts as balanced (Austin 2009)


@dataclass
class EstimateRow:
    """One result of one score, of any key, labelled from its own ``method`` / ``estimand`` / ``population``."""

    score: str
    key: str
    method: str
    estimand: str | None
    label: str
    population: str
    auc: Figure
    tpr: dict[str, Figure]
    advantage: Figure
    mean: Figure
    test: ChanceTest | None = None

    @property
    def withheld(self) -> bool:
        return self.auc.value is None


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
    placebo_auc: float | None = None
    gamma_to_naive: float | None = None
    gamma_to_chance: float | None = None
    test: ChanceTest | None = None  # the corrected AUC against chance
    units: str | None = None
    estimates: list[EstimateRow] = field(default_factory=list)
    bounds: tuple[float, float] | None = None  # the identified set of the corpus-wide AUC, when not identified
    bounds_ci: tuple[float, float] | None = None  # its 95% interval


@dataclass
class Summary:
    """Everything a renderer needs, extracted once from the estimates JSON."""

    regime: str
    rows: list[HeadlineRow]
    fpr_keys: list[str]  # the TPR@FPR columns shown
    verdict: str | None
    verdict_text: str
    blind_auc: float | None
    corrected_label: str
    blind_text_auc: float | None = None  # the negative-control score's naive AUC: membership from the text alone
    notes: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    fpr_hidden: dict[str, str] = field(default_factory=dict)  # FPR key -> why its column is not shown
    corrected_key: str | None = None
    family: Family | None = None
    target: str | None = None
    lead: str = ""
    can_say: list[str] = field(default_factory=list)
    unbalanced: list[tuple[str, float]] = field(default_factory=list)  # (covariate, |SMD| after) above target
    beyond_chance: list[str] | None = None  # columns the verdict's balance rule flags (None: not in the estimates)
    refuters: list[dict[str, Any]] = field(default_factory=list)
    method_verdicts: dict[str, Any] = field(default_factory=dict)
    slice_notes: list[str] = field(default_factory=list)
    model: ModelLine | None = None
    n_nonmember: int | None = None
    warnings: bool = False  # identified, yet a refuter failed or covariates stay unbalanced


def fpr_label(key: str) -> str:
    """'0.001' -> '0.1%'."""
    return f"{float(key) * 100:g}%"


def summarize(estimates: Estimates) -> Summary:
    """What the renderers show, from the estimates of any regime."""
    from llm_audit.report import wording

    est = estimates.to_dict()
    regime = est["regime"]
    diag = est["diagnostics"]
    randomized = regime != "zero-run"
    verdict = diag.get("verdict") if not randomized else None
    per_score = diag.get("per_score") or {}
    n = diag.get("n") if isinstance(diag.get("n"), dict) else {}
    all_keys = _fpr_keys(est)
    n0 = _int(n.get("nonmember"))
    hidden = {k: wording.fpr_hidden_reason(k, n0) for k in all_keys if n0 is not None and float(k) * n0 < 1}
    fpr_keys = [k for k in all_keys if k not in hidden]
    target = (est.get("config") or {}).get("target")
    corrected_key = _corrected_key(est, randomized)
    families = _families(diag)
    family = families.get(corrected_key or "")
    rows = [_row(name, blocks, per_score.get(name, {}), fpr_keys, randomized, _withheld(diag, verdict),
                 families, target)
            for name, blocks in est["scores"].items()]
    for row in rows:
        row.test = family.tests.get(row.score) if family else None
    s = Summary(
        regime=regime,
        rows=rows,
        fpr_keys=fpr_keys,
        verdict=verdict,
        verdict_text=wording.verdict_text(est, rows, randomized),
        blind_auc=finite(diag.get("blind_auc")),
        blind_text_auc=finite(diag.get("blind_text_auc")),
        corrected_label="causal" if randomized else METHOD_LABELS.get(corrected_key or "dr", "DR"),
        notes=[str(x) for x in est["notes"]],
        assumptions=[str(a) for a in est["assumptions"]],
        counts=diag.get("counts") or {},
        reasons=[str(r) for r in diag.get("verdict_reasons") or []],
        fpr_hidden=hidden,
        corrected_key=corrected_key,
        family=family,
        target=target,
        unbalanced=_unbalanced(diag) if not randomized else [],
        beyond_chance=_flagged(diag.get("balance")),
        refuters=[r for r in diag.get("refuters") or [] if isinstance(r, dict)],
        method_verdicts=diag.get("method_verdicts") or {},
        slice_notes=wording.slice_notes(diag.get("slices") or []),
        model=model_line((est.get("provenance") or {}).get("model")),
        n_nonmember=n0,
    )
    s.warnings = verdict == "identified" and (bool(s.unbalanced) or any(r.get("passed") is False for r in s.refuters))
    s.can_say = wording.can_say(s, diag) if verdict == "not_identified" else []
    s.lead = wording.lead(s, diag)
    return s


def result_label(entry: dict[str, Any], target: str | None) -> str:
    """'DR', 'IPW, overlap population', 'DR, ATO (overlap weights)', 'cutoff design, texts dated near the
    cutoff': from the result's own fields (an estimand's ``label``), so a new method, estimand or population
    needs no code here."""
    method = str(entry.get("method") or "?")
    parts = [METHOD_LABELS.get(method, method)]
    estimand = entry.get("estimand")
    if estimand and estimand != target and estimand != method:
        registered = ESTIMANDS.get(estimand)
        parts.append(f"{estimand.upper()} ({getattr(registered, 'label', '') or registered.population})" if registered
                     else str(estimand).upper())
    population = str(entry.get("population") or "all")
    pop_label = POPULATION_LABELS.get(population, population)
    if pop_label:
        parts.append(pop_label)
    return ", ".join(parts)


def _fpr_keys(est: dict[str, Any]) -> list[str]:
    keys: dict[str, None] = {}
    for blocks in est["scores"].values():
        for m in blocks.values():
            if isinstance(m, dict) and isinstance(m.get("tpr_at_fpr"), dict):
                keys.update(dict.fromkeys(m["tpr_at_fpr"]))
    return sorted(keys, key=float)


def _corrected_key(est: dict[str, Any], randomized: bool) -> str | None:
    """The headline's corrected result: DR when any score has it, else IPW; the one result when randomized."""
    keys = [k for blocks in est["scores"].values() for k in blocks]
    if randomized:
        return keys[0] if keys else None
    for key in ("dr", "ipw"):
        if key in keys:
            return key
    return None


def _families(diag: dict[str, Any]) -> dict[str, Family]:
    inf = diag.get("inference") or {}
    out = {}
    for key, fam in (inf.get("families") or {}).items():
        floor = 1 / (fam["n_bootstrap"] + 1) if fam.get("adjustment") == "max-t" else None
        tests = {score: ChanceTest(t["z"], t["p"], t["p_adjusted"], tuple(t["ci_simultaneous"]), floor)
                 for score, t in (fam.get("scores") or {}).items()}
        out[key] = Family(key, fam.get("adjustment", ""), float(fam["critical_value"]),
                          float(fam.get("bonferroni_critical_value", fam["critical_value"])),
                          float(inf.get("level", 0.95)), int(fam.get("n_bootstrap", 0)), tests)
    return out


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


def _estimate_rows(name: str, blocks: dict[str, Any], fpr_keys: list[str], families: dict[str, Family],
                   target: str | None, withheld: str) -> list[EstimateRow]:
    """Naive first, then IPW, DR and any other method; the audit's own population before narrower ones."""
    def order(item: tuple[str, Any]) -> tuple:
        key, m = item
        method = str(m.get("method") or key) if isinstance(m, dict) else key
        population = m.get("population") if isinstance(m, dict) else None
        return METHOD_ORDER.get(method, len(METHOD_ORDER)), population not in (None, "all", "trimmed"), key

    rows = []
    for key, m in sorted(blocks.items(), key=order):
        if not isinstance(m, dict) or "auc" not in m:
            continue
        fam = families.get(key)
        rows.append(EstimateRow(
            score=name, key=key, method=str(m.get("method") or key), estimand=m.get("estimand"),
            label=result_label(m, target), population=str(m.get("population") or "all"),
            auc=_metric(m, "auc", withheld), tpr=_tprs(m, fpr_keys), advantage=_metric(m, "advantage"),
            mean=_metric(m, "mean_diff"), test=fam.tests.get(name) if fam else None,
        ))
    return rows


def _withheld(diag: dict[str, Any], verdict: str | None) -> set[str]:
    """Corrected methods printed "not identified": all of them when the audit is, else those whose own verdict is
    (a method whose weights leave a covariate severely out of balance)."""
    if verdict == "not_identified":
        return {"ipw", "dr"}
    return {m for m, v in (diag.get("method_verdicts") or {}).items()
            if (v.get("verdict") if isinstance(v, dict) else v) == "not_identified"}


def _row(name: str, blocks: dict[str, Any], diag: dict[str, Any], fpr_keys: list[str], randomized: bool,
         withheld: set[str], families: dict[str, Family], target: str | None) -> HeadlineRow:
    """One score's headline figures; a method in ``withheld`` shows "not identified" where it has no figure."""
    estimates = _estimate_rows(name, blocks, fpr_keys, families, target,
                               "not identified" if withheld else "n/a")
    units = score_units(name)
    if randomized:
        causal = next(iter(blocks.values()))  # the one result of a randomized or oracle regime
        auc = _metric(causal, "auc")
        return HeadlineRow(
            score=name, auc_naive=auc, auc_ipw=auc, auc_dr=auc,
            tpr_naive=_tprs(causal, fpr_keys), tpr_corrected=_tprs(causal, fpr_keys),
            advantage_naive=_metric(causal, "advantage"), advantage_corrected=_metric(causal, "advantage"),
            mean_naive=_metric(causal, "mean_diff"), mean_corrected=_metric(causal, "mean_diff"),
            units=units, estimates=estimates,
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
    na = {m: "not identified" if m in withheld else "n/a" for m in ("ipw", "dr")}
    na_corrected = na["dr" if isinstance(dr, dict) else "ipw"]
    sens = diag.get("sensitivity") or {}
    bounds = diag.get("bounds") or {}
    ident = bounds.get("identified_set")
    return HeadlineRow(
        score=name,
        auc_naive=_metric(naive, "auc"), auc_ipw=_metric(ipw, "auc", na["ipw"]), auc_dr=_metric(dr, "auc", na["dr"]),
        tpr_naive=_tprs(naive, fpr_keys), tpr_corrected=_tprs(corrected, fpr_keys, na_corrected),
        advantage_naive=_metric(naive, "advantage"),
        advantage_corrected=_metric(corrected, "advantage", na_corrected),
        mean_naive=_metric(naive, "mean_diff"), mean_corrected=_metric(corrected, "mean_diff", na_corrected),
        overlap=overlap or None,
        placebo_auc=finite(diag.get("placebo_auc")),
        gamma_to_naive=finite(sens.get("gamma_to_naive")),
        gamma_to_chance=finite(sens.get("gamma_to_chance")),
        units=units, estimates=estimates,
        bounds=(float(ident[0]), float(ident[1])) if ident and None not in ident else None,
        bounds_ci=tuple(bounds["ci"]) if bounds.get("ci") and None not in bounds["ci"] else None,
    )


def _flagged(balance: Any) -> list[str] | None:
    """Columns the verdict's balance rule flags (weak or severe: beyond chance, or a real shift left above 0.25)."""
    if not isinstance(balance, dict) or "weak" not in balance:
        return None
    return [str(c) for c in dict.fromkeys([*(balance.get("severe") or []), *(balance.get("weak") or [])])]


def _unbalanced(diag: dict[str, Any]) -> list[tuple[str, float]]:
    out = []
    for cov, e in (diag.get("smd") or {}).items():
        after = finite((e or {}).get("after"))
        if after is not None and abs(after) > BALANCE_TARGET:
            out.append((str(cov), abs(after)))
    return sorted(out, key=lambda x: -x[1])


def _int(x: Any) -> int | None:
    try:
        return int(x)
    except (TypeError, ValueError):
        return None
