"""The method-agreement refuter: do the weighting and the doubly robust AUC agree? (docs/refuters.md, "Agreement")

IPW is right when the propensity model is; the doubly robust (AIPW) estimate when either the propensity or the
outcome model is. So when the propensity model is right the two estimate the same number, and a difference
beyond their joint sampling error says it is not (the test of Hausman 1978, with the bootstrap's joint law of
the two; both are computed on the same resampled corpora, so the replicates of the difference are at hand). The
weighting figures are then biased, and the doubly robust ones are as good as the outcome model, which nothing
here checks: the verdict is at most ``weak_overlap``. The standard error of the difference adds to the
bootstrap's (nuisances fixed) what the doubly robust interval adds for the outcome model's own error (its
widening to the fold-to-fold spread), so a fit error of the outcome model is not read as a disagreement.
"""

from __future__ import annotations

import numpy as np

from llm_audit.estimate.refuters.base import Context, RefuterRow

FLOOR = 0.01
STATISTIC = "AUC of IPW minus DR"


class MethodAgreement:
    name = "method_agreement"
    question = "do the weighting (IPW) and doubly robust AUCs agree within their joint sampling error?"

    def run(self, ctx: Context) -> list[RefuterRow]:
        suffix, out = ctx.population.suffix, []
        ipw_key, dr_key = "ipw" + suffix, "dr" + suffix
        for name in ctx.data.scores:
            results, reps = ctx.results.get(name, {}), ctx.replicates.get(name, {})
            ipw, dr = results.get(ipw_key), results.get(dr_key)
            if ipw is None or dr is None or ipw.auc.value is None or dr.auc.value is None:
                why = "not run: it needs both the ipw and the dr method"
            elif ipw_key not in reps or dr_key not in reps:
                why = ("not run: it needs the two methods' bootstrap replicates on the same resampled corpora (off, "
                       "or influence-function intervals at this size)")
            else:
                why = ""
            if why:
                out.append(RefuterRow(self.name, self.question, name, STATISTIC, None, "", None, why))
                continue
            diff = ipw.auc.value - dr.auc.value
            se = _difference_se(reps[ipw_key], reps[dr_key], dr.auc.se)
            tol = max(3 * se, FLOOR)
            passed = abs(diff) <= tol
            detail = "" if passed else (
                "the propensity model misses confounding that the outcome model captures (or the reverse): the "
                "weighting figures are biased, the doubly robust ones as good as the outcome model")
            out.append(RefuterRow(self.name, self.question, name, STATISTIC, diff,
                                  f"|difference| <= max(3 SE, {FLOOR}) = {tol:.3f}", passed, detail,
                                  {"se": se, "ipw": ipw.auc.value, "dr": dr.auc.value}))
        return out


def _difference_se(ipw: np.ndarray, dr: np.ndarray, dr_fold_se: float | None) -> float:
    """SE of IPW - DR: the sd of the paired replicates' difference, plus the variance by which the DR estimate's
    fold-to-fold standard error (set where its interval was widened to it: the outcome model's fit error)
    exceeds its replicates'."""
    var = float(np.var(ipw - dr, ddof=1))
    if dr_fold_se is not None:
        var += max(0.0, dr_fold_se**2 - float(np.var(dr, ddof=1)))
    return float(np.sqrt(var))
