"""The report's tables as header and rows of cells, for both renderers: a cell is plain text, a ``Val`` (a
figure with its interval) or an ``Arrow`` (naive -> corrected). Markdown prints a ``Val`` on one line, HTML
puts the interval under the value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from llm_audit.report.figures import Figure
from llm_audit.report.summary import Summary, fpr_label


@dataclass
class Val:
    fig: Figure
    digits: int = 3


@dataclass
class Test:
    """An AUC against chance: z and the family-adjusted p on top, the one-score p beneath."""

    test: Any

    def text(self) -> str:
        return self.test.text() if self.test is not None else "n/a"


@dataclass
class Arrow:
    naive: Figure
    corrected: Figure
    digits: int = 3

    def text(self) -> str:
        return f"{self.naive.text(self.digits, with_ci=False)} → {self.corrected.text(self.digits, with_ci=False)}"


Cell = Union[str, Val, Arrow, Test]
Table = tuple[list[str], list[list[Cell]]]


def headline(s: Summary) -> Table:
    """The headline table: naive beside corrected per score; for a not-identified audit, what can be said."""
    if s.regime != "zero-run":  # a randomized regime: one causal figure per score
        header = (["score", "AUC", "AUC vs 0.5"] + [f"TPR@{fpr_label(k)}" for k in s.fpr_keys]
                  + ["advantage", "mean memorization"])
        rows = [[r.score, Val(r.auc_naive), Test(r.test)] + [Val(r.tpr_naive[k]) for k in s.fpr_keys]
                + [Val(r.advantage_naive), Val(r.mean_naive, 4)] for r in s.rows]
        return header, rows
    if s.verdict == "not_identified":
        return can_say_table(s)
    c = s.corrected_label
    header = (["score", "naive AUC", "IPW AUC", "DR AUC", f"{c} AUC vs 0.5"]
              + [f"TPR@{fpr_label(k)} naive → {c}" for k in s.fpr_keys]
              + [f"advantage naive → {c}", f"mean memorization naive → {c}"])
    rows = [[r.score, Val(r.auc_naive), Val(r.auc_ipw), Val(r.auc_dr), Test(r.test)]
            + [Arrow(r.tpr_naive[k], r.tpr_corrected[k]) for k in s.fpr_keys]
            + [Arrow(r.advantage_naive, r.advantage_corrected), Arrow(r.mean_naive, r.mean_corrected, 4)]
            for r in s.rows]
    return header, rows


def can_say_table(s: Summary) -> Table:
    """Per score: the naive AUC, every estimate that is not withheld (narrower populations, other estimands,
    the cutoff design; columns named by each result's own fields) and the identified set over all texts."""
    keys: dict[str, str] = {}
    for r in s.rows:
        for e in r.estimates:
            if e.key != "naive" and not e.withheld:
                keys.setdefault(e.key, e.label)
    has_bounds = any(r.bounds for r in s.rows)
    header = ["score", "naive AUC"] + [f"{label} AUC" for label in keys.values()]
    header += ["identified set, all texts"] if has_bounds else []
    rows = []
    for r in s.rows:
        by_key = {e.key: e for e in r.estimates}
        cells: list[Cell] = [r.score, Val(r.auc_naive)]
        cells += [Val(by_key[k].auc) if k in by_key else "n/a" for k in keys]
        if has_bounds:
            cells.append(f"[{r.bounds[0]:.3f}, {r.bounds[1]:.3f}]" if r.bounds else "n/a")
        rows.append(cells)
    return header, rows


def every_estimate(s: Summary) -> Table:
    """Every result of every score, one row each, as ``Estimates.summary()`` prints them."""
    header = (["score", "estimate", "AUC", "AUC vs 0.5"] + [f"TPR@{fpr_label(k)}" for k in s.fpr_keys]
              + ["advantage", "mean memorization"])
    rows = []
    for r in s.rows:
        for e in r.estimates:
            rows.append([r.score, e.label, Val(e.auc), Test(e.test)] + [Val(e.tpr[k]) for k in s.fpr_keys]
                        + [Val(e.advantage), Val(e.mean, 4)])
    return header, rows


def tpr_bands(s: Summary) -> Table:
    """The headline's corrected TPR@FPR with its pointwise interval beside the figure read off the sup-t band of
    the whole ROC curve (valid for any FPR read off it, though the threshold is chosen from the same data)."""
    header = ["score", "FPR", f"{s.corrected_label} TPR, pointwise 95%", "simultaneous 95% band"]
    rows: list[list[Cell]] = []
    for r in s.rows:
        for k in s.fpr_keys:
            fig = r.tpr_corrected[k]
            if fig.band is not None:
                rows.append([r.score, fpr_label(k), Val(fig), fig.band_text()])
    return header, rows


def overlap_weights_population(est: dict[str, Any]) -> Table:
    """How the overlap population (density prop. to e(1-e)) differs from the corpus, covariate by covariate."""
    table = (est.get("diagnostics") or {}).get("overlap_weights_population") or []
    header = ["covariate", "corpus mean", "overlap-population mean", "difference (corpus SD)"]
    return header, [[str(row["column"]), _f(row["corpus_mean"]), _f(row["overlap_mean"]), _f(row["difference_sd"], 2)]
                    for row in table]


def refuters(s: Summary) -> Table:
    """The refuter table: the result second, so that a narrow window shows it without scrolling."""
    header = ["check", "result", "score", "what it asks", "statistic", "rule"]
    rows = []
    for r in s.refuters:
        passed = r.get("passed")
        # a reported-only check has a rule text even when its statistic is beyond its range; a check not run has none
        result = {True: "pass", False: "FAIL"}.get(passed, "reported" if r.get("value") is not None or r.get("rule")
                                                     else "not run")
        rows.append([str(r.get("refuter", "")).replace("_", " "), result,
                     str(r.get("score") or "all"), str(r.get("question", "")), str(r.get("statistic", "")),
                     str(r.get("rule", ""))])
    return header, rows


def method_verdicts(s: Summary) -> list[str]:
    """'DR: weak overlap (reason; reason)' per method, when the estimates give a verdict per method."""
    from llm_audit.report.summary import METHOD_LABELS, VERDICT_LABELS

    out = []
    for key, v in s.method_verdicts.items():
        verdict, reasons = (v.get("verdict"), v.get("reasons") or []) if isinstance(v, dict) else (v, [])
        line = f"{METHOD_LABELS.get(key, key)}: {VERDICT_LABELS.get(str(verdict), verdict)}"
        out.append(line + (f" ({'; '.join(map(str, reasons))})" if reasons else ""))
    return out


def slices(slice_rows: list[dict[str, Any]], max_scores: int = 6) -> Table:
    """Naive AUC per domain and date bucket, with intervals; 'one arm only' where a slice has no comparison."""
    names = list(slice_rows[0]["auc"])[:max_scores]
    rows = []
    for r in slice_rows:
        one_arm = min(r["members"], r["nonmembers"]) == 0
        cells: list[Cell] = [r["slice"], r["value"], str(r["members"]), str(r["nonmembers"])]
        for n in names:
            fig = Figure.of(r["auc"][n])
            fig.missing = "one arm only" if one_arm else "too few"
            cells.append(Val(fig))
        rows.append(cells)
    return ["slice", "value", "members", "non-members"] + [f"{n} AUC" for n in names], rows


def balance(rows: list[tuple[str, float | None, float | None]]) -> Table:
    return ["covariate", "SMD before", "SMD after"], [[c, _f(b), _f(a)] for c, b, a in rows]


def score_diagnostics(s: Summary) -> Table:
    """Per score: the placebo AUC (near 0.5 when the weights remove the covariate shift) and how strong an
    unmeasured confounder would have to be to explain the corrected figure away."""
    rows = []
    for r in s.rows:
        if r.placebo_auc is None and r.gamma_to_naive is None and r.gamma_to_chance is None:
            continue
        rows.append([r.score, _f(r.placebo_auc), _f(r.gamma_to_naive, 2), _f(r.gamma_to_chance, 2)])
    return ["score", "placebo AUC (want ~0.5)", "Gamma to reach the naive AUC", "Gamma to reach 0.5"], rows


def provenance(est: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, value) lines: package versions, input tables' hashes, the config hash."""
    prov = est.get("provenance") or {}
    out = []
    versions = prov.get("versions") or {}
    if versions:
        out.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)))
    for name, entry in (prov.get("inputs") or {}).items():
        out.append((f"{name} table", f"{entry.get('rows')} rows, sha256 {entry.get('sha256')}"))
    if prov.get("config_sha256"):
        out.append(("estimate options", f"sha256 {prov['config_sha256']}"))
    return out


