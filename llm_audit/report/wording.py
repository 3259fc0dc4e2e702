"""The report's sentences: the lead, the verdict, what can be said when the corrected number is not
identified, the definitions, the family statement, the model line. Built from a ``Summary`` and the
diagnostics; both renderers print them as they are (each escapes them for its format)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from llm_audit.estimate.estimands import ESTIMANDS
from llm_audit.report.model_name import ModelLine
from llm_audit.report.summary import (BALANCE_TARGET, METHOD_LABELS, EstimateRow, Figure, HeadlineRow,
                                      Summary, finite, fpr_label)

DEFINITION_UNKNOWN_UNITS = "its own units (not an attack llm-audit knows)"


def fpr_hidden_reason(key: str, n_nonmember: int) -> str:
    return (f"TPR@{fpr_label(key)} is not shown: with {n_nonmember} non-members, a false positive rate of "
            f"{fpr_label(key)} is {float(key) * n_nonmember:.2g} texts, less than one.")


def model_text(m: ModelLine) -> str:
    """'HuggingFaceTB/SmolLM2-135M @ main, float32 · model id 1b2c... · weights sha256 7ab7...'"""
    name = m.name
    if m.revision:
        name += f" @ {m.revision}"
    if m.dtype:
        name += f", {m.dtype}"
    parts = [name]
    if m.fingerprint:
        parts.append(f"model id {m.fingerprint}")
    if m.weights_sha256:
        parts.append(f"weights sha256 {m.weights_sha256[:16]}…")
    return " · ".join(parts)


# How the estimator words a verdict reason that comes from a check of the correction (a refuter, the balance
# after weighting) rather than from overlap.
CHECK_REASONS = ("refuter ", "covariates out of balance", "covariates severely")


def blind_lines(s: Summary) -> list[str]:
    """The blind baselines, side by side: membership predicted without the audited model."""
    lines = []
    if s.blind_auc is not None:
        lines.append(f"Blind-baseline AUC (membership predicted from the covariates alone, no model): {s.blind_auc:.3f}.")
    if s.blind_text_auc is not None:
        lines.append("Blind text baseline (a model-free text classifier on the words, out of fold; the negative "
                     f"control): {s.blind_text_auc:.3f}.")
    return lines


def verdict_text(est: dict[str, Any], rows: list[HeadlineRow], randomized: bool) -> str:
    """The overlap verdict in plain words, with the numbers that drive it."""
    if randomized:
        regime = est.get("regime", "randomized")
        return (f"Regime {regime}: membership was assigned at random, so the member / non-member comparison is "
                "itself causal; no correction is needed. The figures rest on the assumptions listed below.")
    diag = est.get("diagnostics") or {}
    verdict = diag.get("verdict")
    blind = finite(diag.get("blind_auc"))
    ess = diag.get("ess") or {}
    ess_m, ess_n = finite(ess.get("member")), finite(ess.get("nonmember"))
    parts = []
    if blind is not None:
        parts.append(f"Membership is predictable from the covariates alone with AUC {blind:.2f} (the blind baseline)")
    # A verdict can come from a small arm or from weights resting on few units rather than from separable
    # covariates: then give that reason, not "barely overlap".
    reasons = [r for r in diag.get("verdict_reasons") or [] if not r.startswith("blind-baseline")]
    small = [r for r in reasons if r.startswith(("too few", "fewer than"))]
    if verdict == "not_identified":
        pop = diag.get("overlap_population")
        overlap_n = int(pop["n"]) if pop else None
        why = reasons[0] if reasons else "members and non-members barely overlap in their covariates"
        text = (parts[0] + ": " if parts else "") + f"the corrected number is not identified ({why}), "
        text += "so no corrected figure is given for the whole corpus"
        ato = _overlap_weights_auc(rows)
        first = next((r for r in rows if r.overlap), None)
        if ato is not None:  # the overlap-weights figure is the first shown (docs/estimands.md)
            text += (f"; weighted to the overlap population (weights e(1-e): the texts whose membership the "
                     f"covariates predict least well), the corrected AUC of {ato[0]} is {ato[1].text(2)} "
                     "(that population only; the overlap-population table says how it differs from the corpus)")
        elif first is not None:
            auc = next((Figure.of(first.overlap[k]["auc"]) for k in ("dr", "ipw")
                        if k in first.overlap and Figure.of(first.overlap[k]["auc"]).value is not None), None)
            where = f"on the {overlap_n} texts where both groups overlap" if overlap_n else "on the texts where both groups overlap"
            if auc is not None:
                text += f"; {where}, the corrected AUC of {first.score} is {auc.text(2)} (that population only)"
            else:
                text += f"; see the estimate {where}"
        elif overlap_n:
            text += f"; {overlap_n} texts lie where both groups overlap"
        return text + "."
    tail = (f" (effective sample sizes {ess_m:.0f} members, {ess_n:.0f} non-members)"
            if ess_m is not None and ess_n is not None else "")
    checks = [r for r in reasons if r.startswith(CHECK_REASONS)]
    if verdict == "weak_overlap" and checks and len(checks) == len(reasons):
        head = (parts[0] + "; " if parts else "") + "members and non-members overlap"
        failed = "a check of the correction failed" if len(checks) == 1 else f"{len(checks)} checks of the correction failed"
        return (head + tail + f", but {failed} (listed below): the corrected figures are printed, not vouched for. "
                "Read them with care.")
    if verdict == "weak_overlap":
        head = (parts[0] + ": " if parts else "") + (small[0] if small else "overlap is weak")
        return head + tail + "; the corrected figures are identified but their intervals are wide. Read them with care."
    if verdict == "identified":
        head = (parts[0] + "; " if parts else "") + "members and non-members overlap well enough"
        return (head + tail + ": the corrected figures are identified, under the assumption that the covariates "
                "capture every difference between the groups that also moves the score.")
    return "No overlap verdict in the estimates." if verdict is None else f"Overlap verdict: {verdict}."


def _overlap_weights_auc(rows: list[HeadlineRow]) -> tuple[str, Figure] | None:
    """(score, AUC) of the first score with an overlap-weights (ATO) estimate on all texts, DR before IPW."""
    for r in rows:
        found = sorted((e for e in r.estimates if e.estimand == "ato" and e.population == "all" and not e.withheld),
                       key=lambda e: e.method != "dr")
        if found:
            return r.score, found[0].auc
    return None


OVERLAP_WEIGHTS_TEXT = ("The estimates marked ATO (overlap weights) describe the overlap population, density "
                        "proportional to e(1-e): the texts whose membership the covariates predict least well. It is "
                        "not the corpus; this table gives each covariate's mean (a category's share) in both.")
TPR_BAND_TEXT = ("Pointwise 95% intervals hold for one FPR fixed in advance; the band reads the TPR off a "
                 "simultaneous 95% band of the whole ROC curve (sup-t), which stays valid for every FPR at once, "
                 "including one chosen after looking at the curve.")


def has_overlap_weights(s: Summary) -> bool:
    return any(e.estimand == "ato" and not e.withheld for r in s.rows for e in r.estimates)


def balance_text(s: Summary) -> str | None:
    if not s.unbalanced:
        return None
    name, worst = s.unbalanced[0]
    k = len(s.unbalanced)
    text = (f"{k} covariate{'s' if k > 1 else ''} stay{'' if k > 1 else 's'} above the {BALANCE_TARGET:g} balance "
            f"target after weighting (worst: {name}, |SMD| {worst:.2f})")
    if s.beyond_chance is None:
        return text + f": on {'them' if k > 1 else 'it'} the weighting did not make members and non-members comparable."
    if s.beyond_chance:
        return text + f"; the verdict's balance rule flags {', '.join(s.beyond_chance)} (its reasons above)."
    them = "them" if k > 1 else "it"
    return text + (f"; the verdict's balance rule flags none of {them} (within chance at this size, and no shift that "
                   f"was beyond chance before weighting left above 0.25), but the weights are too few to show {them} "
                   "balanced either.")


def slice_notes(slices: list[dict[str, Any]]) -> list[str]:
    """'membership is the date' when every slice of a kind holds one arm only."""
    notes = []
    for kind in dict.fromkeys(r["slice"] for r in slices):
        rows = [r for r in slices if r["slice"] == kind and r["value"] != "unknown"]
        if len(rows) >= 2 and all(min(r["members"], r["nonmembers"]) == 0 for r in rows):
            notes.append(f"Every {kind} slice holds texts of one arm only: membership is the {kind}. Within a "
                         f"slice there is no one to compare with, and across slices the {kind} alone separates "
                         "members from non-members, so the naive AUC says nothing about memorization.")
    return notes


def can_say(s: Summary, diag: dict[str, Any]) -> list[str]:
    """What a not-identified audit can still say, for the first score: its estimates on other estimands (the
    overlap weights first) or narrower populations (the doubly robust one where both methods give one), the
    cutoff design, the identified set."""
    if not s.rows:
        return []
    row = s.rows[0]
    out, seen = [], set()
    candidates = sorted((e for e in row.estimates if e.key != "naive" and not e.withheld),
                        key=lambda e: (e.estimand != "ato", e.method != "dr"))  # overlap weights, then DR first
    for e in candidates:
        if (e.population, e.estimand) in seen:
            continue
        seen.add((e.population, e.estimand))
        out.append(_estimate_phrase(e, row.score, diag))
    if row.bounds is not None:
        lo, hi = row.bounds
        text = (f"over all texts, the corrected AUC of {row.score} lies in its identified set [{lo:.2f}, {hi:.2f}]"
                " (the worst case for the texts outside the overlap")
        text += f"; 95% interval [{row.bounds_ci[0]:.2f}, {row.bounds_ci[1]:.2f}])" if row.bounds_ci else ")"
        out.append(text)
    return out


def _estimate_phrase(e: EstimateRow, score: str, diag: dict[str, Any]) -> str:
    method = METHOD_LABELS.get(e.method, e.method)
    fig = e.auc.text(2)
    if e.population == "overlap":
        pop = diag.get("overlap_population") or {}
        n = f"{pop['n']} " if pop.get("n") is not None else ""
        return f"on the {n}texts where members and non-members overlap, the {method} AUC of {score} is {fig}"
    if e.estimand == "ato":
        return (f"weighted to the overlap population (weights e(1-e), where membership is least predictable), the "
                f"{method} AUC of {score} is {fig}")
    if e.population == "near d0":
        design = (diag.get("cutoff") or {}).get("design") or {}
        d0 = design.get("d0")
        when = f" ({_date(d0)})" if isinstance(d0, (int, float)) else ""
        return (f"at the data cutoff{when}, texts dated near it give {score} a local AUC of {fig}, assuming "
                "nothing else changes at the cutoff")
    return f"the {e.label} AUC of {score} is {fig}"


def lead(s: Summary, diag: dict[str, Any]) -> str:
    """The one sentence a reader takes away, leading with what can be said."""
    if s.verdict == "not_identified":
        # Separable covariates explain every other reason (clipping, small ESS): give that one first.
        reason = next((r for r in s.reasons if "separable" in r), None) or next(
            (r for r in s.reasons if not r.startswith("blind-baseline")),
            s.reasons[0] if s.reasons else "members and non-members barely overlap in their covariates")
        if s.can_say:
            return (f"What can be said: {'; '.join(s.can_say)}. The corrected AUC over the whole corpus is not "
                    f"identified ({reason}).")
        return f"No corrected figure can be given ({reason}); the naive figures below describe the corpus, not the model."
    randomized = s.regime != "zero-run"
    if not s.rows:
        return "No score in the estimates."
    corrected = [(r, r.auc_naive if randomized or s.corrected_key == "naive" else
                  (r.auc_dr if s.corrected_key == "dr" else r.auc_ipw)) for r in s.rows]
    corrected = [(r, f) for r, f in corrected if f.value is not None]
    if not corrected:
        best = max(s.rows, key=lambda r: r.auc_naive.value or 0.0)
        return f"Naive figures only: the strongest score, {best.score}, has AUC {best.auc_naive.text(2)}."
    best, fig = max(corrected, key=lambda x: x[1].value)
    if randomized:
        text = (f"Membership was randomized ({s.regime}), so the figures are causal as measured: the strongest "
                f"score, {best.score}, has AUC {fig.text(2)}")
    else:
        population = ESTIMANDS[s.target].population if s.target in ESTIMANDS else s.target
        text = (f"Corrected for the covariates ({s.corrected_label}, target: {population}), the strongest score, "
                f"{best.score}, has AUC {fig.text(2)} against a naive {best.auc_naive.text(2, with_ci=False)}")
    family = family_count(s)
    if family:
        text += f"; {family}"
    if s.verdict == "weak_overlap":
        text += "; overlap is weak, so read the intervals with care"
    if s.warnings:
        text += "; but the verdict's warnings below apply"
    return text + "."


def family_count(s: Summary) -> str | None:
    """'3 of 4 scores are above chance at a family-wise 5% level (max-t)'."""
    f = s.family
    if f is None or not f.tests:
        return None
    alpha = 1 - f.level
    above = sum(1 for t in f.tests.values() if t.z > 0 and t.p_adjusted < alpha)
    below = sum(1 for t in f.tests.values() if t.z < 0 and t.p_adjusted < alpha)
    k = len(f.tests)
    text = f"{above} of {k} score{'s' if k > 1 else ''} {'are' if above != 1 else 'is'} above chance"
    if below:
        text += f" and {below} below"
    return text + f" at a family-wise {alpha:.0%} level ({f.adjustment} over the {k} score{'s' if k > 1 else ''})"


def family_text(s: Summary) -> str | None:
    """The family-wise statement in full, with the simultaneous intervals."""
    f = s.family
    if f is None or not f.tests:
        return None
    k = len(f.tests)
    alpha = 1 - f.level
    if f.adjustment == "max-t":
        how = ("the max-t bootstrap (every score is resampled alike, so the adjustment uses how strongly the "
               f"scores agree; Bonferroni's, which ignores it, would take {f.bonferroni:.2f} standard errors)")
    else:
        how = "Bonferroni (these replicates were not resampled alike across scores)"
    intervals = "; ".join(f"{score} [{t.ci[0]:.3f}, {t.ci[1]:.3f}]" for score, t in f.tests.items() if t.ci)
    return (f"{k} score{'s are' if k > 1 else ' is'} tested at once, so the chance that some score looks better than "
            f"chance by luck grows with {k}. Adjusted by {how}: {family_count(s)}, adjusted p < {alpha:g}. The "
            f"simultaneous {f.level:.0%} intervals of the {s.corrected_label} AUC, {f.critical_value:.2f} standard "
            f"errors wide on each side (one score alone: 1.96), hold for all {k} at once: {intervals}.")


def definitions(s: Summary) -> list[tuple[str, str]]:
    """(term, definition) for every figure the headline prints, with units."""
    randomized = s.regime != "zero-run"
    out = []
    if randomized:
        out.append(("AUC", "the probability that a random member scores above a random non-member (ties count "
                           "half): 0.5 is chance, 1 perfect separation. Membership was randomized, so it is causal."))
    else:
        population = ESTIMANDS[s.target].population if s.target in ESTIMANDS else (s.target or "the target")
        out.append(("AUC", "the probability that a random member scores above a random non-member (ties count half): "
                           "0.5 is chance, 1 perfect separation. Naive: as observed. IPW and DR: as if members and "
                           f"non-members had the same covariates (target population: {population}); IPW by "
                           "inverse-propensity weighting, DR doubly robust (right when either the propensity or the "
                           "outcome model is)."
                           + (" Entropy balancing: weights that equalize each group's covariate means with the "
                              "target's exactly, without a propensity model." if any(
                                  e.method in ("ebal", "dr_ebal") for r in s.rows for e in r.estimates) else "")))
    if s.fpr_keys:
        x = fpr_label(s.fpr_keys[0])
        out.append((f"TPR@{x}", f"the share of members flagged at the threshold that flags {x} of non-members (the "
                                "largest TPR among ROC points with FPR <= the target, the rule of LiRA and MIMIR); "
                                "* marks a value resting on fewer than 10 effective non-members above the threshold."))
    out.append(("advantage", "the largest TPR - FPR over all thresholds (the membership advantage of Yeom et al. "
                             "2018, Youden's J): 0 when no threshold does better than guessing, 1 when one "
                             "separates members from non-members perfectly. A difference of two shares: no units."))
    units = "; ".join(f"{r.score}: {r.units or DEFINITION_UNKNOWN_UNITS}" for r in s.rows)
    out.append(("mean memorization", "the members' mean score minus the non-members' (corrected: the weighted "
                                     "difference, the average effect of training on the score), in each score's own "
                                     f"units, so it compares audits of one score, never two scores: {units}."))
    if s.family is not None:
        out.append(("z, p", "z = (AUC - 0.5) / SE, SE the standard deviation of the AUC's bootstrap replicates; p is "
                            "two-sided, for that score alone; adj. p holds for all the scores at once (below)."))
    return out


def _date(year: float) -> str:
    """A fractional year as the day it falls on: 2009.99 -> 2009-12-28."""
    y = int(year)
    start = dt.date(y, 1, 1)
    days = (dt.date(y + 1, 1, 1) - start).days
    return (start + dt.timedelta(days=int((year - y) * days))).isoformat()