def diagnostic_lines(est: dict[str, Any]) -> list[str]:
    """The scalar diagnostics in words, one line each (counts, ESS, clipping, TV bound, DP bound)."""
    diag = est.get("diagnostics") or {}
    lines = []
    n = diag.get("n")
    if isinstance(n, dict):
        lines.append(f"texts: {n.get('member')} members, {n.get('nonmember')} non-members")
    ess = diag.get("ess")
    if isinstance(ess, dict):
        lines.append("effective sample size after weighting (Kish): "
                     + ", ".join(f"{k} {_f(v, 1)}" for k, v in ess.items()))
    for key, label in (("clipped", "propensities clipped to [eta, 1-eta]"), ("trimmed", "texts trimmed")):
        value = diag.get(key)
        if isinstance(value, dict) and any(value.values()):
            lines.append(f"{label}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
    pop = diag.get("overlap_population")
    if isinstance(pop, dict) and pop.get("n") is not None:
        lines.append(f"overlap population (propensity inside [eta, 1-eta]): {pop.get('n')} texts "
                     f"({pop.get('member')} members, {pop.get('nonmember')} non-members)")
    if isinstance(diag.get("tv_bound"), (int, float)):
        lines.append(f"|naive AUC - causal AUC| <= {diag['tv_bound']:.3f} (total variation between the arms' covariates)")
    dp = diag.get("dp")
    if isinstance(dp, dict) and dp.get("auc_bound") is not None:
        lines.append(f"DP bound on the causal AUC (epsilon {dp.get('epsilon')}, delta {dp.get('delta')}): {_f(dp['auc_bound'])}")
    for score, per in (diag.get("per_score") or {}).items():
        om = (per or {}).get("outcome_model")
        if isinstance(om, dict):
            lines.append(outcome_model_line(score, om))
    unc = diag.get("uncertainty")
    if isinstance(unc, dict):
        lines += [f"intervals, {k.replace('_', '/')}: {v}" for k, v in unc.items() if isinstance(v, str)]
    return lines


def outcome_model_line(score: str, om: dict[str, Any]) -> str:
    """The DR outcome model chosen for a score and each candidate's held-out Brier score."""
    brier = om.get("brier") or {}
    scores = ", ".join(f"{k} {_f(v, 4)}" for k, v in brier.items())
    folds = om.get("per_fold") or []
    per_fold = f" (folds: {', '.join(folds)})" if len(set(folds)) > 1 else ""
    return (f"DR outcome model of {score}: {om.get('chosen')}{per_fold}"
            + (f"; held-out Brier score averaged over the grid: {scores}" if scores else ""))


def _f(x: Any, digits: int = 3) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if v != v else f"{v:.{digits}f}"
